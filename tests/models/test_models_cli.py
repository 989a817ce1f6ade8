"""``python -m models segment|propagate``: output shapes/values/geometry and exit codes on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

import models.__main__ as cli
from models.__main__ import main
from models.predictor import Predictor, dice

from .conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def _reuse_session_predictor(monkeypatch: pytest.MonkeyPatch, predictor: Predictor) -> None:
    """In-process CLI calls share the session's loaded model; other model names still go through the registry."""
    real = cli.Predictor

    def make(model: str = "litemedsam", **kwargs: object) -> Predictor:
        return predictor if model == "litemedsam" else real(model, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "Predictor", make)


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_segment_png_keeps_pixel_grid(tmp_path: Path, shared_data: Path) -> None:
    image = shared_data / "png" / "sam_med2d_ct" / "images" / "amos_0004_75.png"
    gt = _png(shared_data / "png" / "sam_med2d_ct" / "masks" / "amos_0004_75_liver_000.png") > 0
    ys, xs = np.nonzero(gt)
    out = tmp_path / "liver.png"
    rc = main(
        [
            "segment",
            "--image",
            str(image),
            "--box",
            *map(str, [xs.min(), ys.min(), xs.max(), ys.max()]),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    mask = _png(out)
    assert mask.shape == (512, 512) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert dice(mask > 0, gt) > 0.8


def test_segment_dicom_and_npy(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "ct.png"
    assert (
        main(
            [
                "segment",
                "--image",
                str(shared_data / "dicom/pydicom/CT_small.dcm"),
                "--box",
                "30",
                "30",
                "90",
                "100",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert _png(out).shape == (128, 128)
    # MR goes through the percentile mapping; a window still forces CT-style mapping.
    assert (
        main(
            [
                "segment",
                "--image",
                str(shared_data / "dicom/pydicom/MR_small.dcm"),
                "--box",
                "10",
                "10",
                "50",
                "50",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert _png(out).shape == (64, 64)
    npy = tmp_path / "slice.npy"
    np.save(npy, np.load(shared_data / "npz/imgs/3DBox_CT_dcmqi_ct3slice.npz")["imgs"][1])
    assert (
        main(
            [
                "segment",
                "--image",
                str(npy),
                "--box",
                "80",
                "146",
                "349",
                "365",
                "--window",
                "40",
                "400",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert _png(out).shape == (512, 512)


def test_propagate_dicom_series_writes_nifti_on_input_grid(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "seg.nii.gz"
    series = shared_data / "dicom" / "dcmqi_ct3slice" / "ct-3slice"
    assert (
        main(["propagate", "--volume", str(series), "--box", "80", "146", "0", "349", "365", "2", "--out", str(out)])
        == 0
    )
    img = nib.load(str(out))
    data = np.asarray(img.dataobj)
    assert data.shape == (512, 512, 3) and data.dtype == np.uint8
    assert set(np.unique(data)) <= {0, 255}
    # Slice 0 is the most inferior (sorted along the normal); spacing 1 mm, pixels 0.810547 mm.
    assert np.allclose(np.abs(np.diag(img.affine)[:3]), [0.810547, 0.810547, 1.0], atol=1e-5)
    gts = np.load(shared_data / "npz/gts/3DBox_CT_dcmqi_ct3slice.npz")["gts"]
    assert dice(data.transpose(2, 1, 0) > 0, gts == 1) > 0.85


def test_propagate_nifti_and_npz(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "nifti" / "totalseg_ct_sm" / "example_ct_sm.nii.gz"
    out = tmp_path / "sm.nii.gz"
    assert (
        main(["propagate", "--volume", str(src), "--box", "11", "23", "14", "27", "54", "16", "--out", str(out)]) == 0
    )
    img, ref = nib.load(str(out)), nib.load(str(src))
    assert img.shape == ref.shape == (122, 101, 30)
    assert np.allclose(img.affine, ref.affine)
    data = np.asarray(img.dataobj)
    assert data[:, :, 14:17].any() and not data[:, :, :14].any() and not data[:, :, 17:].any()
    npz = shared_data / "npz" / "imgs" / "3DBox_CT_dcmqi_ct3slice.npz"
    assert (
        main(["propagate", "--volume", str(npz), "--box", "218", "337", "0", "295", "431", "1", "--out", str(out)]) == 0
    )
    assert nib.load(str(out)).shape == (512, 512, 3)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["segment", "--image", "/nonexistent.png", "--box", "1", "1", "5", "5"], "no such file"),
        (["segment", "--image", "{ct}", "--box", "0", "0", "900", "10"], "box_out_of_bounds"),
        (["segment", "--image", "{ct}", "--box", "20", "0", "10", "10"], "box_inverted"),
        (["segment", "--image", "{readme}", "--box", "1", "1", "5", "5"], "unsupported image type"),
        (["segment", "--image", "{rtstruct}", "--box", "1", "1", "5", "5"], "no pixel data"),
        (["segment", "--image", "{seg}", "--box", "1", "1", "5", "5"], "multi-frame"),
        (["segment", "--image", "{ct}", "--box", "1", "1", "5", "5", "--model", "nope"], "unknown model"),
        (["segment", "--image", "{ct}", "--box", "1", "1", "5", "5", "--window", "40", "0"], "window width"),
        (["propagate", "--volume", "{readme}", "--box", "1", "1", "0", "5", "5", "1"], "unsupported volume"),
        (["propagate", "--volume", "{npz}", "--box", "1", "1", "0", "5", "5", "9"], "box_out_of_bounds"),
        (["propagate", "--volume", "{png_dir}", "--box", "1", "1", "0", "5", "5", "1"], "no DICOM images"),
    ],
)
def test_bad_input_exits_non_zero_with_message(
    argv: list[str], needle: str, tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {
        "ct": shared_data / "dicom/pydicom/CT_small.dcm",
        "readme": shared_data / "README.md",
        "seg": shared_data / "dicom/dcmqi_ct3slice/liver.dcm",
        "rtstruct": shared_data / "dicom/pydicom/rtstruct.dcm",
        "npz": shared_data / "npz/imgs/3DBox_CT_dcmqi_ct3slice.npz",
        "png_dir": shared_data / "png/sam_med2d_ct/images",
    }
    args = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    rc = main([*args, "--out", str(tmp_path / "out")])
    assert rc == 2
    assert needle in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "m.png"
    cmd = [
        sys.executable,
        "-m",
        "models",
        "segment",
        "--image",
        str(shared_data / "dicom/pydicom/CT_small.dcm"),
        "--box",
        "30",
        "30",
        "90",
        "100",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    bad = subprocess.run(
        [*cmd[:5], "/missing.dcm", *cmd[6:]], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert bad.returncode == 2 and "no such file" in bad.stderr
