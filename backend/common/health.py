from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from backend.config.celery import HEARTBEAT_PREFIX


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; the type is the message
        return type(exc).__name__


def _check_redis_and_workers() -> tuple[str | None, str | None, int]:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        workers = sum(1 for _ in client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100))
    except redis.RedisError as exc:
        return type(exc).__name__, "unknown: redis is down", 0
    return None, None if workers else "no worker heartbeat", workers


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis and at least one worker are alive; otherwise 503 naming the part."""
    database = _check_database()
    redis_error, worker_error, workers = _check_redis_and_workers()
    checks = {
        "database": database or "ok",
        "redis": redis_error or "ok",
        "worker": worker_error or "ok",
    }
    failed = [name for name, value in checks.items() if value != "ok"]
    body = {"status": "ok" if not failed else "fail", "failed": failed, "checks": checks, "workers": workers}
    return JsonResponse(body, status=200 if not failed else 503)
