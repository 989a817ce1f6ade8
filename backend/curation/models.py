"""Dataset curation: precomputed per-case statistics, tags/notes/flags, pixel fingerprints, saved filters,
immutable snapshots and their exports.

Statistics and fingerprints are caches of what other apps own (masks, pixels): they can be recomputed at
any time and say which inputs they were computed from. Snapshots are records: append-only in the database.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ReferenceSource(models.TextChoices):
    SIGNED = "signed"  # the latest signed version (consensus preferred)
    CONSENSUS = "consensus"  # the consensus head, unsigned
    READ = "read"  # the first submitted read's head (single-reader projects without a consensus)
    NONE = "none"


class CaseStats(models.Model):
    """Per-case summary for filtering: the reference annotation and reader agreement.

    `inputs` is a digest of everything the numbers were computed from (annotation heads, signatures, task
    states); a mismatch means the row is stale and `stats_refresh` recomputes it.
    """

    case = models.OneToOneField("annotation.Case", on_delete=models.CASCADE, primary_key=True, related_name="+")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    reference_annotation = models.ForeignKey(
        "annotation.Annotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reference_number = models.PositiveIntegerField(default=0)
    reference_source = models.CharField(max_length=16, choices=ReferenceSource.choices, default=ReferenceSource.NONE)
    readers = models.PositiveSmallIntegerField(default=0)  # submitted reads compared
    mean_dice = models.FloatField(null=True, blank=True)  # mean over labels and reader pairs
    min_dice = models.FloatField(null=True, blank=True)
    agreement = models.JSONField(default=dict, blank=True)  # {"labels": {value: mean}, "pairs": [...]}
    inputs = models.CharField(max_length=64)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "mean_dice"], name="curation_stats_dice"),
            models.Index(fields=["project", "min_dice"], name="curation_stats_min_dice"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mean_dice__isnull=True) | models.Q(mean_dice__gte=0, mean_dice__lte=1),
                name="curation_stats_dice_range",
            )
        ]

    def __str__(self) -> str:
        return f"stats of case {self.case_id}"


class CaseLabelStat(models.Model):
    """One label's size in a case's reference annotation (labels absent from it have no row)."""

    case = models.ForeignKey("annotation.Case", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    label_value = models.PositiveSmallIntegerField()
    voxels = models.BigIntegerField()
    volume_ml = models.FloatField()
    slices = models.IntegerField()  # frames where the label appears
    mean_dice = models.FloatField(null=True, blank=True)  # this label's agreement between readers

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "label_value"], name="curation_label_stat_once"),
            models.CheckConstraint(condition=models.Q(voxels__gt=0), name="curation_label_stat_present"),
        ]
        indexes = [models.Index(fields=["project", "label_value", "volume_ml"], name="curation_label_volume")]

    def __str__(self) -> str:
        return f"case {self.case_id} label {self.label_value}: {self.volume_ml} mL"


class TagTarget(models.TextChoices):
    STUDY = "study"
    CASE = "case"


class Tag(models.Model):
    """A free-text tag on a study or a case (exactly one of the two)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    study = models.ForeignKey("imaging.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("annotation.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(study__isnull=True, case__isnull=False)
                | models.Q(study__isnull=False, case__isnull=True),
                name="curation_tag_one_target",
            ),
            models.UniqueConstraint(
                fields=["case", "name"], condition=models.Q(case__isnull=False), name="curation_tag_case_once"
            ),
            models.UniqueConstraint(
                fields=["study", "name"], condition=models.Q(study__isnull=False), name="curation_tag_study_once"
            ),
        ]
        indexes = [models.Index(fields=["project", "name"], name="curation_tag_name")]

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    study = models.ForeignKey("imaging.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("annotation.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(study__isnull=True, case__isnull=False)
                | models.Q(study__isnull=False, case__isnull=True),
                name="curation_note_one_target",
            )
        ]
        indexes = [models.Index(fields=["case", "created_at"]), models.Index(fields=["study", "created_at"])]

    def __str__(self) -> str:
        return f"note {self.pk}"


class FlagKind(models.TextChoices):
    MOTION_ARTEFACT = "motion_artefact"
    WRONG_SERIES = "wrong_series"
    VISIBLE_PHI = "visible_phi"
    BAD_ANNOTATION = "bad_annotation"
    EXCLUDED = "excluded"  # a curator's decision; the reason is required


class QualityFlag(models.Model):
    """An open flag keeps the case (or every case of the study) out of snapshots unless explicitly included.

    Resolving a flag keeps the row (who raised it, who cleared it); at most one open flag per kind and target.
    """

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    study = models.ForeignKey("imaging.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("annotation.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=FlagKind.choices)
    reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(study__isnull=True, case__isnull=False)
                | models.Q(study__isnull=False, case__isnull=True),
                name="curation_flag_one_target",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="excluded") | ~models.Q(reason=""), name="curation_exclusion_has_reason"
            ),
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=models.Q(case__isnull=False, resolved_at__isnull=True),
                name="curation_flag_case_open_once",
            ),
            models.UniqueConstraint(
                fields=["study", "kind"],
                condition=models.Q(study__isnull=False, resolved_at__isnull=True),
                name="curation_flag_study_open_once",
            ),
        ]
        indexes = [
            models.Index(fields=["case"], condition=models.Q(resolved_at__isnull=True), name="curation_flag_open_case"),
            models.Index(
                fields=["study"], condition=models.Q(resolved_at__isnull=True), name="curation_flag_open_study"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {'case ' + str(self.case_id) if self.case_id else 'study ' + str(self.study_id)}"


class InstanceFingerprint(models.Model):
    """Pixel identity of one instance: SHA-256 of the decoded pixels (all frames) and a 64-bit dHash of the
    middle frame (signed, as PostgreSQL has no unsigned bigint). `error` holds a code when decoding failed."""

    instance = models.OneToOneField(
        "imaging.Instance", on_delete=models.CASCADE, primary_key=True, related_name="fingerprint"
    )
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    series = models.ForeignKey("imaging.Series", on_delete=models.CASCADE, related_name="+")
    pixel_sha256 = models.CharField(max_length=64, blank=True, default="")
    dhash = models.BigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=64, blank=True, default="")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["pixel_sha256"], name="curation_fp_sha"),
            models.Index(fields=["series"], name="curation_fp_series"),
        ]

    def __str__(self) -> str:
        return f"fingerprint of {self.instance_id}"


class SavedFilter(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    document = models.JSONField()  # a validated backend.curation.filters.CaseFilter
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="curation_filter_name_once")]

    def __str__(self) -> str:
        return self.name


class CurationSettings(models.Model):
    """Per-project curation defaults: the licence every study's data is under unless a study says otherwise."""

    project = models.OneToOneField("annotation.Project", on_delete=models.CASCADE, related_name="+")
    default_licence = models.CharField(max_length=200, blank=True, default="")

    def __str__(self) -> str:
        return f"curation settings of {self.project_id}"


class StudyLicence(models.Model):
    study = models.OneToOneField("imaging.Study", on_delete=models.CASCADE, primary_key=True, related_name="+")
    licence = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.licence


class Split(models.TextChoices):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class Snapshot(models.Model):
    """An immutable, versioned selection of cases with exact annotation versions (a trigger refuses UPDATE
    and DELETE). `content_hash` is the SHA-256 of the canonical JSON of its content (see snapshots.py)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    description = models.TextField(blank=True, default="")
    seed = models.BigIntegerField()
    ratios = models.JSONField()  # {"train": 0.7, "val": 0.15, "test": 0.15}
    selection = models.JSONField()  # what was asked: filter document, case ids, include flags
    label_schema = models.JSONField()  # [{"value", "name", "color", "category_code", "type_code"}]
    reader_stats = models.JSONField(default=list)  # frozen at creation, for reproducible manifests
    split_counts = models.JSONField(default=dict)
    case_count = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="curation_snapshot_version_once"),
            models.UniqueConstraint(fields=["project", "content_hash"], name="curation_snapshot_content_once"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="curation_snapshot_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class SnapshotItem(models.Model):
    """One case of a snapshot with everything needed to rebuild it: the exact version, frame hashes,
    split and the source/licence as they were when the snapshot was taken."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="items")
    case = models.ForeignKey("annotation.Case", on_delete=models.PROTECT, related_name="+")
    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("annotation.MaskVersion", on_delete=models.PROTECT, related_name="+")
    split = models.CharField(max_length=8, choices=Split.choices)
    patient_key = models.CharField(max_length=64)
    labels = models.JSONField(default=list)  # label values present in the version
    frames = models.JSONField()  # [[frame id, instance sha256, mask sha256 or ""], ...] in slice order
    source = models.JSONField()  # {"project", "study_uid", "series_uid", "modality"}
    licence = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "case"], name="curation_snapshot_case_once"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} in snapshot {self.snapshot_id} ({self.split})"


class ExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SnapshotExport(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="exports")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    formats = models.JSONField()
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    done = models.IntegerField(default=0)
    total = models.IntegerField(default=0)
    path = models.CharField(max_length=255, blank=True, default="")
    manifest_sha256 = models.CharField(max_length=64, blank=True, default="")
    size = models.BigIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True, default="")
    attempts = models.IntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")) | models.Q(total=0), name="curation_export_progress"
            )
        ]

    def __str__(self) -> str:
        return f"snapshot export {self.pk} ({self.status})"
