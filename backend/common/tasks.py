"""Conventions for Celery tasks: a queue decides the time limits, and enqueueing waits for commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from celery import shared_task
from django.conf import settings

Queue = Literal["interactive", "embed", "io"]
F = TypeVar("F", bound=Callable[..., Any])


def queue_task(queue: Queue, **options: Any) -> Callable[[F], Any]:
    """Declare a task on one of the three queues with that queue's soft/hard time limits.

    Tasks take IDs, re-read rows inside and call a service; callers enqueue with `delay_on_commit`.
    """
    soft, hard = settings.CELERY_QUEUE_TIME_LIMITS[queue]
    defaults: dict[str, Any] = {
        "rr_queue": queue,
        "soft_time_limit": soft,
        "time_limit": hard,
        "acks_late": True,
        "reject_on_worker_lost": True,
    }
    defaults.update(options)
    return shared_task(**defaults)  # type: ignore[no-any-return]


def route_by_declared_queue(
    name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **_: Any
) -> dict[str, str] | None:
    """Celery router: a task goes to the queue it was declared on (Celery's `queue` attribute is deprecated)."""
    queue = getattr(task, "rr_queue", None)
    return {"queue": queue} if queue else None
