"""`make bench-ingest`: full ingest (parse, de-identify, store, index) against a bare pydicom
read-and-save loop over the same 20-file JPEG 2000 CT series, measured in the same run, rounds interleaved."""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

from tests.bench.common import SHARED_DATA, bench_database, median, print_table

SERIES = SHARED_DATA / "dicom" / "totalseg_ct_series"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))


def bare_loop(files: list[tuple[str, bytes]]) -> float:
    import pydicom

    started = time.perf_counter()
    for _, content in files:
        dataset = pydicom.dcmread(io.BytesIO(content))
        out = io.BytesIO()
        dataset.save_as(out)
    return time.perf_counter() - started


def prepare_only(files: list[tuple[str, bytes]]) -> float:
    """The per-file CPU work of ingest in this one process: parse, de-identify, write, hash, summarize."""
    from backend.imaging.prepare import DeidSettings, prepare_instance

    deid = DeidSettings(enabled=True, secret_hex="42" * 32, retain_dates=True, retain_patient_characteristics=True)
    started = time.perf_counter()
    for _, content in files:
        prepare_instance(content, deid=deid, max_pixel_bytes=1 << 30, uid_context="bench")
    return time.perf_counter() - started


def full_ingest(files: list[tuple[str, bytes]], round_index: int) -> float:
    from backend.accounts.models import User
    from backend.annotation.services import project_create
    from backend.imaging.uploads import run_batch

    user, _ = User.objects.get_or_create(username="bench")
    project = project_create(creator=user, slug=f"bench-{round_index}-{os.getpid()}", name="bench")
    named = [(name, io.BytesIO(content)) for name, content in files]
    started = time.perf_counter()
    batch = run_batch(project=project, user=user, named=named, origin="upload", context=f"bench-{round_index}")
    elapsed = time.perf_counter() - started
    assert batch.created == len(files), (batch.created, batch.errors)
    return elapsed


def main() -> None:
    files = [(p.name, p.read_bytes()) for p in sorted(SERIES.glob("*.dcm"))]
    with tempfile.TemporaryDirectory() as media:
        os.environ["STORAGE_LOCAL_ROOT"] = media
        os.environ["SEGMENTATION_PRECOMPUTE_ON_INGEST"] = "0"
        with bench_database(f"rr_bench_ingest_{os.getpid()}"):
            bare, prepared, full = [], [], []
            full_ingest(files, -1)  # warm caches and imports once, outside the measurement
            prepare_only(files)
            for index in range(ROUNDS):
                bare.append(bare_loop(files))
                prepared.append(prepare_only(files))
                full.append(full_ingest(files, index))
    n = len(files)
    bare_rate, full_rate = n / median(bare), n / median(full)
    ratio = full_rate / bare_rate
    print_table(
        f"Ingest of {n} JPEG 2000 CT instances ({Path(SERIES).name}), median of {ROUNDS} interleaved rounds",
        ["path", "median s", "instances/s", "vs bare"],
        [
            ["bare pydicom read + save", f"{median(bare):.3f}", f"{bare_rate:.1f}", "1.00"],
            [
                "  for scale: ingest's per-file work, one process",
                f"{median(prepared):.3f}",
                f"{n / median(prepared):.1f}",
                f"{median(bare) / median(prepared):.2f}",
            ],
            ["full ingest (parse, de-id, store, index)", f"{median(full):.3f}", f"{full_rate:.1f}", f"{ratio:.2f}"],
        ],
    )
    print(f"BENCH ingest ratio={ratio:.2f} instances_per_s={full_rate:.1f}")


if __name__ == "__main__":
    main()
