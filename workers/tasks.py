"""Task modules are imported here so one worker command registers them all."""

from workers.imaging import ingest_job_run
from workers.system import audit_echo, worker_ping

__all__ = ["audit_echo", "ingest_job_run", "worker_ping"]
