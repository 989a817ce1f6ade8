"""Idempotency-Key for mutating POSTs: a retried request replays the first success instead of acting twice."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connection, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from backend.common.errors import ApplicationError

V = TypeVar("V", bound=Callable[..., Response])
_MAX_KEY = 128


def idempotent(view: V) -> V:
    @functools.wraps(view)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(self, request, *args, **kwargs)
        if len(key) > _MAX_KEY or not key.isprintable():
            raise ApplicationError(
                "idempotency_key_invalid", f"Idempotency-Key must be printable, at most {_MAX_KEY} chars."
            )
        from backend.annotation.models import IdempotencyRecord

        body = json.dumps(request.data, sort_keys=True, default=str).encode()
        digest = hashlib.sha256(f"{request.method} {request.path}\n".encode() + body).hexdigest()
        lock_id = int.from_bytes(hashlib.sha256(f"{request.user.pk}:{key}".encode()).digest()[:8], "big", signed=True)
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Serialise requests with the same key: the second waits, then replays.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])
            user_id = int(request.user.pk or 0)
            record = IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
            if record is not None:
                if record.request_hash != digest:
                    raise ApplicationError(
                        "idempotency_key_reused",
                        "This Idempotency-Key was used for a different request.",
                        status_code=422,
                    )
                replay = Response(record.body, status=record.status_code)
                replay["Idempotent-Replayed"] = "true"
                return replay
            response = view(self, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                IdempotencyRecord.objects.create(
                    user_id=user_id,
                    key=key,
                    method_path=f"{request.method} {request.path}"[:300],
                    request_hash=digest,
                    status_code=response.status_code,
                    body=response.data,
                )
            return response

    return wrapper  # type: ignore[return-value]
