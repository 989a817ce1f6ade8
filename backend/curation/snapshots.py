"""Snapshots: an immutable, versioned selection of cases with exact annotation versions and splits.

The content hash is the SHA-256 of canonical JSON (sorted keys, no whitespace) of:
  {"format", "label_schema", "cases": [{"case", "annotation", "version", "split",
                                         "frames": [[frame id, instance sha256, mask sha256 or ""], ...]}]}
so the same cases, versions, pixels, masks, splits and schema always give the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Max

from backend.accounts.models import User
from backend.accounts.selectors import project_role
from backend.annotation.models import Case, Label, Project, Task, TaskStatus
from backend.annotation.selectors import policy_for
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict, NotFound
from backend.curation import filters, selectors, splits
from backend.curation.models import (
    CaseStats,
    CurationSettings,
    QualityFlag,
    Snapshot,
    StudyLicence,
)
from backend.curation.references import references_for_cases
from backend.curation.sqlutil import any_of
from backend.imaging.models import Frame

FORMAT = "readingroom.snapshot/1"
_LOCK_NAMESPACE = 0x534E4150  # "SNAP"
_PROBLEM_LIST = 100


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass
class PlannedCase:
    case_id: int
    annotation_id: int
    version_id: int
    number: int
    source: str
    patient_key: str
    labels: list[int]
    frames: list[list[Any]]
    meta: dict[str, Any]
    licence: str
    split: str = ""


@dataclass
class Plan:
    project: Project
    ratios: dict[str, float]
    seed: int
    selection: dict[str, Any]
    label_schema: list[dict[str, Any]]
    cases: list[PlannedCase] = field(default_factory=list)
    flagged_excluded: list[dict[str, Any]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    signed_only: bool = True
    content_hash: str = ""

    def problem(self) -> ApplicationError | None:
        if not self.cases and not self.missing:
            return ApplicationError("empty_selection", "No case matches the selection.")
        if self.missing:
            code, message = (
                ("unsigned_work", "The project requires signed annotations; some selected cases have none.")
                if self.signed_only
                else ("unannotated_cases", "Some selected cases have no consensus or submitted read.")
            )
            return Conflict(code, message, extra={"count": len(self.missing), "case_ids": self.missing[:_PROBLEM_LIST]})
        return None

    def split_counts(self) -> dict[str, Any]:
        cases = Counter(c.split for c in self.cases)
        patients: dict[str, set[str]] = defaultdict(set)
        labels: dict[str, Counter[str]] = defaultdict(Counter)
        for case in self.cases:
            patients[case.split].add(case.patient_key)
            for value in case.labels:
                labels[str(value)][case.split] += 1
        return {
            "cases": {s: cases.get(s, 0) for s in splits.SPLITS},
            "patients": {s: len(patients.get(s, set())) for s in splits.SPLITS},
            "labels": {value: {s: counts.get(s, 0) for s in splits.SPLITS} for value, counts in sorted(labels.items())},
        }


def label_schema(project: Project) -> list[dict[str, Any]]:
    return [
        {
            "value": label.value,
            "name": label.name,
            "color": label.color,
            "category_code": label.category_code,
            "type_code": label.type_code,
        }
        for label in Label.objects.filter(project=project).order_by("value")
    ]


def _mask_frames(refs: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, list[int]]]:
    """{(annotation id, frame id): (sha256, labels present)} as of each annotation's version number."""
    if not refs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (mf.annotation_id, mf.frame_id) mf.annotation_id, mf.frame_id, mf.sha256, "
            "mf.labels_present FROM annotation_maskframe mf "
            "JOIN unnest(%s::bigint[], %s::integer[]) AS r(annotation_id, number) "
            "ON mf.annotation_id = r.annotation_id AND mf.number <= r.number "
            "ORDER BY mf.annotation_id, mf.frame_id, mf.number DESC",
            [[a for a, _ in refs], [n for _, n in refs]],
        )
        out: dict[tuple[int, int], tuple[str, list[int]]] = {}
        for annotation_id, frame_id, sha, present in cursor.fetchall():
            labels = json.loads(present) if isinstance(present, str) else present
            out[(int(annotation_id), int(frame_id))] = (str(sha), [int(v) for v in labels or []])
        return out


def _select_case_ids(
    *,
    project: Project,
    user: User,
    role: str,
    filter_doc: Any,
    case_ids: list[int] | None,
    exclude_case_ids: list[int] | None,
) -> list[int]:
    parsed = filters.filter_parse(filter_doc)
    if parsed.target != "case" or parsed.projects is not None:
        raise ApplicationError(
            "invalid_filter",
            "A snapshot selects cases of this project: target must be case and projects left out.",
            extra={"errors": [{"loc": ["target"], "msg": "must be case"}]},
        )
    queryset = selectors.filter_queryset(f=parsed, roles={project.pk: role}, user=user)
    if case_ids is not None:
        known = set(Case.objects.filter(project=project, pk__in=any_of(case_ids)).values_list("pk", flat=True))
        unknown = sorted(set(case_ids) - known)
        if unknown:
            raise NotFound("case_not_found", "Some case ids are not in this project.", extra={"ids": unknown[:100]})
        queryset = queryset.filter(pk__in=any_of(case_ids))
    if exclude_case_ids:
        queryset = queryset.exclude(pk__in=any_of(exclude_case_ids))
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def snapshot_plan(
    *,
    project: Project,
    user: User,
    ratios: Mapping[str, object],
    seed: int = 0,
    filter_doc: Any = None,
    case_ids: list[int] | None = None,
    exclude_case_ids: list[int] | None = None,
    include_flagged: bool | list[int] = False,
) -> Plan:
    """Everything a snapshot would hold, without writing; problems are reported, not raised."""
    checked = splits.ratios_validate(ratios)
    role = project_role(project=project, user=user) or ""
    ids = _select_case_ids(
        project=project,
        user=user,
        role=role,
        filter_doc=filter_doc,
        case_ids=case_ids,
        exclude_case_ids=exclude_case_ids,
    )
    plan = Plan(
        project=project,
        ratios=checked,
        seed=seed,
        selection={
            "filter": filter_doc,
            "case_ids": case_ids,
            "exclude_case_ids": exclude_case_ids,
            "include_flagged": include_flagged,
        },
        label_schema=label_schema(project),
        signed_only=policy_for(project).require_signoff_for_export,
    )
    # Flagged cases (or cases of flagged studies) stay out unless explicitly included.
    meta = {
        row["id"]: row
        for row in Case.objects.filter(pk__in=any_of(ids)).values(
            "id",
            "series_id",
            "series__study_id",
            "series__study__patient_key",
            "series__study__study_instance_uid",
            "series__series_instance_uid",
            "series__modality",
        )
    }
    flag_kinds: dict[int, set[str]] = defaultdict(set)
    for case_id, kind in QualityFlag.objects.filter(case_id__in=any_of(ids), resolved_at__isnull=True).values_list(
        "case_id", "kind"
    ):
        flag_kinds[case_id].add(kind)
    study_cases: dict[int, list[int]] = defaultdict(list)
    for case_id, row in meta.items():
        study_cases[row["series__study_id"]].append(case_id)
    for study_id, kind in QualityFlag.objects.filter(
        study_id__in=any_of(study_cases), resolved_at__isnull=True
    ).values_list("study_id", "kind"):
        for case_id in study_cases[study_id]:
            flag_kinds[case_id].add(kind)
    included = set(ids) if include_flagged is True else set(include_flagged or [])
    kept = []
    for case_id in ids:
        if flag_kinds.get(case_id) and case_id not in included:
            plan.flagged_excluded.append({"case_id": case_id, "flags": sorted(flag_kinds[case_id])})
        else:
            kept.append(case_id)

    refs = references_for_cases(kept, signed_only=plan.signed_only, viewer=user)
    plan.missing = [c for c in kept if c not in refs]
    chosen = [c for c in kept if c in refs]
    series_ids = sorted({meta[c]["series_id"] for c in chosen})
    frames_by_series: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for frame_id, series_id, sha in (
        Frame.objects.filter(series_id__in=any_of(series_ids))
        .order_by("series_id", "sort_index", "id")
        .values_list("id", "series_id", "instance__sha256")
    ):
        frames_by_series[series_id].append((frame_id, sha))
    masks = _mask_frames([(refs[c].annotation_id, refs[c].number) for c in chosen])
    default_licence = (
        CurationSettings.objects.filter(project=project).values_list("default_licence", flat=True).first() or ""
    )
    licences = dict(
        StudyLicence.objects.filter(study_id__in=any_of([meta[c]["series__study_id"] for c in chosen])).values_list(
            "study_id", "licence"
        )
    )
    for case_id in chosen:
        ref, row = refs[case_id], meta[case_id]
        frame_rows: list[list[Any]] = []
        present: set[int] = set()
        for frame_id, instance_sha in frames_by_series[row["series_id"]]:
            mask = masks.get((ref.annotation_id, frame_id))
            frame_rows.append([frame_id, instance_sha, mask[0] if mask else ""])
            if mask:
                present.update(mask[1])
        plan.cases.append(
            PlannedCase(
                case_id=case_id,
                annotation_id=ref.annotation_id,
                version_id=ref.version_id,
                number=ref.number,
                source=ref.source,
                # An unknown patient is its own group: grouping cannot be proven, so never merge them.
                patient_key=row["series__study__patient_key"] or f"study:{row['series__study_id']}",
                labels=sorted(present),
                frames=frame_rows,
                meta={
                    "project": project.slug,
                    "study_uid": row["series__study__study_instance_uid"],
                    "series_uid": row["series__series_instance_uid"],
                    "modality": row["series__modality"],
                },
                licence=licences.get(row["series__study_id"], default_licence),
            )
        )
    groups: dict[str, list[PlannedCase]] = defaultdict(list)
    for planned in plan.cases:
        groups[planned.patient_key].append(planned)
    assignment = splits.assign_splits(
        [
            splits.Group(key=key, size=len(members), labels=frozenset(v for m in members for v in m.labels))
            for key, members in sorted(groups.items())
        ],
        checked,
        seed,
    )
    for planned in plan.cases:
        planned.split = assignment[planned.patient_key]
    plan.content_hash = hashlib.sha256(canonical_json(snapshot_content(plan))).hexdigest()
    return plan


def snapshot_content(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "label_schema": plan.label_schema,
        "cases": [
            {
                "case": c.case_id,
                "annotation": c.annotation_id,
                "version": c.version_id,
                "split": c.split,
                "frames": c.frames,
            }
            for c in sorted(plan.cases, key=lambda c: c.case_id)
        ],
    }


def reader_stats(case_ids: list[int]) -> list[dict[str, Any]]:
    """Per reader over these cases: submitted reads and mean Dice against co-readers (from CaseStats)."""
    reads = Counter(
        name
        for name in Task.objects.filter(case_id__in=any_of(case_ids), status=TaskStatus.SUBMITTED).values_list(
            "reader__username", flat=True
        )
        if name
    )
    dice: dict[int, list[float]] = defaultdict(list)
    for agreement in CaseStats.objects.filter(case_id__in=any_of(case_ids)).values_list("agreement", flat=True):
        for pair in (agreement or {}).get("pairs", []):
            dice[pair["a"]].append(pair["dice"])
            dice[pair["b"]].append(pair["dice"])
    names = dict(User.objects.filter(pk__in=dice).values_list("pk", "username"))
    by_name: dict[str, list[float]] = defaultdict(list)
    for user_id, values in dice.items():
        by_name[names.get(user_id, str(user_id))].extend(values)
    return [
        {
            "reader": name,
            "reads": reads.get(name, 0),
            "pairs": len(by_name.get(name, [])),
            "mean_dice": round(sum(by_name[name]) / len(by_name[name]), 4) if by_name.get(name) else None,
        }
        for name in sorted(set(reads) | set(by_name))
    ]


def _items_copy(snapshot_id: int, cases: list[PlannedCase]) -> None:
    """Insert the items with COPY: a 10,000-case snapshot is one round trip, not 100,000 bound values."""
    columns = "snapshot_id, case_id, annotation_id, version_id, split, patient_key, labels, frames, source, licence"
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY curation_snapshotitem ({columns}) FROM STDIN") as copy,
    ):
        for c in cases:
            source = {**c.meta, "reference": c.source, "version_number": c.number}
            copy.write_row(
                (
                    snapshot_id,
                    c.case_id,
                    c.annotation_id,
                    c.version_id,
                    c.split,
                    c.patient_key,
                    json.dumps(c.labels),
                    json.dumps(c.frames),
                    json.dumps(source, sort_keys=True),
                    c.licence,
                )
            )


def snapshot_create(
    *,
    project: Project,
    user: User,
    name: str,
    ratios: Mapping[str, object],
    seed: int = 0,
    description: str = "",
    filter_doc: Any = None,
    case_ids: list[int] | None = None,
    exclude_case_ids: list[int] | None = None,
    include_flagged: bool | list[int] = False,
) -> tuple[Snapshot, bool]:
    """(snapshot, created). The same content as an existing snapshot returns that one (created False)."""
    plan = snapshot_plan(
        project=project,
        user=user,
        ratios=ratios,
        seed=seed,
        filter_doc=filter_doc,
        case_ids=case_ids,
        exclude_case_ids=exclude_case_ids,
        include_flagged=include_flagged,
    )
    problem = plan.problem()
    if problem is not None:
        raise problem
    with transaction.atomic():
        with connection.cursor() as cursor:  # versions per name are numbered one at a time
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, project.pk])
        existing = Snapshot.objects.filter(project=project, content_hash=plan.content_hash).first()
        if existing is not None:
            return existing, False
        version = (Snapshot.objects.filter(project=project, name=name).aggregate(v=Max("version"))["v"] or 0) + 1
        case_ids_kept = [c.case_id for c in plan.cases]
        snapshot = Snapshot.objects.create(
            project=project,
            name=name,
            version=version,
            content_hash=plan.content_hash,
            description=description,
            seed=seed,
            ratios=plan.ratios,
            selection={**plan.selection, "flagged_excluded": [f["case_id"] for f in plan.flagged_excluded]},
            label_schema=plan.label_schema,
            reader_stats=reader_stats(case_ids_kept),
            split_counts=plan.split_counts(),
            case_count=len(plan.cases),
            created_by=user,
        )
        _items_copy(snapshot.pk, plan.cases)
        audit_record(
            actor=user,
            action="curation.snapshot_create",
            object_type="snapshot",
            object_id=snapshot.pk,
            project_id=project.pk,
            detail={
                "name": name,
                "version": version,
                "content_hash": plan.content_hash,
                "cases": len(plan.cases),
                "flagged_excluded": len(plan.flagged_excluded),
            },
        )
    return snapshot, True


def snapshot_preview(
    *,
    project: Project,
    user: User,
    ratios: Mapping[str, object],
    seed: int = 0,
    filter_doc: Any = None,
    case_ids: list[int] | None = None,
    exclude_case_ids: list[int] | None = None,
    include_flagged: bool | list[int] = False,
    max_distance: int = 4,
    fingerprint_inline_limit: int = 200,
) -> dict[str, Any]:
    """What creating would do, with the duplicates of the selected series shown first."""
    from backend.curation.fingerprints import fingerprints_fill

    plan = snapshot_plan(
        project=project,
        user=user,
        ratios=ratios,
        seed=seed,
        filter_doc=filter_doc,
        case_ids=case_ids,
        exclude_case_ids=exclude_case_ids,
        include_flagged=include_flagged,
    )
    series_of = dict(Case.objects.filter(pk__in=any_of([c.case_id for c in plan.cases])).values_list("pk", "series_id"))
    series_ids = sorted(series_of.values())
    # Small selections are fingerprinted inline; large ones are queued and reported as pending.
    missing = selectors.fingerprints_missing(series_ids)
    if 0 < missing <= fingerprint_inline_limit:
        fingerprints_fill(series_ids=series_ids)
    elif missing:
        from workers.curation import fingerprint_project

        fingerprint_project.delay_on_commit(project.pk)
    duplicates = selectors.duplicates_for_series(series_ids=series_ids, user=user, max_distance=max_distance)
    split_of_series = {series_of[c.case_id]: c.split for c in plan.cases}
    for pair in duplicates["pairs"]:
        a, b = split_of_series.get(pair["series_a"]), split_of_series.get(pair["series_b"])
        pair["splits"] = [a, b]
        pair["cross_split"] = a is not None and b is not None and a != b
    problem = plan.problem()
    existing = Snapshot.objects.filter(project=project, content_hash=plan.content_hash).first()
    return {
        "content_hash": plan.content_hash,
        "existing_snapshot_id": existing.pk if existing else None,
        "cases": len(plan.cases),
        "ratios": plan.ratios,
        "seed": seed,
        "signed_only": plan.signed_only,
        "split_counts": plan.split_counts(),
        "flagged_excluded": plan.flagged_excluded[:_PROBLEM_LIST],
        "flagged_excluded_count": len(plan.flagged_excluded),
        "problem": None
        if problem is None
        else {"code": problem.code, "message": problem.message, "extra": problem.extra},
        "duplicates": duplicates,
        "label_schema": plan.label_schema,
    }
