from django.apps import AppConfig


class SegmentationConfig(AppConfig):
    name = "backend.segmentation"
    label = "segmentation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.common.errors import register_domain_error
        from backend.imaging.signals import on_series_added
        from backend.segmentation.services import series_added_precompute
        from models.predictor import PromptError

        register_domain_error(PromptError, lambda exc: 400)
        on_series_added(series_added_precompute)
