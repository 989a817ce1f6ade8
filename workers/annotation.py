"""Annotation tasks on the `io` queue."""

from __future__ import annotations

from backend.common.tasks import queue_task


@queue_task("io")
def export_project(job_id: int) -> str:
    from backend.annotation.exports import export_job_run

    return export_job_run(job_id=job_id)
