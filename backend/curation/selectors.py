"""Curation reads: find (keyset-paginated), case/study detail, duplicates, statistics, snapshot diff."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from backend.accounts.models import ProjectMembership, ProjectRole, User
from backend.annotation.models import Case, CaseStatus, Label, Project, Task, TaskStatus
from backend.common.errors import ApplicationError, NotFound
from backend.curation import filters
from backend.curation.models import (
    CaseLabelStat,
    CaseStats,
    InstanceFingerprint,
    Note,
    QualityFlag,
    SavedFilter,
    Snapshot,
    SnapshotItem,
    Tag,
)
from backend.imaging.models import Frame, Series, Study

FULL_ROLES = (ProjectRole.OWNER.value, ProjectRole.REVIEWER.value)
MAX_PAGE = 500


# --- scope ---------------------------------------------------------------------------------------


def project_roles(*, user: User, slugs: list[str] | None = None) -> dict[int, str]:
    """{project id: role} for the user's projects (all, or the named ones; unknown names are a 404)."""
    memberships = ProjectMembership.objects.filter(user=user)
    if slugs is not None:
        memberships = memberships.filter(project__slug__in=slugs)
    roles = dict(memberships.values_list("project_id", "role"))
    if slugs is not None:
        known = set(Project.objects.filter(pk__in=roles).values_list("slug", flat=True))
        if known != set(slugs):
            raise NotFound("project_not_found", "No such project, or you are not a member of it.")
    return roles


def reader_ids_resolve(readers: list[int | str] | None) -> list[int]:
    if not readers:
        return []
    ids = {r for r in readers if isinstance(r, int)}
    names = {r for r in readers if isinstance(r, str)}
    found = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    unknown = sorted(names - set(found))
    if unknown:
        raise ApplicationError(
            "invalid_filter", "Unknown readers in the filter.", extra={"errors": [{"loc": ["readers"], "msg": unknown}]}
        )
    return sorted(ids | set(found.values()))


def cases_visible_q(*, roles: dict[int, str], user: User, content: bool) -> Q:
    return filters.visible_cases_q(
        full_project_ids=[p for p, r in roles.items() if r in FULL_ROLES],
        limited_project_ids=[p for p, r in roles.items() if r not in FULL_ROLES],
        user_id=user.pk,
        content=content,
    )


def filter_queryset(*, f: filters.CaseFilter, roles: dict[int, str], user: User) -> QuerySet[Any]:
    """The queryset of the filter's target (Case, Series or Study) within what the user may see."""
    reader_ids = reader_ids_resolve(f.readers)
    project_ids = list(roles)
    case_q = filters.case_content_q(f, reader_ids) & cases_visible_q(roles=roles, user=user, content=f.uses_content())
    needs_case = f.case_predicates() or f.has_case is True
    if f.target == "case":
        return Case.objects.filter(project_id__in=project_ids).filter(
            filters.series_q(f, "series__") & filters.study_q(f, "series__study__") & case_q
        )
    series_cond = filters.series_q(f)
    if needs_case:
        series_cond &= Q(filters.case_exists_for_series(case_q))
    elif f.has_case is False:
        series_cond &= ~Q(Exists(Case.objects.filter(series_id=OuterRef("pk"))))
    if f.target == "series":
        return Series.objects.filter(project_id__in=project_ids).filter(series_cond & filters.study_q(f, "study__"))
    study_cond = filters.study_q(f)
    if series_cond:
        study_cond &= Q(Exists(Series.objects.filter(study_id=OuterRef("pk")).filter(series_cond)))
    return Study.objects.filter(project_id__in=project_ids).filter(study_cond)


# --- pagination ----------------------------------------------------------------------------------


def cursor_encode(target: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"k1:{target}:{last_id}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None, target: str) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, kind, value = raw.split(":")
        last = int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApplicationError("invalid_cursor", "The cursor is not one this API returned.") from exc
    if version != "k1" or kind != target or last < 0:
        raise ApplicationError("invalid_cursor", "The cursor belongs to another kind of search.")
    return last


def find(
    *,
    user: User,
    f: filters.CaseFilter,
    roles: dict[int, str],
    cursor: str | None = None,
    limit: int = 50,
    with_count: bool = False,
) -> dict[str, Any]:
    """One page of matches in id order; `next_cursor` continues after the last one (keyset, no OFFSET)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ApplicationError("invalid_limit", f"limit must be 1..{MAX_PAGE}.")
    after = cursor_decode(cursor, f.target)
    queryset = filter_queryset(f=f, roles=roles, user=user)
    page_ids = list(queryset.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[: limit + 1])
    more = len(page_ids) > limit
    page_ids = page_ids[:limit]
    if f.target == "case":
        items = case_rows(case_ids=page_ids)
        for item in items:
            if roles.get(item["project_id"]) not in FULL_ROLES and item["status"] != CaseStatus.SIGNED:
                _redact_content(item)
    elif f.target == "series":
        items = series_rows(series_ids=page_ids)
    else:
        items = study_rows(study_ids=page_ids)
    out: dict[str, Any] = {
        "target": f.target,
        "items": items,
        "next_cursor": cursor_encode(f.target, page_ids[-1]) if more and page_ids else None,
    }
    if with_count:
        out["count"] = queryset.count()
    return out


def _tags_by(field: str, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for owner, name in Tag.objects.filter(**{f"{field}__in": ids}).order_by("name").values_list(field, "name"):
        out[owner].append(name)
    return out


def _flags_by(field: str, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        QualityFlag.objects.filter(**{f"{field}__in": ids}, resolved_at__isnull=True)
        .order_by("id")
        .values(field, "id", "kind", "reason")
    )
    for row in rows:
        out[row[field]].append({"id": row["id"], "kind": row["kind"], "reason": row["reason"]})
    return out


def thumbnails_for_series(series_ids: list[int]) -> dict[int, dict[str, int]]:
    """{series id: {"instance_id", "frame_index"}} of each series' middle frame in slice order, for the PNG
    thumbnail endpoint (`/api/projects/<slug>/instances/<instance_id>/frames/<frame_index>/png?size=`)."""
    if not series_ids:
        return {}
    table = Frame._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT series_id, instance_id, frame_index FROM ("  # noqa: S608 - the table name is the model's
            "  SELECT series_id, instance_id, frame_index,"
            "    row_number() OVER (PARTITION BY series_id ORDER BY sort_index, id) AS position,"
            "    count(*) OVER (PARTITION BY series_id) AS frames"
            f"  FROM {table} WHERE series_id = ANY(%s)"
            ") ranked WHERE position = (frames + 1) / 2",
            [sorted(set(series_ids))],
        )
        return {
            int(series_id): {"instance_id": int(instance_id), "frame_index": int(frame_index)}
            for series_id, instance_id, frame_index in cursor.fetchall()
        }


def case_rows(*, case_ids: list[int]) -> list[dict[str, Any]]:
    if not case_ids:
        return []
    rows: dict[int, dict[str, Any]] = {
        row["id"]: dict(row)
        for row in Case.objects.filter(pk__in=case_ids).values(
            "id",
            "project_id",
            "status",
            "series_id",
            "priority",
            project_slug=F("project__slug"),
            study_id=F("series__study_id"),
            patient_key=F("series__study__patient_key"),
            study_date=F("series__study__study_date"),
            modality=F("series__modality"),
            body_part=F("series__body_part"),
            manufacturer=F("series__manufacturer"),
            slice_thickness=F("series__slice_thickness"),
            frame_count=F("series__frame_count"),
        )
    }
    labels: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for stat in CaseLabelStat.objects.filter(case_id__in=case_ids).order_by("label_value"):
        labels[stat.case_id].append(
            {"value": stat.label_value, "volume_ml": stat.volume_ml, "slices": stat.slices, "dice": stat.mean_dice}
        )
    summaries = {s.case_id: s for s in CaseStats.objects.filter(case_id__in=case_ids)}
    case_tags, study_tags = _tags_by("case_id", case_ids), _tags_by("study_id", [r["study_id"] for r in rows.values()])
    case_flags = _flags_by("case_id", case_ids)
    study_flags = _flags_by("study_id", [r["study_id"] for r in rows.values()])
    thumbnails = thumbnails_for_series([int(r["series_id"]) for r in rows.values()])
    out = []
    for case_id in case_ids:
        row = dict(rows[case_id])
        summary = summaries.get(case_id)
        study_id = int(row["study_id"])
        out.append(
            {
                **row,
                "project": row.pop("project_slug"),
                "labels": labels.get(case_id, []),
                "reference": None
                if summary is None
                else {
                    "source": summary.reference_source,
                    "annotation_id": summary.reference_annotation_id,
                    "version": summary.reference_number,
                },
                "mean_dice": summary.mean_dice if summary else None,
                "min_dice": summary.min_dice if summary else None,
                "readers": summary.readers if summary else 0,
                "tags": sorted(set(case_tags.get(case_id, []) + study_tags.get(study_id, []))),
                "flags": case_flags.get(case_id, []) + study_flags.get(study_id, []),
                "thumbnail": thumbnails.get(int(row["series_id"])),
            }
        )
    return out


def series_rows(*, series_ids: list[int]) -> list[dict[str, Any]]:
    if not series_ids:
        return []
    rows = {
        row["id"]: row
        for row in Series.objects.filter(pk__in=series_ids).values(
            "id",
            "study_id",
            "modality",
            "body_part",
            "manufacturer",
            "slice_thickness",
            "frame_count",
            "series_description",
            project_slug=F("project__slug"),
        )
    }
    cases = dict(Case.objects.filter(series_id__in=series_ids).values_list("series_id", "id"))
    thumbnails = thumbnails_for_series(series_ids)
    return [_with_project(dict(rows[s]), case_id=cases.get(s), thumbnail=thumbnails.get(s)) for s in series_ids]


def _with_project(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {key: value for key, value in row.items() if key != "project_slug"}
    return {**out, "project": row["project_slug"], **extra}


def study_rows(*, study_ids: list[int]) -> list[dict[str, Any]]:
    if not study_ids:
        return []
    rows = {
        row["id"]: row
        for row in Study.objects.filter(pk__in=study_ids)
        .annotate(series_count=Count("series"))
        .values(
            "id",
            "study_instance_uid",
            "patient_key",
            "study_date",
            "modalities",
            "series_count",
            project_slug=F("project__slug"),
        )
    }
    tags, flags = _tags_by("study_id", study_ids), _flags_by("study_id", study_ids)
    return [_with_project(dict(rows[s]), tags=tags.get(s, []), flags=flags.get(s, [])) for s in study_ids]


# --- details -------------------------------------------------------------------------------------


def case_for_curation(*, project: Project, case_id: int, user: User, role: str) -> Case:
    q = Q(project=project, pk=case_id)
    case = Case.objects.filter(q).filter(cases_visible_q(roles={project.pk: role}, user=user, content=False)).first()
    if case is None:
        raise NotFound("case_not_found", "No such case in this project.")
    return case


def study_for_curation(*, project: Project, study_id: int) -> Study:
    study = Study.objects.filter(project=project, pk=study_id).first()
    if study is None:
        raise NotFound("study_not_found", "No such study in this project.")
    return study


def notes_for(*, case: Case | None = None, study: Study | None = None) -> list[dict[str, Any]]:
    notes = Note.objects.filter(case=case) if case is not None else Note.objects.filter(study=study)
    return [
        {"id": n["id"], "author": n["author__username"], "text": n["text"], "created_at": n["created_at"]}
        for n in notes.order_by("created_at", "id").values("id", "author__username", "text", "created_at")
    ]


def _redact_content(row: dict[str, Any]) -> None:
    """Content statistics of a case not yet signed stay with owners and reviewers (blind reading)."""
    row.update({"labels": [], "reference": None, "mean_dice": None, "min_dice": None})


def case_detail(*, case: Case, role: str) -> dict[str, Any]:
    row = case_rows(case_ids=[case.pk])[0]
    if role not in FULL_ROLES and case.status != CaseStatus.SIGNED:
        _redact_content(row)
    return {**row, "notes": notes_for(case=case)}


def saved_filter_get(*, project: Project, filter_id: int) -> SavedFilter:
    saved = SavedFilter.objects.filter(project=project, pk=filter_id).first()
    if saved is None:
        raise NotFound("filter_not_found", "No such saved filter in this project.")
    return saved


def tag_counts(*, project: Project) -> list[dict[str, Any]]:
    rows = Tag.objects.filter(project=project).values("name").annotate(count=Count("id")).order_by("name")
    return [{"name": r["name"], "count": r["count"]} for r in rows]


# --- duplicates ----------------------------------------------------------------------------------

MAX_NEAR_DISTANCE = 8


def _bands(max_distance: int) -> list[tuple[int, int]]:
    """Split 64 bits into max_distance + 1 bands: hashes within that Hamming distance share one band."""
    count = max_distance + 1
    edges = [round(i * 64 / count) for i in range(count + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(count)]


def duplicates_for_series(*, series_ids: list[int], user: User, max_distance: int = 4) -> dict[str, Any]:
    """Exact (same decoded-pixel SHA-256) and near (dHash within `max_distance` bits) duplicates of the
    given series' instances among every series in the projects the user can see, as pairs of series."""
    if not 0 <= max_distance <= MAX_NEAR_DISTANCE:
        raise ApplicationError("invalid_distance", f"max_distance must be 0..{MAX_NEAR_DISTANCE}.")
    visible = list(ProjectMembership.objects.filter(user=user).values_list("project_id", flat=True))
    selected = set(series_ids)
    pairs: dict[tuple[int, int], dict[str, Any]] = {}

    def record(a: int, b: int, kind: str, distance: int) -> None:
        if a == b:
            return
        key = (min(a, b), max(a, b)) if a in selected and b in selected else (a, b)
        entry = pairs.setdefault(key, {"exact": 0, "near": 0, "min_distance": distance})
        entry[kind] += 1
        entry["min_distance"] = min(entry["min_distance"], distance)

    mine = InstanceFingerprint.objects.filter(series_id__in=series_ids).exclude(pixel_sha256="")
    exact = (
        InstanceFingerprint.objects.filter(project_id__in=visible, pixel_sha256__in=mine.values("pixel_sha256"))
        .exclude(pixel_sha256="")
        .values_list("pixel_sha256", "series_id")
    )
    by_sha: dict[str, set[int]] = defaultdict(set)
    for sha, series_id in exact:
        by_sha[sha].add(series_id)
    for group in by_sha.values():
        for a in group & selected:
            for b in group - {a}:
                if b in selected and b < a:
                    continue  # both selected: count the pair once
                record(a, b, "exact", 0)

    if max_distance > 0:
        rows = list(
            InstanceFingerprint.objects.filter(project_id__in=visible, dhash__isnull=False).values_list(
                "series_id", "dhash", "pixel_sha256"
            )
        )
        if rows:
            series_arr = np.array([r[0] for r in rows], dtype=np.int64)
            hashes = np.array([r[1] for r in rows], dtype=np.int64).view(np.uint64)
            shas = [r[2] for r in rows]
            query = np.flatnonzero(np.isin(series_arr, np.array(sorted(selected), dtype=np.int64)))
            seen: set[tuple[int, int]] = set()
            for start, width in _bands(max_distance):
                mask = np.uint64((1 << width) - 1)
                keys = (hashes >> np.uint64(start)) & mask
                order = np.argsort(keys, kind="stable")
                sorted_keys = keys[order]
                for qi in query:
                    lo = int(np.searchsorted(sorted_keys, keys[qi], side="left"))
                    hi = int(np.searchsorted(sorted_keys, keys[qi], side="right"))
                    candidates = order[lo:hi]
                    candidates = candidates[series_arr[candidates] != series_arr[qi]]
                    if not candidates.size:
                        continue
                    distances = np.bitwise_count(hashes[candidates] ^ hashes[qi])
                    close = distances <= max_distance
                    for ci, d in zip(candidates[close].tolist(), distances[close].tolist(), strict=True):
                        pair = (min(int(qi), ci), max(int(qi), ci))
                        if pair in seen or (shas[qi] and shas[qi] == shas[ci]):
                            continue  # identical pixels were counted as exact
                        seen.add(pair)
                        record(int(series_arr[qi]), int(series_arr[ci]), "near", int(d))
    return {"max_distance": max_distance, "pairs": _describe_pairs(pairs), "missing": fingerprints_missing(series_ids)}


def _describe_pairs(pairs: dict[tuple[int, int], dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {s for pair in pairs for s in pair}
    info = {
        row["id"]: row
        for row in Series.objects.filter(pk__in=ids).values("id", "project__slug", "study__patient_key", "study_id")
    }
    cases = dict(Case.objects.filter(series_id__in=ids).values_list("series_id", "id"))
    out = []
    for (a, b), entry in sorted(pairs.items()):
        out.append(
            {
                "series_a": a,
                "series_b": b,
                "case_a": cases.get(a),
                "case_b": cases.get(b),
                "project_a": info[a]["project__slug"],
                "project_b": info[b]["project__slug"],
                "same_patient": bool(info[a]["study__patient_key"])
                and info[a]["project__slug"] == info[b]["project__slug"]
                and info[a]["study__patient_key"] == info[b]["study__patient_key"],
                "kind": "exact" if entry["exact"] else "near",
                "exact_instances": entry["exact"],
                "near_instances": entry["near"],
                "min_distance": entry["min_distance"],
            }
        )
    return out


def fingerprints_missing(series_ids: list[int]) -> int:
    from backend.imaging.models import Instance

    return (
        Instance.objects.filter(series_id__in=series_ids)
        .exclude(Exists(InstanceFingerprint.objects.filter(instance_id=OuterRef("pk"))))
        .count()
    )


# --- statistics ----------------------------------------------------------------------------------


def _histogram(values: list[float], bins: int, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    if not values:
        return {"edges": [], "counts": []}
    array = np.asarray(values, dtype=float)
    lo = float(array.min()) if low is None else low
    hi = float(array.max()) if high is None else high
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(array, bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def statistics(
    *,
    project: Project,
    user: User,
    role: str,
    case_ids: list[int] | None = None,
    bins: int = 10,
    days: int = 30,
    today: date | None = None,
) -> dict[str, Any]:
    """Counts per label, volume and agreement distributions, and reader throughput (tasks per day)."""
    if not 2 <= bins <= 100:
        raise ApplicationError("invalid_bins", "bins must be 2..100.")
    if not 1 <= days <= 3660:
        raise ApplicationError("invalid_days", "days must be 1..3660.")
    cases = Case.objects.filter(project=project).filter(
        cases_visible_q(roles={project.pk: role}, user=user, content=True)
    )
    if case_ids is not None:
        cases = cases.filter(pk__in=case_ids)
    labels = {label.value: label.name for label in Label.objects.filter(project=project)}
    volumes: dict[int, list[float]] = defaultdict(list)
    for value, volume in CaseLabelStat.objects.filter(case_id__in=cases.values("pk")).values_list(
        "label_value", "volume_ml"
    ):
        volumes[value].append(volume)
    dice = [
        float(value)
        for value in CaseStats.objects.filter(case_id__in=cases.values("pk"), mean_dice__isnull=False).values_list(
            "mean_dice", flat=True
        )
        if value is not None
    ]
    status_counts = dict(cases.values("status").annotate(n=Count("id")).values_list("status", "n"))
    end = today or timezone.now().date()
    start = end - timedelta(days=days - 1)
    tasks = Task.objects.filter(case__project=project, status=TaskStatus.SUBMITTED, submitted_at__date__gte=start)
    if case_ids is not None:
        tasks = tasks.filter(case_id__in=case_ids)
    per_day = (
        tasks.annotate(day=TruncDate("submitted_at"))
        .values("day", "reader__username")
        .annotate(n=Count("id"))
        .order_by("day", "reader__username")
    )
    throughput: dict[str, dict[str, int]] = defaultdict(dict)
    for row in per_day:
        throughput[row["reader__username"] or ""][row["day"].isoformat()] = row["n"]
    return {
        "cases": sum(status_counts.values()),
        "status": {s: status_counts.get(s, 0) for s in CaseStatus.values},
        "labels": [
            {
                "value": value,
                "name": labels.get(value, ""),
                "cases": len(volumes.get(value, [])),
                "total_volume_ml": round(float(sum(volumes.get(value, []))), 3),
                "volume_histogram": _histogram(volumes.get(value, []), bins),
            }
            for value in sorted(set(labels) | set(volumes))
        ],
        "agreement": {
            "cases": len(dice),
            "mean_dice_histogram": _histogram(dice, bins, 0.0, 1.0),
            "mean": round(float(np.mean(dice)), 4) if dice else None,
        },
        "throughput": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "readers": [
                {"reader": reader, "per_day": per, "total": sum(per.values())}
                for reader, per in sorted(throughput.items())
            ],
        },
    }


# --- snapshots -----------------------------------------------------------------------------------


def snapshot_get(*, project: Project, snapshot_id: int) -> Snapshot:
    snapshot = Snapshot.objects.filter(project=project, pk=snapshot_id).first()
    if snapshot is None:
        raise NotFound("snapshot_not_found", "No such snapshot in this project.")
    return snapshot


def snapshot_items_page(
    *, snapshot: Snapshot, split: str | None, cursor: str | None, limit: int = 100
) -> dict[str, Any]:
    if not 1 <= limit <= MAX_PAGE:
        raise ApplicationError("invalid_limit", f"limit must be 1..{MAX_PAGE}.")
    after = cursor_decode(cursor, "snapshot_item")
    items = SnapshotItem.objects.filter(snapshot=snapshot, case_id__gt=after)
    if split:
        items = items.filter(split=split)
    rows = list(
        items.order_by("case_id").values(
            "case_id", "annotation_id", "version_id", "split", "patient_key", "labels", "source", "licence"
        )[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": rows,
        "next_cursor": cursor_encode("snapshot_item", rows[-1]["case_id"]) if more and rows else None,
    }


def snapshot_diff(*, a: Snapshot, b: Snapshot) -> dict[str, Any]:
    """What changed from a to b: cases added/removed, annotation versions changed, split moves."""

    def load(snapshot: Snapshot) -> dict[int, tuple[int, int, str]]:
        return {
            case: (annotation, version, split)
            for case, annotation, version, split in SnapshotItem.objects.filter(snapshot=snapshot).values_list(
                "case_id", "annotation_id", "version_id", "split"
            )
        }

    left, right = load(a), load(b)
    common = sorted(set(left) & set(right))
    changed = [
        {
            "case_id": c,
            "from": {"annotation_id": left[c][0], "version_id": left[c][1]},
            "to": {"annotation_id": right[c][0], "version_id": right[c][1]},
        }
        for c in common
        if left[c][:2] != right[c][:2]
    ]
    moved = [{"case_id": c, "from": left[c][2], "to": right[c][2]} for c in common if left[c][2] != right[c][2]]
    return {
        "from": {"id": a.pk, "name": a.name, "version": a.version, "content_hash": a.content_hash},
        "to": {"id": b.pk, "name": b.name, "version": b.version, "content_hash": b.content_hash},
        "identical": a.content_hash == b.content_hash,
        "added": sorted(set(right) - set(left)),
        "removed": sorted(set(left) - set(right)),
        "changed": changed,
        "moved": moved,
        "unchanged": len(common) - len({d["case_id"] for d in changed} | {d["case_id"] for d in moved}),
        "label_schema_changed": a.label_schema != b.label_schema,
    }
