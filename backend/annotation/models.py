from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{1,62}$", "Use 2-63 lowercase letters, digits and dashes.")


def _new_secret() -> str:
    return secrets.token_hex(32)


class Project(models.Model):
    slug = models.SlugField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_projects")
    created_at = models.DateTimeField(auto_now_add=True)
    # De-identification on ingest (PS3.15 Annex E basic profile), on by default.
    deidentify = models.BooleanField(default=True)
    deid_retain_dates = models.BooleanField(
        default=False, help_text="Retain Longitudinal Temporal Information with Modified Dates"
    )
    deid_retain_patient_characteristics = models.BooleanField(default=False)
    # Keys the project's UID remapping and date shifts: consistent inside the project, unlinkable across.
    secret = models.CharField(max_length=64, default=_new_secret, editable=False)
    # Model settings: {"window": {"level": 40, "width": 400}, "label_windows": {"<label id>": {...}}}.
    model_settings = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.slug
