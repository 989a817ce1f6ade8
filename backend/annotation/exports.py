"""Exports of annotations: DICOM SEG (highdicom), NIfTI (nibabel), PNG per frame, COCO with RLE."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone
from numpy.typing import NDArray
from PIL import Image
from pydicom.sr.coding import Code

from backend.annotation.models import Annotation, AnnotationKind, Case, ExportJob, Label, SignOff
from backend.annotation.review import series_frames
from backend.annotation.selectors import annotation_volume, labels_for, policy_for
from backend.common.errors import ApplicationError, Conflict
from backend.imaging import storage
from backend.imaging.models import Frame

FORMATS = ("seg", "nifti", "png", "coco")


def export_annotation_for_case(case: Case, *, annotation_id: int | None = None) -> Annotation:
    """The annotation to export: the one asked for, else the signed consensus, else a signed read."""
    annotations = Annotation.objects.filter(case=case).select_related("case", "task")
    if annotation_id is not None:
        chosen = annotations.filter(pk=annotation_id).first()
        if chosen is None:
            raise ApplicationError("annotation_not_found", "No such annotation in this case.", status_code=404)
    else:
        signed = [a for a in annotations if SignOff.objects.filter(annotation=a, version__number=a.head).exists()]
        signed.sort(key=lambda a: (a.kind != AnnotationKind.CONSENSUS, a.pk))
        chosen = signed[0] if signed else annotations.filter(kind=AnnotationKind.CONSENSUS).first()
        if chosen is None:
            raise Conflict("nothing_to_export", "The case has no consensus or signed annotation yet.")
    policy = policy_for(case.project)
    if (
        policy.require_signoff_for_export
        and not SignOff.objects.filter(annotation=chosen, version__number=chosen.head).exists()
    ):
        raise Conflict("not_signed", "The project requires sign-off before export; this annotation is not signed.")
    return chosen


def _coded(code: dict[str, str], fallback: Code) -> Code:
    if code.get("value") and code.get("meaning"):
        return Code(code["value"], code.get("scheme") or "SCT", code["meaning"])
    return fallback


def to_dicom_seg(annotation: Annotation) -> bytes:
    case = annotation.case
    frames = series_frames(case.series)
    volume = annotation_volume(annotation=annotation, frames=frames)
    sources = _source_datasets(frames)
    labels = list(labels_for(case.project))
    present = [label for label in labels if (volume == label.value).any()]
    if not present:
        raise ApplicationError("empty_annotation", "The annotation has no labelled pixels to export.")
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i + 1,
            segment_label=label.name,
            segmented_property_category=_coded(
                label.category_code, Code("49755003", "SCT", "Morphologically Altered Structure")
            ),
            segmented_property_type=_coded(label.type_code, Code("52988006", "SCT", "Lesion")),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for i, label in enumerate(present)
    ]
    # highdicom wants one label-map value per segment number: remap label values to 1..K.
    remapped = np.zeros(volume.shape, dtype=np.uint8)
    for i, label in enumerate(present):
        remapped[volume == label.value] = i + 1
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=remapped,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="ReadingRoom",
        manufacturer_model_name="ReadingRoom",
        software_versions="0.1.0",
        device_serial_number="0",
        content_label="ANNOTATION",
        content_description=f"Annotation {annotation.pk} v{annotation.head}",
        omit_empty_frames=False,
    )
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def _source_datasets(frames: list[Frame]) -> list[pydicom.Dataset]:
    seen: dict[int, pydicom.Dataset] = {}
    for frame in frames:
        if frame.instance_id not in seen:
            with storage.file_open(frame.instance.file) as handle:
                dataset = pydicom.dcmread(handle)
            # De-identification may leave an empty Specific Character Set, which highdicom rejects; empty
            # means the default repertoire, so dropping it says the same thing.
            if "SpecificCharacterSet" in dataset and not dataset.SpecificCharacterSet:
                del dataset.SpecificCharacterSet
            seen[frame.instance_id] = dataset
    return list(seen.values())


def nifti_affine(frames: list[Frame], spacing_fallback: tuple[float, float, float]) -> NDArray[np.float64]:
    """Voxel (col i, row j, slice k) -> RAS mm, from ImageOrientation/PositionPatient (DICOM is LPS)."""
    first = frames[0].instance
    orientation = first.image_orientation or [1, 0, 0, 0, 1, 0]
    row_cos, col_cos = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    row_spacing, col_spacing = (first.pixel_spacing or [1.0, 1.0])[:2]
    origin = np.asarray(frames[0].image_position or [0, 0, 0], float)
    if len(frames) > 1 and frames[-1].image_position is not None and frames[0].image_position is not None:
        step = (np.asarray(frames[-1].image_position, float) - origin) / (len(frames) - 1)
    else:
        step = np.cross(row_cos, col_cos) * spacing_fallback[0]
    lps = np.eye(4)
    lps[:3, 0] = row_cos * float(col_spacing)
    lps[:3, 1] = col_cos * float(row_spacing)
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def to_nifti(annotation: Annotation) -> bytes:
    from backend.annotation.review import voxel_spacing

    frames = series_frames(annotation.case.series)
    volume = annotation_volume(annotation=annotation, frames=frames)  # (k, j, i)
    affine = nifti_affine(frames, voxel_spacing(annotation.case.series))
    image = nib.Nifti1Image(np.transpose(volume, (2, 1, 0)).astype(np.uint8), affine)
    image.header.set_xyzt_units("mm")
    return bytes(image.to_bytes())


def to_png_zip(annotation: Annotation) -> bytes:
    frames = series_frames(annotation.case.series)
    volume = annotation_volume(annotation=annotation, frames=frames)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, frame in enumerate(frames):
            png = io.BytesIO()
            Image.fromarray(volume[index], mode="L").save(png, format="PNG")
            archive.writestr(f"frame_{index:04d}_{frame.pk}.png", png.getvalue())
    return buffer.getvalue()


def _coco_rle(mask: NDArray[np.bool_]) -> dict[str, Any]:
    """COCO's uncompressed RLE: column-major runs starting with zeros."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], changes, [flat.size]))).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": list(mask.shape), "counts": runs}


def to_coco(annotations: list[Annotation]) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    categories: dict[int, dict[str, Any]] = {}
    for annotation in annotations:
        frames = series_frames(annotation.case.series)
        volume = annotation_volume(annotation=annotation, frames=frames)
        labels: list[Label] = list(labels_for(annotation.case.project))
        for label in labels:
            categories[label.value] = {"id": label.value, "name": label.name}
        for index, frame in enumerate(frames):
            image_id = frame.pk
            images.append(
                {
                    "id": image_id,
                    "width": frame.instance.columns,
                    "height": frame.instance.rows,
                    "file_name": f"{frame.instance.sop_instance_uid}_{frame.frame_index}",
                }
            )
            for label in labels:
                mask = volume[index] == label.value
                if not mask.any():
                    continue
                ys, xs = np.nonzero(mask)
                items.append(
                    {
                        "id": len(items) + 1,
                        "image_id": image_id,
                        "category_id": label.value,
                        "iscrowd": 0,
                        "segmentation": _coco_rle(mask),
                        "area": int(mask.sum()),
                        "bbox": [
                            int(xs.min()),
                            int(ys.min()),
                            int(xs.max() - xs.min() + 1),
                            int(ys.max() - ys.min() + 1),
                        ],
                    }
                )
    return {
        "info": {"description": "ReadingRoom export", "date_created": timezone.now().isoformat()},
        "images": images,
        "annotations": items,
        "categories": sorted(categories.values(), key=lambda c: c["id"]),
    }


def export_case(annotation: Annotation, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name)."""
    if fmt == "seg":
        return to_dicom_seg(annotation), "application/dicom", f"case-{annotation.case_id}-seg.dcm"
    if fmt == "nifti":
        return to_nifti(annotation), "application/octet-stream", f"case-{annotation.case_id}.nii"
    if fmt == "png":
        return to_png_zip(annotation), "application/zip", f"case-{annotation.case_id}-png.zip"
    if fmt == "coco":
        body = json.dumps(to_coco([annotation])).encode()
        return body, "application/json", f"case-{annotation.case_id}-coco.json"
    raise ApplicationError("invalid_format", f"Unknown export format {fmt!r}.", extra={"allowed": list(FORMATS)})


def export_job_run(*, job_id: int) -> str:
    """Project export on the `io` queue: a zip with every exportable case in every chosen format."""
    claimed = ExportJob.objects.filter(pk=job_id, status__in=["queued", "running"], attempts__lt=3).update(
        status="running", attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"
    job = ExportJob.objects.select_related("project").get(pk=job_id)
    cases = list(
        Case.objects.filter(project=job.project, pk__in=job.case_ids)
        if job.case_ids
        else Case.objects.filter(project=job.project)
    )
    ExportJob.objects.filter(pk=job.pk).update(total=len(cases), done=0)
    buffer = io.BytesIO()
    skipped: list[dict[str, Any]] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, case in enumerate(cases):
            try:
                annotation = export_annotation_for_case(case)
                for fmt in job.formats:
                    content, _, name = export_case(annotation, fmt)
                    archive.writestr(f"case-{case.pk}/{name}", content)
            except ApplicationError as error:
                skipped.append({"case_id": case.pk, "code": error.code})
            ExportJob.objects.filter(pk=job.pk).update(done=index + 1)
            _export_progress(job, index + 1, len(cases))
        archive.writestr("skipped.json", json.dumps(skipped, indent=1))
    path = default_storage.save(
        f"projects/{job.project_id}/exports/export-{job.pk}.zip", ContentFile(buffer.getvalue())
    )
    ExportJob.objects.filter(pk=job.pk).update(status="done", path=path, finished_at=timezone.now())
    return "done"


def _export_progress(job: ExportJob, done: int, total: int) -> None:
    from backend.realtime.events import project_event

    project_event(
        project_id=job.project_id,
        event={"type": "progress", "kind": "export", "job_id": job.pk, "done": done, "total": total},
    )
