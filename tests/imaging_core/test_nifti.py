from __future__ import annotations

import gzip
from typing import Literal

import nibabel as nib
import numpy as np
import pytest

from backend.imaging.core.errors import ImagingError
from backend.imaging.core.geometry import sort_summaries, split_series
from backend.imaging.core.nifti import NiftiConversion, nifti_to_dicom_series, read_nifti
from backend.imaging.core.parsing import dataset_to_bytes, decode_frame, read_dicom

from ._helpers import NIFTI_CT


def _nifti_bytes(data: np.ndarray, affine: np.ndarray, *, gz: bool = True, descrip: str = "") -> bytes:
    image = nib.Nifti1Image(data, affine)
    image.header["descrip"] = descrip.encode()
    raw = image.to_bytes()
    return gzip.compress(raw) if gz else raw


def _convert(data: bytes, modality: Literal["CT", "MR", "OT"] = "CT") -> tuple[NiftiConversion, list]:
    conversion = nifti_to_dicom_series(read_nifti(data), modality=modality)
    parsed = [read_dicom(dataset_to_bytes(ds)) for ds in conversion.datasets]
    return conversion, parsed


@pytest.mark.usefixtures("shared_data")
def test_totalseg_volume_round_trips_geometry_and_values() -> None:
    volume = read_nifti(NIFTI_CT)
    assert volume.shape == (122, 101, 30) and volume.orientation_known
    conversion, parsed = _convert(NIFTI_CT.read_bytes())
    assert len(parsed) == 30 and not conversion.reversed_slices
    assert (conversion.rescale_slope, conversion.rescale_intercept) == (1.0, 0.0)  # int16 HU: exact
    summaries = [p.summary for p in parsed]
    assert len(split_series(summaries)) == 1
    ordered = sort_summaries(summaries)
    assert ordered.affine_ras is not None
    np.testing.assert_allclose(ordered.affine_ras, volume.affine_ras, atol=1e-3)
    assert ordered.spacing == pytest.approx(3.0) and ordered.spacing_consistent
    data = np.asarray(volume.image.dataobj)
    by_uid = {p.summary.sop_instance_uid: p for p in parsed}
    for k in (0, 13, 29):
        frame = decode_frame(by_uid[ordered.slices[k].sop_instance_uid].dataset).pixels
        assert np.array_equal(frame, data[:, :, k].T)


def test_reversed_slice_axis_is_emitted_along_the_normal() -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(-1000, 1000, (6, 5, 4)).astype(np.int16)
    affine = np.diag([2.0, 2.0, -3.0, 1.0])
    affine[:3, 3] = (10, -20, 30)
    conversion, parsed = _convert(_nifti_bytes(data, affine))
    assert conversion.reversed_slices
    ordered = sort_summaries([p.summary for p in parsed])
    assert ordered.affine_ras is not None
    np.testing.assert_allclose(ordered.affine_ras, conversion.affine_ras, atol=1e-3)
    # The same physical point holds the same value, whichever way k runs.
    by_uid = {p.summary.sop_instance_uid: p for p in parsed}
    volume = np.stack([decode_frame(by_uid[s.sop_instance_uid].dataset).pixels.T for s in ordered.slices], -1)
    for ijk in [(0, 0, 0), (5, 4, 3), (2, 3, 1)]:
        point = affine @ [*ijk, 1]
        index = np.rint(np.linalg.inv(ordered.affine_ras) @ point).astype(int)[:3]
        assert volume[tuple(index)] == data[ijk]


def test_oblique_volume_round_trips() -> None:
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.9, 2.5])
    affine[:3, 3] = (-50, 12, 7)
    _, parsed = _convert(_nifti_bytes(np.zeros((8, 7, 5), dtype=np.int16), affine), modality="MR")
    ordered = sort_summaries([p.summary for p in parsed])
    assert ordered.affine_ras is not None
    np.testing.assert_allclose(ordered.affine_ras, affine, atol=1e-3)
    assert parsed[0].summary.modality == "MR"


def test_float_volume_is_rescaled_into_int16() -> None:
    data = np.linspace(-0.5, 1234.5678, 4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    conversion, parsed = _convert(_nifti_bytes(data, np.eye(4)), modality="OT")
    assert conversion.rescale_slope != 1.0
    decoded = decode_frame(parsed[1].dataset).pixels
    assert decoded.dtype == np.float32
    assert np.max(np.abs(decoded - data[:, :, 1].T)) <= conversion.rescale_slope


def test_header_text_is_not_copied() -> None:
    conversion, _ = _convert(_nifti_bytes(np.zeros((3, 3, 2), np.int16), np.eye(4), descrip="Patient QX7Z1234"))
    assert all(b"QX7Z1234" not in dataset_to_bytes(ds) for ds in conversion.datasets)


def test_uncompressed_nifti_and_2d() -> None:
    _, parsed = _convert(_nifti_bytes(np.ones((5, 6), np.int16), np.eye(4), gz=False))
    assert len(parsed) == 1 and parsed[0].summary.rows == 6 and parsed[0].summary.columns == 5


def test_refusals() -> None:
    with pytest.raises(ImagingError) as excinfo:
        read_nifti(b"not a nifti file at all" * 40)
    assert excinfo.value.code == "not_nifti"
    good = _nifti_bytes(np.zeros((20, 20, 20), np.int16), np.eye(4), gz=False)
    with pytest.raises(ImagingError) as excinfo:
        read_nifti(good[: len(good) // 2])
    assert excinfo.value.code == "not_nifti"
    with pytest.raises(ImagingError) as excinfo:
        read_nifti(_nifti_bytes(np.zeros((4, 4, 4, 3), np.int16), np.eye(4)))
    assert excinfo.value.code == "nifti_unsupported"
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(ImagingError) as excinfo:
        nifti_to_dicom_series(read_nifti(_nifti_bytes(np.zeros((4, 4, 4), np.int16), sheared)))
    assert excinfo.value.extra["reason"] == "sheared_in_plane"


def test_gzip_bomb_is_refused_from_the_header() -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((4000, 4000, 4000))
    header.set_data_dtype(np.int16)
    raw = header.binaryblock + b"\x00" * 4 + b"\x00" * (1 << 20)  # header + 1 MiB of a claimed 128 GB
    with pytest.raises(ImagingError) as excinfo:
        read_nifti(gzip.compress(raw))
    assert excinfo.value.code == "volume_too_large"
