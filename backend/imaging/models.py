"""The image index: Study > Series > Instance > Frame, all scoped to a project.

Only de-identified values are indexed (when the project de-identifies, which is the default): the
database never holds what the stored file does not.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Study(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField(max_length=64)
    patient_key = models.CharField(max_length=64, blank=True, default="")
    study_date = models.DateField(null=True, blank=True)
    study_description = models.CharField(max_length=128, blank=True, default="")
    modalities = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "study_instance_uid"], name="study_uid_per_project")]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return self.study_instance_uid


class Series(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="series")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    # A DICOM series that mixes orientations, sizes or localizers is split; the key tells the parts apart.
    split_key = models.CharField(max_length=32, blank=True, default="")
    modality = models.CharField(max_length=16, blank=True, default="")
    body_part = models.CharField(max_length=64, blank=True, default="")
    manufacturer = models.CharField(max_length=64, blank=True, default="")
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=128, blank=True, default="")
    frame_of_reference_uid = models.CharField(max_length=64, blank=True, default="")
    rows = models.IntegerField(null=True, blank=True)
    columns = models.IntegerField(null=True, blank=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    image_orientation = models.JSONField(null=True, blank=True)
    slice_spacing = models.FloatField(null=True, blank=True)
    slice_thickness = models.FloatField(null=True, blank=True)
    regular_spacing = models.BooleanField(default=True)
    frame_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "series_instance_uid", "split_key"], name="series_uid_per_study")
        ]
        indexes = [models.Index(fields=["project", "modality"])]

    def __str__(self) -> str:
        return f"{self.series_instance_uid}{'#' + self.split_key if self.split_key else ''}"


class Instance(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="instances")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    file = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    # HMAC-SHA256 (project secret) of the file as uploaded, before de-identification: re-uploading a file
    # whose UIDs had to be derived per upload is recognised as a duplicate, without keeping anything that
    # lets someone outside the project confirm which original file it was.
    source_mac = models.CharField(max_length=64, blank=True, default="")
    size = models.BigIntegerField()
    transfer_syntax_uid = models.CharField(max_length=64)
    rows = models.IntegerField()
    columns = models.IntegerField()
    number_of_frames = models.IntegerField(default=1)
    samples_per_pixel = models.IntegerField(default=1)
    photometric_interpretation = models.CharField(max_length=16)
    bits_allocated = models.IntegerField()
    pixel_representation = models.IntegerField(default=0)
    rescale_slope = models.FloatField(default=1.0)
    rescale_intercept = models.FloatField(default=0.0)
    window_presets = models.JSONField(default=list, blank=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    image_position = models.JSONField(null=True, blank=True)
    image_orientation = models.JSONField(null=True, blank=True)
    deidentified = models.BooleanField(default=True)
    source = models.CharField(max_length=16, default="upload")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sop_instance_uid"], name="sop_uid_per_project"),
            models.CheckConstraint(condition=models.Q(rows__gt=0, columns__gt=0), name="instance_has_size"),
        ]

    def __str__(self) -> str:
        return self.sop_instance_uid


class Frame(models.Model):
    """One 2D image: a single-frame instance, or one frame of a multi-frame one, in slice order."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="frames")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="frames")
    frame_index = models.IntegerField(default=0)
    sort_index = models.IntegerField(default=0)
    slice_position = models.FloatField(null=True, blank=True)
    image_position = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "frame_index"], name="frame_once"),
            models.CheckConstraint(condition=models.Q(frame_index__gte=0), name="frame_index_nonnegative"),
        ]
        indexes = [models.Index(fields=["series", "sort_index"])]

    def __str__(self) -> str:
        return f"{self.instance_id}[{self.frame_index}]"


class QuarantineDecision(models.TextChoices):
    PENDING = "pending"
    RELEASED = "released"
    DISCARDED = "discarded"


class QuarantinedFile(models.Model):
    """A file held back because it may show identifying pixels; a person releases or discards it."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="quarantine")
    file = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    reason = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True, default="")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=16, choices=QuarantineDecision.choices, default=QuarantineDecision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "sop_instance_uid"],
                condition=models.Q(decision="pending"),
                name="one_pending_quarantine_per_sop",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sop_instance_uid} ({self.reason})"


class IngestStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class IngestJob(models.Model):
    """One upload (files, a zip, STOW or a folder) and its progress; per-file refusals are listed."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="ingest_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=IngestStatus.choices, default=IngestStatus.QUEUED)
    upload = models.CharField(max_length=255, blank=True, default="")
    total = models.IntegerField(default=0)
    processed = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    quarantined = models.IntegerField(default=0)
    refused = models.IntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    series_ids = models.JSONField(default=list, blank=True)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(processed__lte=models.F("total")) | models.Q(total=0), name="progress_bounded"
            )
        ]

    def __str__(self) -> str:
        return f"ingest {self.pk} {self.status}"
