"""Model engine benchmark: ``python -m models.bench [--quick] [--all-routes] [--compile]``.

Measures, in one process on the same slices:

* encoder time per slice for the eager fp32 baseline (route ``none``) and the
  optimised CPU routes, interleaved slice by slice so background load hits all
  routes alike; the headline "fastest route" is the fastest one whose masks keep
  mean Dice >= 0.99 against the baseline's;
* mask Dice of every route against the fp32 baseline: each box of the 2D npz
  files and each 3D box on its middle slice, decoded single-mask;
* decode latency per prompt (p50/p90, including post-processing to full size);
* 3D propagation of a 20-slice box from cached embeddings;
* on CUDA, batched encoding throughput at fp32 and fp16/bf16 autocast.

Prints a table and ends with one ``BENCH model-engine ...`` line.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from .cvpr24 import shared_data_dir
from .optimize import EncoderRunner, cpu_has_native_bf16
from .predictor import Embedding, Predictor, dice
from .preprocess import prepare_slice

DICE_BAR = 0.99


@dataclass
class Case:
    """One slice and the boxes to decode on it."""

    name: str
    image: NDArray[Any]
    boxes: list[NDArray[Any]]


@dataclass
class RouteResult:
    name: str
    times: list[float] = field(default_factory=list)
    masks: list[list[NDArray[np.bool_]]] = field(default_factory=list)
    embeddings: dict[str, Embedding] = field(default_factory=dict)
    dice_vs_fp32: float = float("nan")
    min_dice: float = float("nan")

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.times)

    @property
    def min_ms(self) -> float:
        return 1000 * min(self.times)


def load_cases(data: Path, quick: bool) -> list[Case]:
    cases: list[Case] = []
    for f in sorted((data / "npz" / "imgs").glob("2D*.npz")):
        z = np.load(f)
        cases.append(Case(f.stem, z["imgs"], list(z["boxes"])))
    for f in sorted((data / "npz" / "imgs").glob("3D*.npz")):
        z = np.load(f)
        by_slice: dict[int, list[NDArray[Any]]] = {}
        for b in z["boxes"]:
            if (b[0], b[1]) == (b[3], b[4]):
                continue  # a one-voxel object: its box is a point, not a box prompt
            zm = int((b[5] - b[2]) / 2 + b[2])
            by_slice.setdefault(zm, []).append(np.array([b[0], b[1], b[3], b[4]]))
        slices = sorted(by_slice)
        if quick:
            slices = slices[:: max(1, len(slices) // 3)]
        cases.extend(Case(f"{f.stem}[z={zm}]", z["imgs"][zm], by_slice[zm]) for zm in slices)
    return cases


def run_routes(base: Predictor, routes: list[str], cases: list[Case]) -> dict[str, RouteResult]:
    runners = {r: EncoderRunner(base.model.image_encoder, r, base.device) for r in routes}
    results = {r: RouteResult(r) for r in routes}
    for runner in runners.values():  # warm-up (first-call allocations, compile)
        runner(prepare_slice(cases[0].image, base.preprocess)[0][None])
    for case in cases:
        tensor, geom = prepare_slice(case.image, base.preprocess)
        for r, runner in runners.items():
            t0 = time.perf_counter()
            emb = runner(tensor[None])[0].cpu()
            results[r].times.append(time.perf_counter() - t0)
            e = Embedding(emb, geom, base.model_name, "bench")
            results[r].embeddings[case.name] = e
            results[r].masks.append([base.decode(e, box=b).mask for b in case.boxes])
    ref = results["none"].masks
    for res in results.values():
        ds = [dice(a, b) for ra, rb in zip(ref, res.masks, strict=True) for a, b in zip(ra, rb, strict=True)]
        res.dice_vs_fp32 = float(np.mean(ds))
        res.min_dice = float(np.min(ds))
    return results


def time_decode(predictor: Predictor, emb: Embedding, boxes: list[NDArray[Any]], n: int) -> list[float]:
    times: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        predictor.decode(emb, box=boxes[i % len(boxes)])
        times.append(time.perf_counter() - t0)
    return times


def time_propagation(
    predictor: Predictor, data: Path, encode: Callable[[NDArray[Any]], Embedding]
) -> tuple[float, int]:
    z = np.load(data / "npz" / "imgs" / "3DBox_CT_TotalSeg_example_ct_dicom.npz")
    imgs, box = z["imgs"], z["boxes"][0]  # spleen-sized box over all 20 slices
    cache = {k: encode(imgs[k]) for k in range(int(box[2]), int(box[5]) + 1)}
    t0 = time.perf_counter()
    res = predictor.propagate(cache.__getitem__, box, num_slices=imgs.shape[0])
    return time.perf_counter() - t0, res.masks.shape[0]


def cuda_throughput(predictor: Predictor, image: NDArray[Any], batch: int = 16, rounds: int = 5) -> dict[str, float]:
    tensor = prepare_slice(image, predictor.preprocess)[0][None].repeat(batch, 1, 1, 1)
    out: dict[str, float] = {}
    for route in ("none", "fp16", "bf16"):
        if route == "bf16" and not torch.cuda.is_bf16_supported():
            continue
        runner = EncoderRunner(predictor.model.image_encoder, route, predictor.device)
        runner(tensor)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(rounds):
            runner(tensor)
        torch.cuda.synchronize()
        out["fp32" if route == "none" else route] = batch * rounds / (time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer slices (about a third)")
    parser.add_argument("--all-routes", action="store_true", help="also measure int8 dynamic quantisation")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to build)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = shared_data_dir()
    base = Predictor("litemedsam", device=args.device, optimize="none")
    on_cpu = base.device.type == "cpu"
    routes = ["none", "fp32"]
    if on_cpu and cpu_has_native_bf16():
        routes.append("bf16")
    if on_cpu and args.all_routes:
        routes.append("int8")
    if args.compile:
        routes.append("compile")
    if not on_cpu:
        routes = ["none", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    print(
        f"device: {base.device} ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, native bf16: {cpu_has_native_bf16()}"
    )

    cases = load_cases(data, args.quick)
    n_boxes = sum(len(c.boxes) for c in cases)
    print(f"encoding {len(cases)} slices x {len(routes)} routes, {n_boxes} boxes each ...", flush=True)
    results = run_routes(base, routes, cases)

    print(f"\n{'route':10s} {'median ms':>10s} {'min ms':>8s} {'speedup':>8s} {'Dice vs fp32':>13s} {'min Dice':>9s}")
    baseline = results["none"]
    for res in results.values():
        print(
            f"{res.name:10s} {res.median_ms:10.0f} {res.min_ms:8.0f} {baseline.median_ms / res.median_ms:8.2f} "
            f"{res.dice_vs_fp32:13.4f} {res.min_dice:9.4f}"
        )
    eligible = [r for r in results.values() if r.dice_vs_fp32 >= DICE_BAR]
    best = min(eligible, key=lambda r: r.median_ms)
    print(f"fastest route with Dice >= {DICE_BAR}: {best.name}")

    fast = Predictor("litemedsam", device=args.device, optimize="auto")
    amos = cases[0]
    dec = time_decode(fast, results[best.name].embeddings[amos.name], amos.boxes, 60)
    dec_p50 = 1000 * float(np.percentile(dec, 50))
    dec_p90 = 1000 * float(np.percentile(dec, 90))
    print(f"\ndecode per prompt ({amos.name}, 512x512 output): p50 {dec_p50:.1f} ms, p90 {dec_p90:.1f} ms")

    prop_s, n_slices = time_propagation(fast, data, fast.embed)
    print(
        f"3D propagation, {n_slices} slices from cached embeddings: {prop_s:.2f} s "
        f"({1000 * prop_s / n_slices:.0f} ms/slice)"
    )

    if base.device.type == "cuda":
        thr = cuda_throughput(base, amos.image)
        print("CUDA batched encoding (batch 16): " + ", ".join(f"{k} {v:.1f} slices/s" for k, v in thr.items()))

    print(
        f"BENCH model-engine encode_ms={best.median_ms:.0f} encode_baseline_ms={baseline.median_ms:.0f} "
        f"speedup={baseline.median_ms / best.median_ms:.2f} dice_vs_fp32={best.dice_vs_fp32:.4f} "
        f"decode_p50_ms={dec_p50:.1f} propagate20_s={prop_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
