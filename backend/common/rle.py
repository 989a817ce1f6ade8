"""Run-length encoding of binary and label masks, row-major, as the browser app decodes it.

Binary: `counts` alternate runs of 0 and 1, starting with 0 (a mask starting with 1 has a leading 0 run).
Label maps: runs of (value, length) pairs. Both round-trip exactly and are tiny for organ masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def rle_encode_binary(mask: NDArray[Any]) -> dict[str, Any]:
    flat = np.asarray(mask, dtype=bool).ravel()
    if flat.size == 0:
        return {"size": list(np.shape(mask)), "counts": []}
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": list(np.shape(mask)), "counts": runs}


def rle_decode_binary(rle: dict[str, Any]) -> NDArray[np.bool_]:
    size = tuple(int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    total = int(np.prod(size)) if size else 0
    if counts.size and (counts < 0).any():
        raise ValueError("negative run length")
    if int(counts.sum()) != total:
        raise ValueError(f"runs cover {int(counts.sum())} pixels, the mask has {total}")
    values: NDArray[np.bool_] = np.zeros(counts.size, dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(size)


def rle_encode_labels(labels: NDArray[Any]) -> dict[str, Any]:
    flat = np.asarray(labels).ravel()
    if flat.size == 0:
        return {"size": list(np.shape(labels)), "values": [], "counts": []}
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], changes))
    counts = np.diff(np.concatenate((starts, [flat.size])))
    return {"size": list(np.shape(labels)), "values": flat[starts].tolist(), "counts": counts.tolist()}


def rle_decode_labels(rle: dict[str, Any], dtype: type = np.uint8) -> NDArray[Any]:
    size = tuple(int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values: NDArray[Any] = np.asarray(rle["values"], dtype=dtype)
    if counts.shape != values.shape:
        raise ValueError("values and counts differ in length")
    if counts.size and (counts < 0).any():
        raise ValueError("negative run length")
    if int(counts.sum()) != int(np.prod(size)):
        raise ValueError("runs do not cover the mask")
    return np.repeat(values, counts).reshape(size)
