"""Settings come from the environment and a malformed value stops the process at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT"}
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


GOOD = {"DEBUG": "0", "SECRET_KEY": "k" * 64 + "-Zq8!rT4#", "ALLOWED_HOSTS": "annotate.example.org"}


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL must be a postgres"),
        ({"DATABASE_URL": "postgres://u@localhost:99999999/x"}, "DATABASE_URL has an invalid port"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL must be a redis"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"SECRET_KEY": ""}, "SECRET_KEY (or SECRET_KEY_FILE) must be set"),
        ({"ALLOWED_HOSTS": "a,,b"}, "ALLOWED_HOSTS='a,,b' has an empty item"),
        ({"CSRF_TRUSTED_ORIGINS": "example.org"}, "must start with http:// or https://"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND='ftp'"),
        ({"CELERY_INTERACTIVE_SOFT_S": "ten"}, "CELERY_INTERACTIVE_SOFT_S='ten' is not an integer"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE=/nonexistent/secret cannot be read"),
        ({"WORKER_NICE": "25"}, "WORKER_NICE=25 must be 0..19"),
    ],
)
def test_malformed_setting_fails_at_start(override: dict[str, str], needle: str) -> None:
    env = dict(GOOD)
    env.update(override)
    if "SECRET_KEY_FILE" in override:
        env.pop("SECRET_KEY")
    result = _check(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert needle in result.stderr


def test_secret_key_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 60 + "-Zq8!rT4#\n")
    env = {k: v for k, v in GOOD.items() if k != "SECRET_KEY"} | {"SECRET_KEY_FILE": str(secret)}
    result = _check(env)
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_deploy_checks() -> None:
    result = _check(GOOD, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
