"""ReadingRoom across real (virtual) hosts: web on A, interactive worker on B, embed+io worker on C, a second
interactive worker on D; PostgreSQL, Redis and S3 (moto) on the bridge. All traffic crosses veth links, and
every host has its own var/ folder, so nothing works unless it goes over the network (`make test-cluster`).

Redis redelivers a message whose worker never acked it after CELERY_VISIBILITY_TIMEOUT. Production keeps it
at 2 h (longer than any task may run); here it is 60 s, the lowest the settings accept, with every task time
limit below it (so a slow but live task is never handed to a second worker), which bounds the fail-over wait
to about 70 s. A cut is `ip link set <B's veth> down` on the switch side: B's packets go nowhere, as when a
cable or a switch port dies. Set READINGROOM_SKIP_CLUSTER_TESTS=1 to leave these out of a plain `make test`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.netcluster import BUCKET, PY, ROOT, SLUG, Cluster, Proc, can_run, ct_series_zip

logging.getLogger("httpx").setLevel(logging.WARNING)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(can_run() is not None, reason=str(can_run())),
    pytest.mark.skipif(
        os.environ.get("READINGROOM_SKIP_CLUSTER_TESTS") == "1", reason="READINGROOM_SKIP_CLUSTER_TESTS=1"
    ),
]

SERIES_SLICES = 6
LONG_SLICES = 6  # outlasts a 2 s soft shutdown wait even at the encoder's 0.5 s-a-slice floor on these CPUs
# Settings shared by every host; secrets and URLs arrive as *_FILE (see Cluster.start_services).
CLUSTER_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "60",
    "CELERY_INTERACTIVE_SOFT_S": "20",
    "CELERY_INTERACTIVE_HARD_S": "25",
    "CELERY_EMBED_SOFT_S": "50",
    "CELERY_EMBED_HARD_S": "55",
    "CELERY_IO_SOFT_S": "45",
    "CELERY_IO_HARD_S": "55",
    "SEGMENTATION_PROMPT_TIMEOUT_S": "55",
    # Every upload takes the asynchronous path, so ingest runs on the io worker (host C), not on the web host.
    "IMAGING_SYNC_UPLOAD_BYTES": "0",
}
# What deploy/ runs workers with: SIGTERM starts a cold shutdown after a soft wait, so a running task either
# finishes within the wait or goes back to the queue at once, all inside the orchestrator's grace period.
SHUTDOWN_ENV = {"REMAP_SIGTERM": "SIGQUIT"}
# kombu looks for overdue unacked messages every 10 s x 10 polls; scanning every 5 s here keeps the fail-over
# wait near the visibility timeout itself (in production the 2 h timeout dwarfs the scan period anyway).
TRANSPORT = {"visibility_timeout": 60, "unacked_restore_interval": 5, "unacked_restore_throttle": 1}


def worker_args(soft_shutdown_s: int = 20) -> tuple[str, ...]:
    """Celery reads `-- name=value` after its own options as configuration (deploy/docker/entrypoint.sh)."""
    return (
        "--",
        f"worker.soft_shutdown_timeout={soft_shutdown_s}",
        f"broker.transport_options=(json){json.dumps(TRANSPORT)}",
    )


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=70)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(f"/api/projects/{SLUG}{path}", **kwargs)

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(f"/api/projects/{SLUG}{path}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, path: str, timeout: float = 150) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(path)
            if body["status"] not in {"queued", "running"}:
                return body
            assert time.monotonic() < deadline, f"{path} still {body['status']} after {timeout:.0f} s: {body}"
            time.sleep(0.3)

    def upload_series(self, slices: int, number: int) -> int:
        response = self.post("/uploads/", files={"files": (f"series{number}.zip", ct_series_zip(slices, number))})
        assert response.status_code == 202, response.text  # asynchronous: the io worker ingests it
        job = self.wait(f"/ingest-jobs/{response.json()['id']}/")
        assert job["status"] == "done" and job["created"] == slices, job
        return int(job["series_ids"][0])

    def embed(self, series_id: int) -> int:
        response = self.post(f"/series/{series_id}/embed/", json={})
        assert response.status_code == 202, response.text
        return int(response.json()["id"])


def _tasks(proc: Proc, name: str, state: str = "succeeded") -> int:
    return sum(1 for line in proc.log_text().splitlines() if f"workers.segmentation.{name}[" in line and state in line)


def _wait_tasks(proc: Proc, name: str, count: int, timeout: float = 15) -> int:
    """The worker logs a task's success just after storing its result: wait for the line."""
    deadline = time.monotonic() + timeout
    while (seen := _tasks(proc, name)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen


def _job(cluster: Cluster, job_id: int) -> dict[str, Any]:
    (row,) = cluster.sql(
        "SELECT status, done, total, attempts, result FROM segmentation_segmentationjob WHERE id = %s", job_id
    )
    return dict(zip(("status", "done", "total", "attempts", "result"), row, strict=True))


def _objects(cluster: Cluster, prefix: str) -> list[str]:
    pages = cluster.s3_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _series_embeddings(cluster: Cluster, series_id: int) -> int:
    (row,) = cluster.sql(
        "SELECT count(*) FROM segmentation_embeddingentry e JOIN imaging_instance i ON i.id = e.instance_id "
        "WHERE i.series_id = %s",
        series_id,
    )
    return int(row[0])


@dataclass
class Rig:
    cluster: Cluster
    api: Api
    workers: dict[str, Proc]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with Cluster(workdir=Path(tmp_path_factory.mktemp("cluster"))) as cluster:
        for name in ("a", "b", "c", "d"):
            cluster.add_host(name)
        cluster.start_services(**CLUSTER_ENV)
        # Processes start while migrations run: none of them touches the database before its first request.
        web = cluster.start_web("a")
        workers = {
            "b": cluster.start_worker("b", "interactive", "interactive@b", *worker_args(), **SHUTDOWN_ENV),
            # A short soft wait on C, so the 6-slice embedding in the SIGTERM test surely outlasts it.
            "c": cluster.start_worker("c", "embed,io", "bulk@c", *worker_args(2), **SHUTDOWN_ENV),
        }
        cluster.migrate("a")
        token = cluster.create_owner("a")
        cluster.wait_worker("interactive@b", workers["b"])
        cluster.wait_worker("bulk@c", workers["c"])
        cluster.wait_http(cluster.urls["web"] + "/healthz", watch=(web,))
        try:
            yield Rig(cluster=cluster, api=Api(cluster.urls["web"], token), workers=workers)
        finally:
            print(f"cluster logs: {cluster.workdir}")


@pytest.fixture(scope="module")
def series(rig: Rig) -> dict[str, Any]:
    """Uploaded on A, ingested on C (io), embedded on C (embed): a series every later step reuses."""
    api = rig.api
    series_id = api.upload_series(SERIES_SLICES, 1)
    job = api.wait(f"/segmentation-jobs/{api.embed(series_id)}/")
    assert job["status"] == "done" and job["done"] == SERIES_SLICES, job
    frames = [frame["id"] for frame in api.get(f"/series/{series_id}/")["frames"]]
    return {"id": series_id, "frames": frames}


def test_ingest_embed_and_prompt_cross_hosts(rig: Rig, series: dict[str, Any]) -> None:
    cluster, api, workers = rig.cluster, rig.api, rig.workers
    # Files and embeddings went to the bucket, written by C, not to any host's disk.
    dicoms = [key for key in _objects(cluster, "projects/") if key.endswith(".dcm")]
    assert len(dicoms) == SERIES_SLICES
    assert len(_objects(cluster, "embeddings/")) == SERIES_SLICES == _series_embeddings(cluster, series["id"])
    assert not any((cluster.workdir / f"var-{host}" / "media").exists() for host in "abcd")
    assert _wait_tasks(workers["c"], "embed_series", 1) == 1
    verified = cluster.manage("a", "verify_storage", "--project", SLUG)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"checked {SERIES_SLICES} files: 0 missing, 0 corrupted" in verified.stdout
    # A prompt: web (A) -> Redis -> interactive worker (B) -> embedding from S3 -> proposal back to A.
    response = api.post(f"/frames/{series['frames'][SERIES_SLICES // 2]}/prompt/", json={"box": [30, 30, 100, 100]})
    assert response.status_code == 200, response.text
    proposal = response.json()
    assert proposal["masks"] and proposal["masks"][proposal["best"]]["counts"]
    assert _wait_tasks(workers["b"], "decode_prompt", 1) == 1
    health = httpx.get(cluster.urls["web"] + "/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["workers"] == 2, health
    # The images' HEALTHCHECK script, run on the hosts themselves.
    probe = str(ROOT / "deploy" / "docker" / "healthcheck.py")
    web = cluster.run("a", PY, probe, "web", "--url", cluster.urls["web"] + "/healthz")
    assert web.returncode == 0, web.stderr
    worker = cluster.run("b", PY, probe, "worker", "--node", "interactive@b")
    assert worker.returncode == 0, worker.stderr
    missing = cluster.run("b", PY, probe, "worker", "--node", "interactive@nowhere")
    assert missing.returncode == 1 and "no heartbeat from interactive@nowhere" in missing.stderr


def _start_propagate_and_cut_b(rig: Rig, series: dict[str, Any]) -> int:
    """Start a propagation and cut B's link while B runs it; retried if B wins the race and finishes first."""
    cluster, api = rig.cluster, rig.api
    box = [30, 30, 0, 100, 100, SERIES_SLICES - 1]
    for _ in range(3):
        response = api.post(f"/series/{series['id']}/propagate/", json={"box": box})
        assert response.status_code == 202, response.text
        job_id = int(response.json()["id"])
        deadline = time.monotonic() + 60
        while _job(cluster, job_id)["status"] == "queued":
            assert time.monotonic() < deadline, "B never started the propagation"
            time.sleep(0.01)
        cluster.set_link("b", up=False)
        if _job(cluster, job_id)["status"] == "running":
            return job_id
        cluster.set_link("b", up=True)  # B finished before the cut: try again
        time.sleep(1)
    raise AssertionError("could not cut B's link while it was running a task")


def test_partitioned_interactive_worker_fails_over_and_rejoins(rig: Rig, series: dict[str, Any]) -> None:
    cluster, api, workers = rig.cluster, rig.api, rig.workers
    embeddings_before = sorted(_objects(cluster, "embeddings/"))
    cut_at = time.monotonic()
    job_id = _start_propagate_and_cut_b(rig, series)
    workers["d"] = cluster.start_worker("d", "interactive", "interactive@d", *worker_args(), **SHUTDOWN_ENV)
    try:
        cluster.wait_worker("interactive@d", workers["d"])
        deadline = time.monotonic() + 150
        while (job := _job(cluster, job_id))["status"] in {"queued", "running"}:
            assert time.monotonic() < deadline, f"the task never came back to D: {job}"
            time.sleep(0.5)
        failover_s = time.monotonic() - cut_at
        print(f"fail-over to D took {failover_s:.0f} s (visibility timeout 60 s)")
        # Done once, by D, on its second attempt, with every slice; B never finished it.
        assert job["status"] == "done", job
        assert job["attempts"] == 2
        assert sorted(job["result"]["slices"], key=int) == [str(z) for z in range(SERIES_SLICES)]
        assert _wait_tasks(workers["d"], "propagate_series", 1) == 1
        assert _tasks(workers["b"], "propagate_series") == 0
        # Nothing left in the broker (no second redelivery pending) and nothing computed twice.
        client = cluster.redis()
        assert client.llen("interactive") == 0 and client.hlen("unacked") == 0
        assert sorted(_objects(cluster, "embeddings/")) == embeddings_before
        assert _series_embeddings(cluster, series["id"]) == SERIES_SLICES
        (started,) = cluster.sql(
            "SELECT count(*) FROM audit_auditevent WHERE action = 'propagate.start' AND object_id = %s", str(job_id)
        )
        assert started[0] == 1
    finally:
        cluster.set_link("b", up=True)
    # B rejoins: its heartbeat comes back and, once its pool has dropped the task it lost (at the latest at the
    # interactive hard time limit), prompts spread over B and D again.
    cluster.wait_worker("interactive@b", workers["b"], timeout=60)
    served = {host: _tasks(workers[host], "decode_prompt") for host in ("b", "d")}
    statuses: list[int] = []

    def prompt(frame_id: int) -> None:
        statuses.append(api.post(f"/frames/{frame_id}/prompt/", json={"box": [30, 30, 100, 100]}).status_code)

    deadline = time.monotonic() + 120
    while not all(_tasks(workers[host], "decode_prompt") > served[host] for host in ("b", "d")):
        assert time.monotonic() < deadline, f"prompts did not spread over B and D again: {served}"
        threads = [threading.Thread(target=prompt, args=(frame,)) for frame in series["frames"][:4]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(1)
    assert set(statuses) == {200}
    # B coming back changed nothing that D had finished.
    assert _job(cluster, job_id) == job


def _wait_exit(proc: Proc, timeout: float) -> float:
    started = time.monotonic()
    proc.popen.wait(timeout=timeout)
    return time.monotonic() - started


def test_sigterm_requeues_a_long_task_at_once_and_finishes_a_short_one(rig: Rig) -> None:
    cluster, api, workers = rig.cluster, rig.api, rig.workers
    client = cluster.redis()
    long_series = api.upload_series(LONG_SLICES, 2)
    short_series = api.upload_series(1, 3)
    # 1. SIGTERM while a 6-slice embedding runs: C waits its soft 2 s, then hands the task back to the
    #    queue itself (no visibility-timeout wait) and exits, well inside a 30 s grace period.
    job_id = api.embed(long_series)
    deadline = time.monotonic() + 60
    while _job(cluster, job_id)["status"] != "running":
        assert time.monotonic() < deadline, "C never started the embedding"
        time.sleep(0.02)
    workers["c"].popen.send_signal(15)
    took = _wait_exit(workers["c"], 40)
    assert took < 30, took
    assert "Soft Shutdown" in workers["c"].log_text()
    assert _job(cluster, job_id)["status"] == "running"
    assert client.llen("embed") == 1 and client.hlen("unacked") == 0, "the task was not requeued at shutdown"
    # 2. A replacement worker finishes it: second attempt, each slice embedded once.
    workers["c2"] = cluster.start_worker("c", "embed,io", "bulk2@c", *worker_args(20), **SHUTDOWN_ENV)
    job = api.wait(f"/segmentation-jobs/{job_id}/")
    assert job["status"] == "done" and job["attempts"] == 2 and job["done"] == LONG_SLICES, job
    assert _series_embeddings(cluster, long_series) == LONG_SLICES
    assert len(_objects(cluster, "embeddings/")) == SERIES_SLICES + LONG_SLICES
    # 3. SIGTERM while a one-slice task runs on a worker with a 20 s soft wait: it finishes, then the worker exits.
    job_id = api.embed(short_series)
    deadline = time.monotonic() + 60
    while _job(cluster, job_id)["status"] != "running":
        assert time.monotonic() < deadline, "the replacement never started the short embedding"
        time.sleep(0.02)
    workers["c2"].popen.send_signal(15)
    took = _wait_exit(workers["c2"], 60)
    job = _job(cluster, job_id)
    assert job["status"] == "done" and job["attempts"] == 1, job
    assert took < 30, took
    assert client.llen("embed") == 0 and client.hlen("unacked") == 0
