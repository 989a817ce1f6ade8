"""Slice geometry of a series: order, spacing, affine, and splitting mixed series.

Conventions (used by the NIfTI export and the viewer):
- Patient coordinates are DICOM LPS millimetres. `affine_lps` maps voxel indices (i, j, k) =
  (column, row, slice) to LPS; `affine_ras` = diag(-1, -1, 1, 1) @ affine_lps is what NIfTI stores.
  Pixel arrays from pydicom are (row, column), so a NIfTI volume is `np.stack(slices, -1).transpose(1, 0, 2)`.
- Slices are sorted by their position projected on the slice normal n = row cosine x column cosine,
  ascending, which is the direction of increasing k.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from .parsing import InstanceSummary

ORIENTATION_TOLERANCE: Final = 1e-3
POSITION_TOLERANCE_MM: Final = 1e-2
LPS_TO_RAS: Final = np.diag([-1.0, -1.0, 1.0, 1.0])

Vec3 = tuple[float, float, float]
Orientation = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class SlicePosition:
    """One 2D plane of a series: a single-frame instance, or one frame of a multi-frame instance."""

    sop_instance_uid: str
    frame_index: int
    position: Vec3 | None
    orientation: Orientation | None
    pixel_spacing: tuple[float, float] | None
    instance_number: int | None = None


@dataclass(frozen=True)
class SortedSlices:
    slices: tuple[SlicePosition, ...]
    # Signed distance of each slice along the normal (mm), same order as `slices`; None without geometry.
    positions_mm: tuple[float, ...] | None
    normal: Vec3 | None
    spacing: float | None  # median distance between neighbouring slices
    spacing_consistent: bool
    max_spacing_deviation: float
    duplicate_positions: bool
    # The stack direction is not along the normal (gantry tilt, or a sheared NIfTI): the affine still
    # places every voxel correctly, but resampling tools that assume orthogonality will not.
    sheared: bool
    affine_lps: np.ndarray | None
    sorted_by: str  # "position" or "instance_number"

    @property
    def affine_ras(self) -> np.ndarray | None:
        return None if self.affine_lps is None else LPS_TO_RAS @ self.affine_lps


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    if norm < 1e-6:
        raise ValueError("row and column cosines are parallel")
    return normal / norm


def slices_from_summaries(summaries: Iterable[InstanceSummary]) -> list[SlicePosition]:
    out: list[SlicePosition] = []
    for s in summaries:
        if s.frame_positions:
            for index, pos in enumerate(s.frame_positions):
                out.append(
                    SlicePosition(
                        s.sop_instance_uid, index, pos, s.image_orientation_patient, s.pixel_spacing, s.instance_number
                    )
                )
        else:
            out.append(
                SlicePosition(
                    s.sop_instance_uid,
                    0,
                    s.image_position_patient,
                    s.image_orientation_patient,
                    s.pixel_spacing,
                    s.instance_number,
                )
            )
    return out


def _has_geometry(s: SlicePosition) -> bool:
    if s.position is None or s.orientation is None:
        return False
    try:
        slice_normal(s.orientation)
    except ValueError:
        return False
    return True


def sort_slices(slices: Sequence[SlicePosition], *, slice_thickness: float | None = None) -> SortedSlices:
    """Order slices along the normal; compute spacing, its consistency and the voxel-to-LPS affine.

    Without positions/orientations on every slice (projection radiographs, some secondary captures) the
    order falls back to Instance Number and no affine is given.
    """
    if not slices:
        return SortedSlices((), None, None, None, True, 0.0, False, False, None, "instance_number")
    if not all(_has_geometry(s) for s in slices):
        by_number = sorted(
            slices, key=lambda s: (s.instance_number is None, s.instance_number or 0, s.sop_instance_uid, s.frame_index)
        )
        return SortedSlices(tuple(by_number), None, None, None, True, 0.0, False, False, None, "instance_number")

    first_orientation = slices[0].orientation
    assert first_orientation is not None  # checked by _has_geometry
    normal = slice_normal(first_orientation)
    keyed = []
    for s in slices:
        assert s.position is not None
        keyed.append((float(np.dot(np.asarray(s.position, dtype=float), normal)), s.instance_number or 0, s))
    keyed.sort(key=lambda t: (t[0], t[1], t[2].sop_instance_uid, t[2].frame_index))
    ordered = tuple(t[2] for t in keyed)
    distances = np.array([t[0] for t in keyed])
    diffs = np.diff(distances)
    duplicates = bool(np.any(diffs < POSITION_TOLERANCE_MM)) if diffs.size else False
    spacing: float | None = float(np.median(diffs)) if diffs.size else None
    deviation = float(np.max(np.abs(diffs - spacing))) if diffs.size and spacing is not None else 0.0
    consistent = spacing is None or (not duplicates and deviation <= max(1e-2 * spacing, 1e-3))

    affine, sheared = _affine(ordered, normal, spacing, slice_thickness)
    return SortedSlices(
        slices=ordered,
        positions_mm=tuple(float(d) for d in distances),
        normal=(float(normal[0]), float(normal[1]), float(normal[2])),
        spacing=spacing,
        spacing_consistent=consistent,
        max_spacing_deviation=deviation,
        duplicate_positions=duplicates,
        sheared=sheared,
        affine_lps=affine,
        sorted_by="position",
    )


def _affine(
    ordered: Sequence[SlicePosition], normal: np.ndarray, spacing: float | None, slice_thickness: float | None
) -> tuple[np.ndarray | None, bool]:
    first = ordered[0]
    if first.pixel_spacing is None or first.orientation is None or first.position is None:
        return None, False
    row_spacing, col_spacing = first.pixel_spacing  # PixelSpacing = (between rows, between columns)
    # Cosines are renormalized: scanners write 6-digit values whose norm is off by up to 1e-6.
    row_cos = np.asarray(first.orientation[:3], dtype=float)
    row_cos = row_cos / np.linalg.norm(row_cos)
    col_cos = np.asarray(first.orientation[3:6], dtype=float)
    col_cos = col_cos / np.linalg.norm(col_cos)
    origin = np.asarray(first.position, dtype=float)
    if len(ordered) > 1:
        last = ordered[-1]
        assert last.position is not None
        step = (np.asarray(last.position, dtype=float) - origin) / (len(ordered) - 1)
    else:
        step = normal * (spacing or slice_thickness or 1.0)
    affine = np.eye(4)
    affine[:3, 0] = row_cos * col_spacing  # i runs along a row, i.e. across columns
    affine[:3, 1] = col_cos * row_spacing
    affine[:3, 2] = step
    affine[:3, 3] = origin
    norm = float(np.linalg.norm(step))
    sheared = norm > 0 and float(np.linalg.norm(np.cross(step / norm, normal))) > ORIENTATION_TOLERANCE
    return affine, sheared


def sort_summaries(summaries: Sequence[InstanceSummary]) -> SortedSlices:
    thickness = next((s.slice_thickness for s in summaries if s.slice_thickness), None)
    return sort_slices(slices_from_summaries(summaries), slice_thickness=thickness)


# --------------------------------------------------------------------------------------------------
# Splitting


@dataclass(frozen=True)
class SubSeriesKey:
    """What makes instances one volume. `stack` separates volumes that share a geometry:
    "" (none needed), "acquisition=<n>", "echo=<n>", "temporal=<n>", "occurrence=<n>" (repeated positions
    without a distinguishing attribute, n-th visit of each position), or "instance=<uid>" for a multi-frame
    instance, which is a volume on its own."""

    frame_of_reference_uid: str | None
    orientation: Orientation | None
    rows: int | None
    columns: int | None
    localizer: bool
    stack: str = ""

    def label(self) -> str:
        parts = [f"{self.rows}x{self.columns}"]
        if self.orientation is not None:
            parts.append(_orientation_label(self.orientation))
        if self.localizer:
            parts.append("localizer")
        if self.stack:
            parts.append(self.stack)
        return " ".join(parts)


@dataclass(frozen=True)
class SubSeries:
    key: SubSeriesKey
    instances: tuple[InstanceSummary, ...]


def _orientation_label(orientation: Orientation) -> str:
    normal = np.abs(slice_normal(orientation)) if _valid_orientation(orientation) else np.zeros(3)
    axis = int(np.argmax(normal))
    if normal[axis] < 0.8:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _valid_orientation(orientation: Orientation | None) -> bool:
    if orientation is None:
        return False
    try:
        slice_normal(orientation)
    except ValueError:
        return False
    return True


def _close(a: Orientation | None, b: Orientation | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.max(np.abs(np.asarray(a) - np.asarray(b))) <= ORIENTATION_TOLERANCE)


def split_series(instances: Sequence[InstanceSummary]) -> list[SubSeries]:
    """Split what arrived as one series into volumes a viewer can stack.

    First key: frame of reference, orientation (within 1e-3), rows x columns, localizer (ImageType has
    LOCALIZER); multi-frame instances stand alone. Then, inside a group whose slices repeat a position,
    the first of acquisition number, echo number, temporal position that removes the repeats; failing
    that, the n-th occurrence of each position forms stack n. Sub-series come back largest first.
    """
    groups: list[tuple[SubSeriesKey, list[InstanceSummary]]] = []
    singles: list[SubSeries] = []
    for inst in instances:
        orientation = inst.image_orientation_patient if _valid_orientation(inst.image_orientation_patient) else None
        if inst.number_of_frames > 1:
            key = SubSeriesKey(
                inst.frame_of_reference_uid,
                orientation,
                inst.rows,
                inst.columns,
                inst.is_localizer,
                f"instance={inst.sop_instance_uid}",
            )
            singles.append(SubSeries(key, (inst,)))
            continue
        for key, members in groups:
            if (
                key.frame_of_reference_uid == inst.frame_of_reference_uid
                and key.rows == inst.rows
                and key.columns == inst.columns
                and key.localizer == inst.is_localizer
                and _close(key.orientation, orientation)
            ):
                members.append(inst)
                break
        else:
            groups.append(
                (
                    SubSeriesKey(inst.frame_of_reference_uid, orientation, inst.rows, inst.columns, inst.is_localizer),
                    [inst],
                )
            )
    out: list[SubSeries] = []
    for key, members in groups:
        out.extend(_split_repeats(key, members))
    out.extend(singles)
    out.sort(key=lambda s: (-len(s.instances), s.key.label()))
    return out


def _position_key(inst: InstanceSummary, normal: np.ndarray | None) -> float | None:
    if normal is None or inst.image_position_patient is None:
        return None
    return round(float(np.dot(np.asarray(inst.image_position_patient), normal)) / POSITION_TOLERANCE_MM)


def _has_repeats(members: Sequence[InstanceSummary], normal: np.ndarray | None) -> bool:
    keys = [_position_key(m, normal) for m in members]
    if any(k is None for k in keys):
        return False
    return len(set(keys)) != len(keys)


def _split_repeats(key: SubSeriesKey, members: list[InstanceSummary]) -> list[SubSeries]:
    normal = slice_normal(key.orientation) if key.orientation is not None else None
    if not _has_repeats(members, normal):
        return [SubSeries(key, tuple(members))]
    for attribute, label in (
        ("acquisition_number", "acquisition"),
        ("echo_number", "echo"),
        ("temporal_position_identifier", "temporal"),
    ):
        buckets: dict[object, list[InstanceSummary]] = {}
        for m in members:
            buckets.setdefault(getattr(m, attribute), []).append(m)
        if len(buckets) > 1 and not any(_has_repeats(b, normal) for b in buckets.values()):
            return [
                SubSeries(_with_stack(key, f"{label}={value}"), tuple(bucket))
                for value, bucket in sorted(buckets.items(), key=lambda kv: str(kv[0]))
            ]
    stacks: list[list[InstanceSummary]] = []
    seen: dict[float | None, int] = {}
    for m in sorted(members, key=lambda m: (m.instance_number is None, m.instance_number or 0, m.sop_instance_uid)):
        pos = _position_key(m, normal)
        index = seen.get(pos, 0)
        seen[pos] = index + 1
        if index == len(stacks):
            stacks.append([])
        stacks[index].append(m)
    return [SubSeries(_with_stack(key, f"occurrence={i}"), tuple(stack)) for i, stack in enumerate(stacks)]


def _with_stack(key: SubSeriesKey, stack: str) -> SubSeriesKey:
    return SubSeriesKey(key.frame_of_reference_uid, key.orientation, key.rows, key.columns, key.localizer, stack)


__all__ = [
    "LPS_TO_RAS",
    "SlicePosition",
    "SortedSlices",
    "SubSeries",
    "SubSeriesKey",
    "slice_normal",
    "slices_from_summaries",
    "sort_slices",
    "sort_summaries",
    "split_series",
]
