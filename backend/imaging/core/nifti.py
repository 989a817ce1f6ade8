"""NIfTI volumes in, one DICOM series out (one single-frame CT/MR/SC instance per slice).

Geometry: NIfTI stores voxel (i, j, k) -> RAS; DICOM wants LPS, so the affine is multiplied by
diag(-1, -1, 1, 1). Slice k becomes an instance with
    ImagePositionPatient    = LPS affine @ (0, 0, k, 1)
    ImageOrientationPatient = unit(LPS column 0) (along a row), unit(LPS column 1) (down a column)
    PixelSpacing            = (|column 1|, |column 0|)  (row spacing first, as DICOM orders it)
    pixels[row, col]        = data[col, row, k]         (the slice transposed)
If the k axis points against row x column (the normal), slices are emitted in reverse so that instance
numbers increase along the normal, which is how geometry.sort_slices orders them; `affine_ras` of the
result is then the equivalent affine with k reversed. In-plane shear cannot be expressed by DICOM
orientation cosines and is refused.

Values are stored as signed 16-bit with Rescale Slope/Intercept: exact (slope 1) when the volume holds
integers spanning at most 65536 values, otherwise a linear fit of the finite range (NaN/inf become the
minimum). Header text fields (descrip, aux_file, intent_name, db_name) are never copied: they are free
text that may hold identifiers.

The file is decompressed with a bound computed from its own header (dimensions x bytes per voxel) that
is checked against `max_voxels` before the voxel data is read, so a gzip bomb costs nothing.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Final, Literal

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from .errors import Code, ImagingError
from .geometry import LPS_TO_RAS

DEFAULT_MAX_VOXELS: Final = 256 * 1024 * 1024
_HEADER_SIZES: Final = {348: nib.Nifti1Header, 540: nib.Nifti2Header}
_INT16: Final = np.iinfo(np.int16)


@dataclass(frozen=True)
class NiftiVolume:
    image: nib.Nifti1Image | nib.Nifti2Image
    shape: tuple[int, int, int]
    affine_ras: np.ndarray
    # False when neither sform nor qform is set: nibabel then builds the affine from voxel sizes alone.
    orientation_known: bool


@dataclass(frozen=True)
class NiftiConversion:
    datasets: list[Dataset]
    # The voxel -> RAS affine that sorting these instances reproduces (k reversed if `reversed_slices`).
    affine_ras: np.ndarray
    source_affine_ras: np.ndarray
    reversed_slices: bool
    rescale_slope: float
    rescale_intercept: float


def _read_source(source: bytes | bytearray | BinaryIO | str | os.PathLike[str]) -> BinaryIO:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb")
    return source


def read_nifti(
    source: bytes | bytearray | BinaryIO | str | os.PathLike[str], *, max_voxels: int = DEFAULT_MAX_VOXELS
) -> NiftiVolume:
    fp = _read_source(source)
    try:
        data = _bounded_payload(fp, max_voxels)
    finally:
        if fp is not source:
            fp.close()
    try:
        header_size = int.from_bytes(data[:4], "little")
        klass = nib.Nifti2Image if header_size == 540 or int.from_bytes(data[:4], "big") == 540 else nib.Nifti1Image
        image = klass.from_bytes(data)
    except Exception as exc:  # nibabel raises many types for corrupt headers
        raise ImagingError(
            Code.NOT_NIFTI,
            "The file is not a readable NIfTI image.",
            {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
        ) from exc
    shape = tuple(int(n) for n in image.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise ImagingError(
            Code.NIFTI_UNSUPPORTED,
            "Only 2D and 3D NIfTI volumes are supported.",
            {"reason": "dimensions", "shape": list(image.shape)},
        )
    dtype = image.get_data_dtype()  # type: ignore[no-untyped-call]
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise ImagingError(
            Code.NIFTI_UNSUPPORTED,
            "Only scalar integer or float voxels are supported.",
            {"reason": "dtype", "dtype": str(dtype)},
        )
    header = image.header
    known = int(header["sform_code"]) > 0 or int(header["qform_code"]) > 0
    affine = np.asarray(image.affine, dtype=float)
    if not np.all(np.isfinite(affine)):
        raise ImagingError(Code.NIFTI_UNSUPPORTED, "The NIfTI affine is not finite.", {"reason": "affine"})
    return NiftiVolume(image=image, shape=(shape[0], shape[1], shape[2]), affine_ras=affine, orientation_known=known)


def _bounded_payload(fp: BinaryIO, max_voxels: int) -> bytes:
    """The uncompressed NIfTI bytes, read no further than its header says it needs."""
    magic = fp.read(2)
    fp.seek(-len(magic), io.SEEK_CUR)
    stream: BinaryIO | gzip.GzipFile = gzip.GzipFile(fileobj=fp, mode="rb") if magic == b"\x1f\x8b" else fp
    try:
        head = stream.read(540)
        size = int.from_bytes(head[:4], "little")
        if size not in _HEADER_SIZES:
            size = int.from_bytes(head[:4], "big")
        header_class = _HEADER_SIZES.get(size)
        if header_class is None or len(head) < size:
            raise ImagingError(Code.NOT_NIFTI, "The file is not a NIfTI-1 or NIfTI-2 image.")
        try:
            header = header_class.from_fileobj(io.BytesIO(head[:size]), check=False)  # type: ignore[no-untyped-call]
            magic_value = bytes(header["magic"]).rstrip(b"\x00")
            shape = header.get_data_shape()
            bytes_per_voxel = header.get_data_dtype().itemsize
            offset = int(header.get_data_offset())
        except Exception as exc:  # same: corrupt header fields
            raise ImagingError(
                Code.NOT_NIFTI, "The NIfTI header is corrupt.", {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"}
            ) from exc
        if magic_value not in (b"n+1", b"n+2"):
            raise ImagingError(
                Code.NOT_NIFTI, "Only single-file NIfTI (.nii, .nii.gz) is supported.", {"reason": "magic"}
            )
        voxels = int(np.prod([max(int(n), 1) for n in shape])) if shape else 0
        if voxels > max_voxels:
            raise ImagingError(
                Code.VOLUME_TOO_LARGE, "The volume has too many voxels.", {"voxels": voxels, "limit": max_voxels}
            )
        needed = max(offset, size) + voxels * bytes_per_voxel
        rest = stream.read(needed - len(head)) if needed > len(head) else b""
    except (OSError, EOFError, zlib.error) as exc:
        raise ImagingError(
            Code.NOT_NIFTI,
            "The compressed NIfTI file is corrupt.",
            {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
        ) from exc
    payload = head + rest
    if len(payload) < needed:
        raise ImagingError(Code.NOT_NIFTI, "The NIfTI file is truncated.", {"expected": needed, "actual": len(payload)})
    return payload[:needed]


def _slice(volume: NiftiVolume, k: int) -> np.ndarray:
    data = np.asanyarray(volume.image.dataobj[..., k] if len(volume.image.shape) >= 3 else volume.image.dataobj)
    data = np.asarray(data).reshape(volume.shape[0], volume.shape[1])
    return data


def _rescale_parameters(volume: NiftiVolume) -> tuple[float, float, bool]:
    """(slope, intercept, integer): stored = (value - intercept) / slope fits int16."""
    lo, hi, integral = np.inf, -np.inf, True
    for k in range(volume.shape[2]):
        values = _slice(volume, k)
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if finite.size == 0:
            continue
        lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
        if integral and values.dtype.kind == "f":
            integral = bool(np.all(finite == np.round(finite)))
    if not np.isfinite(lo):
        return 1.0, 0.0, True
    if integral and _INT16.min <= lo and hi <= _INT16.max:
        return 1.0, 0.0, True
    if integral and hi - lo <= 65535:
        return 1.0, float(lo - _INT16.min), True
    slope = (hi - lo) / 65535.0 if hi > lo else 1.0
    return slope, lo - _INT16.min * slope, False


def nifti_to_dicom_series(
    volume: NiftiVolume,
    *,
    modality: Literal["CT", "MR", "OT"] = "CT",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_number: int = 1,
    series_description: str | None = None,
    patient_id: str = "",
    patient_name: str = "",
    content_datetime: datetime | None = None,
) -> NiftiConversion:
    lps = LPS_TO_RAS @ volume.affine_ras  # the matrix is its own inverse
    col_i, col_j, col_k = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    size_i, size_j = float(np.linalg.norm(col_i)), float(np.linalg.norm(col_j))
    if size_i <= 0 or size_j <= 0:
        raise ImagingError(Code.NIFTI_UNSUPPORTED, "The affine has a zero voxel size.", {"reason": "affine"})
    row_cos, col_cos = col_i / size_i, col_j / size_j
    if abs(float(np.dot(row_cos, col_cos))) > 1e-4:
        raise ImagingError(
            Code.NIFTI_UNSUPPORTED, "In-plane shear cannot be represented in DICOM.", {"reason": "sheared_in_plane"}
        )
    normal = np.cross(row_cos, col_cos)
    reversed_slices = float(np.dot(col_k, normal)) < 0
    order = list(range(volume.shape[2]))[::-1] if reversed_slices else list(range(volume.shape[2]))
    slope, intercept, _ = _rescale_parameters(volume)

    study = study_instance_uid or generate_uid()
    series = series_instance_uid or generate_uid()
    frame_of_reference = frame_of_reference_uid or generate_uid()
    stamp = content_datetime or datetime.now(UTC)
    sop_class = {"CT": CTImageStorage, "MR": MRImageStorage, "OT": SecondaryCaptureImageStorage}[modality]
    thickness = float(np.linalg.norm(col_k))
    datasets = []
    for number, k in enumerate(order, start=1):
        values = _slice(volume, k).astype(np.float64)
        values[~np.isfinite(values)] = np.nan
        stored = np.round((values - intercept) / slope)
        stored = np.nan_to_num(stored, nan=float(_INT16.min))
        stored = np.clip(stored, _INT16.min, _INT16.max).astype("<i2").T  # (i, j) -> (row=j, col=i)
        position = lps @ np.array([0.0, 0.0, float(k), 1.0])
        ds = _base_dataset(
            sop_class=sop_class,
            modality=modality,
            study=study,
            series=series,
            frame_of_reference=frame_of_reference,
            series_number=series_number,
            instance_number=number,
            series_description=series_description,
            patient_id=patient_id,
            patient_name=patient_name,
            stamp=stamp,
        )
        ds.ImagePositionPatient = [_ds(v) for v in position[:3]]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [_ds(size_j), _ds(size_i)]
        ds.SliceThickness = _ds(thickness)
        ds.SpacingBetweenSlices = _ds(thickness)
        ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)
        if modality == "CT":
            ds.RescaleType = "HU"
            ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        datasets.append(ds)

    affine_lps = lps.copy()
    if reversed_slices:
        affine_lps[:3, 3] = (lps @ np.array([0.0, 0.0, float(volume.shape[2] - 1), 1.0]))[:3]
        affine_lps[:3, 2] = -col_k
    return NiftiConversion(
        datasets=datasets,
        affine_ras=LPS_TO_RAS @ affine_lps,
        source_affine_ras=volume.affine_ras.copy(),
        reversed_slices=reversed_slices,
        rescale_slope=slope,
        rescale_intercept=intercept,
    )


def _ds(value: float) -> str:
    """A DS string of at most 16 characters that round-trips to within 1e-6 relative."""
    for digits in range(10, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.1g}"


def _base_dataset(
    *,
    sop_class: str,
    modality: str,
    study: str,
    series: str,
    frame_of_reference: str,
    series_number: int,
    instance_number: int,
    series_description: str | None,
    patient_id: str,
    patient_name: str,
    stamp: datetime,
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.Modality = modality
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"] if modality == "CT" else ["DERIVED", "SECONDARY"]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ds.ContentDate = stamp.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = stamp.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    if series_description:
        ds.SeriesDescription = series_description[:64]
    if modality == "CT":
        ds.KVP = ""
        ds.AcquisitionNumber = ""
    elif modality == "MR":
        ds.ScanningSequence = "RM"  # research mode: the acquisition is unknown
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = ""
        ds.EchoTime = ""
        ds.RepetitionTime = ""
        ds.EchoTrainLength = ""
    else:
        ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(str(ds.SOPInstanceUID))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds


__all__ = ["DEFAULT_MAX_VOXELS", "NiftiConversion", "NiftiVolume", "nifti_to_dicom_series", "read_nifti"]
