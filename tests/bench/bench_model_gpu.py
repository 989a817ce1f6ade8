"""Engine throughput on whatever device is present (run on a lent GPU, or here on the CPU):
batched encoding slices/s per route beside the fp32 baseline, decode p50, and the REFERENCE.md Dice of
each route on ../shared/data/npz. Needs only torch, numpy and the models/ package (no Django)."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from models.cvpr24 import evaluate_file, parse_reference, shared_data_dir  # noqa: E402
from models.predictor import Predictor  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def encode_rate(predictor: Predictor, batch: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (512, 512), dtype=np.uint8) for _ in range(batch)]
    predictor.batch_size = batch
    predictor.embed_batch(images)  # warm-up (cuDNN autotune, allocator)
    _sync(predictor.device)
    started = time.perf_counter()
    for _ in range(repeats):
        predictor.embed_batch(images)
    _sync(predictor.device)
    return batch * repeats / (time.perf_counter() - started)


def cpu_preprocessing_rate(predictor: Predictor, batch: int, repeats: int) -> float:
    """The same batched encode with the per-slice numpy preprocessing the GPU route replaces."""
    import models.predictor as module

    original = module.prepare_uint8_batch
    module.prepare_uint8_batch = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        return encode_rate(predictor, batch, repeats)
    finally:
        module.prepare_uint8_batch = original


def preprocessing_identical(device: torch.device, data: Path) -> bool:
    """The tensor preprocessing on this device gives the numpy path's values bit for bit on real slices."""
    from models.preprocess import PreprocessConfig, prepare_uint8, prepare_uint8_batch, to_uint8

    config = PreprocessConfig()
    for path in sorted((data / "npz" / "imgs").glob("*.npz")):
        volume = np.load(path)["imgs"]
        slices = [volume] if volume.ndim == 2 or volume.shape[-1] == 3 else list(volume[: min(8, len(volume))])
        small = [to_uint8(s, config, "CT") for s in slices]
        fast = prepare_uint8_batch(small, 256, device)
        if fast is None:
            continue
        for index, image in enumerate(small):
            if not torch.equal(fast[0][index].cpu(), prepare_uint8(image, 256)[0]):
                return False
    return True


def decode_p50(predictor: Predictor) -> float:
    embedding = predictor.embed(np.zeros((512, 512), np.uint8))
    times = []
    for i in range(60):
        started = time.perf_counter()
        predictor.decode(embedding, box=[100 + i % 7, 100, 300, 300])
        _sync(predictor.device)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[10:])


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    default_routes = "none,auto" if device.type == "cuda" else "none,fp32,auto"
    routes = os.environ.get("BENCH_ROUTES", default_routes).split(",")
    batches = [1, 16, 64] if device.type == "cuda" else [1, 4]
    repeats = 20 if device.type == "cuda" else 2
    data = shared_data_dir()
    reference = parse_reference(data / "REFERENCE.md")
    rows, summary = [], {}
    cpu_pre: dict[str, float] = {}
    for route in routes:
        predictor = Predictor("litemedsam", device=device, optimize=route)  # type: ignore[arg-type]
        rates = {b: encode_rate(predictor, b, repeats) for b in batches}
        if route == routes[0]:
            cpu_pre[route] = cpu_preprocessing_rate(predictor, max(batches), repeats)
        decode = decode_p50(predictor)
        deltas = []
        if os.environ.get("BENCH_SKIP_DICE") != "1":
            for img in sorted((data / "npz" / "imgs").glob("*.npz")):
                result = evaluate_file(predictor, img, data / "npz" / "gts" / img.name)
                deltas.append(abs(result.mean - reference[img.name][0]))
        summary[route] = (predictor.route, rates, decode, max(deltas) if deltas else float("nan"))
        rows.append(
            [
                route,
                predictor.route,
                *[f"{rates[b]:.1f}" for b in batches],
                f"{decode:.1f}",
                f"{max(deltas):.4f}" if deltas else "-",
            ]
        )
    header = ["route", "resolved", *[f"slices/s b={b}" for b in batches], "decode p50 ms", "max |dDice| vs ref"]
    widths = [max(len(h), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\nLiteMedSAM engine on {name} (torch {torch.__version__})")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    base, best = summary[routes[0]], summary[routes[-1]]
    top = max(batches)
    identical = preprocessing_identical(device, data)
    print(
        f"\nfp32 b={top} with per-slice numpy preprocessing (before): {cpu_pre[routes[0]]:.1f} slices/s; "
        f"batched tensor preprocessing (now): {base[1][top]:.1f} slices/s; identical values: {identical}"
    )
    print(
        f"BENCH model-device device={name.replace(' ', '_')} fp32_slices_per_s={base[1][top]:.1f} "
        f"fast_slices_per_s={best[1][top]:.1f} fast_route={best[0]} speedup={best[1][top] / base[1][top]:.2f} "
        f"decode_p50_ms={best[2]:.1f} max_dice_delta={best[3]:.4f} "
        f"fp32_cpu_preprocessing_slices_per_s={cpu_pre[routes[0]]:.1f} preprocessing_identical={identical}"
    )


if __name__ == "__main__":
    main()
