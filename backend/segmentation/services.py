"""Prompted segmentation, series precompute and 3D propagation. Workers call these with IDs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from backend.accounts.models import User
from backend.annotation.models import Project
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict
from backend.common.rle import rle_encode_binary
from backend.imaging.models import Frame, Series
from backend.imaging.selectors import series_frames
from backend.segmentation import cache as embedding_cache
from backend.segmentation.engine import model_name_checked, predictor_for, series_config
from backend.segmentation.models import JobKind, JobStatus, SegmentationJob
from models.predictor import PromptError, validate_box, validate_points

logger = logging.getLogger(__name__)
_LOGITS_TTL_S = 600
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def prompt_validate(*, frame: Frame, prompt: dict[str, Any]) -> dict[str, Any]:
    """Check a prompt against the frame before queueing it: bad prompts never reach a worker."""
    size = (frame.instance.rows, frame.instance.columns)
    clean: dict[str, Any] = {"multimask": bool(prompt.get("multimask", False))}
    if prompt.get("box") is not None:
        clean["box"] = validate_box(prompt["box"], size).tolist()
    if prompt.get("points"):
        points, labels = validate_points(prompt["points"], prompt.get("point_labels"), size)
        clean["points"], clean["point_labels"] = points.tolist(), labels.tolist()
    clean["use_previous"] = bool(prompt.get("use_previous", False))
    if "box" not in clean and "points" not in clean and not clean["use_previous"]:
        raise PromptError("prompt_missing", "Give a box, points, or use_previous to refine the last mask.")
    clean["model"] = model_name_checked(prompt.get("model"))
    clean["label_id"] = prompt.get("label_id")
    return clean


def _logits_key(user_id: int | None, frame_id: int, model: str) -> str:
    return f"rr:logits:{user_id}:{frame_id}:{model}"


def prompt_decode(*, frame_id: int, prompt: dict[str, Any], user_id: int | None) -> dict[str, Any]:
    """Decode one (validated) prompt on a frame: the proposal is returned, nothing is saved."""
    started = time.perf_counter()
    frame = Frame.objects.select_related("instance", "series", "series__project").get(pk=frame_id)
    predictor = predictor_for(prompt["model"])
    config = series_config(project=frame.series.project, series=frame.series, label_id=prompt.get("label_id"))
    embedding = embedding_cache.embedding_get_or_compute(frame=frame, predictor=predictor, config=config)
    embedded = time.perf_counter()
    client = _redis()
    logits = None
    if prompt.get("use_previous"):
        raw: bytes | None = client.get(_logits_key(user_id, frame_id, prompt["model"]))  # type: ignore[assignment]
        if raw is None:
            raise PromptError("no_previous_mask", "There is no earlier proposal on this frame to refine.")
        logits = np.frombuffer(raw, dtype=np.float16).astype(np.float32).reshape(256, 256)
    decoded = predictor.decode(
        embedding,
        box=prompt.get("box"),
        points=prompt.get("points"),
        point_labels=prompt.get("point_labels"),
        mask_logits=logits,
        multimask=bool(prompt.get("multimask")),
    )
    best = decoded.best_index
    client.set(
        _logits_key(user_id, frame_id, prompt["model"]),
        decoded.low_res_logits[best].numpy().astype(np.float16).tobytes(),
        ex=_LOGITS_TTL_S,
    )
    finished = time.perf_counter()
    return {
        "frame_id": frame_id,
        "model": prompt["model"],
        "masks": [rle_encode_binary(mask) for mask in decoded.masks],
        "scores": [round(float(v), 4) for v in decoded.iou],
        "best": best,
        "timing_ms": {
            "embedding": round((embedded - started) * 1000, 1),
            "decode": round((finished - embedded) * 1000, 1),
        },
    }


# --- jobs --------------------------------------------------------------------------------------


@transaction.atomic
def series_embed_start(
    *, project: Project, series: Series, user: User | None, model: str | None = None
) -> SegmentationJob:
    name = model_name_checked(model)
    existing = SegmentationJob.objects.filter(series=series, kind=JobKind.EMBED, model=name, status__in=ACTIVE).first()
    if existing is not None:
        return existing
    job = SegmentationJob.objects.create(
        project=project, series=series, created_by=user, kind=JobKind.EMBED, model=name, total=series.frame_count
    )
    audit_record(
        actor=user,
        action="embed.start",
        object_type="segmentation_job",
        object_id=job.pk,
        project_id=project.pk,
        detail={"series_id": series.pk},
    )
    from workers.segmentation import embed_series

    embed_series.delay_on_commit(job.pk)
    return job


def series_added_precompute(series_id: int) -> None:
    """Hook for new series: precompute embeddings on the `embed` queue (on by default)."""
    if not settings.SEGMENTATION_PRECOMPUTE_ON_INGEST:
        return
    series = Series.objects.select_related("project").filter(pk=series_id).first()
    if series is not None:
        series_embed_start(project=series.project, series=series, user=None)


def job_claim(job_id: int) -> SegmentationJob | None:
    """Claim with a conditional UPDATE: a redelivered message (worker killed) resumes; a finished job is
    never redone; attempts are bounded."""
    claimed = SegmentationJob.objects.filter(
        Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING), pk=job_id, attempts__lt=settings.CELERY_MAX_ATTEMPTS
    ).update(status=JobStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now())
    if not claimed:
        SegmentationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, error_code="too_many_attempts", finished_at=timezone.now()
        )
        return None
    return SegmentationJob.objects.select_related("series", "project").get(pk=job_id)


def job_run_guarded(*, job_id: int, run: Callable[..., str]) -> str:
    """Run a job; if it dies of an error (a time limit, storage down), record that instead of leaving it
    'running' forever. A killed worker process never gets here: its message is redelivered instead."""
    try:
        return run(job_id=job_id)
    except SoftTimeLimitExceeded:
        SegmentationJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=JobStatus.FAILED, error_code="time_limit", finished_at=timezone.now()
        )
        return JobStatus.FAILED
    except Exception:
        logger.exception("segmentation job %s failed", job_id)
        SegmentationJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=JobStatus.FAILED, error_code="internal_error", finished_at=timezone.now()
        )
        raise


def _cancel_key(job_id: int) -> str:
    return f"rr:cancel:job:{job_id}"


def job_cancel(*, job: SegmentationJob, user: User) -> SegmentationJob:
    if job.status not in ACTIVE:
        raise Conflict("job_finished", f"The job is already {job.status}.")
    SegmentationJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    _redis().set(_cancel_key(job.pk), "1", ex=3600)
    # A job nobody has started yet is cancelled right here; a running one stops at its next slice.
    SegmentationJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    audit_record(
        actor=user, action="job.cancel", object_type="segmentation_job", object_id=job.pk, project_id=job.project_id
    )
    job.refresh_from_db()
    return job


def _cancelled(job_id: int) -> bool:
    return bool(_redis().exists(_cancel_key(job_id)))


def _progress(job: SegmentationJob, done: int) -> None:
    SegmentationJob.objects.filter(pk=job.pk).update(done=done)
    from backend.realtime.events import series_event

    series_event(
        series_id=job.series_id,
        event={
            "type": "progress",
            "job_id": job.pk,
            "kind": job.kind,
            "done": done,
            "total": job.total,
        },
        audience_user_id=job.created_by_id if job.kind == JobKind.PROPAGATE else None,
    )


def _finish(job: SegmentationJob, status: str, *, result: dict[str, Any] | None = None, error: str = "") -> None:
    SegmentationJob.objects.filter(pk=job.pk).update(
        status=status, finished_at=timezone.now(), error_code=error, result=result or {}
    )
    from backend.realtime.events import series_event

    series_event(
        series_id=job.series_id,
        event={
            "type": "job",
            "job_id": job.pk,
            "kind": job.kind,
            "status": status,
            "error": error,
        },
        audience_user_id=job.created_by_id if job.kind == JobKind.PROPAGATE else None,
    )


def series_embed_run(*, job_id: int) -> str:
    job = job_claim(job_id)
    if job is None:
        return "skipped"
    predictor = predictor_for(job.model)
    frames = list(series_frames(series=job.series))
    config = series_config(project=job.project, series=job.series)
    batch = settings.SEGMENTATION_EMBED_BATCH
    SegmentationJob.objects.filter(pk=job.pk).update(total=len(frames))
    job.total = len(frames)
    for start in range(0, len(frames), batch):
        if _cancelled(job.pk):
            _finish(job, JobStatus.CANCELLED)
            return JobStatus.CANCELLED
        embedding_cache.embeddings_store_batch(frames=frames[start : start + batch], predictor=predictor, config=config)
        _progress(job, min(len(frames), start + batch))
    _finish(job, JobStatus.DONE, result={"frames": len(frames)})
    return JobStatus.DONE


@transaction.atomic
def propagate_start(
    *,
    project: Project,
    series: Series,
    user: User,
    box3d: list[float],
    start_slice: int | None = None,
    model: str | None = None,
    label_id: int | None = None,
) -> SegmentationJob:
    name = model_name_checked(model)
    frames = series.frame_count
    if frames < 1:
        raise ApplicationError("series_empty", "The series has no slices to propagate through.")
    x0, y0, z0, x1, y1, z1 = (float(v) for v in box3d)
    if not (0 <= z0 <= z1 < frames) or not all(float(v).is_integer() for v in (z0, z1)):
        raise PromptError("box_out_of_bounds", f"z range [{z0}, {z1}] must be whole slices inside 0..{frames - 1}")
    validate_box([x0, y0, x1, y1], (series.rows or 0, series.columns or 0))
    if start_slice is not None and not z0 <= start_slice <= z1:
        raise PromptError("start_slice_out_of_range", "start_slice must lie inside the box's z range")
    job = SegmentationJob.objects.create(
        project=project,
        series=series,
        created_by=user,
        kind=JobKind.PROPAGATE,
        model=name,
        total=int(z1 - z0 + 1),
        params={"box3d": [x0, y0, int(z0), x1, y1, int(z1)], "start_slice": start_slice, "label_id": label_id},
    )
    audit_record(
        actor=user,
        action="propagate.start",
        object_type="segmentation_job",
        object_id=job.pk,
        project_id=project.pk,
        detail={"series_id": series.pk},
    )
    from workers.segmentation import propagate_series

    propagate_series.delay_on_commit(job.pk)
    return job


def propagate_run(*, job_id: int) -> str:
    from models.predictor import PropagationCancelled

    job = job_claim(job_id)
    if job is None:
        return "skipped"
    predictor = predictor_for(job.model)
    frames = list(series_frames(series=job.series))
    config = series_config(project=job.project, series=job.series, label_id=job.params.get("label_id"))

    def get_embedding(z: int) -> Any:
        return embedding_cache.embedding_get_or_compute(frame=frames[z], predictor=predictor, config=config)

    done = 0

    def on_progress(count: int, total: int) -> None:
        nonlocal done
        done = count
        _progress(job, count)

    try:
        result = predictor.propagate(
            get_embedding,
            job.params["box3d"],
            start_slice=job.params.get("start_slice"),
            num_slices=len(frames),
            on_progress=on_progress,
            should_cancel=lambda: _cancelled(job.pk),
        )
    except PropagationCancelled:
        _finish(job, JobStatus.CANCELLED)
        return JobStatus.CANCELLED
    except PromptError as error:
        _finish(job, JobStatus.FAILED, error=error.code)
        return JobStatus.FAILED
    slices = {
        str(result.z0 + i): {
            "frame_id": frames[result.z0 + i].pk,
            "mask": rle_encode_binary(mask),
            "score": round(float(result.iou[i]), 4),
        }
        for i, mask in enumerate(result.masks)
    }
    _finish(job, JobStatus.DONE, result={"slices": slices, "z0": result.z0, "z1": result.z1})
    return JobStatus.DONE
