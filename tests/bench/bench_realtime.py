"""`make bench-realtime`: N simulated annotators on WebSockets (real Daphne, Redis channel layer and an
interactive Celery worker), each prompting every 2 s on a cached embedding; plus the fan-out of a save to
10 viewers. Baseline in the same run: the bare decode time of the same prompt in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.common import ROOT, SHARED_DATA, bench_database, median, percentile, print_table

LEVELS = [int(v) for v in os.environ.get("BENCH_REALTIME_LEVELS", "10,25,50").split(",")]
DURATION_S = float(os.environ.get("BENCH_REALTIME_SECONDS", "20"))
WORKERS = int(os.environ.get("BENCH_REALTIME_WORKERS", "2"))  # interactive worker processes
VIEWERS = 10
SAVES = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _setup(max_users: int) -> dict[str, Any]:
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from backend.accounts.models import ProjectMembership, User
    from backend.annotation.models import Label, ReadingPolicy
    from backend.annotation.services import project_create
    from backend.imaging.models import Frame
    from backend.segmentation import cache
    from backend.segmentation.engine import predictor_for, series_config

    owner = User.objects.create_user(username="rt-owner", password="x")
    project = project_create(creator=owner, slug="bench-realtime", name="bench")
    ReadingPolicy.objects.filter(project=project).update(blind=False, readers_per_case=1)
    Label.objects.create(project=project, value=1, name="Lesion", color="#ff0000")
    call_command(
        "import_dicom", str(SHARED_DATA / "dicom" / "pydicom" / "CT_small.dcm"), "--project", project.slug, verbosity=0
    )
    frame = Frame.objects.select_related("instance", "series", "series__project").get(series__project=project)
    predictor = predictor_for("litemedsam")
    config = series_config(project=project, series=frame.series)
    embedding = cache.embedding_get_or_compute(frame=frame, predictor=predictor, config=config)
    bare = []
    for _ in range(20):
        started = time.perf_counter()
        predictor.decode(embedding, box=[30, 30, 90, 90])
        bare.append((time.perf_counter() - started) * 1000)
    cookies = []
    users = []
    for index in range(max_users + VIEWERS):
        user = User.objects.create_user(username=f"rt-user{index}", password="x")
        ProjectMembership.objects.create(project=project, user=user, role="annotator")
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        cookies.append(f"sessionid={session.session_key}")
        users.append(user)
    return {"project": project, "frame": frame, "cookies": cookies, "users": users, "bare_decode_ms": bare}


async def _annotator(  # noqa: PLR0917 - one coroutine per simulated annotator
    url: str, cookie: str, origin: str, frame_id: int, stop_at: float, out: dict[str, list[Any]], offset: float
) -> None:
    import websockets

    await asyncio.sleep(offset)
    try:
        async with websockets.connect(
            url, additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=30
        ) as ws:
            json.loads(await ws.recv())  # hello
            counter = 0
            while time.monotonic() < stop_at:
                counter += 1
                request_id = f"{id(out)}-{counter}"
                sent = time.monotonic()
                await ws.send(
                    json.dumps(
                        {
                            "type": "prompt",
                            "request_id": request_id,
                            "frame_id": frame_id,
                            "box": [30 + counter % 5, 30, 90, 90],
                        }
                    )
                )
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                    if message.get("request_id") == request_id:
                        break
                if message["type"] == "proposal":
                    out["latency"].append((time.monotonic() - sent) * 1000)
                    out["worker"].append(message["timing_ms"]["embedding"] + message["timing_ms"]["decode"])
                else:
                    out["errors"].append(message.get("code"))
                await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - sent)))
    except Exception as exc:  # noqa: BLE001 - count, do not crash the benchmark
        out["errors"].append(type(exc).__name__)


async def _prompt_level(url: str, origin: str, cookies: list[str], frame_id: int, n: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"latency": [], "errors": [], "worker": []}
    stop_at = time.monotonic() + DURATION_S
    await asyncio.gather(
        *[_annotator(url, cookies[i], origin, frame_id, stop_at + 2.0 * i / n, out, 2.0 * i / n) for i in range(n)]
    )
    return out


async def _fanout(url: str, origin: str, cookies: list[str], writer: Any, frame: Any) -> dict[str, Any]:
    import websockets
    from asgiref.sync import sync_to_async

    received: list[dict[int, float]] = [{} for _ in range(VIEWERS)]

    async def viewer(index: int, ready: asyncio.Event, done: asyncio.Event) -> None:
        async with websockets.connect(url, additional_headers={"Cookie": cookies[index], "Origin": origin}) as ws:
            json.loads(await ws.recv())
            ready.set()
            while not done.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.5))
                except TimeoutError:
                    continue
                if message.get("type") == "mask_saved":
                    received[index][message["version"]] = time.monotonic()

    readies = [asyncio.Event() for _ in range(VIEWERS)]
    done = asyncio.Event()
    tasks = [asyncio.create_task(viewer(i, readies[i], done)) for i in range(VIEWERS)]
    for event in readies:
        await event.wait()
    sent: dict[int, float] = {}
    for _ in range(SAVES):
        version, at = await sync_to_async(_save_once)(writer, frame)
        sent[version] = at
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(got[v] - sent[v]) * 1000 for got in received for v in sent if v in got]
    missed = sum(1 for got in received for v in sent if v not in got)
    return {"latency": latencies, "missed": missed}


def _save_once(writer: Any, frame: Any) -> tuple[int, float]:
    import numpy as np

    from backend.annotation.masks import annotation_for_task, mask_save
    from backend.annotation.services import task_next_for_reader
    from backend.common.rle import rle_encode_labels

    task = task_next_for_reader(project=frame.series.project, reader=writer)
    annotation = annotation_for_task(task=task, user=writer)
    labels = np.zeros((frame.instance.rows, frame.instance.columns), np.uint8)
    labels[5 : 10 + annotation.head, 5:40] = 1
    version = mask_save(
        annotation=annotation,
        user=writer,
        base_version=annotation.head,
        frames={str(frame.pk): rle_encode_labels(labels)},
        source="brush",
    )
    return version.number, time.monotonic()  # after commit: the event is sent on commit


def _plot(rows: list[tuple[int, float, float]], path: Path) -> None:
    from PIL import Image, ImageDraw

    width, height, margin = 640, 400, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = max(p95 for _, _, p95 in rows) * 1.1 or 1.0
    xs = [n for n, _, _ in rows]

    def point(n: int, value: float) -> tuple[float, float]:
        x = margin + (n - min(xs)) / max(1, max(xs) - min(xs)) * (width - 2 * margin)
        return x, height - margin - value / top * (height - 2 * margin)

    draw.line([(margin, margin), (margin, height - margin), (width - margin, height - margin)], fill="black")
    for series_index, colour, label in ((1, "#1f77b4", "p50"), (2, "#d62728", "p95")):
        points = [point(row[0], row[series_index]) for row in rows]
        draw.line(points, fill=colour, width=3)
        for x, y in points:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
        draw.text((width - margin - 40, margin + 15 * series_index), label, fill=colour)
    for n, _p50, _p95 in rows:
        x, _ = point(n, 0)
        draw.text((x - 8, height - margin + 8), str(n), fill="black")
    draw.text((margin, 20), "prompt -> proposal latency (ms) vs simulated annotators", fill="black")
    draw.text((margin - 50, margin - 10), f"{top:.0f} ms", fill="black")
    image.save(path)


def main() -> None:
    port = _free_port()
    media = tempfile.mkdtemp(prefix="bench-realtime-")
    os.environ["STORAGE_LOCAL_ROOT"] = media
    os.environ["SEGMENTATION_PRECOMPUTE_ON_INGEST"] = "0"
    with bench_database(f"rr_bench_realtime_{os.getpid()}"):
        data = _setup(max(LEVELS))
        # Several interactive processes share the cores: one torch thread each, not one per core each.
        env = {**os.environ, **({"WORKER_TORCH_THREADS": "1"} if WORKERS > 1 else {})}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backend.config.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            ),
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "backend.config",
                    "worker",
                    "-Q",
                    "interactive",
                    "-c",
                    str(WORKERS),
                    "--loglevel",
                    "WARNING",
                    "-n",
                    f"bench-{os.getpid()}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            ),
        ]
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            url = f"ws://127.0.0.1:{port}/ws/images/{data['frame'].series_id}/"
            origin = f"http://127.0.0.1:{port}"
            asyncio.run(_prompt_level(url, origin, data["cookies"], data["frame"].pk, 2))  # warm the worker
            rows, results = [], {}
            for n in LEVELS:
                result = asyncio.run(_prompt_level(url, origin, data["cookies"], data["frame"].pk, n))
                results[n] = result
                rows.append(
                    (
                        n,
                        median(result["latency"]) if result["latency"] else float("nan"),
                        percentile(result["latency"], 95),
                    )
                )
            fan = asyncio.run(_fanout(url, origin, data["cookies"][max(LEVELS) :], data["users"][0], data["frame"]))
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
    bare = median(data["bare_decode_ms"])
    table = [
        [
            n,
            len(results[n]["latency"]),
            f"{p50:.0f}",
            f"{p95:.0f}",
            f"{median(results[n]['worker']):.0f}" if results[n]["worker"] else "-",
            len(results[n]["errors"]),
        ]
        for n, p50, p95 in rows
    ]
    print_table(
        f"Prompt -> proposal over WebSocket, one prompt per annotator every 2 s, {DURATION_S:.0f} s per level, "
        f"{WORKERS} interactive worker process(es) "
        f"(bare in-process decode p50 {bare:.0f} ms)",
        ["annotators", "proposals", "p50 ms", "p95 ms", "worker p50 ms", "errors"],
        table,
    )
    fan_p95 = percentile(fan["latency"], 95)
    print_table(
        f"Fan-out of {SAVES} saves to {VIEWERS} viewers",
        ["deliveries", "p50 ms", "p95 ms", "missed"],
        [[len(fan["latency"]), f"{median(fan['latency']):.1f}", f"{fan_p95:.1f}", fan["missed"]]],
    )
    plot = ROOT / "var" / "bench-realtime.png"
    plot.parent.mkdir(exist_ok=True)
    _plot(rows, plot)
    print(f"plot: {plot}")
    n = 50 if 50 in results else LEVELS[-1]
    row = next(r for r in rows if r[0] == n)
    errors = len(results[n]["errors"])
    print(
        f"BENCH realtime n={n} prompt_p50_ms={row[1]:.0f} prompt_p95_ms={row[2]:.0f} fanout_p95_ms={fan_p95:.1f} "
        f"errors={errors} missed={fan['missed']}"
    )


if __name__ == "__main__":
    main()
