"""Container health checks, cheap enough to run every few seconds (no Django start-up).

`healthcheck.py web [--url URL]`: GET /healthz; healthy when the database and Redis answer. A web replica
stays healthy while workers are down (that is the workers' own health, and /healthz still reports it).
`healthcheck.py worker [--node NAME@HOST]`: the worker's heartbeat key exists in Redis. Workers refresh it
every WORKER_HEARTBEAT_TTL_S / 3 from their main process; a broadcast `celery inspect ping` per probe would
make every worker answer every probe of every other worker.
Exit 0 healthy, 1 unhealthy (Docker HEALTHCHECK and Kubernetes exec probes read only that).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

HEARTBEAT_PREFIX = "rr:worker-heartbeat:"  # backend.config.celery.HEARTBEAT_PREFIX (a test keeps them equal)


def _setting(name: str) -> str:
    """NAME, or the content of the file NAME_FILE names (Docker/Kubernetes secrets), as settings read it."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, "")


def check_web(url: str) -> str | None:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip() and h.strip() != "*"]
    host = (hosts[0].lstrip(".") if hosts else "localhost") or "localhost"
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 - a fixed http URL
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503 still carries the per-part report
        try:
            body = json.loads(exc.read())
        except ValueError:
            return f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url}: {exc}"
    checks = body.get("checks", {})
    failed = [part for part in ("database", "redis") if checks.get(part) != "ok"]
    return f"{', '.join(failed)} not ok: {checks}" if failed else None


def check_worker(node: str) -> str | None:
    import redis

    url = _setting("REDIS_URL")
    if not url:
        return "REDIS_URL (or REDIS_URL_FILE) is not set"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        if not client.exists(HEARTBEAT_PREFIX + node):
            return f"no heartbeat from {node}"
    except redis.RedisError as exc:
        return f"redis: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthcheck.py")
    sub = parser.add_subparsers(dest="kind", required=True)
    web = sub.add_parser("web")
    web.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz")
    worker = sub.add_parser("worker")
    worker.add_argument("--node", default=f"{os.environ.get('WORKER_NAME', 'worker')}@{socket.gethostname()}")
    args = parser.parse_args(argv)
    problem = check_web(args.url) if args.kind == "web" else check_worker(args.node)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
