"""LiteMedSAM input/output transforms, as in the authors' CVPR 2024 inference code.

Pipeline for one slice: intensities -> uint8 (CT window, or 0.5-99.5 percentile
clip for MR/other, or untouched if already 8-bit) -> 3 channels -> resize the
longest side to 256 with OpenCV-exact INTER_AREA -> min-max normalise to [0, 1]
-> zero-pad bottom/right to 256x256. Prompts are scaled by 256/max(H, W).
Masks go back by cropping the logits to the unpadded size, bilinear resize to
the original size and sigmoid > 0.5.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from .cv_resize import resize_area_u8

IntensityMode = Literal["auto", "ct_window", "percentile", "uint8"]

# Bumped whenever the maths below changes in a way that alters embeddings, so
# cached embeddings keyed on preprocessing_hash() are invalidated.
PREPROCESS_ALGORITHM_VERSION = 1


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that determines the encoder input for a given raw slice.

    ``lower``/``upper`` pin the intensity bounds. They are filled in by
    :func:`resolve_bounds` for percentile mode on a whole volume (the authors
    take the percentiles over the volume, not per slice), so that the hash
    identifies the exact transform and every slice of a volume shares it.
    """

    image_size: int = 256
    intensity: IntensityMode = "auto"
    window_level: float = 40.0
    window_width: float = 400.0
    percentile_low: float = 0.5
    percentile_high: float = 99.5
    lower: float | None = None
    upper: float | None = None

    def with_window(self, level: float, width: float) -> PreprocessConfig:
        if width <= 0:
            raise ValueError(f"window width must be positive, got {width}")
        return replace(self, intensity="ct_window", window_level=float(level), window_width=float(width))


def preprocessing_hash(config: PreprocessConfig) -> str:
    """Stable short identifier of a preprocessing configuration (for cache keys).

    Canonical JSON (sorted keys, floats via repr) plus the algorithm version,
    hashed with SHA-256; identical across processes and Python versions.
    """
    payload = {"algorithm": PREPROCESS_ALGORITHM_VERSION, "resize": "cv2_inter_area", **asdict(config)}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return "pp" + str(PREPROCESS_ALGORITHM_VERSION) + "-" + hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class SliceGeometry:
    """What decode needs to map between the 256 model frame and the image: (H, W) sizes."""

    original_size: tuple[int, int]
    resized_size: tuple[int, int]


# --- intensities -----------------------------------------------------------------


def effective_mode(config: PreprocessConfig, image: NDArray[np.generic], modality: str | None) -> IntensityMode:
    if config.intensity != "auto":
        return config.intensity
    if image.dtype == np.uint8:
        return "uint8"
    if modality is not None and modality.upper() == "CT":
        return "ct_window"
    return "percentile"


def window_to_uint8(image: NDArray[np.generic], level: float, width: float) -> NDArray[np.uint8]:
    """CT window: clip to [L - W/2, L + W/2] and scale to 0..255, rounding to nearest.

    The npz test data were produced with rounding (not the truncating
    ``np.uint8`` cast of the authors' conversion script); rounding reproduces
    them byte for byte from the source DICOM.
    """
    lo = level - width / 2.0
    hi = level + width / 2.0
    arr = np.clip(image.astype(np.float64), lo, hi)
    return np.rint((arr - lo) / (hi - lo) * 255.0).astype(np.uint8)


def percentile_bounds(image: NDArray[np.generic], low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Percentiles over the non-zero voxels (zero is background in the authors' MR recipe)."""
    arr = np.asarray(image, dtype=np.float64)
    nz = arr[arr != 0]
    if nz.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(nz, [low, high])
    return float(lo), float(hi)


def percentile_to_uint8(
    image: NDArray[np.generic], bounds: tuple[float, float] | None = None, low: float = 0.5, high: float = 99.5
) -> NDArray[np.uint8]:
    """MR/other: clip to the percentile bounds, min-max scale to 0..255, keep zeros at zero."""
    arr = np.asarray(image, dtype=np.float64)
    lo, hi = bounds if bounds is not None else percentile_bounds(arr, low, high)
    clipped = np.clip(arr, lo, hi)
    span = hi - lo
    out = (clipped - lo) / span * 255.0 if span > 0 else np.zeros_like(clipped)
    out[arr == 0] = 0.0
    return np.rint(out).astype(np.uint8)


def resolve_bounds(
    config: PreprocessConfig, volume: NDArray[np.generic], modality: str | None = None
) -> PreprocessConfig:
    """Pin percentile bounds computed over a whole volume into the config."""
    mode = effective_mode(config, volume, modality)
    if mode != "percentile" or (config.lower is not None and config.upper is not None):
        return replace(config, intensity=mode)
    lo, hi = percentile_bounds(volume, config.percentile_low, config.percentile_high)
    return replace(config, intensity=mode, lower=lo, upper=hi)


def to_uint8(image: NDArray[np.generic], config: PreprocessConfig, modality: str | None = None) -> NDArray[np.uint8]:
    """Map a raw slice (HxW or HxWx3) to uint8 following ``config``."""
    mode = effective_mode(config, image, modality)
    if mode == "uint8":
        if image.dtype != np.uint8:
            if np.issubdtype(image.dtype, np.integer) and image.min() >= 0 and image.max() <= 255:
                return image.astype(np.uint8)
            raise ValueError(f"intensity mode 'uint8' needs 8-bit data, got {image.dtype}")
        return image.astype(np.uint8, copy=False)
    if mode == "ct_window":
        return window_to_uint8(image, config.window_level, config.window_width)
    bounds = (config.lower, config.upper) if config.lower is not None and config.upper is not None else None
    return percentile_to_uint8(image, bounds, config.percentile_low, config.percentile_high)


# --- geometry ----------------------------------------------------------------------


def resized_shape(height: int, width: int, target: int = 256) -> tuple[int, int]:
    """(h, w) after resizing the longest side to ``target``, rounded as the authors do."""
    scale = target * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_longest_side(image: NDArray[np.uint8], target: int = 256) -> NDArray[np.uint8]:
    h, w = image.shape[:2]
    nh, nw = resized_shape(h, w, target)
    return resize_area_u8(image, nh, nw)


def pad_to(image: NDArray[np.generic], target: int = 256) -> NDArray[np.generic]:
    h, w = image.shape[:2]
    pad = [(0, target - h), (0, target - w)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad)


def to_three_channels(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=-1)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, :3]  # drop alpha
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=-1)
    raise ValueError(f"expected an (H, W) or (H, W, 1|3|4) slice, got shape {image.shape}")


def prepare_uint8(image: NDArray[np.uint8], target: int = 256) -> tuple[torch.Tensor, SliceGeometry]:
    """8-bit slice -> (3, target, target) float32 tensor in [0, 1] plus its geometry."""
    img3 = to_three_channels(image)
    h, w = img3.shape[:2]
    small = resize_longest_side(img3, target)
    nh, nw = small.shape[:2]
    # float64 like the reference (numpy promotes), then float32 for the model.
    lo = float(small.min())
    hi = float(small.max())
    norm = (small.astype(np.float64) - lo) / max(hi - lo, 1e-8)
    padded = pad_to(norm, target)
    tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).float()
    return tensor, SliceGeometry(original_size=(h, w), resized_size=(nh, nw))


def prepare_slice(
    image: NDArray[np.generic], config: PreprocessConfig, modality: str | None = None
) -> tuple[torch.Tensor, SliceGeometry]:
    return prepare_uint8(to_uint8(image, config, modality), config.image_size)


def prepare_uint8_batch(
    images: Sequence[NDArray[np.uint8]], target: int, device: torch.device
) -> tuple[torch.Tensor, list[SliceGeometry]] | None:
    """``prepare_uint8`` for a batch of equal-shape grayscale slices, done with tensor ops on ``device``.

    On a GPU the per-slice numpy preprocessing, not the encoder, bounds throughput; this computes the same
    values bit for bit, but only where OpenCV takes its integer-factor INTER_AREA path (a 512x512 CT slice
    to 256 is a factor of 2). Returns None for anything else; callers then use ``prepare_uint8``.
    """
    if not images or any(img.ndim != 2 or img.dtype != np.uint8 for img in images):
        return None
    h, w = images[0].shape
    if any(img.shape != (h, w) for img in images):
        return None
    nh, nw = resized_shape(h, w, target)
    if (nh, nw) == (h, w) or h % nh or w % nw:
        return None
    sy, sx = h // nh, w // nw
    if sx < 1 or sy < 1:
        return None
    batch = torch.from_numpy(np.stack(images)).to(device, non_blocking=True)
    sums = batch.to(torch.int32).reshape(len(images), nh, sy, nw, sx).sum(dim=(2, 4))
    if sx == 2 and sy == 2:
        small = (sums + 2) >> 2  # OpenCV's ResizeAreaFastVec rounds half up
    else:
        scale = torch.tensor(1.0 / (sx * sy), dtype=torch.float32, device=device)
        small = torch.round(sums.to(torch.float32) * scale).clamp(0, 255)  # rint: half to even
    small64 = small.to(torch.float64)
    lo = small64.amin(dim=(1, 2), keepdim=True)
    hi = small64.amax(dim=(1, 2), keepdim=True)
    norm = ((small64 - lo) / torch.clamp(hi - lo, min=1e-8)).to(torch.float32)
    out = torch.zeros((len(images), 3, target, target), dtype=torch.float32, device=device)
    out[:, :, :nh, :nw] = norm[:, None]
    geometry = SliceGeometry(original_size=(h, w), resized_size=(nh, nw))
    return out, [geometry] * len(images)


# --- prompts -------------------------------------------------------------------------


def scale_box(
    box: Sequence[float] | NDArray[np.floating], original_size: tuple[int, int], target: int = 256
) -> NDArray[np.float64]:
    """Box (x0, y0, x1, y1) into the model frame: ``int(v * 256 / max(H, W))`` per coordinate."""
    ratio = target / max(original_size)
    return np.array([int(float(v) * ratio) for v in box], dtype=np.float64)


def scale_points(
    points: NDArray[np.floating], original_size: tuple[int, int], target: int = 256
) -> NDArray[np.float64]:
    """Points (N, 2) as (x, y) into the model frame (continuous, like SAM's apply_coords)."""
    ratio = target / max(original_size)
    return np.asarray(points, dtype=np.float64) * ratio


def mask_to_box256(
    mask: NDArray[np.uint8], original_size: tuple[int, int], shift: int = 3, target: int = 256
) -> NDArray[np.float64] | None:
    """Authors' get_bbox256: resize the mask (INTER_AREA), pad, bbox widened by ``shift`` and clipped.

    Returns None when the resized mask is empty. Note the mask's *values*
    matter: INTER_AREA averages, so thin structures with small label values can
    round to zero; the reference writes the object's label index here.
    """
    if mask.shape[:2] != original_size:
        raise ValueError("mask shape does not match the slice")
    small = resize_longest_side(np.ascontiguousarray(mask, dtype=np.uint8), target)
    if small.max() == 0:
        return None
    padded = np.asarray(pad_to(small, target), dtype=np.uint8)
    ys, xs = np.nonzero(padded > 0)
    h, w = padded.shape
    x0 = max(0, int(xs.min()) - shift)
    x1 = min(w, int(xs.max()) + shift)
    y0 = max(0, int(ys.min()) - shift)
    y1 = min(h, int(ys.max()) + shift)
    return np.array([x0, y0, x1, y1], dtype=np.float64)


# --- outputs -------------------------------------------------------------------------


def postprocess_logits(logits: torch.Tensor, geometry: SliceGeometry) -> torch.Tensor:
    """Low-res logits (..., 256, 256) -> boolean masks (..., H, W) at the original resolution."""
    nh, nw = geometry.resized_size
    lead = logits.shape[:-2]
    x = logits[..., :nh, :nw].reshape(-1, 1, nh, nw).float()
    x = F.interpolate(x, size=geometry.original_size, mode="bilinear", align_corners=False)
    return (torch.sigmoid(x) > 0.5).reshape(*lead, *geometry.original_size)
