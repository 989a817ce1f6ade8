from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "backend.annotation"
    label = "annotation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.annotation.services import series_added_create_case
        from backend.imaging.signals import on_series_added

        on_series_added(series_added_create_case)
