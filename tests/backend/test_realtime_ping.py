"""WebSocket round trips through the real Redis channel layer, with origin and auth checks."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from backend.config.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _session_cookie(user) -> str:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _communicator(cookie: str | None, origin: str = "http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/ping/", headers=headers)


@pytest.fixture
def allowed_hosts(settings):
    settings.ALLOWED_HOSTS = ["localhost"]


async def test_authenticated_ping_round_trip(cast, allowed_hosts) -> None:
    communicator = _communicator(await _session_cookie(cast.annotator))
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "ping", "payload": {"n": 1}})
    reply = await communicator.receive_json_from(timeout=5)
    assert reply == {"type": "pong", "payload": {"n": 1}, "user_id": cast.annotator.pk}
    await communicator.send_json_to({"type": "nonsense"})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error"
    assert error["code"] == "bad_message"
    await communicator.disconnect()


async def test_anonymous_is_refused(cast, allowed_hosts) -> None:
    communicator = _communicator(None)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_foreign_origin_is_refused(cast, allowed_hosts) -> None:
    communicator = _communicator(await _session_cookie(cast.annotator), origin="https://evil.example.com")
    connected, _ = await communicator.connect()
    assert not connected


async def test_logout_closes_open_sockets(cast, allowed_hosts) -> None:
    from backend.realtime.services import realtime_disconnect_user

    communicator = _communicator(await _session_cookie(cast.annotator))
    connected, _ = await communicator.connect()
    assert connected
    await sync_to_async(realtime_disconnect_user)(user_id=cast.annotator.pk)
    message = await communicator.receive_json_from(timeout=5)
    assert message == {"type": "error", "code": "access_revoked"}
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4410}
