"""Review: agreement between readers, consensus (pick, majority, STAPLE), send-back and sign-off."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import numpy as np
import SimpleITK as sitk
from django.db import transaction
from numpy.typing import NDArray

from backend.accounts.models import ProjectRole, User
from backend.accounts.selectors import project_role
from backend.annotation import maskcodec
from backend.annotation.masks import mask_save
from backend.annotation.models import (
    Annotation,
    AnnotationKind,
    Case,
    CaseStatus,
    ConsensusMethod,
    MaskSource,
    MaskVersion,
    ReviewComment,
    SignOff,
    Task,
    TaskStatus,
)
from backend.annotation.selectors import annotation_frames_at, annotation_volume, labels_for, policy_for
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict, Forbidden, NotFound
from backend.imaging.models import Frame, Series
from backend.imaging.selectors import series_frames as selected_series_frames


def series_frames(series: Series) -> list[Frame]:
    return list(selected_series_frames(series=series))


def voxel_spacing(series: Series) -> tuple[float, float, float]:
    """(slice, row, column) spacing in mm; 1 mm where the geometry does not say."""
    row, col = (series.pixel_spacing or [1.0, 1.0])[:2]
    return (float(series.slice_spacing or series.slice_thickness or 1.0), float(row), float(col))


def _surface_distances(a: NDArray[np.bool_], b: NDArray[np.bool_], spacing: tuple[float, float, float]) -> NDArray[Any]:
    """Distances (mm) from the surface voxels of `a` to the surface of `b`."""

    def image(mask: NDArray[np.bool_]) -> sitk.Image:
        img = sitk.GetImageFromArray(mask.astype(np.uint8))
        img.SetSpacing((spacing[2], spacing[1], spacing[0]))  # SimpleITK is x, y, z
        return img

    contour_a = sitk.GetArrayFromImage(sitk.LabelContour(image(a))).astype(bool)
    distance_b = sitk.GetArrayFromImage(
        sitk.Abs(
            sitk.SignedMaurerDistanceMap(
                sitk.LabelContour(image(b)), squaredDistance=False, useImageSpacing=True, insideIsPositive=False
            )
        )
    )
    return np.asarray(distance_b[contour_a])


def pair_metrics(
    a: NDArray[np.bool_], b: NDArray[np.bool_], spacing: tuple[float, float, float]
) -> dict[str, float | None]:
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    sum_a, sum_b = int(a.sum()), int(b.sum())
    inter = int(np.logical_and(a, b).sum())
    union = sum_a + sum_b - inter
    dice = 1.0 if sum_a + sum_b == 0 else 2.0 * inter / (sum_a + sum_b)
    iou = 1.0 if union == 0 else inter / union
    hd95: float | None
    if sum_a == 0 and sum_b == 0:
        hd95 = 0.0
    elif sum_a == 0 or sum_b == 0:
        hd95 = None  # undefined: one reader drew nothing
    else:
        distances = np.concatenate([_surface_distances(a, b, spacing), _surface_distances(b, a, spacing)])
        hd95 = float(np.percentile(distances, 95)) if distances.size else 0.0
    return {
        "dice": round(dice, 4),
        "iou": round(iou, 4),
        "hd95_mm": None if hd95 is None else round(hd95, 2),
        "volume_a_ml": round(sum_a * voxel_ml, 3),
        "volume_b_ml": round(sum_b * voxel_ml, 3),
        "volume_diff_ml": round(abs(sum_a - sum_b) * voxel_ml, 3),
    }


def reader_annotations(case: Case) -> list[Annotation]:
    return list(
        Annotation.objects.filter(case=case, kind=AnnotationKind.READ, task__status=TaskStatus.SUBMITTED)
        .select_related("author", "task")
        .order_by("task__slot")
    )


def case_agreement(*, case: Case) -> dict[str, Any]:
    """Per label: every pair of submitted reads, and their mean."""
    frames = series_frames(case.series)
    spacing = voxel_spacing(case.series)
    reads = reader_annotations(case)
    volumes = {a.pk: annotation_volume(annotation=a, frames=frames) for a in reads}
    out: dict[str, Any] = {
        "readers": [{"annotation_id": a.pk, "reader": a.author.get_username()} for a in reads],
        "labels": [],
    }
    for label in labels_for(case.project):
        pairs = []
        for first, second in itertools.combinations(reads, 2):
            metrics = pair_metrics(volumes[first.pk] == label.value, volumes[second.pk] == label.value, spacing)
            pairs.append({"a": first.pk, "b": second.pk, **metrics})

        def mean(key: str, pairs: list[dict[str, Any]] = pairs) -> float | None:
            values = [p[key] for p in pairs if p[key] is not None]
            return round(float(np.mean(values)), 4) if values else None

        out["labels"].append(
            {
                "label": label.value,
                "name": label.name,
                "pairs": pairs,
                "mean": {k: mean(k) for k in ("dice", "iou", "hd95_mm", "volume_diff_ml")},
            }
        )
    return out


def project_reader_summary(*, project_id: int) -> list[dict[str, Any]]:
    """Per reader across the project: reads submitted and mean Dice against the other readers."""
    stats: dict[int, dict[str, Any]] = {}
    for case in Case.objects.filter(project_id=project_id).exclude(status=CaseStatus.READING):
        agreement = case_agreement(case=case)
        authors = {r["annotation_id"]: r["reader"] for r in agreement["readers"]}
        for label in agreement["labels"]:
            for pair in label["pairs"]:
                for side in ("a", "b"):
                    entry = stats.setdefault(pair[side], {"reader": authors[pair[side]], "dice": []})
                    entry["dice"].append(pair["dice"])
    by_reader: dict[str, list[float]] = {}
    for entry in stats.values():
        by_reader.setdefault(entry["reader"], []).extend(entry["dice"])
    submitted: dict[str, int] = {}
    for task in Task.objects.filter(case__project_id=project_id, status=TaskStatus.SUBMITTED).select_related("reader"):
        if task.reader is not None:
            name = task.reader.get_username()
            submitted[name] = submitted.get(name, 0) + 1
    readers = sorted(set(by_reader) | set(submitted))
    return [
        {
            "reader": r,
            "submitted": submitted.get(r, 0),
            "mean_dice": round(float(np.mean(by_reader[r])), 4) if by_reader.get(r) else None,
        }
        for r in readers
    ]


def _require_reviewer(case: Case, user: User) -> None:
    if project_role(project=case.project, user=user) not in (ProjectRole.REVIEWER, ProjectRole.OWNER):
        raise Forbidden(
            "role_required", "Only reviewers and owners review cases.", extra={"required": ["reviewer", "owner"]}
        )


def consensus_build(*, case: Case, user: User, method: str, annotation_id: int | None = None) -> Annotation:
    """Build the consensus as a new version of the case's consensus annotation, which the reviewer can edit."""
    _require_reviewer(case, user)
    if case.status != CaseStatus.IN_REVIEW:
        raise Conflict("case_not_in_review", f"The case is {case.status}; consensus is built during review.")
    reads = reader_annotations(case)
    if not reads:
        raise ApplicationError("no_reads", "No submitted reads to build a consensus from.")
    frames = series_frames(case.series)
    if method == ConsensusMethod.REVIEWER_PICK:
        chosen = next((a for a in reads if a.pk == annotation_id), None)
        if chosen is None:
            raise ApplicationError(
                "pick_required",
                "Choose one of the submitted reads (annotation_id).",
                extra={"choices": [a.pk for a in reads]},
            )
        volume = annotation_volume(annotation=chosen, frames=frames)
    elif method == ConsensusMethod.MAJORITY:
        volume = _majority([annotation_volume(annotation=a, frames=frames) for a in reads], case)
    elif method == ConsensusMethod.STAPLE:
        volume = _staple([annotation_volume(annotation=a, frames=frames) for a in reads], case)
    else:
        raise ApplicationError(
            "invalid_method", f"Unknown consensus method {method!r}.", extra={"allowed": ConsensusMethod.values}
        )
    with transaction.atomic():
        consensus, _ = Annotation.objects.get_or_create(
            case=case, kind=AnnotationKind.CONSENSUS, defaults={"author": user}
        )
        if consensus.author_id != user.pk:
            consensus.author = user  # the reviewer building it now owns the editing
            consensus.save(update_fields=["author"])
        payload = {str(frame.pk): maskcodec.to_rle(volume[i]) for i, frame in enumerate(frames)}
        mask_save(
            annotation=consensus, user=user, base_version=consensus.head, frames=payload, source=MaskSource.CONSENSUS
        )
        audit_record(
            actor=user,
            action="consensus.build",
            object_type="case",
            object_id=case.pk,
            project_id=case.project_id,
            detail={"method": method, "reads": len(reads)},
        )
    consensus.refresh_from_db()
    return consensus


def _majority(volumes: list[NDArray[np.uint8]], case: Case) -> NDArray[np.uint8]:
    """Per voxel, the label more than half of the readers chose; background otherwise."""
    stack = np.stack(volumes)
    out = np.zeros(stack.shape[1:], dtype=np.uint8)
    need = len(volumes) / 2.0
    for label in labels_for(case.project):
        votes = (stack == label.value).sum(axis=0)
        out[votes > need] = label.value
    return out


def _staple(volumes: list[NDArray[np.uint8]], case: Case) -> NDArray[np.uint8]:
    """SimpleITK's STAPLE per label (binary), probability > 0.5; later labels win overlaps."""
    out = np.zeros(volumes[0].shape, dtype=np.uint8)
    for label in labels_for(case.project):
        binaries = [(v == label.value).astype(np.uint8) for v in volumes]
        if not any(b.any() for b in binaries):
            continue
        if len(binaries) == 1:
            out[binaries[0].astype(bool)] = label.value
            continue
        images = [sitk.GetImageFromArray(b) for b in binaries]
        probability = sitk.GetArrayFromImage(sitk.STAPLE(images, 1.0))
        out[probability > 0.5] = label.value
    return out


@transaction.atomic
def case_return(*, case: Case, user: User, task_id: int, comment: str) -> Task:
    _require_reviewer(case, user)
    task = Task.objects.select_for_update().filter(case=case, pk=task_id).first()
    if task is None:
        raise NotFound("task_not_found", "No such read of this case.")
    if task.status != TaskStatus.SUBMITTED:
        raise Conflict("task_not_submitted", "Only a submitted read can be sent back.")
    task.status, task.return_comment = TaskStatus.RETURNED, comment
    task.save(update_fields=["status", "return_comment"])
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.READING)
    ReviewComment.objects.create(case=case, task=task, author=user, action="return", text=comment)
    audit_record(actor=user, action="case.return", object_type="task", object_id=task.pk, project_id=case.project_id)
    return task


def signoff_manifest(annotation: Annotation, version: MaskVersion) -> dict[str, Any]:
    frames = annotation_frames_at(annotation=annotation, number=version.number)
    return {
        "annotation": annotation.pk,
        "version": version.number,
        "case": annotation.case_id,
        "frames": {str(frame_id): row.sha256 for frame_id, row in sorted(frames.items())},
    }


@transaction.atomic
def annotation_sign(*, annotation: Annotation, user: User, password: str, meaning: str = "approved") -> SignOff:
    """Re-authenticated signature over the exact frame hashes of the head version."""
    if not password or not user.check_password(password):
        audit_record(
            actor=user,
            action="annotation.sign",
            object_type="annotation",
            object_id=annotation.pk,
            project_id=annotation.case.project_id,
            outcome="denied",
            detail={"reason": "password"},
        )
        raise ApplicationError("reauthentication_failed", "The password is not correct.", status_code=403)
    annotation = Annotation.objects.select_for_update(of=("self",)).select_related("case", "task").get(pk=annotation.pk)
    case = annotation.case
    policy = policy_for(case.project)
    role = project_role(project=case.project, user=user)
    if policy.review_stage:
        if role not in (ProjectRole.REVIEWER, ProjectRole.OWNER):
            raise Forbidden("signer_not_allowed", "With a review stage, a reviewer or owner signs.")
        if annotation.kind != AnnotationKind.CONSENSUS:
            raise Forbidden("signer_not_allowed", "With a review stage, the consensus is what gets signed.")
    elif annotation.author_id != user.pk:
        raise Forbidden("signer_not_allowed", "Without a review stage, readers sign their own work only.")
    elif annotation.task is None or annotation.task.status != TaskStatus.SUBMITTED:
        raise Conflict("not_submitted", "Submit the read before signing it.")
    if annotation.head == 0:
        raise ApplicationError("nothing_to_sign", "The annotation is empty.")
    version = MaskVersion.objects.get(annotation=annotation, number=annotation.head)
    if SignOff.objects.filter(version=version).exists():
        raise Conflict("already_signed", "This version is already signed.")
    manifest = signoff_manifest(annotation, version)
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    signoff = SignOff.objects.create(
        annotation=annotation, version=version, signer=user, manifest=manifest, digest=digest, meaning=meaning
    )
    if (
        policy.review_stage
        or not Annotation.objects.filter(
            case=case, kind=AnnotationKind.READ, signoffs__isnull=True, task__isnull=False
        ).exists()
    ):
        Case.objects.filter(pk=case.pk).update(status=CaseStatus.SIGNED)
    audit_record(
        actor=user,
        action="annotation.sign",
        object_type="annotation",
        object_id=annotation.pk,
        project_id=case.project_id,
        detail={"version": version.number, "digest": digest},
    )
    return signoff


def annotation_signed_head(annotation: Annotation) -> SignOff | None:
    return SignOff.objects.filter(annotation=annotation, version__number=annotation.head).first()
