from __future__ import annotations

from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "backend.curation"
    label = "curation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from backend.annotation.models import MaskVersion, SignOff, Task
        from backend.curation import hooks
        from backend.imaging.signals import on_series_added

        # Receivers only enqueue (after commit); the task recomputes only when the inputs changed.
        post_save.connect(hooks.mask_version_saved, sender=MaskVersion, dispatch_uid="curation_mask_version")
        post_save.connect(hooks.signoff_saved, sender=SignOff, dispatch_uid="curation_signoff")
        post_save.connect(hooks.task_saved, sender=Task, dispatch_uid="curation_task")
        on_series_added(hooks.series_added_fingerprint)
