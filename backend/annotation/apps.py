from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "backend.annotation"
    label = "annotation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.annotation.services import series_created_create_case
        from backend.imaging.signals import on_series_created

        # On creation, not once the batch is done: the case needs only the series row, and made while the
        # rest of a large upload is still being prepared it costs the upload no time at its end.
        on_series_created(series_created_create_case)
