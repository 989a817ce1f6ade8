from __future__ import annotations

import pytest
from django.test import Client

from backend.config.celery import HEARTBEAT_PREFIX

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_ok_with_a_live_worker(celery_worker_process) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}


def test_healthz_names_the_missing_worker(settings) -> None:
    # A Redis database no worker writes heartbeats to: the broker is up, no worker is.
    import redis

    base = settings.REDIS_URL.rsplit("/", 1)[0]
    settings.REDIS_URL = base + "/14"
    redis.Redis.from_url(settings.REDIS_URL).delete(
        *list(redis.Redis.from_url(settings.REDIS_URL).scan_iter(HEARTBEAT_PREFIX + "*")) or ["-"]
    )
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["worker"]


def test_healthz_names_redis_when_it_is_unreachable(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert "redis" in response.json()["failed"]
    assert response.json()["checks"]["database"] == "ok"
