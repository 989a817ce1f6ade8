"""Server-side pushes into the channel layer. Every send waits for the surrounding commit."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def group_send_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send after the transaction commits, so no client hears of a change that was rolled back."""

    def _send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, message)

    transaction.on_commit(_send, robust=True)


def realtime_disconnect_user(*, user_id: int, project_id: int | None = None) -> None:
    """Close a user's sockets: all of them (logout) or those of one project (removed from it)."""
    group_send_on_commit(user_group(user_id), {"type": "force.disconnect", "project_id": project_id})
