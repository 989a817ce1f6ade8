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
    from backend.segmentation.services import propagate_run

    return propagate_run(job_id=job_id)


@queue_task("embed")
def embed_series(job_id: int) -> str:
    from backend.segmentation.services import series_embed_run

    return series_embed_run(job_id=job_id)
