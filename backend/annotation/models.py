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


class ConsensusMethod(models.TextChoices):
    REVIEWER_PICK = "reviewer_pick"
    MAJORITY = "majority"
    STAPLE = "staple"


class ReadingPolicy(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="policy")
    readers_per_case = models.PositiveSmallIntegerField(default=1)
    blind = models.BooleanField(default=True)
    review_stage = models.BooleanField(default=True)
    consensus_method = models.CharField(
        max_length=16, choices=ConsensusMethod.choices, default=ConsensusMethod.REVIEWER_PICK
    )
    require_signoff_for_export = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(readers_per_case__gte=1, readers_per_case__lte=20), name="readers_per_case_range"
            ),
        ]

    def __str__(self) -> str:
        return f"policy of {self.project_id}"


class Label(models.Model):
    """One entry of a project's label schema; `value` is what the uint8 label maps store."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    value = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=64)
    color = models.CharField(max_length=7)
    category_code = models.JSONField(default=dict, blank=True)  # {"scheme", "value", "meaning"} (CID 7150)
    type_code = models.JSONField(default=dict, blank=True)  # {"scheme", "value", "meaning"} (CID 7151)
    window = models.JSONField(null=True, blank=True)  # {"level", "width"} for this label's model prompts

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "value"], name="label_value_once"),
            models.UniqueConstraint(fields=["project", "name"], name="label_name_once"),
            models.CheckConstraint(condition=models.Q(value__gte=1, value__lte=255), name="label_value_range"),
            models.CheckConstraint(condition=models.Q(color__regex=r"^#[0-9a-fA-F]{6}$"), name="label_color_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.value}:{self.name}"


class CaseStatus(models.TextChoices):
    READING = "reading"
    IN_REVIEW = "in_review"
    SIGNED = "signed"


class Case(models.Model):
    """One series to be read by N readers."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cases")
    series = models.ForeignKey("imaging.Series", on_delete=models.CASCADE, related_name="cases")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.READING)
    priority = models.IntegerField(default=0)
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "series"], name="case_per_series")]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"case {self.pk}"


class TaskStatus(models.TextChoices):
    OPEN = "open"  # waiting for a reader
    ASSIGNED = "assigned"
    SUBMITTED = "submitted"
    RETURNED = "returned"


class Task(models.Model):
    """One read of a case. A reader holds at most one task per case; a task has at most one reader."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    slot = models.PositiveSmallIntegerField()
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    priority = models.IntegerField(default=0)
    due_date = models.DateField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    return_comment = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "slot"], name="task_slot_once"),
            models.UniqueConstraint(
                fields=["case", "reader"], condition=models.Q(reader__isnull=False), name="reader_once_per_case"
            ),
            models.CheckConstraint(
                condition=models.Q(status="open", reader__isnull=True)
                | (~models.Q(status="open") & models.Q(reader__isnull=False)),
                name="task_reader_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["status", "-priority", "due_date", "id"])]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.status})"


class AnnotationKind(models.TextChoices):
    READ = "read"
    CONSENSUS = "consensus"


class Annotation(models.Model):
    """A reader's (or the consensus) label maps for a case, as a chain of versions."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="annotations")
    task = models.OneToOneField(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="annotation")
    kind = models.CharField(max_length=16, choices=AnnotationKind.choices, default=AnnotationKind.READ)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    head = models.PositiveIntegerField(default=0)  # number of the latest version; 0 = empty
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=models.Q(kind="consensus"), name="one_consensus_per_case"
            )
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} v{self.head}"


class MaskSource(models.TextChoices):
    MODEL = "model"
    BRUSH = "brush"
    ERASER = "eraser"
    PROPAGATION = "propagation"
    IMPORT = "import"
    CONSENSUS = "consensus"
    MIXED = "mixed"


class MaskVersion(models.Model):
    """An accepted change. Append-only (a trigger refuses UPDATE/DELETE of versions)."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, choices=MaskSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    frames_changed = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["annotation", "number"], name="version_number_once")]

    def __str__(self) -> str:
        return f"v{self.number} of {self.annotation_id}"


class MaskFrame(models.Model):
    """The label map of one frame as of one version (zlib-compressed uint8, row-major)."""

    version = models.ForeignKey(MaskVersion, on_delete=models.CASCADE, related_name="frames")
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="+")
    frame = models.ForeignKey("imaging.Frame", on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()  # == version.number, denormalized for "latest at or before"
    data = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    labels_present = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "frame"], name="mask_frame_once")]
        indexes = [models.Index(fields=["annotation", "frame", "-number"])]

    def __str__(self) -> str:
        return f"frame {self.frame_id} v{self.number}"


class DraftFrame(models.Model):
    """Autosaved work in progress: private to its author, overwritten, never versioned."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="drafts")
    frame = models.ForeignKey("imaging.Frame", on_delete=models.CASCADE, related_name="+")
    base_number = models.PositiveIntegerField()
    data = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["annotation", "frame"], name="draft_frame_once")]

    def __str__(self) -> str:
        return f"draft {self.annotation_id}/{self.frame_id}"


class SignOff(models.Model):
    """A signature over exact mask content: the hashes of every frame of the signed version."""

    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="signoffs")
    version = models.ForeignKey(MaskVersion, on_delete=models.PROTECT, related_name="signoffs")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(auto_now_add=True)
    manifest = models.JSONField()  # {"frames": {frame_id: sha256}, "version": n, "annotation": id}
    digest = models.CharField(max_length=64)
    meaning = models.CharField(max_length=64, default="approved")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version"], name="version_signed_once")]

    def __str__(self) -> str:
        return f"signoff {self.pk} of v{self.version_id}"


class ReviewComment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="review_comments")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="review_comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16)  # "return" | "comment"
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.action} on case {self.case_id}"


class IdempotencyRecord(models.Model):
    """Replays the first answer to a repeated mutating request with the same Idempotency-Key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    method_path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once")]

    def __str__(self) -> str:
        return f"{self.key} {self.method_path}"


class ExportJob(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    formats = models.JSONField(default=list)
    case_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, default="queued")
    done = models.IntegerField(default=0)
    total = models.IntegerField(default=0)
    path = models.CharField(max_length=255, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"
