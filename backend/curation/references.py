"""Which annotation version stands for a case: the one rule used by statistics, snapshots and exports.

1. the latest signed version, the consensus before reads (reads by slot);
2. unless only signed work may be used: the consensus head;
3. then the first submitted read's head (by slot).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef

from backend.accounts.models import User
from backend.annotation.models import Annotation, AnnotationKind, Case, ReadingPolicy, SignOff, Task, TaskStatus
from backend.curation.models import ReferenceSource
from backend.curation.sqlutil import any_of


@dataclass(frozen=True)
class Reference:
    case_id: int
    annotation_id: int
    number: int
    version_id: int
    source: str  # ReferenceSource


def _blind_cases(case_ids: list[int], user: User) -> set[int]:
    """Cases whose reads this user may not see yet: they read it, it is blind, and reads are outstanding."""
    blind_projects = ReadingPolicy.objects.filter(blind=True).values("project_id")
    outstanding = Task.objects.filter(case_id=OuterRef("pk")).exclude(status=TaskStatus.SUBMITTED)
    return set(
        Case.objects.filter(pk__in=any_of(case_ids), project_id__in=blind_projects, tasks__reader=user)
        .filter(Exists(outstanding))
        .values_list("pk", flat=True)
    )


def _version_ids(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """MaskVersion ids for (annotation id, number) pairs, in one query."""
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.annotation_id, v.number, v.id FROM annotation_maskversion v "
            "JOIN unnest(%s::bigint[], %s::integer[]) AS r(annotation_id, number) "
            "ON v.annotation_id = r.annotation_id AND v.number = r.number",
            [[a for a, _ in pairs], [n for _, n in pairs]],
        )
        return {(int(a), int(n)): int(v) for a, n, v in cursor.fetchall()}


def references_for_cases(case_ids: list[int], *, signed_only: bool, viewer: User | None = None) -> dict[int, Reference]:
    """The reference per case (cases without one are missing from the answer). With a viewer, reads that
    the blind-reading rule hides from them are never chosen."""
    hidden = _blind_cases(case_ids, viewer) if viewer is not None else set()
    out: dict[int, Reference] = {}
    signed = SignOff.objects.filter(annotation__case_id__in=any_of(case_ids)).values_list(
        "annotation__case_id",
        "annotation_id",
        "annotation__kind",
        "annotation__task__slot",
        "version__number",
        "version_id",
    )
    best: dict[int, tuple[tuple[int, int, int], Reference]] = {}
    for case_id, annotation_id, kind, slot, number, version_id in signed:
        is_read = kind != AnnotationKind.CONSENSUS
        if is_read and case_id in hidden:
            continue
        rank = (int(is_read), slot or 0, -number)
        if case_id not in best or rank < best[case_id][0]:
            best[case_id] = (rank, Reference(case_id, annotation_id, number, version_id, ReferenceSource.SIGNED))
    out.update({case_id: ref for case_id, (_, ref) in best.items()})
    if signed_only:
        return out
    rest = [c for c in case_ids if c not in out]
    heads: dict[int, tuple[int, int, str]] = {}
    for case_id, annotation_id, head in Annotation.objects.filter(
        case_id__in=any_of(rest), kind=AnnotationKind.CONSENSUS, head__gt=0
    ).values_list("case_id", "id", "head"):
        heads[case_id] = (annotation_id, head, ReferenceSource.CONSENSUS)
    reads = (
        Annotation.objects.filter(
            case_id__in=any_of([c for c in rest if c not in heads and c not in hidden]),
            kind=AnnotationKind.READ,
            head__gt=0,
            task__status=TaskStatus.SUBMITTED,
        )
        .order_by("case_id", "task__slot", "id")
        .values_list("case_id", "id", "head")
    )
    for case_id, read_id, read_head in reads:
        heads.setdefault(case_id, (read_id, read_head, ReferenceSource.READ))
    versions = _version_ids([(a, n) for a, n, _ in heads.values()])
    for case_id, (annotation_id, head, source) in heads.items():
        head_version = versions.get((annotation_id, head))
        if head_version is not None:
            out[case_id] = Reference(case_id, annotation_id, head, head_version, source)
    return out
