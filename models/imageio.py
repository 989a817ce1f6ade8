"""Reading slices and volumes for the CLI (DICOM, PNG/JPEG, .npy, NIfTI, CVPR24 .npz) and writing results.

Array conventions: a slice is (H, W) or (H, W, 3) with x = column, y = row;
a volume is (D, H, W) with z = slice index. NIfTI data are stored (X, Y, Z), so
the volume is ``data.transpose(2, 1, 0)`` and results go back the same way
with the input's affine. DICOM series are sorted along the slice normal and
given an LPS->RAS affine built from the geometry tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


class InputError(ValueError):
    """The input file or folder cannot be used (missing, unreadable, wrong kind or shape)."""


@dataclass
class LoadedImage:
    pixels: NDArray[Any]  # (H, W) raw/uint8 or (H, W, 3) uint8
    modality: str | None  # "CT", "MR", ... for DICOM; None when unknown


@dataclass
class LoadedVolume:
    voxels: NDArray[Any]  # (D, H, W)
    affine: NDArray[np.float64]  # 4x4, (x, y, z) voxel index -> RAS mm
    modality: str | None


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def _is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _dicom_pixels(ds: Any, path: Path) -> NDArray[Any]:
    try:
        arr = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many types for missing codecs / broken data
        raise InputError(f"{path}: cannot decode DICOM pixel data: {exc}") from exc
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if frames > 1:
        raise InputError(f"{path}: multi-frame DICOM ({frames} frames); pass a single-frame image")
    if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422") or arr.ndim == 3:
        if photometric.startswith("YBR"):
            from pydicom.pixels.processing import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
        return arr.astype(np.uint8) if arr.dtype != np.uint8 else arr
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    out = arr.astype(np.float64) * slope + intercept
    if photometric == "MONOCHROME1":
        # Inverted grey scale: flip so that bright means high signal like MONOCHROME2.
        out = out.max() + out.min() - out
    return out


def load_image(path: str | Path) -> LoadedImage:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; segment takes one image file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{p}: not a readable .npy file: {exc}") from exc
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
            raise InputError(f"{p}: expected an (H, W) or (H, W, 3) array, got shape {arr.shape}")
        if arr.ndim == 3 and arr.dtype != np.uint8:
            raise InputError(f"{p}: colour arrays must be uint8, got {arr.dtype}")
        return LoadedImage(arr, None)
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:
                im.load()
                if im.mode in ("I;16", "I;16B", "I", "F"):
                    return LoadedImage(np.asarray(im).astype(np.float64), None)
                if im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA"):
                    rgb = np.asarray(im.convert("RGB"))
                    # Grey images saved as RGB stay grey; the model sees 3 equal channels either way.
                    return LoadedImage(rgb, None)
                return LoadedImage(np.asarray(im.convert("L")), None)
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"{p}: not a readable image: {exc}") from exc
    if suffix in (".dcm", ".dicom") or _is_dicom_file(p):
        import pydicom
        from pydicom.errors import InvalidDicomError

        try:
            ds = pydicom.dcmread(p, force=suffix in (".dcm", ".dicom"))
        except (InvalidDicomError, OSError, ValueError) as exc:
            raise InputError(f"{p}: not a readable DICOM file: {exc}") from exc
        if "PixelData" not in ds:
            raise InputError(f"{p}: DICOM object has no pixel data (modality {ds.get('Modality', '?')})")
        return LoadedImage(_dicom_pixels(ds, p), str(ds.get("Modality", "")) or None)
    raise InputError(f"{p}: unsupported image type {suffix or '(no suffix)'}; use DICOM, PNG, JPEG or .npy")


def _dicom_series(folder: Path) -> LoadedVolume:
    import pydicom
    from pydicom.errors import InvalidDicomError

    datasets = []
    for f in sorted(folder.iterdir()):
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(f, force=f.suffix.lower() == ".dcm")
        except (InvalidDicomError, OSError, ValueError, AttributeError):
            continue  # non-DICOM files (licences, json) live next to series
        if "PixelData" in ds and "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
            datasets.append((f, ds))
    if not datasets:
        raise InputError(f"{folder}: no DICOM images with geometry (ImagePositionPatient) found")
    uids = {str(ds.get("SeriesInstanceUID", "")) for _, ds in datasets} - {""}
    if len(uids) > 1:
        raise InputError(f"{folder}: holds {len(uids)} series; put one series per folder")
    iop = np.array([float(v) for v in datasets[0][1].ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    datasets.sort(key=lambda item: float(np.dot(np.array([float(v) for v in item[1].ImagePositionPatient]), normal)))
    shapes = {(int(ds.Rows), int(ds.Columns)) for _, ds in datasets}
    if len(shapes) != 1:
        raise InputError(f"{folder}: slices have different sizes {sorted(shapes)}")
    slices = [_dicom_pixels(ds, f) for f, ds in datasets]
    if any(s.ndim != 2 for s in slices):
        raise InputError(f"{folder}: colour series are not supported for 3D propagation")
    vol = np.stack(slices)
    first = np.array([float(v) for v in datasets[0][1].ImagePositionPatient])
    last = np.array([float(v) for v in datasets[-1][1].ImagePositionPatient])
    spacing = [float(v) for v in datasets[0][1].PixelSpacing]  # (between rows, between columns)
    if len(datasets) > 1:
        step = (last - first) / (len(datasets) - 1)
    else:
        step = normal * float(datasets[0][1].get("SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * spacing[1]  # +x (column index) moves along the row direction
    lps[:3, 1] = col_dir * spacing[0]
    lps[:3, 2] = step
    lps[:3, 3] = first
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return LoadedVolume(vol, ras, str(datasets[0][1].get("Modality", "")) or None)


def load_volume(path: str | Path) -> LoadedVolume:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        return _dicom_series(p)
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        try:
            img: Any = nib.load(str(p))
            data = np.asarray(img.get_fdata(dtype=np.float32))
        except Exception as exc:  # nibabel raises a zoo of types for broken files
            raise InputError(f"{p}: not a readable NIfTI file: {exc}") from exc
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise InputError(f"{p}: expected a 3D NIfTI volume, got shape {data.shape}")
        # Without a modality tag, HU-like negative values are the only hint of CT.
        modality = "CT" if float(data.min()) <= -500 else None
        return LoadedVolume(data.transpose(2, 1, 0), np.asarray(img.affine, dtype=np.float64), modality)
    if name.endswith(".npz"):
        try:
            with np.load(p, allow_pickle=False) as z:
                if "imgs" not in z:
                    raise InputError(f"{p}: .npz has no 'imgs' array (keys: {', '.join(z.files)})")
                imgs = z["imgs"]
                spacing = z["spacing"] if "spacing" in z else np.ones(3)
        except (OSError, ValueError) as exc:
            raise InputError(f"{p}: not a readable .npz file: {exc}") from exc
        if imgs.ndim != 3:
            raise InputError(f"{p}: 'imgs' must be (D, H, W) for propagation, got shape {imgs.shape}")
        sz, sy, sx = (float(v) for v in np.asarray(spacing, dtype=np.float64).reshape(-1)[:3])
        return LoadedVolume(imgs, np.diag([sx, sy, sz, 1.0]), None)
    raise InputError(f"{p}: unsupported volume type; use a DICOM series folder, .nii/.nii.gz or .npz")


def save_mask_png(mask: NDArray[np.bool_], path: str | Path) -> None:
    from PIL import Image

    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(Path(path))


def save_mask_nifti(volume_mask: NDArray[np.bool_], affine: NDArray[np.float64], path: str | Path) -> None:
    import nibabel as nib

    data = np.where(volume_mask, 255, 0).astype(np.uint8).transpose(2, 1, 0)
    img = nib.Nifti1Image(np.ascontiguousarray(data), affine)  # type: ignore[no-untyped-call]
    img.header.set_data_dtype(np.uint8)  # type: ignore[no-untyped-call]
    img.header.set_xyzt_units("mm")  # type: ignore[no-untyped-call]
    nib.save(img, str(path))
