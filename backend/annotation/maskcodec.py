"""Label maps at rest: zlib-compressed uint8, row-major, with the SHA-256 of the raw bytes."""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.common.errors import ApplicationError
from backend.common.rle import rle_decode_labels, rle_encode_labels


def encode(labels: NDArray[np.uint8]) -> tuple[bytes, str]:
    raw = np.ascontiguousarray(labels, dtype=np.uint8).tobytes()
    return zlib.compress(raw, 6), hashlib.sha256(raw).hexdigest()


def decode(data: bytes | memoryview, shape: tuple[int, int]) -> NDArray[np.uint8]:
    return np.frombuffer(zlib.decompress(bytes(data)), dtype=np.uint8).reshape(shape)


def from_rle(rle: Any, *, shape: tuple[int, int], allowed: set[int]) -> NDArray[np.uint8]:
    """Parse a client label map, refusing a wrong shape or label ids outside the schema."""
    if not isinstance(rle, dict) or not {"size", "values", "counts"} <= set(rle):
        raise ApplicationError("mask_invalid", "A mask is {size: [rows, cols], values: [...], counts: [...]}.")
    try:
        size = tuple(int(v) for v in rle["size"])
    except (TypeError, ValueError) as exc:
        raise ApplicationError("mask_invalid", "The mask size is not two integers.") from exc
    if size != shape:
        raise ApplicationError(
            "mask_shape",
            f"The mask is {list(size)}, the frame is {list(shape)}.",
            extra={"expected": list(shape), "got": list(size)},
        )
    try:
        values = [int(v) for v in rle["values"]]
    except (TypeError, ValueError) as exc:
        raise ApplicationError("mask_invalid", "Mask values must be integers.") from exc
    unknown = sorted({v for v in values if v != 0 and v not in allowed})
    if unknown or any(v < 0 or v > 255 for v in values):
        raise ApplicationError(
            "unknown_label",
            "The mask uses label ids that are not in the project's schema.",
            extra={"unknown": unknown, "allowed": sorted(allowed)},
        )
    try:
        return rle_decode_labels({"size": size, "values": values, "counts": rle["counts"]})
    except (ValueError, TypeError) as exc:
        raise ApplicationError("mask_invalid", f"The mask runs are inconsistent: {exc}.") from exc


def to_rle(labels: NDArray[np.uint8]) -> dict[str, Any]:
    return rle_encode_labels(labels)
