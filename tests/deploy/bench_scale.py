"""Embedding throughput with 1, 2 and 3 embed workers, each on its own network-namespace host
(`make bench-scale`; needs root, like `make test-cluster`).

Every worker is one Celery process with one torch thread, so one worker is one CPU core and the table reads
as "slices per second per core". Work arrives as several series at once (an embed job is one series, and one
job runs on one worker), all workers read and write S3 (moto) over the bridge, and every round starts from an
empty embedding cache with freshly started workers. This machine has 2 cores: 3 workers cannot beat 2.

Efficiency = rate(n) / (n x rate(1)); "of cores" divides by min(n, cores) instead. Each count runs --repeat
times (rounds interleaved) and the fastest round counts, since a shared machine's other load only slows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.deploy.netcluster import BUCKET, SLUG, Cluster, can_run, ct_series_zip


def _clear_embeddings(cluster: Cluster) -> None:
    cluster.sql("DELETE FROM segmentation_embeddingentry")
    client = cluster.s3_client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="embeddings/"):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def _cpu_seconds(pids: list[int]) -> float:
    """User+system CPU time of the worker processes and their pool children so far."""
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for each in [process, *process.children(recursive=True)]:
                times = each.cpu_times()
                total += times.user + times.system
    return total


def _round(cluster: Cluster, api: httpx.Client, series: list[int], workers: int, threads: int) -> tuple[float, float]:
    """(wall seconds, worker CPU seconds) to embed every series once."""
    _clear_embeddings(cluster)
    procs = []
    for index in range(workers):
        host = f"w{index + 1}"
        node = f"embed{index + 1}@{host}"
        procs.append(
            (node, cluster.start_worker(host, "embed", node, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS="1"))
        )
    try:
        for node, proc in procs:
            cluster.wait_worker(node, proc, timeout=180)
        pids = [proc.popen.pid for _, proc in procs]
        cpu_before = _cpu_seconds(pids)
        started = time.monotonic()
        jobs = []
        for series_id in series:
            response = api.post(f"/api/projects/{SLUG}/series/{series_id}/embed/", json={})
            response.raise_for_status()
            jobs.append(response.json()["id"])
        deadline = started + 1800
        while True:
            rows = cluster.sql(
                "SELECT count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status IN ('failed', "
                "'cancelled')) FROM segmentation_segmentationjob WHERE id = ANY(%s)",
                jobs,
            )
            done, failed = rows[0]
            if failed:
                raise RuntimeError(f"{failed} embed jobs failed; logs in {cluster.workdir}")
            if done == len(jobs):
                return time.monotonic() - started, _cpu_seconds(pids) - cpu_before
            if time.monotonic() > deadline:
                raise RuntimeError("embedding did not finish within 30 minutes")
            time.sleep(0.2)
    finally:
        for _, proc in procs:
            cluster.stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.bench_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=6, help="series embedded at once (one job each)")
    parser.add_argument("--slices", type=int, default=4, help="slices per series (128x128 CT)")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per worker count; the fastest counts")
    args = parser.parse_args(argv)
    reason = can_run()
    if reason:
        print(f"bench-scale skipped: {reason}")
        return 1
    counts = [int(n) for n in args.workers.split(",")]
    total = args.series * args.slices
    cores = os.cpu_count() or 1
    scratch = Path(__file__).resolve().parents[2] / "var" / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-", dir=scratch) as tmp,
        Cluster(workdir=Path(tmp)) as cluster,
    ):
        for host in ("a", *(f"w{i + 1}" for i in range(max(counts)))):
            cluster.add_host(host)
        cluster.start_services(CELERY_VISIBILITY_TIMEOUT="3600", CELERY_EMBED_SOFT_S="1700", CELERY_EMBED_HARD_S="1800")
        web = cluster.start_web("a")
        cluster.migrate("a")
        token = cluster.create_owner("a")
        api = httpx.Client(base_url=cluster.urls["web"], headers={"Authorization": f"Token {token}"}, timeout=120)
        deadline = time.monotonic() + 120
        while True:  # /healthz wants a worker heartbeat; the API alone is enough here
            try:
                if api.get(f"/api/projects/{SLUG}/").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or web.popen.poll() is not None:
                raise RuntimeError(f"web did not start:\n{web.log_text()[-2000:]}")
            time.sleep(0.5)
        series = []
        for number in range(args.series):
            response = api.post(
                f"/api/projects/{SLUG}/uploads/",
                files={"files": (f"s{number}.zip", ct_series_zip(args.slices, number + 1))},
            )
            response.raise_for_status()  # small: ingested synchronously on the web host
            series.append(int(response.json()["series_ids"][0]))
        print(
            f"bench-scale: {args.series} series x {args.slices} slices = {total} slices of 128x128 CT, "
            f"LiteMedSAM on CPU, 1 torch thread per worker, {cores} cores on this machine",
            flush=True,
        )
        rates: dict[int, float] = {}
        cpu_per_slice: list[float] = []
        # Rounds alternate between worker counts, so a burst of load from elsewhere hits them alike.
        for attempt in range(args.repeat):
            for n in counts:
                elapsed, cpu = _round(cluster, api, series, n, threads=1)
                rates[n] = max(rates.get(n, 0.0), total / elapsed)
                cpu_per_slice.append(cpu / total)
                print(
                    f"  round {attempt + 1}, {n} worker(s): {elapsed:6.1f} s  {total / elapsed:.3f} slices/s  "
                    f"{cpu / total:.2f} CPU-s a slice",
                    flush=True,
                )
    base = rates[counts[0]] / counts[0]
    print()
    print(f"{'workers':>8} {'hosts':>6} {'slices/s':>9} {'speed-up':>9} {'efficiency':>11} {'of cores':>9}")
    for n in counts:
        speedup = rates[n] / rates[counts[0]] * counts[0]
        print(
            f"{n:>8} {n:>6} {rates[n]:>9.3f} {speedup:>8.2f}x {rates[n] / (n * base):>10.0%} "
            f"{rates[n] / (min(n, cores) * base):>8.0%}"
        )
    median = sorted(cpu_per_slice)[len(cpu_per_slice) // 2]
    print(
        f"per CPU core, from the workers' own CPU time (other load on the machine does not count): "
        f"{1 / median:.3f} slices/s ({median:.2f} CPU-s a slice, median of {len(cpu_per_slice)} rounds)"
    )
    efficiency = ",".join(f"{rates[n] / (n * base):.2f}" for n in counts)
    print(
        f"BENCH scale workers={','.join(map(str, counts))} "
        f"slices_per_s={','.join(f'{rates[n]:.3f}' for n in counts)} efficiency={efficiency}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
