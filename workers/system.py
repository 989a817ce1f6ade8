"""Diagnostics tasks: prove a worker reaches the database and the broker, on every queue."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from django.db import connection

from backend.audit.models import AuditEvent
from backend.audit.services import audit_record
from backend.common.tasks import queue_task


@queue_task("io")
def worker_ping() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1, pg_backend_pid()")
        one, backend_pid = cursor.fetchone() or (0, 0)
    torch = sys.modules.get("torch")
    return {
        "hostname": socket.gethostname(),
        "database": one == 1,
        "database_pid": backend_pid,
        "nice": os.nice(0),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }


@queue_task("io")
def audit_echo(event_id: int) -> int:
    """Re-read an audit row by ID and record that a worker saw it: the ID-passing pattern end to end."""
    event = AuditEvent.objects.get(id=event_id)
    echo = audit_record(
        actor=event.actor,
        action="worker.echo",
        object_type=event.object_type,
        object_id=event.object_id,
        request_id=event.request_id,
    )
    return echo.id
