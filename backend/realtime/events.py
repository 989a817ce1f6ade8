"""Server events for image rooms. Each carries a per-room sequence number from Redis (INCR), so a
client can tell what it missed. Sent after the surrounding transaction commits, or at once outside one."""

from __future__ import annotations

from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction


def series_group(series_id: int) -> str:
    return f"series.{series_id}"


def _next_seq(room: str) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    value: int = client.incr(f"rr:seq:{room}")  # type: ignore[assignment]
    return value


def series_event(*, series_id: int, event: dict[str, Any]) -> None:
    room = series_group(series_id)

    def _send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        payload = {**event, "seq": _next_seq(room)}
        async_to_sync(layer.group_send)(room, {"type": "room.event", "event": payload})

    transaction.on_commit(_send)


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def project_event(*, project_id: int, event: dict[str, Any]) -> None:
    room = project_group(project_id)

    def _send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        payload = {**event, "seq": _next_seq(room)}
        async_to_sync(layer.group_send)(room, {"type": "room.event", "event": payload})

    transaction.on_commit(_send)
