"""Embedding cache index and long-running segmentation jobs (embedding a series, 3D propagation)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EmbeddingEntry(models.Model):
    """One cached image embedding in storage. The key includes the preprocessing hash: the same slice
    windowed differently is a different embedding."""

    instance = models.ForeignKey("imaging.Instance", on_delete=models.CASCADE, related_name="embeddings")
    frame_index = models.IntegerField()
    model = models.CharField(max_length=64)
    preprocessing = models.CharField(max_length=40)
    path = models.CharField(max_length=255)
    size = models.IntegerField()
    geometry = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "frame_index", "model", "preprocessing"], name="embedding_key_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_id}[{self.frame_index}] {self.model} {self.preprocessing}"


class JobKind(models.TextChoices):
    EMBED = "embed"
    PROPAGATE = "propagate"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SegmentationJob(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="segmentation_jobs")
    series = models.ForeignKey("imaging.Series", on_delete=models.CASCADE, related_name="segmentation_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    model = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    done = models.IntegerField(default=0)
    total = models.IntegerField(default=0)
    attempts = models.IntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error_code = models.CharField(max_length=64, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(done__gte=0, total__gte=0), name="job_progress_nonnegative"),
        ]
        indexes = [models.Index(fields=["series", "kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"
