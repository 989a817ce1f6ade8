"""Round trips through a real Celery worker process on the real broker."""

from __future__ import annotations

import os

import pytest
from django.db import connection, transaction

from backend.audit.models import AuditEvent
from backend.audit.services import audit_record
from workers.system import audit_echo, worker_ping

pytestmark = pytest.mark.django_db(transaction=True)


def test_task_round_trip_through_real_worker(celery_worker_process, cast) -> None:
    result = worker_ping.delay().get(timeout=60)
    assert result["database"] is True
    # WORKER_NICE and WORKER_TORCH_THREADS (set by the fixture) reach the pool processes that run tasks.
    assert result["nice"] == os.nice(0) + 1
    assert result["torch_threads"] == 1


def test_worker_keeps_its_database_connection_and_replaces_a_dropped_one(celery_worker_process, cast) -> None:
    first = worker_ping.delay().get(timeout=60)["database_pid"]
    # One PostgreSQL connection across tasks: no server process fork per prompt.
    assert worker_ping.delay().get(timeout=60)["database_pid"] == first
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        assert cursor.fetchone() == (True,)
    # The health check before the next task notices the dropped connection and opens a new one.
    replaced = worker_ping.delay().get(timeout=60)
    assert replaced["database"] is True and replaced["database_pid"] != first


def test_enqueue_waits_for_commit_and_passes_ids(celery_worker_process, cast) -> None:
    with transaction.atomic():
        event = audit_record(actor=cast.owner, action="study.view", object_type="study", object_id=3)
        async_result = audit_echo.delay_on_commit(event.pk)
        # Nothing is sent until commit, so the worker can never look for a row that is not there yet.
        assert async_result is None
    echoes_before = AuditEvent.objects.filter(action="worker.echo").count()
    async_result = audit_echo.delay(event.pk)
    echo_id = async_result.get(timeout=60)
    echo = AuditEvent.objects.get(pk=echo_id)
    assert echo.object_id == "3"
    assert echo.actor_id == cast.owner.pk
    assert AuditEvent.objects.filter(action="worker.echo").count() >= echoes_before + 1


def test_tasks_carry_queue_limits_and_late_acks() -> None:
    from django.conf import settings

    soft, hard = settings.CELERY_QUEUE_TIME_LIMITS["io"]
    assert worker_ping.rr_queue == "io"
    from backend.common.tasks import route_by_declared_queue

    assert route_by_declared_queue(worker_ping.name, (), {}, {}, task=worker_ping) == {"queue": "io"}
    assert (worker_ping.soft_time_limit, worker_ping.time_limit) == (soft, hard)
    assert worker_ping.acks_late is True
    assert worker_ping.reject_on_worker_lost is True
    from backend.config.celery import app

    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.accept_content == ["json"]
    assert {q.name for q in app.conf.task_queues} == {"interactive", "embed", "io"}


def test_an_eager_task_keeps_its_callers_transaction(cast) -> None:
    # The workers' per-task connection check must not close the connection an eager caller is using.
    with transaction.atomic():
        event = audit_record(actor=cast.owner, action="study.view", object_type="study", object_id=4)
        assert worker_ping.apply().get()["database"] is True
        assert AuditEvent.objects.filter(pk=event.pk).exists()
