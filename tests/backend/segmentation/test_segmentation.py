"""Model proposals and jobs through a real Celery worker and the real LiteMedSAM weights (on CPU)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch
from django.core.management import call_command

from backend.common.rle import rle_decode_binary
from backend.imaging.models import Frame, Series
from backend.segmentation import cache as embedding_cache
from backend.segmentation.models import EmbeddingEntry, SegmentationJob
from models.predictor import Embedding
from models.preprocess import PreprocessConfig, SliceGeometry
from tests.conftest import SHARED_DATA

CT_SMALL = SHARED_DATA / "dicom" / "pydicom" / "CT_small.dcm"
CT3 = SHARED_DATA / "dicom" / "dcmqi_ct3slice" / "ct-3slice"


# The worker process shares the suite's storage (STORAGE_LOCAL_ROOT from `make test`), so no per-test override.


def _ingest(cast, path: Path) -> Series:
    call_command("import_dicom", str(path), "--project", cast.project.slug, "--pattern", "*.dcm")
    return Series.objects.latest("id")


def _wait_job(job_id: int, timeout: float = 240) -> SegmentationJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = SegmentationJob.objects.get(pk=job_id)
        if job.status in {"done", "failed", "cancelled"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {SegmentationJob.objects.get(pk=job_id).status}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("prompt", "status", "code"),
    [
        ({"box": [10, 10, 300, 50]}, 400, "box_out_of_bounds"),
        ({"box": [50, 50, 10, 60]}, 400, "box_inverted"),
        ({"box": [20, 20, 20, 20]}, 400, "box_empty"),
        ({"points": [[500, 5]], "point_labels": [1]}, 400, "point_out_of_bounds"),
        ({"box": [10, 10, 50, 50], "model": "no-such-model"}, 400, "unknown_model"),
        ({}, 400, "prompt_missing"),
        ({"box": [1, 2, 3]}, 400, "invalid"),
    ],
)
def test_bad_prompts_are_refused_before_any_worker(cast, client_for, prompt: dict[str, Any], status: int, code: str):
    frame = Frame.objects.get(series=_ingest(cast, CT_SMALL))
    response = client_for(cast.annotator).post(
        f"/api/projects/{cast.project.slug}/frames/{frame.pk}/prompt/", prompt, format="json"
    )
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code


@pytest.mark.django_db
def test_prompt_refusals_for_outsiders_and_viewers(cast, client_for) -> None:
    frame = Frame.objects.get(series=_ingest(cast, CT_SMALL))
    url = f"/api/projects/{cast.project.slug}/frames/{frame.pk}/prompt/"
    assert client_for(cast.outsider).post(url, {"box": [1, 1, 9, 9]}, format="json").status_code == 404
    from backend.accounts.models import ProjectMembership

    ProjectMembership.objects.create(project=cast.project, user=cast.outsider, role="viewer")
    assert client_for(cast.outsider).post(url, {"box": [1, 1, 9, 9]}, format="json").status_code == 403


class _CountingPredictor:
    """Stands in for the model to count encoder calls; the cache is the system under test."""

    model_name = "litemedsam"
    cache_namespace = "litemedsam:test"

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def embed(self, image: Any, *, modality: str | None, config: PreprocessConfig) -> Embedding:
        with self.lock:
            self.calls += 1
        time.sleep(0.3)
        return Embedding(torch.zeros(256, 64, 64), SliceGeometry((128, 128), (256, 256)), "litemedsam", "pp-test")


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_compute_an_embedding_once(cast) -> None:
    frame = Frame.objects.select_related("instance", "series").get(series=_ingest(cast, CT_SMALL))
    predictor = _CountingPredictor()
    embedding_cache.memory.clear()
    results: list[Embedding] = []

    def fetch() -> None:
        from django.db import connection

        results.append(
            embedding_cache.embedding_get_or_compute(frame=frame, predictor=predictor, config=PreprocessConfig())
        )
        connection.close()

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert predictor.calls == 1
    assert EmbeddingEntry.objects.filter(instance=frame.instance).count() == 1
    stored = EmbeddingEntry.objects.get()
    assert stored.size == 256 * 64 * 64 * 2 + 128  # float16 .npy: 2 MiB plus the header


@pytest.mark.django_db(transaction=True)
def test_storage_cache_evicts_least_recently_used(cast, settings) -> None:
    frame_series = _ingest(cast, CT3)
    frames = list(Frame.objects.filter(series=frame_series).select_related("instance", "series"))
    predictor = _CountingPredictor()
    settings.EMBED_CACHE_STORAGE_BYTES = 2 * (256 * 64 * 64 * 2 + 128)
    for frame in frames:
        embedding_cache.embedding_get_or_compute(frame=frame, predictor=predictor, config=PreprocessConfig())
    remaining = set(EmbeddingEntry.objects.values_list("instance_id", flat=True))
    assert len(remaining) == 2
    assert frames[0].instance_id not in remaining


@pytest.mark.django_db(transaction=True)
def test_prompt_through_worker_returns_a_mask_and_reuses_the_embedding(celery_worker_process, cast, client_for):
    frame = Frame.objects.get(series=_ingest(cast, CT_SMALL))
    client = client_for(cast.annotator)
    url = f"/api/projects/{cast.project.slug}/frames/{frame.pk}/prompt/"
    first = client.post(url, {"box": [30, 30, 100, 100], "multimask": True}, format="json")
    assert first.status_code == 200, first.json()
    body = first.json()
    assert len(body["masks"]) == 3
    assert len(body["scores"]) == 3
    mask = rle_decode_binary(body["masks"][body["best"]])
    assert mask.shape == (128, 128)
    assert 0 < mask.sum() < 128 * 128
    assert not mask[:, :20].any()  # the box prompt keeps the proposal near the box
    assert EmbeddingEntry.objects.filter(instance=frame.instance).count() == 1
    second = client.post(url, {"points": [[60, 60]], "point_labels": [1], "use_previous": True}, format="json")
    assert second.status_code == 200
    assert second.json()["timing_ms"]["embedding"] < first.json()["timing_ms"]["embedding"]
    assert EmbeddingEntry.objects.filter(instance=frame.instance).count() == 1


@pytest.mark.django_db(transaction=True)
def test_embed_and_propagate_jobs_through_worker(celery_worker_process, cast, client_for) -> None:
    series = _ingest(cast, CT3)
    client = client_for(cast.annotator)
    started = client.post(f"/api/projects/{cast.project.slug}/series/{series.pk}/embed/", {}, format="json")
    assert started.status_code == 202
    job = _wait_job(started.json()["id"])
    assert job.status == "done", job.error_code
    assert job.done == job.total == 3
    assert EmbeddingEntry.objects.filter(instance__series=series).count() == 3
    bad = client.post(
        f"/api/projects/{cast.project.slug}/series/{series.pk}/propagate/",
        {"box": [100, 100, 0, 400, 400, 7]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "box_out_of_bounds"
    started = client.post(
        f"/api/projects/{cast.project.slug}/series/{series.pk}/propagate/",
        {"box": [150, 150, 0, 350, 350, 2]},
        format="json",
    )
    assert started.status_code == 202, started.json()
    job = _wait_job(started.json()["id"])
    assert job.status == "done", job.error_code
    assert sorted(job.result["slices"]) == ["0", "1", "2"]
    detail = client.get(f"/api/projects/{cast.project.slug}/segmentation-jobs/{job.pk}/")
    assert detail.json()["status"] == "done"
    # Propagation results are the starter's private proposals.
    assert (
        client_for(cast.reader2).get(f"/api/projects/{cast.project.slug}/segmentation-jobs/{job.pk}/").status_code
        == 404
    )


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_task_reruns_once_without_duplicates(celery_worker_process, cast) -> None:
    from backend.segmentation.services import series_embed_start

    series = _ingest(cast, CT3)
    embedding_cache.memory.clear()
    job = series_embed_start(project=cast.project, series=series, user=cast.owner)
    deadline = time.monotonic() + 60
    while SegmentationJob.objects.get(pk=job.pk).status != "running":
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.05)
    children = psutil.Process(celery_worker_process.pid).children()
    assert children
    for child in children:
        child.kill()  # SIGKILL: the pool process dies mid-task, as under the OOM killer
    job = _wait_job(job.pk)
    assert job.status == "done"
    assert job.attempts == 2
    assert EmbeddingEntry.objects.filter(instance__series=series).count() == 3


@pytest.mark.django_db
def test_a_job_that_errors_is_marked_failed_not_left_running(cast) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    from backend.segmentation.services import job_run_guarded

    series = _ingest(cast, CT_SMALL)
    job = SegmentationJob.objects.create(
        project=cast.project, series=series, kind="embed", model="litemedsam", status="running"
    )

    def times_out(*, job_id: int) -> str:
        raise SoftTimeLimitExceeded()

    def breaks(*, job_id: int) -> str:
        raise OSError("storage unreachable")

    assert job_run_guarded(job_id=job.pk, run=times_out) == "failed"
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "time_limit")
    SegmentationJob.objects.filter(pk=job.pk).update(status="running", error_code="")
    with pytest.raises(OSError, match="storage unreachable"):
        job_run_guarded(job_id=job.pk, run=breaks)
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "internal_error")


def test_memory_cache_keeps_float16_like_storage_and_counts_real_bytes(settings) -> None:
    # A fresh embedding is a view into its batch tensor; the in-memory LRU must keep a compact copy (not
    # pin the batch) with storage's float16 precision, so memory and storage hits decode the same values.
    settings.EMBED_CACHE_MEMORY_BYTES = 3 * 256 * 64 * 64 * 2
    lru = embedding_cache._MemoryLRU()
    batch = torch.randn(4, 256, 64, 64)
    geometry = SliceGeometry(original_size=(512, 512), resized_size=(256, 256))
    for index, view in enumerate(batch.unbind(0)):
        lru.put((1, index, "m", "p"), Embedding(tensor=view, geometry=geometry, model="m", preprocessing="p"))
    assert lru.get((1, 0, "m", "p")) is None  # four fp16 entries exceed a three-entry budget: LRU evicted
    assert lru.used == 3 * 256 * 64 * 64 * 2
    hit = lru.get((1, 3, "m", "p"))
    assert hit is not None and hit.tensor.dtype == torch.float32
    assert torch.equal(hit.tensor, batch[3].to(torch.float16).to(torch.float32))
    assert all(
        entry.tensor.untyped_storage().data_ptr() != batch.untyped_storage().data_ptr() for entry in lru.items.values()
    )
