"""Export a snapshot (queue `io`): nnU-Net v2 raw layout, MONAI datalist, DICOM SEG per case, COCO (2D).

Reproducible by construction: entries are written in a fixed order with fixed dates, gzip without
timestamps, DICOM UIDs and dates derived from the snapshot's content hash, and a manifest without
timestamps (sorted keys), so exporting the same snapshot twice gives a byte-identical manifest.
The zip is built in a private temporary folder and moved into storage only when complete.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone
from numpy.typing import NDArray
from pydicom.sr.coding import Code

from backend.annotation import maskcodec
from backend.annotation.exports import nifti_affine
from backend.annotation.models import Annotation
from backend.annotation.review import voxel_spacing
from backend.annotation.selectors import annotation_frames_at
from backend.common.errors import ApplicationError
from backend.curation.models import ExportStatus, Snapshot, SnapshotExport, SnapshotItem
from backend.imaging import storage
from backend.imaging.core.errors import ImagingError
from backend.imaging.models import Frame
from backend.imaging.pixels import FramePixels, frame_pixels, render_png

logger = logging.getLogger(__name__)

FORMATS = ("nnunet", "monai", "seg", "coco")
MANIFEST_FORMAT = "readingroom.export/1"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SPLIT_KEYS = {"train": "training", "val": "validation", "test": "testing"}


class _Zip:
    """Deterministic zip writer that remembers each entry's SHA-256."""

    def __init__(self, path: Path) -> None:
        self.archive = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
        self.hashes: dict[str, str] = {}

    def write(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        info.create_system = 3
        self.archive.writestr(info, data)
        self.hashes[name] = hashlib.sha256(data).hexdigest()

    def close(self) -> None:
        self.archive.close()


def _uid(content_hash: str, *parts: object) -> str:
    """A DICOM UID under 2.25 (UUID-derived root) that is a pure function of its inputs."""
    digest = hashlib.sha256(":".join([content_hash, *map(str, parts)]).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _frames(item: SnapshotItem) -> list[Frame]:
    ids = [int(row[0]) for row in item.frames]
    by_id = {f.pk: f for f in Frame.objects.filter(pk__in=ids).select_related("instance")}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ApplicationError("source_missing", "Frames of this snapshot no longer exist.", extra={"frames": missing})
    frames = [by_id[i] for i in ids]
    changed = [f.pk for f, row in zip(frames, item.frames, strict=True) if f.instance.sha256 != row[1]]
    if changed:
        raise ApplicationError("source_changed", "Source images changed since the snapshot.", extra={"frames": changed})
    return frames


def _label_volume(item: SnapshotItem, frames: list[Frame]) -> NDArray[np.uint8]:
    annotation = Annotation.objects.get(pk=item.annotation_id)
    number = int(item.source.get("version_number") or 0)
    rows = annotation_frames_at(annotation=annotation, number=number)
    shape = (frames[0].instance.rows, frames[0].instance.columns)
    volume = np.zeros((len(frames), *shape), dtype=np.uint8)
    for index, frame in enumerate(frames):
        row = rows.get(frame.pk)
        if (row.sha256 if row is not None else "") != item.frames[index][2]:
            raise ApplicationError("mask_changed", "A mask no longer matches the snapshot's hash.")
        if row is not None:
            volume[index] = maskcodec.decode(row.data, shape)
    return volume


def _image_pixels(frames: list[Frame]) -> list[FramePixels]:
    try:
        return [frame_pixels(instance=f.instance, frame_index=f.frame_index) for f in frames]
    except ImagingError as exc:
        raise ApplicationError("pixels_unreadable", f"Could not decode a source image ({exc.code}).") from exc


def _image_volume(pixels: list[FramePixels]) -> NDArray[Any]:
    planes = []
    for frame in pixels:
        values = frame.pixels
        if values.ndim == 3:  # RGB: luminance, as nnU-Net expects one channel per file
            values = values[..., 0] * 0.299 + values[..., 1] * 0.587 + values[..., 2] * 0.114
        planes.append(values)
    volume = np.stack(planes)
    if np.array_equal(volume, np.round(volume)) and volume.size:
        low, high = float(volume.min()), float(volume.max())
        if low >= -32768 and high <= 32767:
            return volume.astype(np.int16)
        return volume.astype(np.int32)
    return volume.astype(np.float32)


def _nifti(volume: NDArray[Any], affine: NDArray[np.float64]) -> bytes:
    image = nib.Nifti1Image(np.transpose(volume, (2, 1, 0)), affine)  # type: ignore[no-untyped-call]
    image.header.set_xyzt_units("mm")  # type: ignore[no-untyped-call]
    return gzip.compress(bytes(image.to_bytes()), compresslevel=6, mtime=0)


def _coded(code: dict[str, str], fallback: Code) -> Code:
    if code.get("value") and code.get("meaning"):
        return Code(code["value"], code.get("scheme") or "SCT", code["meaning"])
    return fallback


def _dicom_seg(snapshot: Snapshot, item: SnapshotItem, frames: list[Frame], volume: NDArray[np.uint8]) -> bytes | None:
    present = [label for label in snapshot.label_schema if (volume == label["value"]).any()]
    if not present:
        return None  # DICOM SEG needs at least one segment
    sources: dict[int, pydicom.Dataset] = {}
    for frame in frames:
        if frame.instance_id not in sources:
            with storage.file_open(frame.instance.file) as handle:
                dataset = pydicom.dcmread(handle)
            if "SpecificCharacterSet" in dataset and not dataset.SpecificCharacterSet:
                del dataset.SpecificCharacterSet
            sources[frame.instance_id] = dataset
    remapped = np.zeros(volume.shape, dtype=np.uint8)
    for index, label in enumerate(present):
        remapped[volume == label["value"]] = index + 1
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=index + 1,
            segment_label=label["name"],
            segmented_property_category=_coded(
                label["category_code"], Code("49755003", "SCT", "Morphologically Altered Structure")
            ),
            segmented_property_type=_coded(label["type_code"], Code("52988006", "SCT", "Lesion")),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for index, label in enumerate(present)
    ]
    when = snapshot.created_at.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    seg = hd.seg.Segmentation(
        source_images=list(sources.values()),
        pixel_array=remapped,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(_uid(snapshot.content_hash, item.case_id, "series")),
        series_number=900,
        sop_instance_uid=hd.UID(_uid(snapshot.content_hash, item.case_id, "sop")),
        instance_number=1,
        manufacturer="ReadingRoom",
        manufacturer_model_name="ReadingRoom",
        software_versions="0.1.0",
        device_serial_number="0",
        content_label="SNAPSHOT",
        content_description=f"{snapshot.name} v{snapshot.version}"[:64],
        content_date=when.date(),
        content_time=when.time(),
        omit_empty_frames=False,
    )
    # highdicom stamps the wall clock and a random dimension UID: pin them to the snapshot.
    seg.InstanceCreationDate = pydicom.valuerep.DA(when.date())
    seg.InstanceCreationTime = pydicom.valuerep.TM(when.time())
    fixed = _uid(snapshot.content_hash, item.case_id, "dimension")
    for element in seg.iterall():
        if element.keyword == "DimensionOrganizationUID":
            element.value = fixed
        elif element.keyword == "ContributionDateTime":  # highdicom's own "processing equipment" entry
            element.value = pydicom.valuerep.DT(when)
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _coco_rle(mask: NDArray[np.bool_]) -> dict[str, Any]:
    """COCO uncompressed RLE: column-major runs, starting with a run of zeros."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], changes, [flat.size]))).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": list(mask.shape), "counts": runs}


def _dataset_name(snapshot: Snapshot, dataset_id: int) -> str:
    clean = re.sub(r"[^A-Za-z0-9]+", "", snapshot.name) or "Snapshot"
    return f"Dataset{dataset_id:03d}_{clean}{snapshot.version}"


def snapshot_export_run(*, export_id: int) -> str:
    """The task body: claim the job, build the zip in a temp folder, move it into storage, record it."""
    claimed = SnapshotExport.objects.filter(
        pk=export_id, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING], attempts__lt=3
    ).update(status=ExportStatus.RUNNING, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    job = SnapshotExport.objects.select_related("snapshot", "project").get(pk=export_id)
    workdir = Path(tempfile.mkdtemp(prefix=f"rr-snapshot-export-{job.pk}-"))
    final_name = ""
    try:
        archive_path = workdir / "export.zip"
        manifest = _build(job, archive_path)
        manifest_bytes = json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=True).encode() + b"\n"
        with zipfile.ZipFile(archive_path, "a") as archive:
            info = zipfile.ZipInfo("manifest.json", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, manifest_bytes)
        final_name = default_storage.get_available_name(
            f"projects/{job.project_id}/curation/snapshots/{job.snapshot_id}/export-{job.pk}.zip"
        )
        with archive_path.open("rb") as handle:
            saved = default_storage.save(final_name, File(handle))
        SnapshotExport.objects.filter(pk=job.pk).update(
            status=ExportStatus.DONE,
            path=saved,
            size=archive_path.stat().st_size,
            manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
            finished_at=timezone.now(),
        )
        return "done"
    except Exception as exc:
        code = exc.code if isinstance(exc, ApplicationError) else "export_failed"
        if not isinstance(exc, ApplicationError):
            logger.exception("snapshot export %s failed", job.pk)
        if final_name and default_storage.exists(final_name):
            default_storage.delete(final_name)  # never leave a half-copied archive behind
        SnapshotExport.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error_code=code, path="", finished_at=timezone.now()
        )
        return "failed"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _build(job: SnapshotExport, archive_path: Path) -> dict[str, Any]:
    snapshot = job.snapshot
    formats = sorted(set(job.formats))
    items = list(SnapshotItem.objects.filter(snapshot=snapshot).order_by("case_id"))
    SnapshotExport.objects.filter(pk=job.pk).update(total=len(items), done=0)
    schema = sorted(snapshot.label_schema, key=lambda label: label["value"])
    # nnU-Net needs consecutive label ids: the schema's values are remapped in order.
    remap = {label["value"]: index + 1 for index, label in enumerate(schema)}
    lut = np.zeros(256, dtype=np.uint8)
    for value, index in remap.items():
        lut[value] = index
    dataset = _dataset_name(snapshot, 100 + snapshot.pk % 900)
    width = max(4, len(str(len(items))))
    names = {item.case_id: f"case_{index:0{width}d}" for index, item in enumerate(items)}
    writer = _Zip(archive_path)
    datalist: dict[str, list[dict[str, str]]] = {"training": [], "validation": [], "testing": []}
    coco: dict[str, dict[str, Any]] = {
        split: {
            "images": [],
            "annotations": [],
            "categories": [{"id": lab["value"], "name": lab["name"]} for lab in schema],
        }
        for split in ("train", "val", "test")
    }
    modalities: set[str] = set()
    skipped: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    try:
        for index, item in enumerate(items):
            name = names[item.case_id]
            frames = _frames(item)
            labels = _label_volume(item, frames)
            modalities.add(str(item.source.get("modality") or ""))
            pixels: list[FramePixels] | None = None
            if "nnunet" in formats or "monai" in formats:
                pixels = _image_pixels(frames)
                series = frames[0].series
                affine = nifti_affine(frames, voxel_spacing(series))
                is_training = item.split in ("train", "val")
                image_dir, label_dir = ("imagesTr", "labelsTr") if is_training else ("imagesTs", "labelsTs")
                image_path = f"nnunet/{dataset}/{image_dir}/{name}_0000.nii.gz"
                label_path = f"nnunet/{dataset}/{label_dir}/{name}.nii.gz"
                writer.write(image_path, _nifti(_image_volume(pixels), affine))
                writer.write(label_path, _nifti(lut[labels], affine))
                datalist[_SPLIT_KEYS[item.split]].append({"image": image_path, "label": label_path})
            if "seg" in formats:
                seg = _dicom_seg(snapshot, item, frames, labels)
                if seg is None:
                    skipped.append({"case_id": item.case_id, "format": "seg", "code": "empty_annotation"})
                else:
                    writer.write(f"seg/{name}.dcm", seg)
            if "coco" in formats:
                pixels = pixels or _image_pixels(frames)
                target = coco[item.split]
                for slice_index, (frame, frame_pixels_) in enumerate(zip(frames, pixels, strict=True)):
                    file_name = f"coco/images/{name}_{slice_index:04d}.png"
                    writer.write(file_name, render_png(frame_pixels_, center=None, width=None, max_size=None))
                    image_id = frame.pk
                    target["images"].append(
                        {
                            "id": image_id,
                            "file_name": file_name,
                            "width": frame.instance.columns,
                            "height": frame.instance.rows,
                            "case_id": item.case_id,
                        }
                    )
                    for label in schema:
                        mask = labels[slice_index] == label["value"]
                        if not mask.any():
                            continue
                        ys, xs = np.nonzero(mask)
                        target["annotations"].append(
                            {
                                "id": len(target["annotations"]) + 1,
                                "image_id": image_id,
                                "category_id": label["value"],
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
            cases.append(
                {
                    "case_id": item.case_id,
                    "name": name,
                    "split": item.split,
                    "annotation_id": item.annotation_id,
                    "version_id": item.version_id,
                    "version_number": item.source.get("version_number"),
                    "reference": item.source.get("reference"),
                    "patient_key": item.patient_key,
                    "labels": item.labels,
                    "source": {k: item.source[k] for k in ("project", "study_uid", "series_uid", "modality")},
                    "licence": item.licence,
                }
            )
            SnapshotExport.objects.filter(pk=job.pk).update(done=index + 1)
            _progress(job, index + 1, len(items))

        if "nnunet" in formats:
            training = [c for c in cases if c["split"] in ("train", "val")]
            channel = modalities.pop() if len(modalities) == 1 else "image"
            dataset_json: dict[str, Any] = {
                "channel_names": {"0": channel or "image"},
                "labels": {"background": 0, **{label["name"]: remap[label["value"]] for label in schema}},
                "numTraining": len(training),
                "file_ending": ".nii.gz",
                "name": dataset,
                "description": f"ReadingRoom snapshot {snapshot.name} v{snapshot.version}",
                "reference": snapshot.content_hash,
                "licence": sorted({c["licence"] for c in cases if c["licence"]}),
            }
            writer.write(f"nnunet/{dataset}/dataset.json", _json(dataset_json))
            folds = [
                {
                    "train": [c["name"] for c in training if c["split"] == "train"],
                    "val": [c["name"] for c in training if c["split"] == "val"],
                }
            ]
            writer.write(f"nnunet/{dataset}/splits_final.json", _json(folds))
        if "monai" in formats:
            writer.write("monai/datalist.json", _json(datalist))
        if "coco" in formats:
            for split, content in coco.items():
                content["info"] = {
                    "description": f"ReadingRoom snapshot {snapshot.name} v{snapshot.version} ({split})",
                    "version": str(snapshot.version),
                    "snapshot": snapshot.content_hash,
                }
                writer.write(f"coco/{split}.json", _json(content))
    finally:
        writer.close()
    return {
        "format": MANIFEST_FORMAT,
        "snapshot": {
            "id": snapshot.pk,
            "name": snapshot.name,
            "version": snapshot.version,
            "content_hash": snapshot.content_hash,
            "seed": snapshot.seed,
            "ratios": snapshot.ratios,
            "split_counts": snapshot.split_counts,
        },
        "project": job.project.slug,
        "formats": formats,
        "label_schema": schema,
        "nnunet_label_ids": {str(value): index for value, index in remap.items()},
        "reader_stats": snapshot.reader_stats,
        "cases": cases,
        "skipped": skipped,
        "files": dict(sorted(writer.hashes.items())),
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1, ensure_ascii=True).encode() + b"\n"


def _progress(job: SnapshotExport, done: int, total: int) -> None:
    from backend.realtime.events import project_event

    project_event(
        project_id=job.project_id,
        event={"type": "progress", "kind": "snapshot_export", "job_id": job.pk, "done": done, "total": total},
    )
