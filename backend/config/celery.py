"""The Celery application: three queues, JSON only, late acks, one task prefetched at a time."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("readingroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("interactive"), Queue("embed"), Queue("io"))
app.conf.task_routes = ("backend.common.tasks.route_by_declared_queue",)
app.conf.worker_cancel_long_running_tasks_on_connection_loss = True
app.autodiscover_tasks()
app.conf.imports = ("workers.tasks",)

HEARTBEAT_PREFIX = "rr:worker-heartbeat:"
_stop = threading.Event()


def _heartbeat_loop(hostname: str, ttl: int) -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    key = HEARTBEAT_PREFIX + hostname
    while not _stop.is_set():
        with contextlib.suppress(redis.RedisError):  # the broker is down; /healthz reports Redis itself
            client.set(key, "1", ex=ttl)
        _stop.wait(ttl / 3)
    with contextlib.suppress(redis.RedisError):
        client.delete(key)


@worker_init.connect
def _lower_priority(**_: Any) -> None:
    # In the main process, before the pool forks: every child inherits the niceness.
    from django.conf import settings

    if settings.WORKER_NICE:
        os.nice(settings.WORKER_NICE)
    if settings.WORKER_SCHED_IDLE:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


@worker_process_init.connect
def _limit_torch_threads(**_: Any) -> None:
    from django.conf import settings

    if settings.WORKER_TORCH_THREADS:
        import torch

        torch.set_num_threads(settings.WORKER_TORCH_THREADS)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    # /healthz needs a cheap liveness signal; a broadcast ping on every probe would load every worker.
    from django.conf import settings

    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    thread = threading.Thread(
        target=_heartbeat_loop, args=(hostname, settings.WORKER_HEARTBEAT_TTL_S), daemon=True, name="rr-heartbeat"
    )
    thread.start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop.set()
