"""Object storage against a real S3 server (moto, started as its own process) and fail-fast start-up:
a wrong bucket, an unreachable database or Redis, or a missing secret stops a process with one line that
names the setting (`python -m backend.config.checks`, run by the images before the web and the workers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
CT_SMALL = SHARED_DATA / "dicom" / "pydicom" / "CT_small.dcm"
BUCKET = "readingroom-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: a separate process speaking the S3 HTTP API, as MinIO or AWS would."""
    import boto3

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "moto_server exited"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test-key-id",
            aws_secret_access_key="test-secret",
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _s3_env(endpoint: str, tmp_path: Path, bucket: str = BUCKET) -> dict[str, str]:
    """The production shape: STORAGE_BACKEND=s3, credentials as files."""
    key_id, secret = tmp_path / "s3-key-id", tmp_path / "s3-secret"
    key_id.write_text("test-key-id\n")
    secret.write_text("test-secret\n")
    return {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID_FILE": str(key_id),
        "S3_SECRET_ACCESS_KEY_FILE": str(secret),
    }


def _test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + str(settings.DATABASES["default"]["NAME"])))


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "STORAGE_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "SEGMENTATION_PRECOMPUTE_ON_INGEST": "0", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _objects(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key-id",
        aws_secret_access_key="test-secret",
    )
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.mark.django_db(transaction=True)
def test_ingest_with_storage_backend_s3_writes_to_the_bucket(cast, s3_endpoint: str, tmp_path: Path) -> None:
    from backend.imaging.models import Instance

    env = {**_s3_env(s3_endpoint, tmp_path), "DATABASE_URL": _test_database_url()}
    checked = _run(["-m", "backend.config.checks"], env)
    assert checked.returncode == 0, checked.stderr
    imported = _run(["manage.py", "import_dicom", str(CT_SMALL), "--project", cast.project.slug], env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    instance = Instance.objects.get(project=cast.project)
    assert instance.file.startswith(f"projects/{cast.project.pk}/dicom/") and instance.file.endswith(".dcm")
    assert instance.file in _objects(s3_endpoint)  # in the bucket, under the recorded name
    assert not (Path(settings.MEDIA_ROOT) / instance.file).exists()  # and not on the local disk
    verified = _run(["manage.py", "verify_storage", "--project", cast.project.slug], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checked 1 files: 0 missing, 0 corrupted" in verified.stdout
    # The check reads the bucket, not a cache: a lost object is reported.
    import boto3

    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key-id",
        aws_secret_access_key="test-secret",
    ).delete_object(Bucket=BUCKET, Key=instance.file)
    lost = _run(["manage.py", "verify_storage", "--project", cast.project.slug], env)
    assert lost.returncode != 0 and f"MISSING   instance {instance.pk}" in lost.stdout


def test_wrong_bucket_fails_fast_naming_the_setting(s3_endpoint: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run(["-m", "backend.config.checks"], _s3_env(s3_endpoint, tmp_path, bucket="no-such-bucket"))
    assert result.returncode == 1
    assert "S3_BUCKET='no-such-bucket' does not exist" in result.stderr
    assert time.monotonic() - started < 30
    # The images run the same check before starting anything (deploy/docker/entrypoint.sh).
    shell = subprocess.run(
        ["sh", str(ROOT / "deploy" / "docker" / "entrypoint.sh"), "web"],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "READINGROOM_SERVICE_WAIT_S": "0"}
        | _s3_env(s3_endpoint, tmp_path, bucket="no-such-bucket"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shell.returncode == 1 and "S3_BUCKET='no-such-bucket'" in shell.stderr


def test_unreachable_object_storage_names_the_endpoint(tmp_path: Path) -> None:
    result = _run(["-m", "backend.config.checks"], _s3_env(f"http://127.0.0.1:{_free_port()}", tmp_path))
    assert result.returncode == 1
    assert "S3_ENDPOINT_URL=http://127.0.0.1:" in result.stderr and "cannot reach object storage" in result.stderr


def test_unreachable_database_fails_fast_naming_the_setting() -> None:
    started = time.monotonic()
    result = _run(["-m", "backend.config.checks"], {"DATABASE_URL": f"postgres://rr:pw@127.0.0.1:{_free_port()}/rr"})
    assert result.returncode == 1
    assert "DATABASE_URL: cannot use PostgreSQL at 127.0.0.1:" in result.stderr
    assert "pw" not in result.stderr.replace("PostgreSQL", "")  # the password is never printed
    assert time.monotonic() - started < 30


def test_wrong_database_password_names_the_setting() -> None:
    parts = urlsplit(_test_database_url())
    wrong = urlunsplit(parts._replace(netloc=f"no-such-role:pw@{parts.hostname}:{parts.port}"))
    result = _run(["-m", "backend.config.checks"], {"DATABASE_URL": wrong})
    assert result.returncode == 1 and "DATABASE_URL: cannot use PostgreSQL" in result.stderr


def test_unreachable_redis_fails_fast_naming_the_setting() -> None:
    result = _run(["-m", "backend.config.checks"], {"REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"})
    assert result.returncode == 1
    assert "REDIS_URL: cannot reach Redis at 127.0.0.1:" in result.stderr


def test_wait_retries_then_gives_up() -> None:
    started = time.monotonic()
    result = _run(["-m", "backend.config.checks", "--wait", "3"], {"REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"})
    assert result.returncode == 1 and time.monotonic() - started >= 3


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY (or SECRET_KEY_FILE) must be set"),
        ({"SECRET_KEY": "", "SECRET_KEY_FILE": "/run/secrets/missing"}, "SECRET_KEY_FILE=/run/secrets/missing"),
        ({"DATABASE_URL": "", "DATABASE_URL_FILE": "/run/secrets/missing"}, "DATABASE_URL_FILE=/run/secrets/missing"),
        ({"REDIS_URL": "", "REDIS_URL_FILE": "/run/secrets/missing"}, "REDIS_URL_FILE=/run/secrets/missing"),
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_BACKEND=s3 needs S3_BUCKET"),
        (
            {"STORAGE_BACKEND": "s3", "S3_BUCKET": "b", "S3_SECRET_ACCESS_KEY_FILE": "/run/secrets/missing"},
            "S3_SECRET_ACCESS_KEY_FILE=/run/secrets/missing cannot be read",
        ),
    ],
)
def test_missing_secret_or_setting_stops_start_up(env: dict[str, str], needle: str) -> None:
    result = _run(["-m", "backend.config.checks"], {"DEBUG": "0", **env})
    assert result.returncode == 1
    assert "configuration error:" in result.stderr and needle in result.stderr
