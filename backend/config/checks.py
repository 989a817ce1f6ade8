"""Start-up check of the services a deployment points at: `python -m backend.config.checks [--wait S]`.

Settings validate their own syntax when imported (a missing secret or a malformed URL stops there). This
checks that what they point at answers: PostgreSQL (DATABASE_URL), Redis (REDIS_URL) and, with
STORAGE_BACKEND=s3, the bucket (S3_BUCKET). Every problem is one line naming the setting, and the exit code
is 1, so a container with a wrong bucket stops at start instead of failing on the first upload. Images
run it before the web server and the workers; `--wait` retries while PostgreSQL or Redis are still starting.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlsplit

TIMEOUT_S = 5


def _where_redis(url: str) -> str:
    parts = urlsplit(url)
    return parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"


def check_database() -> str | None:
    import psycopg
    from django.conf import settings
    from psycopg.conninfo import make_conninfo

    db: dict[str, Any] = settings.DATABASES["default"]
    where = f"{db['HOST'] or 'local socket'}:{db['PORT'] or 5432}/{db['NAME']}"
    params: dict[str, Any] = {k: v for k, v in dict(db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    params.setdefault("connect_timeout", TIMEOUT_S)
    conninfo = make_conninfo(
        dbname=db["NAME"],
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        **params,
    )
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        # libpq's first line says what went wrong (refused, timeout, auth, no such database); never the password.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"DATABASE_URL: cannot use PostgreSQL at {where}: {detail}"
    return None


def check_redis() -> str | None:
    import redis
    from django.conf import settings

    url: str = settings.REDIS_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
        client.ping()
    except redis.AuthenticationError:
        return f"REDIS_URL: Redis at {_where_redis(url)} refused the password in the URL"
    except redis.RedisError as exc:
        return f"REDIS_URL: cannot reach Redis at {_where_redis(url)}: {type(exc).__name__}: {exc}"
    return None


def check_storage() -> str | None:
    """With STORAGE_BACKEND=s3: the bucket exists and these credentials may use it."""
    from django.conf import settings

    if settings.STORAGE_BACKEND != "s3":
        return None
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # type: ignore[import-untyped]

    storages = cast(dict[str, dict[str, Any]], settings.STORAGES)
    options: dict[str, Any] = storages["default"]["OPTIONS"]
    bucket = options["bucket_name"]
    endpoint = options.get("endpoint_url") or "AWS S3"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=options.get("endpoint_url"),
        region_name=options.get("region_name"),
        aws_access_key_id=options.get("access_key"),
        aws_secret_access_key=options.get("secret_key"),
        config=Config(connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 2}),
    )
    try:
        client.head_bucket(Bucket=bucket)
    except NoCredentialsError:
        return (
            "S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY: not set (nor their _FILE variants) and no other AWS "
            f"credentials found for bucket S3_BUCKET={bucket!r}"
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return f"S3_BUCKET={bucket!r} does not exist at {endpoint} (S3_ENDPOINT_URL); create it or fix the name"
        if code in {"403", "AccessDenied", "Forbidden"}:
            return (
                f"S3_BUCKET={bucket!r} at {endpoint}: access denied; check S3_ACCESS_KEY_ID / "
                "S3_SECRET_ACCESS_KEY and the bucket policy"
            )
        return f"S3_BUCKET={bucket!r} at {endpoint}: {code or type(exc).__name__}"
    except BotoCoreError as exc:
        return f"S3_ENDPOINT_URL={endpoint}: cannot reach object storage for S3_BUCKET={bucket!r}: {exc}"
    return None


def service_problems() -> list[str]:
    return [problem for check in (check_database, check_redis, check_storage) if (problem := check()) is not None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.config.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=0.0, help="retry for up to this many seconds (start-up order)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.wait
    while True:
        problems = service_problems()
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(2)
    for problem in problems:
        print(f"service check failed: {problem}", file=sys.stderr)
    if not problems:
        print("service check ok: database, redis and storage answer")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
