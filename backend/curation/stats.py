"""Per-case statistics for filtering: label sizes of the reference annotation and agreement between reads.

A row says what it was computed from (`inputs`: a digest of the consensus and submitted reads' heads and
the signatures, computed in SQL), so staleness is one query and recomputing is idempotent.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from django.db import connection, transaction
from numpy.typing import NDArray

from backend.annotation import maskcodec
from backend.annotation.models import Annotation, Case
from backend.annotation.review import reader_annotations, series_frames, voxel_spacing
from backend.annotation.selectors import annotation_frames_at
from backend.curation.models import CaseLabelStat, CaseStats, ReferenceSource
from backend.curation.references import references_for_cases

STATS_VERSION = "stats-1"  # bump when the computation changes: every row becomes stale
_LOCK_NAMESPACE = 0x43555241  # "CURA": advisory locks of this app

# Only what the numbers depend on: consensus heads, submitted reads' heads, signatures. A reader's saves
# while reading do not make the row stale.
_INPUTS_SQL = """
md5(concat_ws('|', %s,
  (SELECT string_agg(a.id || ':' || a.kind || ':' || a.head, ',' ORDER BY a.id)
     FROM annotation_annotation a LEFT JOIN annotation_task t ON t.id = a.task_id
     WHERE a.case_id = c.id AND (a.kind = 'consensus' OR t.status = 'submitted')),
  (SELECT string_agg(s.version_id::text, ',' ORDER BY s.version_id)
     FROM annotation_signoff s JOIN annotation_annotation a2 ON a2.id = s.annotation_id WHERE a2.case_id = c.id)))
"""


def stats_inputs(case_ids: list[int]) -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, {_INPUTS_SQL} FROM annotation_case c WHERE c.id = ANY(%s)",  # noqa: S608 - constant SQL
            [STATS_VERSION, case_ids],
        )
        return {int(case_id): str(digest) for case_id, digest in cursor.fetchall()}


def stats_stale_case_ids(*, project_id: int, case_ids: list[int] | None = None) -> list[int]:
    """Cases of the project whose statistics are missing or were computed from other inputs."""
    sql = (
        f"SELECT c.id FROM annotation_case c LEFT JOIN curation_casestats s ON s.case_id = c.id "  # noqa: S608
        f"WHERE c.project_id = %s AND (s.case_id IS NULL OR s.inputs <> {_INPUTS_SQL})"
    )
    params: list[Any] = [project_id, STATS_VERSION]
    if case_ids is not None:
        sql += " AND c.id = ANY(%s)"
        params.append(case_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY c.id", params)
        return [int(row[0]) for row in cursor.fetchall()]


def _dice_from_confusion(confusion: NDArray[np.int64]) -> dict[int, float]:
    """Per label (1..255) present in either read: 2|A∩B| / (|A|+|B|)."""
    rows, cols = confusion.sum(axis=1), confusion.sum(axis=0)
    out = {}
    for label in np.flatnonzero((rows + cols) > 0):
        if label == 0:
            continue
        out[int(label)] = 2.0 * float(confusion[label, label]) / float(rows[label] + cols[label])
    return out


def case_stats_compute(*, case_id: int) -> CaseStats | None:
    """Recompute one case's statistics (idempotent; returns None if the case is gone)."""
    case = Case.objects.select_related("series").filter(pk=case_id).first()
    if case is None:
        return None
    inputs = stats_inputs([case.pk]).get(case.pk, "")
    frames = series_frames(case.series)
    spacing = voxel_spacing(case.series)
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    reference = references_for_cases([case.pk], signed_only=False).get(case.pk)

    voxels = np.zeros(256, dtype=np.int64)
    slices = np.zeros(256, dtype=np.int64)
    if reference is not None:
        rows = annotation_frames_at(
            annotation=Annotation.objects.get(pk=reference.annotation_id), number=reference.number
        )
        for frame in frames:
            row = rows.get(frame.pk)
            if row is None:
                continue
            counts = np.bincount(
                maskcodec.decode(row.data, (frame.instance.rows, frame.instance.columns)).ravel(), minlength=256
            )
            voxels += counts
            slices += counts > 0

    reads = reader_annotations(case)
    pairs: list[dict[str, Any]] = []
    if len(reads) >= 2:
        latest = {read.pk: annotation_frames_at(annotation=read) for read in reads}
        confusion = {(a.pk, b.pk): np.zeros(256 * 256, dtype=np.int64) for a, b in itertools.combinations(reads, 2)}
        for frame in frames:
            shape = (frame.instance.rows, frame.instance.columns)
            maps: dict[int, NDArray[np.uint8]] = {}
            for read in reads:
                row = latest[read.pk].get(frame.pk)
                maps[read.pk] = maskcodec.decode(row.data, shape) if row is not None else np.zeros(shape, np.uint8)
            for a, b in confusion:
                joint = maps[a].astype(np.int64).ravel() * 256 + maps[b].ravel()
                confusion[(a, b)] += np.bincount(joint, minlength=256 * 256)
        authors = {read.pk: read.author_id for read in reads}
        for (a, b), matrix in confusion.items():
            for label, dice in sorted(_dice_from_confusion(matrix.reshape(256, 256)).items()):
                pairs.append({"a": authors[a], "b": authors[b], "label": label, "dice": round(dice, 4)})
    per_label: dict[int, list[float]] = {}
    for pair in pairs:
        per_label.setdefault(pair["label"], []).append(pair["dice"])
    all_dice = [p["dice"] for p in pairs]

    with transaction.atomic():
        with connection.cursor() as cursor:  # one writer per case at a time; others wait, then overwrite
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, case.pk])
        stats, _ = CaseStats.objects.update_or_create(
            case=case,
            defaults={
                "project_id": case.project_id,
                "reference_annotation_id": reference.annotation_id if reference else None,
                "reference_number": reference.number if reference else 0,
                "reference_source": reference.source if reference else ReferenceSource.NONE,
                "readers": len(reads),
                "mean_dice": round(float(np.mean(all_dice)), 4) if all_dice else None,
                "min_dice": round(float(np.min(all_dice)), 4) if all_dice else None,
                "agreement": {
                    "labels": {str(k): round(float(np.mean(v)), 4) for k, v in sorted(per_label.items())},
                    "pairs": pairs,
                },
                "inputs": inputs,
            },
        )
        CaseLabelStat.objects.filter(case=case).delete()
        CaseLabelStat.objects.bulk_create(
            CaseLabelStat(
                case=case,
                project_id=case.project_id,
                label_value=int(value),
                voxels=int(voxels[value]),
                volume_ml=round(float(voxels[value]) * voxel_ml, 4),
                slices=int(slices[value]),
                mean_dice=round(float(np.mean(per_label[int(value)])), 4) if int(value) in per_label else None,
            )
            for value in np.flatnonzero(voxels)
            if value != 0
        )
    return stats


def stats_refresh(*, project_id: int, case_ids: list[int] | None = None, limit: int | None = None) -> int:
    """Recompute the stale statistics of a project (or of some of its cases); returns how many."""
    stale = stats_stale_case_ids(project_id=project_id, case_ids=case_ids)
    if limit is not None:
        stale = stale[:limit]
    for case_id in stale:
        case_stats_compute(case_id=case_id)
    return len(stale)
