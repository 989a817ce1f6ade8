"""Decoded pixels for the viewer and the model, with a small per-process cache of decoded frames."""

from __future__ import annotations

import gzip
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pydicom
from django.conf import settings
from PIL import Image

from backend.imaging import storage
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.parsing import decode_frame
from backend.imaging.models import Instance

_CACHE_BYTES = 256 << 20


@dataclass(frozen=True)
class FramePixels:
    pixels: np.ndarray  # (rows, cols) rescaled values, or (rows, cols, 3) uint8 RGB
    photometric: str
    invert: bool


class _LRU:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[tuple[int, str, int], FramePixels] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[int, str, int]) -> FramePixels | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: tuple[int, str, int], value: FramePixels) -> None:
        size = value.pixels.nbytes
        if size > self.budget:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.used += size
            while self.used > self.budget:
                _, old = self.items.popitem(last=False)
                self.used -= old.pixels.nbytes


_cache = _LRU(_CACHE_BYTES)


def frame_pixels(*, instance: Instance, frame_index: int) -> FramePixels:
    if not 0 <= frame_index < instance.number_of_frames:
        raise ImagingError("frame_out_of_range", "No such frame.", {"frames": instance.number_of_frames})
    key = (instance.pk, instance.sha256, frame_index)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with storage.file_open(instance.file) as handle:
        dataset = pydicom.dcmread(handle)
        decoded = decode_frame(dataset, frame_index, max_pixel_bytes=settings.IMAGING_MAX_PIXEL_BYTES)
    value = FramePixels(decoded.pixels, decoded.photometric_interpretation, decoded.invert_for_display)
    _cache.put(key, value)
    return value


def encode_raw(frame: FramePixels) -> tuple[bytes, str]:
    """Little-endian raw pixels, gzip-compressed; int16 when the values fit, else float32; RGB as uint8."""
    pixels = frame.pixels
    if pixels.ndim == 3:
        array = np.ascontiguousarray(pixels.astype(np.uint8, copy=False))
        dtype = "uint8"
    elif pixels.dtype.kind in "iu" and pixels.size and int(pixels.min()) >= -32768 and int(pixels.max()) <= 32767:
        array = pixels.astype("<i2", copy=False)
        dtype = "int16"
    elif pixels.dtype.kind in "iu" and not pixels.size:
        array = pixels.astype("<i2")
        dtype = "int16"
    else:
        array = pixels.astype("<f4", copy=False)
        dtype = "float32"
    return gzip.compress(array.tobytes(), compresslevel=1, mtime=0), dtype


def render_png(frame: FramePixels, *, center: float | None, width: float | None, max_size: int | None) -> bytes:
    pixels = frame.pixels
    if pixels.ndim == 3:
        image = Image.fromarray(pixels.astype(np.uint8, copy=False), mode="RGB")
    else:
        values = pixels.astype(np.float32, copy=False)
        if center is None or width is None:
            low, high = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
        else:
            low, high = center - width / 2.0, center + width / 2.0
        span = max(float(high - low), 1e-6)
        scaled = np.clip((values - low) / span, 0.0, 1.0) * 255.0
        if frame.invert:
            scaled = 255.0 - scaled
        image = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if max_size:
        image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
