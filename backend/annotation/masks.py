"""Saving label maps: versioned, optimistic (a save names its base version), append-only."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import transaction

from backend.accounts.models import User
from backend.annotation import maskcodec
from backend.annotation.models import (
    Annotation,
    AnnotationKind,
    Case,
    CaseStatus,
    DraftFrame,
    MaskFrame,
    MaskSource,
    MaskVersion,
    SignOff,
    Task,
    TaskStatus,
)
from backend.annotation.selectors import frame_label_map, label_values
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict, Forbidden, NotFound
from backend.imaging.models import Frame

MAX_FRAMES_PER_SAVE = 2000


def annotation_for_task(*, task: Task, user: User) -> Annotation:
    """The reader's annotation of their task, created empty on first use."""
    if task.reader_id != user.pk:
        raise NotFound("task_not_found", "No such task among yours.")
    annotation, _ = Annotation.objects.get_or_create(
        task=task, defaults={"case": task.case, "author": user, "kind": AnnotationKind.READ}
    )
    return annotation


def _check_can_edit(annotation: Annotation, user: User) -> None:
    if annotation.author_id != user.pk:
        raise Forbidden("not_your_annotation", "Only the author edits an annotation.")
    if annotation.kind == AnnotationKind.READ:
        task = annotation.task
        if task is None or task.reader_id != user.pk:
            raise Forbidden("not_your_annotation", "This read is no longer assigned to you.")
        if task.status not in (TaskStatus.ASSIGNED, TaskStatus.RETURNED):
            raise Conflict("task_submitted", "The read was submitted; ask the reviewer to send it back to edit.")


def _parse_frames(annotation: Annotation, frames: dict[str, Any]) -> list[tuple[Frame, np.ndarray]]:
    if not isinstance(frames, dict) or not frames:
        raise ApplicationError("mask_invalid", "Send at least one frame: {frame_id: label map RLE}.")
    if len(frames) > MAX_FRAMES_PER_SAVE:
        raise ApplicationError("mask_too_many_frames", f"At most {MAX_FRAMES_PER_SAVE} frames per save.")
    try:
        ids = [int(key) for key in frames]
    except ValueError as exc:
        raise ApplicationError("mask_invalid", "Frame keys must be frame ids.") from exc
    known = {
        f.pk: f
        for f in Frame.objects.filter(pk__in=ids, series_id=annotation.case.series_id).select_related("instance")
    }
    missing = sorted(set(ids) - set(known))
    if missing:
        raise ApplicationError(
            "frame_not_in_case", "Some frames are not part of this case's series.", extra={"frames": missing}
        )
    allowed = label_values(annotation.case.project)
    parsed = []
    for key, rle in frames.items():
        frame = known[int(key)]
        labels = maskcodec.from_rle(rle, shape=(frame.instance.rows, frame.instance.columns), allowed=allowed)
        parsed.append((frame, labels))
    return parsed


def mask_save(
    *, annotation: Annotation, user: User, base_version: int, frames: dict[str, Any], source: str
) -> MaskVersion:
    """Accept a change as a new version. A stale base answers 409 with the current version."""
    if source not in MaskSource.values:
        raise ApplicationError("invalid_source", f"Unknown source {source!r}.", extra={"allowed": MaskSource.values})
    parsed = _parse_frames(annotation, frames)  # validate before taking any lock
    with transaction.atomic():
        locked = Annotation.objects.select_for_update(of=("self",)).select_related("task", "case").get(pk=annotation.pk)
        _check_can_edit(locked, user)
        if base_version != locked.head:
            raise Conflict(
                "stale_version",
                "Someone saved a newer version; reload it or keep yours as a new version on top.",
                extra={"current_version": locked.head, "your_base": base_version},
            )
        parent = MaskVersion.objects.filter(annotation=locked, number=locked.head).first()
        version = MaskVersion.objects.create(
            annotation=locked,
            number=locked.head + 1,
            parent=parent,
            author=user,
            source=source,
            frames_changed=[frame.pk for frame, _ in parsed],
        )
        rows = []
        regions = []
        for frame, labels in parsed:
            previous = frame_label_map(annotation=locked, frame=frame)
            changed = np.argwhere(previous != labels)
            bbox = (
                [
                    int(changed[:, 1].min()),
                    int(changed[:, 0].min()),
                    int(changed[:, 1].max()) + 1,
                    int(changed[:, 0].max()) + 1,
                ]
                if changed.size
                else None
            )
            regions.append({"frame_id": frame.pk, "bbox": bbox})
            data, digest = maskcodec.encode(labels)
            present = sorted(int(v) for v in np.unique(labels) if v)
            rows.append(
                MaskFrame(
                    version=version,
                    annotation=locked,
                    frame=frame,
                    number=version.number,
                    data=data,
                    sha256=digest,
                    labels_present=present,
                )
            )
        MaskFrame.objects.bulk_create(rows)
        locked.head = version.number
        locked.save(update_fields=["head"])
        DraftFrame.objects.filter(annotation=locked, frame_id__in=[f.pk for f, _ in parsed]).delete()
        amended = SignOff.objects.filter(annotation=locked).exists()
        if amended:
            Case.objects.filter(pk=locked.case_id, status=CaseStatus.SIGNED).update(status=CaseStatus.IN_REVIEW)
        audit_record(
            actor=user,
            action="mask.save",
            object_type="annotation",
            object_id=locked.pk,
            project_id=locked.case.project_id,
            detail={"version": version.number, "frames": len(parsed), "source": source, "amendment": amended},
        )
        _notify_saved(locked, version, user, regions)
    return version


def _notify_saved(annotation: Annotation, version: MaskVersion, user: User, regions: list[dict[str, Any]]) -> None:
    """Everyone in the room who may see this annotation hears of the save: author, version, region."""
    from backend.realtime.events import series_event

    series_event(
        series_id=annotation.case.series_id,
        event={
            "type": "mask_saved",
            "annotation_id": annotation.pk,
            "case_id": annotation.case_id,
            "version": version.number,
            "author_id": user.pk,
            "author": user.get_username(),
            "frames": regions,
        },
        durable=True,
        audience_annotation_id=annotation.pk,
    )


def draft_save(*, annotation: Annotation, user: User, frame_id: int, base_version: int, mask: Any) -> DraftFrame:
    """Autosave: private, overwritten each time, not a version."""
    parsed = _parse_frames(annotation, {str(frame_id): mask})
    frame, labels = parsed[0]
    with transaction.atomic():
        locked = Annotation.objects.select_for_update(of=("self",)).select_related("task").get(pk=annotation.pk)
        _check_can_edit(locked, user)
        data, _ = maskcodec.encode(labels)
        draft, _ = DraftFrame.objects.update_or_create(
            annotation=locked, frame=frame, defaults={"data": data, "base_number": base_version}
        )
    return draft
