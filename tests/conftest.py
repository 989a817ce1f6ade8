"""Shared fixtures: a fixed cast of users, a project, a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("READINGROOM_SHARED_DATA", ROOT.parent / "shared" / "data"))
PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def make_user(db: None):
    from backend.accounts.models import User

    def _make(username: str) -> User:
        return User.objects.create_user(username=username, password=PASSWORD)

    return _make


@pytest.fixture
def cast(make_user, db: None):
    """owner, annotator, second reader, reviewer and outsider, with a project the first four belong to."""
    from backend.accounts.models import ProjectMembership, ProjectRole
    from backend.annotation.services import project_create

    users = {name: make_user(name) for name in ("owner", "annotator", "reader2", "reviewer", "outsider")}
    project = project_create(creator=users["owner"], slug="liver", name="Liver study")
    for name, role in (
        ("annotator", ProjectRole.ANNOTATOR),
        ("reader2", ProjectRole.ANNOTATOR),
        ("reviewer", ProjectRole.REVIEWER),
    ):
        ProjectMembership.objects.create(project=project, user=users[name], role=role)

    class Cast:
        owner = users["owner"]
        annotator = users["annotator"]
        reader2 = users["reader2"]
        reviewer = users["reviewer"]
        outsider = users["outsider"]

    Cast.project = project  # type: ignore[attr-defined]
    return Cast


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    def _client(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return _client


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process on all queues, pointed at the test database."""
    from backend.config.celery import HEARTBEAT_PREFIX

    test_db = settings.DATABASES["default"]["NAME"]
    env = dict(os.environ)
    env["DATABASE_URL"] = _with_database(os.environ["DATABASE_URL"], str(test_db))
    env.setdefault("SECRET_KEY", settings.SECRET_KEY)
    env.setdefault("DEBUG", "1")
    # As a bulk worker beside an interactive one would run; test_worker checks both reach the processes.
    env["WORKER_NICE"] = "1"
    env["WORKER_TORCH_THREADS"] = "1"
    (ROOT / "var" / "tmp").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "var" / "tmp" / "test-worker.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backend.config",
            "worker",
            "-Q",
            "interactive,embed,io",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "-n",
            f"test-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"test worker exited with {proc.returncode}; see var/tmp/test-worker.log")
        if any(client.scan_iter(match=HEARTBEAT_PREFIX + f"test-{os.getpid()}@*")):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError("test worker did not come up within 60 s")
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's deliberate slowness is for attackers, not for a suite that creates hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Let the test database be dropped at the end even if a worker thread still holds a connection."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
