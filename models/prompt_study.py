"""Do points or a previous mask help LiteMedSAM beyond its box? ``python -m models.prompt_study``.

On every object of the shared data (the 2D npz boxes, and each 3D box on its
middle slice) it decodes:

* ``box``            - the box alone (what the model was trained with);
* ``box+click``      - plus one positive click at the object's centroid (the GT
                       pixel nearest to it, so the click is inside the object);
* ``box+mask``       - plus the box-only result's low-res logits as mask prompt
                       (SAM-style iterative refinement, one step);
* ``box+click+mask`` - both;
* ``click``          - the click alone, best of the 3 multimask outputs by predicted IoU.

and prints mean Dice against the ground truth per prompt type.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cvpr24 import shared_data_dir
from .predictor import Predictor, dice

PROMPTS = ("box", "box+click", "box+mask", "box+click+mask", "click")


def centroid_click(gt: NDArray[np.bool_]) -> list[list[float]]:
    ys, xs = np.nonzero(gt)
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return [[float(xs[i]), float(ys[i])]]


Object = tuple[str, str, NDArray[Any], NDArray[Any], NDArray[np.bool_]]


def objects(data: Path) -> list[Object]:
    """(group, slice key, slice, 2D box, GT mask) for every object."""
    out: list[Object] = []
    for f in sorted((data / "npz" / "imgs").glob("*.npz")):
        z = np.load(f)
        imgs = z["imgs"]
        gts = np.load(data / "npz" / "gts" / f.name)["gts"]
        for i, b in enumerate(z["boxes"], start=1):
            if f.name.startswith("2D"):
                out.append(("2D files", f.name, imgs, b, gts == i))
                continue
            zm = int((b[5] - b[2]) / 2 + b[2])
            gt = gts[zm] == i
            # Skip middle slices that miss a curved object, and one-voxel objects
            # whose box is a single point (not a usable box prompt).
            if gt.any() and (b[0], b[1]) != (b[3], b[4]):
                out.append(("3D mid-slices", f"{f.name}:{zm}", imgs[zm], np.array([b[0], b[1], b[3], b[4]]), gt))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.prompt_study", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    predictor = Predictor("litemedsam", device=args.device, optimize="auto")
    scores: dict[str, dict[str, list[float]]] = {}
    cache: dict[str, Any] = {}
    for group, key, img, box, gt in objects(shared_data_dir()):
        if key not in cache:
            cache[key] = predictor.embed(img)
        emb = cache[key]
        click = centroid_click(gt)
        first = predictor.decode(emb, box=box)
        results = {
            "box": first.mask,
            "box+click": predictor.decode(emb, box=box, points=click, point_labels=[1]).mask,
            "box+mask": predictor.decode(emb, box=box, mask_logits=first.low_res_logits).mask,
            "box+click+mask": predictor.decode(
                emb, box=box, points=click, point_labels=[1], mask_logits=first.low_res_logits
            ).mask,
            "click": predictor.decode(emb, points=click, point_labels=[1], multimask=True).mask,
        }
        per = scores.setdefault(group, {p: [] for p in PROMPTS})
        for p in PROMPTS:
            per[p].append(dice(results[p], gt))

    print(f"{'group':16s} {'n':>3s} " + " ".join(f"{p:>15s}" for p in PROMPTS))
    for group, per in scores.items():
        n = len(per["box"])
        print(f"{group:16s} {n:3d} " + " ".join(f"{np.mean(per[p]):15.4f}" for p in PROMPTS))
        better = {p: sum(a > b + 1e-9 for a, b in zip(per[p], per["box"], strict=True)) for p in PROMPTS[1:]}
        print(f"{'':16s}     objects improved over box: " + ", ".join(f"{p} {v}/{n}" for p, v in better.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
