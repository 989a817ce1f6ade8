"""Segmentation tasks: prompts and propagation on `interactive`, bulk precompute on `embed`."""

from __future__ import annotations

from typing import Any

from backend.common.tasks import queue_task


@queue_task("interactive")
def decode_prompt(frame_id: int, prompt: dict[str, Any], user_id: int | None) -> dict[str, Any]:
    from backend.segmentation.services import prompt_decode

    return prompt_decode(frame_id=frame_id, prompt=prompt, user_id=user_id)


@queue_task("interactive")
def propagate_series(job_id: int) -> str:
    from backend.segmentation.services import job_run_guarded, propagate_run

    return job_run_guarded(job_id=job_id, run=propagate_run)


@queue_task("embed")
def embed_series(job_id: int) -> str:
    from backend.segmentation.services import job_run_guarded, series_embed_run

    return job_run_guarded(job_id=job_id, run=series_embed_run)


@queue_task("interactive")
def decode_prompt_for_socket(  # noqa: PLR0917 - Celery passes task arguments positionally
    frame_id: int, prompt: dict[str, Any], user_id: int, reply_channel: str, request_id: str, ticket: int
) -> str:
    """The WebSocket prompt path: skip if superseded, decode, push the proposal to the asking client only."""
    import redis
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings

    from backend.common.errors import ApplicationError
    from backend.realtime.image_room import latest_ticket_key
    from backend.segmentation.services import prompt_decode
    from models.predictor import PromptError

    client = redis.Redis.from_url(settings.REDIS_URL)

    def superseded() -> bool:
        latest: bytes | None = client.get(latest_ticket_key(reply_channel))  # type: ignore[assignment]
        return latest is not None and int(latest) > ticket

    if superseded():
        return "superseded"
    try:
        result = prompt_decode(frame_id=frame_id, prompt=prompt, user_id=user_id)
        message: dict[str, Any] = {"type": "proposal", "request_id": request_id, **result}
    except (PromptError, ApplicationError) as error:
        message = {"type": "error", "request_id": request_id, "code": error.code, "message": str(error)}
    if superseded():
        return "superseded"
    async_to_sync(get_channel_layer().send)(
        reply_channel, {"type": "prompt.result", "ticket": ticket, "message": message}
    )
    return "sent"
