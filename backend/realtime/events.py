"""Server events for rooms (`series.<id>`, `project.<id>`), numbered per room.

Durable events (mask saved, case status) take the next number from the room's counter row inside the
writer's transaction and are stored, so a client that reconnects gets exactly what it missed from the
database, even after Redis restarts. Ephemeral events (progress, presence, proposals) carry the room's
current number without taking a new one. Everything is sent after commit.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from backend.realtime.models import RoomCounter, RoomEvent
from backend.realtime.services import group_send_on_commit

PROTOCOL = "readingroom.v1"


def series_group(series_id: int) -> str:
    return f"series.{series_id}"


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def _next_seq(room: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO realtime_roomcounter (room, seq) VALUES (%s, 1) "
            "ON CONFLICT (room) DO UPDATE SET seq = realtime_roomcounter.seq + 1 RETURNING seq",
            [room],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def current_seq(room: str) -> int:
    return int(RoomCounter.objects.filter(room=room).values_list("seq", flat=True).first() or 0)


def _send_on_commit(room: str, event: dict[str, Any], audience: dict[str, int | None]) -> None:
    group_send_on_commit(room, {"type": "room.event", "event": event, "audience": audience})


def room_emit(
    *,
    room: str,
    event: dict[str, Any],
    durable: bool,
    audience_user_id: int | None = None,
    audience_annotation_id: int | None = None,
) -> None:
    audience = {"user_id": audience_user_id, "annotation_id": audience_annotation_id}
    if durable:
        with transaction.atomic():
            seq = _next_seq(room)
            payload = {**event, "seq": seq}
            RoomEvent.objects.create(
                room=room,
                seq=seq,
                payload=payload,
                audience_user_id=audience_user_id,
                audience_annotation_id=audience_annotation_id,
            )
            _send_on_commit(room, payload, audience)
    else:
        _send_on_commit(room, {**event, "seq": current_seq(room), "ephemeral": True}, audience)


def series_event(
    *,
    series_id: int,
    event: dict[str, Any],
    durable: bool = False,
    audience_user_id: int | None = None,
    audience_annotation_id: int | None = None,
) -> None:
    room_emit(
        room=series_group(series_id),
        event=event,
        durable=durable,
        audience_user_id=audience_user_id,
        audience_annotation_id=audience_annotation_id,
    )


def project_event(*, project_id: int, event: dict[str, Any], audience_user_id: int | None = None) -> None:
    room_emit(room=project_group(project_id), event=event, durable=False, audience_user_id=audience_user_id)


def events_since(room: str, last_seq: int, limit: int) -> list[RoomEvent] | None:
    """Durable events after `last_seq`, or None when too many were missed (the client resyncs)."""
    events = list(RoomEvent.objects.filter(room=room, seq__gt=last_seq).order_by("seq")[: limit + 1])
    if len(events) > limit:
        return None
    if events and events[0].seq != last_seq + 1 and last_seq > 0:
        return None  # pruned history: a gap the client cannot fill incrementally
    return events
