"""The image room: `/ws/images/<series_id>/`. Thin: authenticate at connect, one permission-checked helper
per resource, error codes to the client, never stack traces. Protocol: backend/realtime/protocol.schema.json."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import redis
from channels.db import database_sync_to_async
from django.conf import settings

from backend.realtime.consumers import BaseConsumer
from backend.realtime.events import PROTOCOL, current_seq, events_since, series_group

SCHEMA = json.loads((Path(__file__).with_name("protocol.schema.json")).read_text())
_CLIENT_VALIDATOR = jsonschema.Draft202012Validator({**SCHEMA["$defs"]["client_message"], "$defs": SCHEMA["$defs"]})
RESUME_LIMIT = 500
_VISIBILITY_TTL_S = 5.0


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def latest_ticket_key(channel_name: str) -> str:
    return f"rr:prompt-latest:{channel_name}"


class ImageRoomConsumer(BaseConsumer):
    series_id: int
    room: str

    async def connect(self) -> None:
        self.series_id = int(self.scope["url_route"]["kwargs"]["series_id"])
        self.room = series_group(self.series_id)
        self.tickets = itertools.count(1)
        self.latest_ticket = 0
        self.visibility_cache: dict[int, tuple[float, bool]] = {}
        await super().connect()

    async def authorize(self) -> bool:
        info = await database_sync_to_async(self._load)()
        if info is None:
            return False
        self.project_id, self.display_color, self.username = info
        await self.channel_layer.group_add(self.room, self.channel_name)
        return True

    def _load(self) -> tuple[int, str, str] | None:
        from backend.accounts.selectors import project_role
        from backend.imaging.models import Series

        series = Series.objects.select_related("project").filter(pk=self.series_id).first()
        user = self.scope["user"]
        if series is None or project_role(project=series.project, user=user) is None:
            return None
        return series.project_id, user.display_color, user.get_username()

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await super().websocket_connect(message)
        if getattr(self, "project_id", None) is not None:
            seq = await database_sync_to_async(current_seq)(self.room)
            await self.send_json(
                {
                    "type": "hello",
                    "protocol": PROTOCOL,
                    "seq": seq,
                    "series_id": self.series_id,
                    "user": {"id": self.user_id, "username": self.username, "color": self.display_color},
                }
            )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "room"):
            await self.leave(self.room)
        await super().disconnect(code)

    # --- client messages ------------------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        errors = sorted(_CLIENT_VALIDATOR.iter_errors(content), key=lambda e: e.path)
        if errors:
            await self.send_error("bad_message", errors[0].message[:200], content)
            return
        handler = getattr(self, f"on_{content['type']}")
        await handler(content)

    async def send_error(self, code: str, message: str, request: Any = None) -> None:
        body: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(request, dict) and isinstance(request.get("request_id"), str):
            body["request_id"] = request["request_id"]
        await self.send_json(body)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "payload": content.get("payload")})

    async def on_prompt(self, content: dict[str, Any]) -> None:
        ticket = next(self.tickets)
        self.latest_ticket = ticket
        try:
            prompt = await database_sync_to_async(self._validate_prompt)(content)
        except _Refused as refused:
            await self.send_error(refused.code, refused.message, content)
            return
        await database_sync_to_async(self._enqueue_prompt)(content, prompt, ticket)

    def _validate_prompt(self, content: dict[str, Any]) -> dict[str, Any]:
        from backend.accounts.selectors import project_role
        from backend.annotation.models import Project
        from backend.common.errors import ApplicationError
        from backend.imaging.api import CONTRIBUTORS
        from backend.imaging.models import Frame
        from backend.segmentation.services import prompt_validate
        from models.predictor import PromptError

        project = Project.objects.get(pk=self.project_id or 0)
        if project_role(project=project, user=self.scope["user"]) not in CONTRIBUTORS:
            raise _Refused("role_required", "Viewers cannot prompt the model.")
        frame = (
            Frame.objects.filter(pk=content["frame_id"], series_id=self.series_id).select_related("instance").first()
        )
        if frame is None:
            raise _Refused("frame_not_found", "No such frame in this image.")
        try:
            return prompt_validate(frame=frame, prompt=content)
        except PromptError as error:
            raise _Refused(error.code, str(error)) from error
        except ApplicationError as error:
            raise _Refused(error.code, error.message) from error

    def _enqueue_prompt(self, content: dict[str, Any], prompt: dict[str, Any], ticket: int) -> None:
        from workers.segmentation import decode_prompt_for_socket

        # The newest ticket per connection wins: a worker skips older prompts still in the queue.
        _redis().set(latest_ticket_key(self.channel_name), ticket, ex=600)
        decode_prompt_for_socket.delay(
            content["frame_id"], prompt, self.user_id, self.channel_name, content["request_id"], ticket
        )

    async def prompt_result(self, event: dict[str, Any]) -> None:
        if event["ticket"] < self.latest_ticket:
            return  # a newer prompt was sent: never deliver a stale proposal after it
        seq = await database_sync_to_async(current_seq)(self.room)
        await self.send_json({**event["message"], "seq": seq})

    async def on_propagate(self, content: dict[str, Any]) -> None:
        try:
            job = await database_sync_to_async(self._start_propagation)(content)
        except _Refused as refused:
            await self.send_error(refused.code, refused.message, content)
            return
        await self.send_json(
            {
                "type": "job",
                "request_id": content["request_id"],
                "job_id": job,
                "kind": "propagate",
                "status": "queued",
                "seq": await database_sync_to_async(current_seq)(self.room),
            }
        )

    def _start_propagation(self, content: dict[str, Any]) -> int:
        from backend.accounts.selectors import project_role
        from backend.annotation.models import Project
        from backend.common.errors import ApplicationError
        from backend.imaging.api import CONTRIBUTORS
        from backend.imaging.models import Series
        from backend.segmentation.services import propagate_start
        from models.predictor import PromptError

        project = Project.objects.get(pk=self.project_id or 0)
        if project_role(project=project, user=self.scope["user"]) not in CONTRIBUTORS:
            raise _Refused("role_required", "Viewers cannot run the model.")
        try:
            job = propagate_start(
                project=project,
                series=Series.objects.get(pk=self.series_id),
                user=self.scope["user"],
                box3d=content["box"],
                start_slice=content.get("start_slice"),
                label_id=content.get("label_id"),
            )
        except PromptError as error:
            raise _Refused(error.code, str(error)) from error
        except ApplicationError as error:
            raise _Refused(error.code, error.message) from error
        return int(job.pk)

    async def on_cancel(self, content: dict[str, Any]) -> None:
        try:
            await database_sync_to_async(self._cancel)(content["job_id"])
        except _Refused as refused:
            await self.send_error(refused.code, refused.message, content)

    def _cancel(self, job_id: int) -> None:
        from backend.common.errors import ApplicationError
        from backend.segmentation.models import SegmentationJob
        from backend.segmentation.services import job_cancel

        job = SegmentationJob.objects.filter(pk=job_id, series_id=self.series_id, created_by=self.scope["user"]).first()
        if job is None:
            raise _Refused("job_not_found", "No such job of yours in this image.")
        try:
            job_cancel(job=job, user=self.scope["user"])
        except ApplicationError as error:
            raise _Refused(error.code, error.message) from error

    async def on_presence(self, content: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            self.room,
            {
                "type": "room.event",
                "audience": {"user_id": None, "annotation_id": None, "presence_of": self.user_id},
                "event": {
                    "type": "presence",
                    "user": {"id": self.user_id, "username": self.username, "color": self.display_color},
                    "slice": content["slice"],
                    "frame_id": content.get("frame_id"),
                    "ephemeral": True,
                },
            },
        )

    async def on_resume(self, content: dict[str, Any]) -> None:
        events = await database_sync_to_async(events_since)(self.room, int(content["last_seq"]), RESUME_LIMIT)
        if events is None:
            seq = await database_sync_to_async(current_seq)(self.room)
            await self.send_json({"type": "resync", "seq": seq})
            return
        for event in events:
            audience = {"user_id": event.audience_user_id, "annotation_id": event.audience_annotation_id}
            if await self._may_receive(audience):
                await self.send_json(event.payload)
        await self.send_json({"type": "resumed", "seq": events[-1].seq if events else int(content["last_seq"])})

    # --- server events --------------------------------------------------------------------------

    async def room_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event.get("type") == "presence":
            if await database_sync_to_async(self._presence_shared)(message["audience"]["presence_of"]):
                seq = await database_sync_to_async(current_seq)(self.room)
                await self.send_json({**event, "seq": seq})
            return
        if await self._may_receive(message.get("audience") or {}):
            await self.send_json(event)

    async def _may_receive(self, audience: dict[str, Any]) -> bool:
        if audience.get("user_id") is not None:
            return bool(audience["user_id"] == self.user_id)
        annotation_id = audience.get("annotation_id")
        if annotation_id is None:
            return True
        cached = self.visibility_cache.get(annotation_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _VISIBILITY_TTL_S:
            return cached[1]
        visible: bool = await database_sync_to_async(self._annotation_visible)(annotation_id)
        self.visibility_cache[annotation_id] = (now, visible)
        return visible

    def _annotation_visible(self, annotation_id: int) -> bool:
        from backend.annotation.models import Annotation
        from backend.annotation.selectors import annotation_visible

        annotation = Annotation.objects.select_related("case", "case__project", "task").filter(pk=annotation_id).first()
        return annotation is not None and bool(annotation_visible(annotation=annotation, user=self.scope["user"]))

    def _presence_shared(self, sender_id: int) -> bool:
        """Blind co-readers do not see each other; everyone else sees who is looking at which slice."""
        if sender_id == self.user_id:
            return False
        from backend.annotation.models import Case, TaskStatus
        from backend.annotation.selectors import policy_for

        case = Case.objects.select_related("project").filter(series_id=self.series_id).first()
        if case is None or not policy_for(case.project).blind:
            return True
        if not case.tasks.exclude(status=TaskStatus.SUBMITTED).exists():
            return True
        readers = set(case.tasks.exclude(reader=None).values_list("reader_id", flat=True))
        return not (sender_id in readers and self.user_id in readers)


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
