"""The filter document: a validated JSON object (pydantic) that compiles to one SQL query.

Every predicate is a column comparison or an EXISTS over an indexed table (label statistics, agreement,
tasks, tags, flags), so a filter is one query whatever it combines, and pages are keyset-paginated on id.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, Literal

from django.db.models import Exists, OuterRef, Q
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from backend.annotation.models import Case, CaseStatus, Label, Task, TaskStatus
from backend.common.errors import ApplicationError
from backend.curation.models import CaseLabelStat, CaseStats, FlagKind, QualityFlag, ReferenceSource, Tag

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
MAX_IDS = 10000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """Inclusive bounds; either may be left out, not both."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        for value in (self.min, self.max):
            if value is not None and not math.isfinite(value):
                raise ValueError("bounds must be finite numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class DateRange(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    since: date | None = Field(default=None, alias="from")
    until: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _bounds(self) -> DateRange:
        if self.since is None and self.until is None:
            raise ValueError("give from, to or both")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("from is after to")
        return self


class LabelCondition(_Strict):
    """A label of the reference annotation (signed, else consensus, else the read): by value or by name."""

    label: Annotated[int, Field(ge=1, le=255)] | Text
    present: bool = True
    volume_ml: Range | None = None
    slices: Range | None = None
    dice: Range | None = None

    @model_validator(mode="after")
    def _sizes_need_presence(self) -> LabelCondition:
        if not self.present and (self.volume_ml or self.slices or self.dice):
            raise ValueError("size and agreement bounds only apply to a present label")
        return self


class AgreementCondition(_Strict):
    """Agreement between submitted reads (Dice per label and reader pair)."""

    mean_dice: Range | None = None
    min_dice: Range | None = None
    min_readers: Annotated[int, Field(ge=2, le=20)] | None = None

    @model_validator(mode="after")
    def _something(self) -> AgreementCondition:
        if self.mean_dice is None and self.min_dice is None and self.min_readers is None:
            raise ValueError("give mean_dice, min_dice or min_readers")
        return self


CaseState = Literal["unread", "reading", "in_review", "signed"]


class CaseFilter(_Strict):
    """What to find. Lists are OR within a field; fields are AND. Unknown fields are refused."""

    target: Literal["case", "series", "study"] = "case"
    projects: Annotated[list[Slug], Field(min_length=1, max_length=100)] | None = None
    case_ids: Annotated[list[int], Field(min_length=1, max_length=MAX_IDS)] | None = None
    series_ids: Annotated[list[int], Field(min_length=1, max_length=MAX_IDS)] | None = None
    study_ids: Annotated[list[int], Field(min_length=1, max_length=MAX_IDS)] | None = None
    # DICOM metadata (de-identified index; study dates are shifted per project).
    modality: Annotated[list[Text], Field(min_length=1, max_length=50)] | None = None
    body_part: Annotated[list[Text], Field(min_length=1, max_length=50)] | None = None
    manufacturer: Annotated[list[Text], Field(min_length=1, max_length=50)] | None = None
    slice_thickness: Range | None = None
    study_date: DateRange | None = None
    patient_keys: Annotated[list[Text], Field(min_length=1, max_length=MAX_IDS)] | None = None
    has_case: bool | None = None
    # Workflow and content.
    status: Annotated[list[CaseState], Field(min_length=1)] | None = None
    labels: Annotated[list[LabelCondition], Field(min_length=1, max_length=20)] | None = None
    agreement: AgreementCondition | None = None
    readers: Annotated[list[int | Text], Field(min_length=1, max_length=100)] | None = None
    # Curation.
    tags: Annotated[list[Text], Field(min_length=1, max_length=20)] | None = None
    exclude_tags: Annotated[list[Text], Field(min_length=1, max_length=20)] | None = None
    flagged: bool | None = None
    flags: Annotated[list[FlagKind], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CaseFilter:
        if self.has_case is False and self.case_predicates():
            raise ValueError("has_case=false cannot be combined with case conditions")
        if self.target == "case" and self.has_case is False:
            raise ValueError("has_case=false needs target series or study")
        return self

    def case_predicates(self) -> bool:
        return any(
            getattr(self, name) is not None
            for name in (
                "case_ids",
                "status",
                "labels",
                "agreement",
                "readers",
                "tags",
                "exclude_tags",
                "flagged",
                "flags",
            )
        )

    def uses_content(self) -> bool:
        """Label and agreement predicates read annotation content (visibility rules apply)."""
        return self.labels is not None or self.agreement is not None


def filter_parse(document: Any) -> CaseFilter:
    """Validate a filter document; anything wrong is a 400 `invalid_filter` listing every problem."""
    if document is None:
        return CaseFilter()
    if not isinstance(document, dict):
        raise ApplicationError("invalid_filter", "A filter is a JSON object.", extra={"errors": []})
    try:
        return CaseFilter.model_validate(document)
    except ValidationError as exc:
        errors = [
            {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ApplicationError("invalid_filter", "The filter is not valid.", extra={"errors": errors}) from exc


def filter_dump(parsed: CaseFilter) -> dict[str, Any]:
    """Canonical JSON form (aliases, defaults left out) for storing saved filters."""
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- compiling ---------------------------------------------------------------------------------


def _range(prefix: str, bounds: Range | DateRange) -> Q:
    q = Q()
    low = bounds.min if isinstance(bounds, Range) else bounds.since
    high = bounds.max if isinstance(bounds, Range) else bounds.until
    if low is not None:
        q &= Q(**{f"{prefix}__gte": low})
    if high is not None:
        q &= Q(**{f"{prefix}__lte": high})
    return q


def _any_of(field: str, values: list[str], *, lookup: str = "iexact") -> Q:
    q = Q()
    for value in values:
        q |= Q(**{f"{field}__{lookup}": value})
    return q


def series_q(f: CaseFilter, prefix: str = "") -> Q:
    """Series metadata predicates, relative to Series (prefix "series__" from Case)."""
    q = Q()
    if f.modality:
        q &= Q(**{f"{prefix}modality__in": sorted({m.upper() for m in f.modality})})
    if f.body_part:
        q &= _any_of(f"{prefix}body_part", f.body_part)
    if f.manufacturer:
        q &= _any_of(f"{prefix}manufacturer", f.manufacturer, lookup="icontains")
    if f.slice_thickness:
        q &= _range(f"{prefix}slice_thickness", f.slice_thickness)
    if f.series_ids:
        q &= Q(**{f"{prefix}pk__in" if prefix == "" else f"{prefix}id__in": f.series_ids})
    return q


def study_q(f: CaseFilter, prefix: str = "") -> Q:
    q = Q()
    if f.study_date:
        q &= _range(f"{prefix}study_date", f.study_date)
    if f.patient_keys:
        q &= Q(**{f"{prefix}patient_key__in": f.patient_keys})
    if f.study_ids:
        q &= Q(**{f"{prefix}pk__in" if prefix == "" else f"{prefix}id__in": f.study_ids})
    return q


def _label_value_q(label: int | str) -> Q:
    if isinstance(label, int):
        return Q(label_value=label)
    # Resolved per project, so one name works across projects with different numbering.
    return Q(
        label_value__in=Label.objects.filter(project_id=OuterRef("project_id"), name__iexact=label).values("value")
    )


def _tag_exists(name: str) -> Q:
    return Q(Exists(Tag.objects.filter(case_id=OuterRef("pk"), name=name))) | Q(
        Exists(Tag.objects.filter(study_id=OuterRef("series__study_id"), name=name))
    )


def _flag_exists(kinds: list[str] | None) -> Q:
    case_flags = QualityFlag.objects.filter(case_id=OuterRef("pk"), resolved_at__isnull=True)
    study_flags = QualityFlag.objects.filter(study_id=OuterRef("series__study_id"), resolved_at__isnull=True)
    if kinds:
        case_flags, study_flags = case_flags.filter(kind__in=kinds), study_flags.filter(kind__in=kinds)
    return Q(Exists(case_flags)) | Q(Exists(study_flags))


def flagged_q() -> Q:
    return _flag_exists(None)


def case_content_q(f: CaseFilter, reader_ids: list[int]) -> Q:
    """Predicates on a case's workflow state, content, readers and curation marks (relative to Case)."""
    q = Q()
    if f.case_ids:
        q &= Q(pk__in=f.case_ids)
    if f.status:
        states = Q()
        for state in f.status:
            if state == "unread":
                states |= Q(status=CaseStatus.READING) & ~Q(
                    Exists(Task.objects.filter(case_id=OuterRef("pk"), status=TaskStatus.SUBMITTED))
                )
            else:
                states |= Q(status=state)
        q &= states
    for condition in f.labels or []:
        stats = CaseLabelStat.objects.filter(Q(case_id=OuterRef("pk")) & _label_value_q(condition.label))
        if condition.present:
            for field, bounds in (("volume_ml", condition.volume_ml), ("slices", condition.slices)):
                if bounds is not None:
                    stats = stats.filter(_range(field, bounds))
            if condition.dice is not None:
                stats = stats.filter(_range("mean_dice", condition.dice))
            q &= Q(Exists(stats))
        else:
            # "Absent" means: the reference annotation is known and does not contain it.
            known = CaseStats.objects.filter(case_id=OuterRef("pk")).exclude(reference_source=ReferenceSource.NONE)
            q &= Q(Exists(known)) & ~Q(Exists(stats))
    if f.agreement is not None:
        agreement = CaseStats.objects.filter(case_id=OuterRef("pk"))
        if f.agreement.mean_dice is not None:
            agreement = agreement.filter(_range("mean_dice", f.agreement.mean_dice))
        if f.agreement.min_dice is not None:
            agreement = agreement.filter(_range("min_dice", f.agreement.min_dice))
        if f.agreement.min_readers is not None:
            agreement = agreement.filter(readers__gte=f.agreement.min_readers)
        q &= Q(Exists(agreement))
    if f.readers is not None:
        q &= Q(Exists(Task.objects.filter(case_id=OuterRef("pk"), reader_id__in=reader_ids)))
    for name in f.tags or []:
        q &= _tag_exists(name)
    for name in f.exclude_tags or []:
        q &= ~_tag_exists(name)
    if f.flagged is not None:
        q &= flagged_q() if f.flagged else ~flagged_q()
    if f.flags:
        q &= _flag_exists([str(kind) for kind in f.flags])
    return q


def visible_cases_q(*, full_project_ids: list[int], limited_project_ids: list[int], user_id: int, content: bool) -> Q:
    """Owners and reviewers see every case; other members see cases they read and signed cases, and content
    predicates (labels, agreement) only ever match signed cases for them, so a blind reader cannot probe
    co-readers' work through statistics."""
    q = Q(project_id__in=full_project_ids)
    if limited_project_ids:
        limited = Q(project_id__in=limited_project_ids) & (
            Q(status=CaseStatus.SIGNED) | Q(Exists(Task.objects.filter(case_id=OuterRef("pk"), reader_id=user_id)))
        )
        if content:
            limited &= Q(status=CaseStatus.SIGNED)
        q |= limited
    return q


def case_queryset_q(f: CaseFilter, reader_ids: list[int]) -> Q:
    return series_q(f, "series__") & study_q(f, "series__study__") & case_content_q(f, reader_ids)


def case_exists_for_series(case_q: Q) -> Exists:
    return Exists(Case.objects.filter(series_id=OuterRef("pk")).filter(case_q))
