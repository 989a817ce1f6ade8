"""Task modules are imported here so one worker command registers them all."""

from workers import curation as curation_tasks  # noqa: F401 - registers the curation tasks
from workers.annotation import export_project
from workers.imaging import ingest_job_run
from workers.segmentation import decode_prompt, decode_prompt_for_socket, embed_series, propagate_series
from workers.system import audit_echo, worker_ping

__all__ = [
    "audit_echo",
    "decode_prompt",
    "decode_prompt_for_socket",
    "embed_series",
    "export_project",
    "ingest_job_run",
    "propagate_series",
    "worker_ping",
]
