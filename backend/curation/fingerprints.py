"""Pixel identity for duplicate detection: SHA-256 of the decoded pixels and a 64-bit difference hash.

The SHA is over normalized decoded values (so the same image stored in two transfer syntaxes matches);
the dHash is of the middle frame, windowed to 8 bits, box-resized to 9x8: bit = left pixel < right pixel.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.curation.models import InstanceFingerprint
from backend.imaging.core.errors import ImagingError
from backend.imaging.models import Instance
from backend.imaging.pixels import frame_pixels

_SIGN = 1 << 63


def _normalized(pixels: NDArray[np.generic]) -> NDArray[np.generic]:
    """Integers (and whole-valued floats) as little-endian int64, other floats as float64."""
    if pixels.dtype.kind in "iub":
        return np.ascontiguousarray(pixels, dtype="<i8")
    as_float = np.asarray(pixels, dtype="<f8")
    if np.all(np.isfinite(as_float)) and np.array_equal(as_float, np.round(as_float)):
        return np.ascontiguousarray(as_float, dtype="<i8")
    return np.ascontiguousarray(as_float)


def _to_gray8(pixels: NDArray[np.generic]) -> NDArray[np.uint8]:
    if pixels.ndim == 3:
        rgb = pixels.astype(np.float32)
        values = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    else:
        values = pixels.astype(np.float32)
    if not values.size:
        return np.zeros((1, 1), dtype=np.uint8)
    low, high = np.percentile(values, [0.5, 99.5])
    span = max(float(high - low), 1e-6)
    scaled: NDArray[np.uint8] = (np.clip((values - low) / span, 0.0, 1.0) * 255.0).astype(np.uint8)
    return scaled


def dhash64(pixels: NDArray[np.generic]) -> int:
    """The signed 64-bit difference hash (PostgreSQL bigint is signed)."""
    small = np.asarray(Image.fromarray(_to_gray8(pixels), mode="L").resize((9, 8), Image.Resampling.BOX))
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= _SIGN else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


def instance_fingerprint_compute(*, instance: Instance) -> InstanceFingerprint:
    """Decode every frame once; store the pixel SHA-256 and the middle frame's dHash (or an error code)."""
    digest = hashlib.sha256()
    dhash: int | None = None
    error = ""
    try:
        middle = instance.number_of_frames // 2
        for index in range(instance.number_of_frames):
            pixels = frame_pixels(instance=instance, frame_index=index).pixels
            normalized = _normalized(pixels)
            digest.update(f"{normalized.dtype.str}{normalized.shape};".encode())
            digest.update(normalized.tobytes())
            if index == middle:
                dhash = dhash64(pixels)
    except ImagingError as exc:
        error = exc.code
    except OSError:
        error = "file_unreadable"
    fingerprint, _ = InstanceFingerprint.objects.update_or_create(
        instance=instance,
        defaults={
            "project_id": instance.project_id,
            "series_id": instance.series_id,
            "pixel_sha256": "" if error else digest.hexdigest(),
            "dhash": None if error else dhash,
            "error": error,
        },
    )
    return fingerprint


def fingerprints_fill(
    *, series_ids: list[int] | None = None, project_id: int | None = None, limit: int | None = None
) -> int:
    """Fingerprint instances that have none yet (of some series, or of a project); returns how many."""
    instances = Instance.objects.filter(fingerprint__isnull=True).order_by("pk")
    if series_ids is not None:
        instances = instances.filter(series_id__in=series_ids)
    if project_id is not None:
        instances = instances.filter(project_id=project_id)
    done = 0
    for instance in instances[:limit] if limit is not None else instances.iterator(chunk_size=200):
        instance_fingerprint_compute(instance=instance)
        done += 1
    return done
