"""Preparing files in worker processes: each file reaches its worker through shared memory, and every
outcome comes back as the in-process path gives it, in input order."""

from __future__ import annotations

import errno
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from backend.imaging import prepare
from tests.conftest import SHARED_DATA

DEID = prepare.DeidSettings(
    enabled=True, secret_hex="42" * 32, retain_dates=False, retain_patient_characteristics=False
)
LIMIT = 1 << 30


def _files() -> list[tuple[str, bytes]]:
    series = sorted((SHARED_DATA / "dicom" / "totalseg_ct_series").glob("*.dcm"))[:6]
    broken = ("broken.dcm", b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x00")
    return [(path.name, path.read_bytes()) for path in series] + [broken]


def _segments() -> set[str]:
    return {name for name in os.listdir(prepare._SHM_ROOT) if name.startswith("psm_")}


def _in_process(files: list[tuple[str, bytes]]) -> list[tuple[str, Any]]:
    return [(name, prepare._prepare_job(data, DEID, LIMIT, "ctx")) for name, data in files]


def _in_workers(files: list[tuple[str, bytes]]) -> list[tuple[str, Any]]:
    groups = prepare.prepare_groups(files, deid=DEID, max_pixel_bytes=LIMIT, uid_context="ctx", min_group=3)
    return [pair for group in groups for pair in group]


@pytest.fixture
def sent(monkeypatch) -> list[object]:
    """What each job was given: a reference into shared memory or, failing that, the bytes."""
    monkeypatch.setenv("IMAGING_INGEST_PROCESSES", "2")
    assert prepare.parallel_available()
    given: list[object] = []
    real_add = prepare._Inputs.add

    def add(self: prepare._Inputs, data: bytes) -> object:
        given.append(real_add(self, data))
        return given[-1]

    monkeypatch.setattr(prepare._Inputs, "add", add)
    return given


def test_workers_read_files_from_shared_memory_which_is_removed_after(sent: list[object]) -> None:
    files = _files()
    before = _segments()
    results = _in_workers(files)
    assert results == _in_process(files)
    assert [status for _, (status, _) in results] == ["ok"] * 6 + ["error"]
    assert len(sent) == len(files) and all(isinstance(ref, tuple) for ref in sent)
    assert _segments() == before


def test_when_shared_memory_is_full_the_rest_goes_through_the_pipe(sent: list[object], monkeypatch) -> None:
    real_pwrite = os.pwrite
    writes: list[int] = []

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        writes.append(offset)
        if len(writes) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    files = _files()
    before = _segments()
    assert _in_workers(files) == _in_process(files)
    assert [type(ref) for ref in sent] == [tuple, tuple] + [bytes] * (len(files) - 2)
    assert _segments() == before


def test_a_consumer_that_stops_early_leaves_no_segment(sent: list[object]) -> None:
    before = _segments()
    groups = prepare.prepare_groups(_files(), deid=DEID, max_pixel_bytes=LIMIT, uid_context="ctx", min_group=2)
    first = next(groups)
    assert [name for name, _ in first][:2] == [name for name, _ in _files()][:2]
    assert len(_segments() - before) == 1
    groups.close()
    assert _segments() == before


def test_files_go_to_the_workers_a_few_per_job_and_come_back_in_order(sent: list[object], monkeypatch) -> None:
    series = sorted((SHARED_DATA / "dicom" / "totalseg_ct_series").glob("*.dcm"))[:16]
    files = [(path.name, path.read_bytes()) for path in series]
    files.insert(7, _files()[-1])  # a refused file inside a job: its own outcome, the others unaffected
    jobs: list[int] = []
    real_submit = ProcessPoolExecutor.submit

    def submit(self: ProcessPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        jobs.append(len(args[0]))
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit)
    results = _in_workers(files)
    assert results == _in_process(files)
    assert [status for _, (status, _) in results].count("error") == 1 and results[7][1][0] == "error"
    assert jobs == [2] * 8 + [1]  # 17 files, 2 workers: at least 4 jobs each
    assert prepare._files_per_job(3, 2) == 1 and prepare._files_per_job(1000, 2) == prepare._MAX_FILES_PER_JOB
