"""Imaging tasks on the `io` queue."""

from __future__ import annotations

from backend.common.tasks import queue_task


@queue_task("io")
def ingest_job_run(job_id: int) -> str:
    from backend.imaging.uploads import ingest_job_process

    job = ingest_job_process(job_id=job_id)
    return "skipped" if job is None else job.status
