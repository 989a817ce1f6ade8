"""The Celery application: three queues, JSON only, late acks, one task prefetched at a time."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_init, worker_ready, worker_shutdown
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("readingroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("interactive"), Queue("embed"), Queue("io"))
app.conf.task_routes = ("backend.common.tasks.route_by_declared_queue",)
app.conf.worker_cancel_long_running_tasks_on_connection_loss = True
# Celery's Django fixup closes every database connection around each task unless this is set; the
# workers keep theirs instead (see _reuse_database_connections) and the fixup recycles them only this rarely.
app.conf.update(CELERY_DB_REUSE_MAX=1000)
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


@worker_init.connect
def _keep_freed_memory(**_: Any) -> None:
    # Before the pool forks, so every child inherits the policy.
    from backend.common.memory import keep_freed_memory

    keep_freed_memory()


@worker_init.connect
def _reuse_database_connections(**_: Any) -> None:
    # A new PostgreSQL connection is a server process fork: several ms on every prompt (measured here:
    # 10 ms of a cached-embedding prompt's worker time). Workers keep one for WORKER_DB_CONN_MAX_AGE s;
    # Django's health check before each task replaces one the server or the network dropped.
    from django.conf import settings

    for database in settings.DATABASES.values():
        database["CONN_MAX_AGE"] = settings.WORKER_DB_CONN_MAX_AGE
        database["CONN_HEALTH_CHECKS"] = True


@task_prerun.connect
def _check_database_connections(task: Any = None, **_: Any) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # an eager task runs inside its caller's transaction and connection
    from django.db import close_old_connections

    close_old_connections()


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
