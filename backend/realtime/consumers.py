from __future__ import annotations

import logging
import uuid
from typing import Any

import redis
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from backend.realtime.services import user_group

# Close codes in the 4000 range are ours: clients map them to messages without parsing text.
logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_REVOKED = 4410


class BaseConsumer(AsyncJsonWebsocketConsumer):
    """Authenticates at connect and listens on the user's own group for forced disconnects."""

    project_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = int(user.pk)
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        if await self.authorize():
            await self.accept()
        else:
            await self.close(code=CLOSE_FORBIDDEN)

    async def authorize(self) -> bool:
        return True

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user_id"):
            await self.leave(user_group(self.user_id))

    async def leave(self, group: str) -> None:
        """Leave a group; with the broker down there is nothing to leave, and the socket still closes."""
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except (OSError, redis.RedisError):
            logger.warning("channel layer unavailable while leaving %s", group)

    async def force_disconnect(self, event: dict[str, Any]) -> None:
        scope_project = event.get("project_id")
        if scope_project is None or scope_project == self.project_id:
            await self.send_json({"type": "error", "code": "access_revoked"})
            await self.close(code=CLOSE_REVOKED)

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})


class PingConsumer(BaseConsumer):
    """Echoes through the channel layer (not a local shortcut), so a round trip proves Redis works."""

    async def connect(self) -> None:
        self.group = f"ping.{uuid.uuid4().hex}"
        await super().connect()
        if hasattr(self, "user_id"):
            await self.channel_layer.group_add(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_error("bad_message", 'Send {"type": "ping", "payload": ...}.')
            return
        await self.channel_layer.group_send(self.group, {"type": "ping.echo", "payload": content.get("payload")})

    async def ping_echo(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "payload": event.get("payload"), "user_id": self.user_id})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.leave(self.group)
        await super().disconnect(code)
