"""Synthetic cases read end to end through the workflow services (no DICOM files needed):
two blind reads, a consensus, and a sign-off, on 16x16 two-slice series with 1 mL voxels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest

from backend.annotation.masks import annotation_for_task, mask_save
from backend.annotation.models import Case, Label, ReadingPolicy, Task
from backend.annotation.review import annotation_sign, consensus_build
from backend.annotation.services import case_create, task_assign, task_submit
from backend.common.rle import rle_encode_labels
from backend.imaging.models import Frame, Instance, Series, Study
from tests.conftest import PASSWORD

SIZE = 16


def rect(y0: int, y1: int, x0: int, x1: int, value: int = 1, *, base: np.ndarray | None = None) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8) if base is None else base.copy()
    mask[y0:y1, x0:x1] = value
    return mask


@dataclass
class Built:
    case: Case
    frames: list[Frame]
    reads: list[int]
    consensus: int | None


def make_series(
    project,
    *,
    uid: str,
    patient: str,
    modality: str = "CT",
    body_part: str = "ABDOMEN",
    manufacturer: str = "GE MEDICAL SYSTEMS",
    thickness: float = 2.5,
    date: dt.date | None = None,
    study: Study | None = None,
    frames: int = 2,
) -> tuple[Series, list[Frame]]:
    if study is None:
        study = Study.objects.create(
            project=project,
            study_instance_uid=f"1.2.{uid}",
            patient_key=patient,
            study_date=date or dt.date(2020, 1, 1),
            modalities=[modality],
        )
    series = Series.objects.create(
        project=project,
        study=study,
        series_instance_uid=f"1.2.{uid}.1",
        modality=modality,
        body_part=body_part,
        manufacturer=manufacturer,
        slice_thickness=thickness,
        slice_spacing=10.0,
        pixel_spacing=[10.0, 10.0],
        rows=SIZE,
        columns=SIZE,
        frame_count=frames,
    )
    out = []
    for index in range(frames):
        instance = Instance.objects.create(
            project=project,
            series=series,
            sop_instance_uid=f"1.2.{uid}.1.{index}",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            file=f"missing/{uid}-{index}.dcm",
            sha256=f"{index:064d}",
            size=1,
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            rows=SIZE,
            columns=SIZE,
            photometric_interpretation="MONOCHROME2",
            bits_allocated=16,
        )
        out.append(Frame.objects.create(series=series, instance=instance, sort_index=index))
    return series, out


@pytest.fixture
def curation(cast):
    """The cast's project with two blind reads per case, a review stage and signatures required."""
    ReadingPolicy.objects.filter(project=cast.project).update(
        readers_per_case=2, blind=True, review_stage=True, require_signoff_for_export=True
    )
    Label.objects.create(project=cast.project, value=1, name="Liver", color="#aa3300")
    Label.objects.create(project=cast.project, value=2, name="Tumor", color="#00aa33")

    def build(
        *,
        uid: str,
        patient: str,
        reads: tuple[list[np.ndarray], list[np.ndarray]] | None,
        stage: str = "signed",
        **series_kwargs,
    ) -> Built:
        series, frames = make_series(cast.project, uid=uid, patient=patient, **series_kwargs)
        case = case_create(project=cast.project, series=series, actor=cast.owner)
        read_ids: list[int] = []
        consensus_id = None
        if reads is not None:
            tasks = list(Task.objects.filter(case=case).order_by("slot"))
            for task, reader, masks in zip(tasks, (cast.annotator, cast.reader2), reads, strict=True):
                task_assign(task=task, actor=cast.owner, reader=reader)
                task.refresh_from_db()
                annotation = annotation_for_task(task=task, user=reader)
                mask_save(
                    annotation=annotation,
                    user=reader,
                    base_version=0,
                    frames={str(f.pk): rle_encode_labels(m) for f, m in zip(frames, masks, strict=True)},
                    source="brush",
                )
                read_ids.append(annotation.pk)
                if stage != "reading":
                    task_submit(task=task, user=reader)
            if stage in ("review", "signed"):
                case.refresh_from_db()
                consensus = consensus_build(
                    case=case, user=cast.reviewer, method="reviewer_pick", annotation_id=read_ids[0]
                )
                consensus_id = consensus.pk
                if stage == "signed":
                    annotation_sign(annotation=consensus, user=cast.reviewer, password=PASSWORD)
        case.refresh_from_db()
        return Built(case=case, frames=frames, reads=read_ids, consensus=consensus_id)

    return build
