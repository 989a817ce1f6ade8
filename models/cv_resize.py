"""Bit-exact numpy port of OpenCV's ``cv2.resize(..., interpolation=cv2.INTER_AREA)`` for uint8.

Why not depend on opencv: a 60 MB wheel (with its own BLAS/FFmpeg-free but
still large native stack) for one function in a web backend. Why not PIL's
``Image.resize(BOX)``: it rounds differently and upsamples differently, and
LiteMedSAM's reference numbers were produced with OpenCV. This port follows
OpenCV 4.x/5.x ``imgproc/src/resize.cpp`` for 8-bit images, including its three
code paths and their rounding:

* integer downscale factors ("area fast"): 2x2 uses ``(sum + 2) >> 2``, other
  factors ``round_half_even(sum * (1/area))`` in float32;
* other downscales (both factors >= 1): exact pixel-area weights accumulated in
  float32, rounded half-to-even;
* anything else (upscale on either axis): OpenCV emulates "area" with a
  bilinear kernel whose weights come from cell overlap, in 11-bit fixed point.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

_COEF_BITS = 11
_COEF_SCALE = 1 << _COEF_BITS
_DBL_EPSILON = float(np.finfo(np.float64).eps)


def resize_area_u8(image: NDArray[np.uint8], out_h: int, out_w: int) -> NDArray[np.uint8]:
    """Resize an (H, W) or (H, W, C) uint8 array exactly as ``cv2.resize(INTER_AREA)`` does."""
    if image.dtype != np.uint8:
        raise TypeError(f"resize_area_u8 needs uint8 input, got {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (H, W, C), got shape {image.shape}")
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"output size must be positive, got {out_h}x{out_w}")
    src = image[:, :, None] if image.ndim == 2 else image
    in_h, in_w, _ = src.shape
    if (in_h, in_w) == (out_h, out_w):
        return image.copy()

    inv_scale_x = out_w / in_w
    inv_scale_y = out_h / in_h
    scale_x = 1.0 / inv_scale_x
    scale_y = 1.0 / inv_scale_y
    iscale_x = _saturate_int(scale_x)
    iscale_y = _saturate_int(scale_y)
    is_area_fast = abs(scale_x - iscale_x) < _DBL_EPSILON and abs(scale_y - iscale_y) < _DBL_EPSILON

    if scale_x >= 1 and scale_y >= 1:
        if is_area_fast:
            out = _area_fast(src, iscale_x, iscale_y, out_h, out_w)
        else:
            out = _area_generic(src, scale_x, scale_y, out_h, out_w)
    else:
        out = _linear_area(
            src,
            scale_x=scale_x,
            scale_y=scale_y,
            inv_scale_x=inv_scale_x,
            inv_scale_y=inv_scale_y,
            out_h=out_h,
            out_w=out_w,
        )
    return out[:, :, 0] if image.ndim == 2 else out


def _saturate_int(v: float) -> int:
    # cv::saturate_cast<int>(double) rounds half to even.
    return int(np.rint(v))


def _area_fast(src: NDArray[np.uint8], sx: int, sy: int, out_h: int, out_w: int) -> NDArray[np.uint8]:
    cn = src.shape[2]
    block = src[: out_h * sy, : out_w * sx].astype(np.int32)
    sums = block.reshape(out_h, sy, out_w, sx, cn).sum(axis=(1, 3))
    if sx == 2 and sy == 2 and cn in (1, 3, 4):
        # ResizeAreaFastVec: the SIMD and its scalar tail both round half up.
        rounded: NDArray[np.uint8] = ((sums + 2) >> 2).astype(np.uint8)
        return rounded
    scale = np.float32(1.0 / (sx * sy))
    vals = np.rint(sums.astype(np.float32) * scale)
    out: NDArray[np.uint8] = np.clip(vals, 0, 255).astype(np.uint8)
    return out


def _area_tab(ssize: int, dsize: int, scale: float) -> list[list[tuple[int, np.float32]]]:
    """computeResizeAreaTab: for each output cell, (source index, weight) in OpenCV's order."""
    tab: list[list[tuple[int, np.float32]]] = []
    for d in range(dsize):
        fs1 = d * scale
        fs2 = fs1 + scale
        cell = min(scale, ssize - fs1)
        s1 = math.ceil(fs1)
        s2 = math.floor(fs2)
        s2 = min(s2, ssize - 1)
        s1 = min(s1, s2)
        terms: list[tuple[int, np.float32]] = []
        if s1 - fs1 > 1e-3:
            terms.append((s1 - 1, np.float32((s1 - fs1) / cell)))
        for s in range(s1, s2):
            terms.append((s, np.float32(1.0 / cell)))
        if fs2 - s2 > 1e-3:
            terms.append((s2, np.float32(min(fs2 - s2, 1.0, cell) / cell)))
        tab.append(terms)
    return tab


def _padded_tab(tab: list[list[tuple[int, np.float32]]]) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    n = max(len(t) for t in tab)
    idx = np.zeros((len(tab), n), dtype=np.intp)
    w = np.zeros((len(tab), n), dtype=np.float32)
    for d, terms in enumerate(tab):
        for k, (s, a) in enumerate(terms):
            idx[d, k] = s
            w[d, k] = a
    return idx, w


def _area_generic(src: NDArray[np.uint8], scale_x: float, scale_y: float, out_h: int, out_w: int) -> NDArray[np.uint8]:
    in_h, in_w, cn = src.shape
    xi, xw = _padded_tab(_area_tab(in_w, out_w, scale_x))
    yi, yw = _padded_tab(_area_tab(in_h, out_h, scale_y))
    s = src.astype(np.float32)
    # Horizontal pass, accumulated term by term in float32 like the C loop
    # (a zero-weight padding term adds an exact 0 and changes nothing).
    buf = np.zeros((in_h, out_w, cn), dtype=np.float32)
    for k in range(xi.shape[1]):
        buf = buf + s[:, xi[:, k], :] * xw[None, :, k, None]
    # Vertical pass: the first row of a cell is assigned (beta*buf), later ones added.
    acc = buf[yi[:, 0]] * yw[:, 0, None, None]
    for k in range(1, yi.shape[1]):
        acc = acc + buf[yi[:, k]] * yw[:, k, None, None]
    out: NDArray[np.uint8] = np.clip(np.rint(acc), 0, 255).astype(np.uint8)
    return out


def _linear_area_coeffs(
    ssize: int, dsize: int, scale: float, inv_scale: float
) -> tuple[NDArray[np.intp], NDArray[np.int32], NDArray[np.int32], int]:
    """Per output index: source index, the two fixed-point weights, and the first index past xmax."""
    idx = np.zeros(dsize, dtype=np.intp)
    a0 = np.zeros(dsize, dtype=np.int32)
    a1 = np.zeros(dsize, dtype=np.int32)
    dmax = dsize
    for d in range(dsize):
        s = math.floor(d * scale)
        f = float(np.float32((d + 1) - (s + 1) * inv_scale))
        f = 0.0 if f <= 0 else float(np.float32(f - math.floor(f)))
        if s < 0:
            f, s = 0.0, 0
        if s + 1 >= ssize:
            dmax = min(dmax, d)
            if s >= ssize - 1:
                f, s = 0.0, ssize - 1
        idx[d] = s
        c0 = np.float32(1.0) - np.float32(f)
        c1 = np.float32(f)
        a0[d] = int(np.rint(c0 * np.float32(_COEF_SCALE)))
        a1[d] = int(np.rint(c1 * np.float32(_COEF_SCALE)))
    return idx, a0, a1, dmax


def _linear_area(
    src: NDArray[np.uint8],
    *,
    scale_x: float,
    scale_y: float,
    inv_scale_x: float,
    inv_scale_y: float,
    out_h: int,
    out_w: int,
) -> NDArray[np.uint8]:
    in_h, in_w, _ = src.shape
    xi, xa0, xa1, xmax = _linear_area_coeffs(in_w, out_w, scale_x, inv_scale_x)
    yi, yb0, yb1, _ = _linear_area_coeffs(in_h, out_h, scale_y, inv_scale_y)
    s = src.astype(np.int32)
    # HResizeLinear (int): two taps up to xmax, then the edge pixel times ONE.
    xi1 = np.minimum(xi + 1, in_w - 1)
    rows = s[:, xi, :] * xa0[None, :, None] + s[:, xi1, :] * xa1[None, :, None]
    rows[:, xmax:, :] = s[:, xi[xmax:], :] * _COEF_SCALE
    # VResizeLinear<uchar>: rows sy and sy+1 (clamped), with OpenCV's
    # ((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16) + 2) >> 2 rounding.
    yi1 = np.minimum(yi + 1, in_h - 1)
    r0 = rows[yi] >> 4
    r1 = rows[yi1] >> 4
    v = ((yb0[:, None, None] * r0) >> 16) + ((yb1[:, None, None] * r1) >> 16)
    out: NDArray[np.uint8] = np.clip((v + 2) >> 2, 0, 255).astype(np.uint8)
    return out
