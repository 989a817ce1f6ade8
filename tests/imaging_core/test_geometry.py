from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from backend.imaging.core.geometry import (
    SlicePosition,
    slice_normal,
    slices_from_summaries,
    sort_slices,
    sort_summaries,
    split_series,
)
from backend.imaging.core.parsing import InstanceSummary, read_dicom

from ._helpers import CT2_DIR, DICOM_DIR, totalseg_files

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _inst(
    uid: str, z: float, *, orientation: tuple[float, ...] = AXIAL, number: int = 0, **kw: object
) -> InstanceSummary:
    normal = slice_normal(orientation)
    position = tuple(float(v) for v in normal * z)
    fields: dict[str, object] = {
        "sop_instance_uid": uid,
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "study_instance_uid": "1.2",
        "series_instance_uid": "1.2.3",
        "frame_of_reference_uid": "1.2.3.4",
        "rows": 4,
        "columns": 4,
        "number_of_frames": 1,
        "has_pixel_data": True,
        "pixel_spacing": (0.5, 0.7),
        "image_position_patient": position,
        "image_orientation_patient": orientation,
        "instance_number": number,
    }
    fields.update(kw)
    return InstanceSummary(**fields)  # type: ignore[arg-type]


def test_sorts_along_the_normal_not_by_instance_number() -> None:
    instances = [_inst(f"1.{i}", z, number=n) for i, (z, n) in enumerate([(5.0, 1), (-5.0, 9), (0.0, 3)])]
    result = sort_summaries(instances)
    assert [s.sop_instance_uid for s in result.slices] == ["1.1", "1.2", "1.0"]
    assert result.spacing == pytest.approx(5.0)
    assert result.spacing_consistent and not result.duplicate_positions and not result.sheared


def test_affine_maps_voxels_to_patient_positions() -> None:
    result = sort_summaries([_inst(f"1.{i}", 2.0 * i) for i in range(4)])
    affine = result.affine_lps
    assert affine is not None
    # (i=col, j=row, k=slice): one column step = PixelSpacing[1] along the row cosine.
    assert np.allclose(affine @ [1, 0, 0, 1], [0.7, 0, 0, 1])
    assert np.allclose(affine @ [0, 1, 0, 1], [0, 0.5, 0, 1])
    assert np.allclose(affine @ [0, 0, 3, 1], [0, 0, 6.0, 1])
    assert result.affine_ras is not None
    assert np.allclose(result.affine_ras @ [1, 0, 0, 1], [-0.7, 0, 0, 1])  # LPS -> RAS flips x and y


def test_inconsistent_spacing_and_duplicates_are_reported() -> None:
    gap = sort_summaries([_inst(f"1.{i}", z) for i, z in enumerate([0.0, 1.0, 2.0, 5.0])])
    assert not gap.spacing_consistent and gap.max_spacing_deviation == pytest.approx(2.0)
    dup = sort_summaries([_inst(f"1.{i}", z) for i, z in enumerate([0.0, 1.0, 1.0])])
    assert dup.duplicate_positions and not dup.spacing_consistent


def test_gantry_tilt_is_flagged_as_sheared() -> None:
    instances = []
    for i in range(3):
        inst = _inst(f"1.{i}", 2.0 * i)
        pos = inst.image_position_patient
        assert pos is not None
        instances.append(dataclasses.replace(inst, image_position_patient=(pos[0], pos[1] + 0.5 * i, pos[2])))
    assert sort_summaries(instances).sheared


def test_missing_geometry_falls_back_to_instance_number() -> None:
    slices = [SlicePosition(f"1.{n}", 0, None, None, None, n) for n in (3, 1, 2)]
    result = sort_slices(slices)
    assert result.sorted_by == "instance_number"
    assert [s.instance_number for s in result.slices] == [1, 2, 3]
    assert result.affine_lps is None


def test_split_by_orientation_size_localizer_and_frame_of_reference() -> None:
    axial = [_inst(f"1.{i}", float(i)) for i in range(5)]
    sagittal = [_inst(f"2.{i}", float(i), orientation=SAGITTAL) for i in range(3)]
    small = [_inst(f"3.{i}", float(i), rows=2, columns=2) for i in range(2)]
    scout = [_inst("4.0", 0.0, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))]
    other_for = [_inst("5.0", 0.0, frame_of_reference_uid="9.9")]
    parts = split_series(axial + sagittal + small + scout + other_for)
    sizes = [len(p.instances) for p in parts]
    assert sizes == [5, 3, 2, 1, 1]
    assert parts[0].key.label().startswith("4x4 axial")
    assert parts[1].key.label() == "4x4 sagittal"
    assert any(p.key.localizer for p in parts)


def test_repeated_positions_split_by_acquisition_then_by_occurrence() -> None:
    two_acquisitions = [
        _inst(f"1.{a}.{i}", float(i), acquisition_number=a, number=10 * a + i) for a in (1, 2) for i in range(3)
    ]
    parts = split_series(two_acquisitions)
    assert [p.key.stack for p in parts] == ["acquisition=1", "acquisition=2"]
    no_hint = [_inst(f"1.{a}.{i}", float(i), number=10 * a + i) for a in (1, 2) for i in range(3)]
    random.Random(4).shuffle(no_hint)
    parts = split_series(no_hint)
    assert sorted(p.key.stack for p in parts) == ["occurrence=0", "occurrence=1"]
    assert all(len(p.instances) == 3 for p in parts)


def test_multiframe_instances_stand_alone_and_expand_to_frames() -> None:
    parsed = read_dicom((DICOM_DIR / "dcmqi_ct3slice" / "liver.dcm").read_bytes())
    summary = parsed.summary
    assert summary.frame_positions is not None and len(summary.frame_positions) == 3
    parts = split_series([summary, _inst("1.1", 0.0)])
    assert any(p.key.stack.startswith("instance=") for p in parts)
    frames = slices_from_summaries([summary])
    assert [f.frame_index for f in frames] == [0, 1, 2]
    ordered = sort_slices(frames)
    assert ordered.spacing == pytest.approx(1.0, abs=1e-3)


def test_real_series_sort() -> None:
    ct2 = [read_dicom(p.read_bytes()).summary for p in sorted(CT2_DIR.iterdir())]
    parts = split_series(ct2)
    assert len(parts) == 1  # the 4 slices share one geometry; their gap is reported, not split
    result = sort_summaries(ct2)
    z = [s.position[2] for s in result.slices if s.position is not None]
    assert z == sorted(z)
    assert not result.spacing_consistent  # -99.48 then 103.02, 104.27, 105.52
    ts = [read_dicom(p.read_bytes()).summary for p in totalseg_files()]
    assert len(split_series(ts)) == 1
