"""The inference engine used by workers and the CLI: embed slices, decode prompts, propagate in 3D.

Coordinates: boxes are ``(x0, y0, x1, y1)`` and points ``(x, y)`` in the
slice's own pixel grid (column, row), like the CVPR 2024 npz files. Masks come
back at that resolution. Embeddings are float32 (256, 64, 64) per slice and can
be cached by the caller under ``(instance, frame, predictor.cache_namespace,
embedding.preprocessing)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from .optimize import EncoderRunner, OptimizeMode
from .preprocess import (
    PreprocessConfig,
    SliceGeometry,
    effective_mode,
    mask_to_box256,
    postprocess_logits,
    prepare_slice,
    prepare_uint8,
    prepare_uint8_batch,
    preprocessing_hash,
    resolve_bounds,
    scale_box,
    scale_points,
    to_uint8,
)
from .registry import DEFAULT_MODEL, get_model_spec, load_model


class PromptError(ValueError):
    """A prompt the model cannot use; ``code`` is machine-readable for API responses.

    Codes: ``prompt_missing``, ``prompt_not_finite``, ``box_shape``,
    ``box_empty`` (collapsed to a single point), ``box_inverted`` (x1 < x0,
    y1 < y0 or z1 < z0), ``box_out_of_bounds``, ``point_shape``, ``point_labels_mismatch``,
    ``point_label_invalid``, ``point_out_of_bounds``, ``mask_shape``,
    ``start_slice_out_of_range``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")


class PropagationCancelled(RuntimeError):
    def __init__(self, done: int, total: int) -> None:
        self.done = done
        self.total = total
        super().__init__(f"propagation cancelled after {done}/{total} slices")


@dataclass(frozen=True)
class Embedding:
    """Image embedding of one slice plus what decoding needs to map back to the image."""

    tensor: torch.Tensor  # (256, 64, 64) float32
    geometry: SliceGeometry
    model: str
    preprocessing: str  # preprocessing_hash() of the config that produced it

    @property
    def original_size(self) -> tuple[int, int]:
        return self.geometry.original_size

    @property
    def resized_size(self) -> tuple[int, int]:
        return self.geometry.resized_size


@dataclass(frozen=True)
class Decoded:
    masks: NDArray[np.bool_]  # (M, H, W), M = 1 or 3 (multimask)
    iou: NDArray[np.float32]  # (M,) predicted IoU per mask
    low_res_logits: torch.Tensor  # (M, 256, 256) float32 on CPU; feed back as mask_logits

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.iou))

    @property
    def mask(self) -> NDArray[np.bool_]:
        """The single mask, or the highest-scoring one in multimask mode."""
        best: NDArray[np.bool_] = self.masks[self.best_index]
        return best


@dataclass(frozen=True)
class Propagation:
    z0: int
    z1: int
    start_slice: int
    masks: NDArray[np.bool_]  # (z1 - z0 + 1, H, W)
    iou: NDArray[np.float32]  # (z1 - z0 + 1,)

    def to_volume(self, depth: int) -> NDArray[np.bool_]:
        vol = np.zeros((depth, *self.masks.shape[1:]), dtype=bool)
        vol[self.z0 : self.z1 + 1] = self.masks
        return vol


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _finite(values: NDArray[np.float64], what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise PromptError("prompt_not_finite", f"{what} contains NaN or infinity")


def validate_box(box: Sequence[float] | NDArray[Any], size: tuple[int, int]) -> NDArray[np.float64]:
    """Check a 2D box against an (H, W) image; returns it as float64 (4,)."""
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.shape != (4,):
        raise PromptError("box_shape", f"a box has 4 numbers (x0, y0, x1, y1), got {arr.size}")
    _finite(arr, "box")
    x0, y0, x1, y1 = arr
    if x1 < x0 or y1 < y0:
        raise PromptError("box_inverted", f"box {arr.tolist()} has x1 < x0 or y1 < y0")
    if x1 == x0 and y1 == y0:
        # Coordinates are inclusive pixel indices (as in the CVPR 2024 npz
        # files), so a one-pixel-wide box around a thin vessel is legitimate;
        # a box collapsed to a single point carries no extent at all.
        raise PromptError("box_empty", f"box {arr.tolist()} is a single point; use a point prompt")
    h, w = size
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        raise PromptError("box_out_of_bounds", f"box {arr.tolist()} is outside the {w}x{h} image")
    return arr


def validate_points(
    points: Sequence[Sequence[float]] | NDArray[Any], labels: Sequence[int] | NDArray[Any] | None, size: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim == 1 and pts.size == 2:
        pts = pts[None, :]
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise PromptError("point_shape", f"points must be an (N, 2) list of (x, y), got shape {pts.shape}")
    _finite(pts, "points")
    lab = np.ones(len(pts), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
    if lab.shape != (len(pts),):
        raise PromptError("point_labels_mismatch", f"{len(pts)} points but {lab.size} labels")
    if not np.all(np.isin(lab, (0, 1))):
        raise PromptError("point_label_invalid", "point labels must be 1 (foreground) or 0 (background)")
    h, w = size
    if np.any(pts[:, 0] < 0) or np.any(pts[:, 1] < 0) or np.any(pts[:, 0] > w) or np.any(pts[:, 1] > h):
        raise PromptError("point_out_of_bounds", f"a point is outside the {w}x{h} image")
    return pts, lab


class Predictor:
    """LiteMedSAM (or any registered SAM-family model) inference on one device.

    ``optimize`` picks the encoder route (see :mod:`models.optimize`); the
    decoder always runs in fp32 (it is cheap and latency-bound). The default
    ``"auto"`` is the exact fused fp32 route on CPU and fp16/bf16 autocast on
    CUDA; ``"none"`` is the unoptimised reference module.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str | torch.device | None = None,
        optimize: OptimizeMode = "auto",
        preprocess: PreprocessConfig | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.model_name = model
        self.spec = get_model_spec(model)
        self.device = torch.device(device if device is not None else default_device())
        self.model = load_model(model, self.device)
        self.encoder = EncoderRunner(self.model.image_encoder, optimize, self.device)
        self.preprocess = preprocess if preprocess is not None else self.spec.preprocess
        self.batch_size = batch_size if batch_size is not None else (16 if self.device.type == "cuda" else 1)
        self.image_size = self.spec.image_size

    @property
    def route(self) -> str:
        return self.encoder.mode

    @property
    def cache_namespace(self) -> str:
        """Model component of an embedding cache key: reduced-precision routes give slightly different embeddings."""
        return f"{self.model_name}:{'fp32' if self.route in ('none', 'fp32') else self.route}"

    # --- encoding ----------------------------------------------------------------------

    def embed(
        self, image: NDArray[Any], *, modality: str | None = None, config: PreprocessConfig | None = None
    ) -> Embedding:
        """Embed one slice: (H, W) raw/uint8 or (H, W, 3) uint8 (RGB kept)."""
        return self.embed_batch([image], modality=modality, config=config)[0]

    def embed_batch(
        self,
        images: Sequence[NDArray[Any]],
        *,
        modality: str | None = None,
        config: PreprocessConfig | None = None,
    ) -> list[Embedding]:
        cfg = config if config is not None else self.preprocess
        out: list[Embedding] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [np.asarray(img) for img in images[start : start + self.batch_size]]
            # "auto" means different transforms for CT, MR and 8-bit input; the
            # hash must name the one actually applied, not the request.
            effective = [replace(cfg, intensity=effective_mode(cfg, img, modality)) for img in chunk]
            batch, geometries = self._prepare(chunk, effective, modality)
            # Views of one batch tensor, not per-slice copies: a 4 MiB clone per slice (fresh pages, first
            # touch) cost more host time than a GPU spends encoding the slice.
            slices = self.encoder(batch).cpu().unbind(0)
            out.extend(
                Embedding(tensor=t, geometry=g, model=self.model_name, preprocessing=preprocessing_hash(c))
                for t, g, c in zip(slices, geometries, effective, strict=True)
            )
        return out

    def _prepare(
        self, chunk: list[NDArray[Any]], configs: list[PreprocessConfig], modality: str | None
    ) -> tuple[torch.Tensor, list[SliceGeometry]]:
        if self.device.type == "cuda" and len({c.image_size for c in configs}) == 1:
            # Intensity mapping stays per slice in numpy; resizing and normalising a whole batch on the
            # GPU gives the same values and keeps the CPU from starving the encoder.
            small = [to_uint8(img, c, modality) for img, c in zip(chunk, configs, strict=True)]
            fast = prepare_uint8_batch(small, configs[0].image_size, self.device)
            if fast is not None:
                return fast
            prepared = [prepare_uint8(img, c.image_size) for img, c in zip(small, configs, strict=True)]
        else:
            prepared = [prepare_slice(img, c, modality) for img, c in zip(chunk, configs, strict=True)]
        return torch.stack([t for t, _ in prepared]), [g for _, g in prepared]

    # --- decoding ----------------------------------------------------------------------

    def decode(
        self,
        embedding: Embedding,
        box: Sequence[float] | NDArray[Any] | None = None,
        *,
        points: Sequence[Sequence[float]] | NDArray[Any] | None = None,
        point_labels: Sequence[int] | NDArray[Any] | None = None,
        mask_logits: torch.Tensor | NDArray[Any] | None = None,
        multimask: bool = False,
    ) -> Decoded:
        """Decode prompts given in the slice's pixel coordinates."""
        size = embedding.geometry.original_size
        if points is None and point_labels is not None:
            raise PromptError("point_labels_mismatch", "point labels given without points")
        if box is None and points is None and mask_logits is None:
            raise PromptError("prompt_missing", "give a box, points or mask logits")
        box256 = None
        if box is not None:
            box256 = scale_box(validate_box(box, size), size, self.image_size)
        pts = None
        if points is not None:
            p, lab = validate_points(points, point_labels, size)
            pts = (scale_points(p, size, self.image_size), lab)
        mask_in = None if mask_logits is None else self._mask_input(mask_logits)
        return self._decode_model_frame(embedding, box256, pts, mask_in, multimask)

    def _mask_input(self, mask_logits: torch.Tensor | NDArray[Any]) -> torch.Tensor:
        m = torch.as_tensor(np.asarray(mask_logits) if not isinstance(mask_logits, torch.Tensor) else mask_logits)
        side = 4 * self.model.prompt_encoder.image_embedding_size[0]
        if m.shape[-2:] != (side, side) or m.numel() != side * side:
            raise PromptError(
                "mask_shape", f"mask_logits must be one {side}x{side} low-res logit map, got {tuple(m.shape)}"
            )
        if not bool(torch.isfinite(m).all()):
            raise PromptError("prompt_not_finite", "mask_logits contain NaN or infinity")
        return m.reshape(1, 1, side, side).float()

    @torch.inference_mode()
    def _decode_model_frame(
        self,
        embedding: Embedding,
        box256: NDArray[np.float64] | None,
        points256: tuple[NDArray[np.float64], NDArray[np.int64]] | None,
        mask_in: torch.Tensor | None,
        multimask: bool,
    ) -> Decoded:
        dev = self.device
        emb = embedding.tensor.to(dev, dtype=torch.float32).unsqueeze(0)
        boxes = None if box256 is None else torch.as_tensor(box256[None, None, :], dtype=torch.float32, device=dev)
        pts = None
        if points256 is not None:
            pts = (
                torch.as_tensor(points256[0][None], dtype=torch.float32, device=dev),
                torch.as_tensor(points256[1][None], dtype=torch.int64, device=dev),
            )
        masks = None if mask_in is None else mask_in.to(dev)
        logits, iou = self.model.decode(emb, boxes=boxes, points=pts, masks=masks, multimask_output=multimask)
        logits = logits[0].float().cpu()
        bin_masks = postprocess_logits(logits, embedding.geometry).numpy()
        return Decoded(masks=bin_masks, iou=iou[0].float().cpu().numpy(), low_res_logits=logits)

    # --- 3D ----------------------------------------------------------------------------

    def propagate(
        self,
        source: NDArray[Any] | Callable[[int], Embedding],
        box3d: Sequence[float] | NDArray[Any],
        *,
        start_slice: int | None = None,
        num_slices: int | None = None,
        modality: str | None = None,
        config: PreprocessConfig | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Propagation:
        """Segment a 3D box slice by slice with the authors' CVPR 2024 recipe.

        ``source`` is a (D, H, W) volume (raw or uint8; embeddings computed
        here, each slice once) or ``get_embedding(z) -> Embedding`` so the
        caller can serve embeddings from its cache. ``box3d`` is
        ``(x0, y0, z0, x1, y1, z1)`` with z1 inclusive. Starting at
        ``start_slice`` (default ``int((z1 - z0) / 2 + z0)``) with the 2D box, it
        walks up to z1, then down from start-1 to z0; each later slice's box is
        the previous slice's mask bbox in the 256 frame widened by 3 px, or the
        original box when that mask is empty. The previous mask enters the
        INTER_AREA resize as 0/1 uint8 (as in the reference run), so thin
        structures can round away and fall back to the original box.
        """
        b = np.asarray(box3d, dtype=np.float64).reshape(-1)
        if b.shape != (6,):
            raise PromptError("box_shape", f"a 3D box has 6 numbers (x0, y0, z0, x1, y1, z1), got {b.size}")
        _finite(b, "box")
        z0, z1 = int(b[2]), int(b[5])
        if b[2] != z0 or b[5] != z1:
            raise PromptError("box_shape", "z0 and z1 must be slice indices (integers)")
        if z1 < z0:
            raise PromptError("box_inverted", f"z1 ({z1}) < z0 ({z0})")

        get_embedding: Callable[[int], Embedding]
        if callable(source):
            get_embedding = source
            depth = num_slices
        else:
            volume = np.asarray(source)
            if volume.ndim not in (3, 4):
                raise ValueError(f"expected a (D, H, W) volume, got shape {volume.shape}")
            depth = volume.shape[0]
            get_embedding = self._volume_embedder(
                volume, z0=z0, z1=z1, start_slice=start_slice, modality=modality, config=config
            )
        if z0 < 0 or (depth is not None and z1 >= depth):
            raise PromptError("box_out_of_bounds", f"z range {z0}..{z1} is outside the volume (depth {depth})")
        z_start = int((z1 - z0) / 2 + z0) if start_slice is None else int(start_slice)
        if not z0 <= z_start <= z1:
            raise PromptError("start_slice_out_of_range", f"start slice {z_start} is not within {z0}..{z1}")

        box2d = np.array([b[0], b[1], b[3], b[4]])
        order = list(range(z_start, z1 + 1)) + list(range(z_start - 1, z0 - 1, -1))
        total = len(order)
        masks: dict[int, NDArray[np.bool_]] = {}
        ious: dict[int, float] = {}
        box256_orig: NDArray[np.float64] | None = None
        for done, z in enumerate(order):
            if should_cancel is not None and should_cancel():
                raise PropagationCancelled(done, total)
            emb = get_embedding(z)
            size = emb.geometry.original_size
            if box256_orig is None:
                box256_orig = scale_box(validate_box(box2d, size), size, self.image_size)
            box256 = box256_orig
            if z != z_start:
                prev = masks[z - 1] if z > z_start else masks[z + 1]
                if prev.any():
                    from_mask = mask_to_box256(prev.astype(np.uint8), size, target=self.image_size)
                    if from_mask is not None:
                        box256 = from_mask
            res = self._decode_model_frame(emb, box256, None, None, False)
            masks[z] = res.masks[0]
            ious[z] = float(res.iou[0])
            if on_progress is not None:
                on_progress(done + 1, total)
        zs = range(z0, z1 + 1)
        return Propagation(
            z0=z0,
            z1=z1,
            start_slice=z_start,
            masks=np.stack([masks[z] for z in zs]),
            iou=np.array([ious[z] for z in zs], dtype=np.float32),
        )

    def _volume_embedder(
        self,
        volume: NDArray[Any],
        *,
        z0: int,
        z1: int,
        start_slice: int | None,
        modality: str | None,
        config: PreprocessConfig | None,
    ) -> Callable[[int], Embedding]:
        """Lazy per-slice embeddings for a volume; percentile bounds are taken over the whole volume."""
        cfg = resolve_bounds(config if config is not None else self.preprocess, volume, modality)
        cache: dict[int, Embedding] = {}
        z_start = int((z1 - z0) / 2 + z0) if start_slice is None else start_slice
        order = list(range(z_start, z1 + 1)) + list(range(z_start - 1, z0 - 1, -1))

        def get(z: int) -> Embedding:
            if z not in cache:
                # Batch the next slices in walking order (helps on GPU; batch_size is 1 on CPU).
                pos = order.index(z) if z in order else 0
                todo = [zz for zz in order[pos:] if zz not in cache][: self.batch_size] or [z]
                if z not in todo:
                    todo = [z]
                embs = self.embed_batch([volume[zz] for zz in todo], modality=modality, config=cfg)
                cache.update(zip(todo, embs, strict=True))
            return cache[z]

        return get


def dice(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Dice of two binary masks; 1.0 when both are empty (as the CVPR 2024 metric does)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    denom = int(a.sum()) + int(b.sum())
    if denom == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / denom


__all__ = [
    "Decoded",
    "Embedding",
    "Predictor",
    "PromptError",
    "Propagation",
    "PropagationCancelled",
    "default_device",
    "dice",
]
