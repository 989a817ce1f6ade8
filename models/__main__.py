"""Command line: ``python -m models segment ...`` and ``python -m models propagate ...``.

Exit codes: 0 success, 2 bad input or prompt, 3 model weights problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from .imageio import InputError, load_image, load_volume, save_mask_nifti, save_mask_png
from .optimize import OPTIMIZE_MODES
from .predictor import Predictor, PromptError
from .preprocess import PreprocessConfig
from .registry import DEFAULT_MODEL, UnknownModelError
from .weights import WeightsError

EXIT_INPUT = 2
EXIT_WEIGHTS = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models", description="LiteMedSAM segmentation from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--window", nargs=2, type=float, metavar=("LEVEL", "WIDTH"), help="CT window (default 40 400 for CT)"
        )
        p.add_argument("--model", default=DEFAULT_MODEL, help="registered model name (default: %(default)s)")
        p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
        p.add_argument(
            "--optimize", default="auto", choices=OPTIMIZE_MODES, help="encoder route (default: %(default)s)"
        )

    seg = sub.add_parser("segment", help="segment one 2D image with a box")
    seg.add_argument("--image", required=True, help="DICOM, PNG/JPEG or .npy file")
    seg.add_argument("--box", nargs=4, type=float, required=True, metavar=("X0", "Y0", "X1", "Y1"))
    seg.add_argument("--out", required=True, help="output mask PNG (0/255, image's pixel grid)")
    common(seg)

    prop = sub.add_parser("propagate", help="segment a 3D box slice by slice")
    prop.add_argument("--volume", required=True, help="DICOM series folder, .nii/.nii.gz, or CVPR24 .npz")
    prop.add_argument(
        "--box",
        nargs=6,
        type=float,
        required=True,
        metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
        help="x = column, y = row, z = slice index (inclusive)",
    )
    prop.add_argument("--out", required=True, help="output NIfTI (.nii.gz), uint8 0/255 on the input grid")
    common(prop)
    return parser


def _config(predictor: Predictor, window: Sequence[float] | None) -> PreprocessConfig:
    cfg = predictor.preprocess
    if window is not None:
        try:
            cfg = cfg.with_window(window[0], window[1])
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    return cfg


def _segment(args: argparse.Namespace) -> int:
    img = load_image(args.image)
    predictor = Predictor(args.model, device=args.device, optimize=args.optimize)
    cfg = _config(predictor, args.window)
    emb = predictor.embed(img.pixels, modality=img.modality, config=cfg)
    res = predictor.decode(emb, box=args.box)
    save_mask_png(res.mask, args.out)
    print(f"wrote {args.out}: {int(res.mask.sum())} pixels, predicted IoU {float(res.iou[0]):.3f}")
    return 0


def _propagate(args: argparse.Namespace) -> int:
    vol = load_volume(args.volume)
    predictor = Predictor(args.model, device=args.device, optimize=args.optimize)
    cfg = _config(predictor, args.window)
    box = np.asarray(args.box, dtype=np.float64)

    def progress(done: int, total: int) -> None:
        print(f"\rslice {done}/{total}", end="", file=sys.stderr, flush=True)

    res = predictor.propagate(vol.voxels, box, modality=vol.modality, config=cfg, on_progress=progress)
    print(file=sys.stderr)
    mask = res.to_volume(vol.voxels.shape[0])
    save_mask_nifti(mask, vol.affine, args.out)
    print(f"wrote {args.out}: slices {res.z0}..{res.z1}, {int(mask.sum())} voxels")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "segment":
            return _segment(args)
        return _propagate(args)
    except PromptError as exc:
        print(f"error: bad prompt ({exc.code}): {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (InputError, UnknownModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WEIGHTS
    except OSError as exc:  # e.g. the output folder does not exist
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
