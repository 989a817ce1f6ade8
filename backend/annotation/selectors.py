"""Reads for the workflow, with the blind-reading rule in one place: `annotation_visible`."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Q, QuerySet
from numpy.typing import NDArray

from backend.accounts.models import ProjectRole, User
from backend.accounts.selectors import project_role
from backend.annotation import maskcodec
from backend.annotation.models import (
    Annotation,
    AnnotationKind,
    Case,
    CaseStatus,
    Label,
    MaskFrame,
    Project,
    ReadingPolicy,
    Task,
    TaskStatus,
)
from backend.common.errors import NotFound
from backend.imaging.models import Frame


def policy_for(project: Project) -> ReadingPolicy:
    policy, _ = ReadingPolicy.objects.get_or_create(project=project)
    return policy


def labels_for(project: Project) -> QuerySet[Label]:
    return Label.objects.filter(project=project).order_by("value")


def label_values(project: Project) -> set[int]:
    return set(Label.objects.filter(project=project).values_list("value", flat=True))


def case_get(*, project: Project, case_id: int) -> Case:
    case = Case.objects.filter(project=project, pk=case_id).select_related("series").first()
    if case is None:
        raise NotFound("case_not_found", "No such case in this project.")
    return case


def case_reads_complete(case: Case) -> bool:
    return not case.tasks.exclude(status=TaskStatus.SUBMITTED).exists()


def is_reader_of(case: Case, user: User) -> bool:
    return case.tasks.filter(reader=user).exists()


def annotation_visible(*, annotation: Annotation, user: User) -> bool:
    """Blind reading: while a case is being read, a reader sees only their own work, and others (reviewers,
    owners who do not read this case, viewers) see submitted reads only. Without blind reading, or once
    every read is in, members see all reads. The consensus belongs to reviewers until the reads are in."""
    if annotation.author_id == user.pk:
        return True
    case = annotation.case
    role = project_role(project=case.project, user=user)
    if role is None:
        return False
    complete = case_reads_complete(case)
    if annotation.kind == AnnotationKind.CONSENSUS:
        return role in (ProjectRole.OWNER, ProjectRole.REVIEWER) or complete or case.status == CaseStatus.SIGNED
    if policy_for(case.project).blind and not complete:
        if is_reader_of(case, user):
            return False
        return annotation.task is not None and annotation.task.status == TaskStatus.SUBMITTED
    return True


def annotation_get_visible(*, project: Project, annotation_id: int, user: User) -> Annotation:
    annotation = (
        Annotation.objects.filter(pk=annotation_id, case__project=project)
        .select_related("case", "case__project", "case__series", "task")
        .first()
    )
    # Invisible and missing look the same, so a blind co-reader cannot probe for annotations.
    if annotation is None or not annotation_visible(annotation=annotation, user=user):
        raise NotFound("annotation_not_found", "No such annotation, or it is not visible to you yet.")
    return annotation


def annotations_visible_for_case(*, case: Case, user: User) -> list[Annotation]:
    annotations = Annotation.objects.filter(case=case).select_related("case", "case__project", "task")
    return [a for a in annotations if annotation_visible(annotation=a, user=user)]


def frame_label_map(*, annotation: Annotation, frame: Frame, number: int | None = None) -> NDArray[np.uint8]:
    """The frame's label map as of version `number` (default: head); zeros where nothing was drawn."""
    at = annotation.head if number is None else number
    row = (
        MaskFrame.objects.filter(annotation=annotation, frame=frame, number__lte=at)
        .order_by("-number")
        .only("data")
        .first()
    )
    shape = (frame.instance.rows, frame.instance.columns)
    if row is None:
        return np.zeros(shape, dtype=np.uint8)
    return maskcodec.decode(row.data, shape)


def annotation_frames_at(*, annotation: Annotation, number: int | None = None) -> dict[int, MaskFrame]:
    """The latest MaskFrame row per frame at or before version `number`."""
    at = annotation.head if number is None else number
    rows = (
        MaskFrame.objects.filter(annotation=annotation, number__lte=at)
        .order_by("frame_id", "-number")
        .distinct("frame_id")
    )
    return {row.frame_id: row for row in rows}


def annotation_volume(*, annotation: Annotation, frames: list[Frame]) -> NDArray[np.uint8]:
    """(slices, rows, cols) label volume in the series' slice order."""
    latest = annotation_frames_at(annotation=annotation)
    if not frames:
        return np.zeros((0, 0, 0), dtype=np.uint8)
    shape = (frames[0].instance.rows, frames[0].instance.columns)
    volume = np.zeros((len(frames), *shape), dtype=np.uint8)
    for index, frame in enumerate(frames):
        row = latest.get(frame.pk)
        if row is not None:
            volume[index] = maskcodec.decode(row.data, shape)
    return volume


def tasks_for_reader(*, project: Project, user: User) -> QuerySet[Task]:
    return (
        Task.objects.filter(case__project=project, reader=user)
        .select_related("case", "case__series")
        .order_by("status", "-priority", "due_date", "id")
    )


def review_queue(*, project: Project) -> QuerySet[Case]:
    return Case.objects.filter(project=project, status=CaseStatus.IN_REVIEW).order_by("-priority", "due_date", "id")


def cases_for_user(*, project: Project, user: User, status: str | None = None) -> QuerySet[Case]:
    role = project_role(project=project, user=user)
    cases = Case.objects.filter(project=project).select_related("series")
    if role not in (ProjectRole.OWNER, ProjectRole.REVIEWER):
        cases = cases.filter(Q(tasks__reader=user) | Q(status=CaseStatus.SIGNED)).distinct()
    if status:
        cases = cases.filter(status=status)
    return cases.order_by("-priority", "due_date", "id")


def case_summary(case: Case) -> dict[str, Any]:
    tasks = list(case.tasks.all())
    return {
        "tasks_total": len(tasks),
        "tasks_submitted": sum(t.status == TaskStatus.SUBMITTED for t in tasks),
        "tasks_open": sum(t.status == TaskStatus.OPEN for t in tasks),
    }
