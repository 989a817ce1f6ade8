"""The authors' CVPR 2024 LiteMedSAM evaluation logic on npz files, run through :class:`Predictor`.

Used by the equivalence tests, the benchmark and the prompt study. Unlike the
original script, each slice is embedded once per file (the original re-embeds
a slice for every 3D box); the masks are the same.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .predictor import Embedding, Predictor, dice

ENV_SHARED_DATA = "READINGROOM_SHARED_DATA"


def shared_data_dir(repo_root: Path | None = None) -> Path:
    """``$READINGROOM_SHARED_DATA`` or ``<repo root>/../shared/data``."""
    env = os.environ.get(ENV_SHARED_DATA)
    if env:
        return Path(env)
    root = repo_root if repo_root is not None else Path(__file__).resolve().parent.parent
    return (root / ".." / "shared" / "data").resolve()


@dataclass
class FileResult:
    name: str
    per_object: dict[int, float | None] = field(default_factory=dict)
    masks: dict[int, NDArray[np.bool_]] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        vals = [v for v in self.per_object.values() if v is not None]
        return float(np.mean(vals)) if vals else float("nan")


class EmbeddingCache:
    """Embeds each slice of an npz image once, on first use."""

    def __init__(self, predictor: Predictor, slices: Callable[[int], NDArray[Any]]) -> None:
        self.predictor = predictor
        self.slices = slices
        self.store: dict[int, Embedding] = {}

    def __call__(self, z: int) -> Embedding:
        if z not in self.store:
            self.store[z] = self.predictor.embed(self.slices(z))
        return self.store[z]


def run_2d(predictor: Predictor, img: NDArray[np.uint8], boxes: NDArray[Any]) -> list[NDArray[np.bool_]]:
    """One embedding, each box decoded single-mask."""
    emb = predictor.embed(img)
    return [predictor.decode(emb, box=box).mask for box in boxes]


def run_3d_box(
    predictor: Predictor, cache: EmbeddingCache, depth: int, box3d: NDArray[Any]
) -> NDArray[np.bool_] | None:
    """The 3D recipe for one box; None for one-slice objects (the reference skips them)."""
    if int(box3d[2]) == int(box3d[5]):
        return None
    res = predictor.propagate(cache, box3d, num_slices=depth)
    return res.to_volume(depth)


def evaluate_file(predictor: Predictor, img_path: Path, gt_path: Path) -> FileResult:
    data = np.load(img_path)
    gts = np.load(gt_path)["gts"]
    imgs = data["imgs"]
    boxes = data["boxes"]
    result = FileResult(name=img_path.name)
    if img_path.name.startswith("2D"):
        for i, mask in enumerate(run_2d(predictor, imgs, boxes), start=1):
            result.per_object[i] = dice(mask, gts == i)
            result.masks[i] = mask
    else:
        cache = EmbeddingCache(predictor, lambda z: imgs[z])
        for i, box in enumerate(boxes, start=1):
            vol = run_3d_box(predictor, cache, imgs.shape[0], box)
            if vol is None:
                result.per_object[i] = None
                continue
            result.per_object[i] = dice(vol, gts == i)
            result.masks[i] = vol
    return result


_ROW = re.compile(r"^\|\s*(\S+\.npz)\s*\|\s*([0-9.]+)\s*\|(.*)\|\s*$")


def parse_reference(path: Path) -> dict[str, tuple[float, dict[int, float | None]]]:
    """REFERENCE.md table -> {file: (mean, {label: dice or None})}."""
    out: dict[str, tuple[float, dict[int, float | None]]] = {}
    for line in path.read_text().splitlines():
        m = _ROW.match(line.strip())
        if not m:
            continue
        per: dict[int, float | None] = {}
        for item in m.group(3).split(","):
            if ":" not in item:
                continue
            k, v = item.split(":", 1)
            v = v.strip()
            per[int(k.strip())] = None if v == "null" else float(v)
        out[m.group(1)] = (float(m.group(2)), per)
    return out
