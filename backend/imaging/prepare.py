"""The CPU-bound half of ingest (parse, validate, de-identify, serialize, hash), free of Django so that a
batch can run it in worker processes while the parent indexes finished files in the database."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import multiprocessing
import os
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any, BinaryIO, Final

from backend.common.memory import keep_freed_memory
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.parsing import (
    InstanceSummary,
    dataset_to_bytes,
    has_pixel_data,
    load_dicom,
    summarize_or_refuse,
)


@dataclass(frozen=True)
class DeidSettings:
    enabled: bool
    secret_hex: str
    retain_dates: bool
    retain_patient_characteristics: bool


@dataclass(frozen=True)
class Prepared:
    content: bytes | None  # None once written to `staged`
    size: int
    digest: str
    source_mac: str
    summary: InstanceSummary
    transfer_syntax_uid: str
    quarantine: str | None
    staged: str | None = None  # a file holding the content, written by the process that prepared it

    def body(self) -> bytes | Path:
        """What storage saves: the bytes, or the staged file."""
        if self.content is not None:
            return self.content
        assert self.staged is not None
        return Path(self.staged)


def prepare_instance(
    source: BinaryIO | bytes, *, deid: DeidSettings, max_pixel_bytes: int, uid_context: str
) -> Prepared:
    from backend.imaging.core.deid import DeidPolicy, deidentify, quarantine_decision

    source_mac = _source_mac(source, bytes.fromhex(deid.secret_hex))
    # With de-identification on, values are checked by the de-identifier as it keeps them (deid.py), and
    # what it keeps unchanged stays raw: the writer then copies those bytes instead of re-encoding them.
    loaded = load_dicom(
        source, max_pixel_bytes=max_pixel_bytes, uid_context=uid_context, convert_values=not deid.enabled
    )
    dataset = loaded.dataset
    if not has_pixel_data(dataset):
        raise ImagingError("no_pixel_data", "Only image instances can be annotated; this file has no pixel data.")
    decision = quarantine_decision(dataset)
    if deid.enabled:
        policy = DeidPolicy(
            project_secret=bytes.fromhex(deid.secret_hex),
            retain_longitudinal_modified_dates=deid.retain_dates,
            retain_patient_characteristics=deid.retain_patient_characteristics,
        )
        dataset = deidentify(dataset, policy=policy, inplace=True).dataset
    content = dataset_to_bytes(dataset)
    summary = summarize_or_refuse(dataset)  # after writing: reading a value converts it, and raw ones copy faster
    return Prepared(
        content=content,
        size=len(content),
        digest=hashlib.sha256(content).hexdigest(),
        source_mac=source_mac,
        summary=summary,
        transfer_syntax_uid=loaded.transfer_syntax_uid,
        quarantine=decision.reason if decision.quarantine else None,
    )


def _source_mac(source: BinaryIO | bytes, key: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    if isinstance(source, bytes):
        mac.update(source)
    else:  # streamed: a large upload is not held in memory twice
        source.seek(0)
        while block := source.read(1 << 20):
            mac.update(block)
        source.seek(0)
    return mac.hexdigest()


Outcome = tuple[str, Any]  # ("ok", Prepared) or ("error", (code, message, extra))


InputRef = tuple[str, int, int]  # a shared memory segment's name, an offset and a length in it


def _prepare_job(
    data: bytes | InputRef, deid: DeidSettings, max_pixel_bytes: int, uid_context: str, stage_dir: str | None = None
) -> Outcome:
    if isinstance(data, tuple):
        data = _read_input(*data)
    # Exceptions with keyword-rich constructors do not pickle reliably; send their fields instead.
    try:
        prepared = prepare_instance(data, deid=deid, max_pixel_bytes=max_pixel_bytes, uid_context=uid_context)
    except ImagingError as error:
        return "error", (error.code, error.message, error.extra)
    return "ok", prepared if stage_dir is None else _stage(prepared, stage_dir)


def _prepare_jobs(
    inputs: list[bytes | InputRef], deid: DeidSettings, max_pixel_bytes: int, uid_context: str, stage_dir: str | None
) -> list[Outcome]:
    return [_prepare_job(data, deid, max_pixel_bytes, uid_context, stage_dir) for data in inputs]


_MAX_FILES_PER_JOB: Final = 4


def _files_per_job(files: int, processes: int) -> int:
    """A few files per pool job: each job costs this process about 0.3 ms of CPU in the pool's threads
    (queueing, wake-ups, the result), a tenth of what preparing a file costs, on the cores the workers
    need. At least four jobs per worker keep the workers evenly loaded to the end, and the first group
    ready early."""
    return max(1, min(_MAX_FILES_PER_JOB, files // (4 * processes)))


def _stage(prepared: Prepared, directory: str) -> Prepared:
    """Write the content to a file of its own, so that only its name goes back to the parent, which then
    links the file into storage: the bytes are neither pickled through a pipe nor written by the one
    process that every file of a batch waits on."""
    assert prepared.content is not None
    # Created as storage creates files (mode 0o666 less the umask, where mkstemp would give 0o600): linked
    # into place, it keeps this mode unless storage sets one. The batch's directory itself is private.
    path = os.path.join(directory, f"{uuid.uuid4().hex}.dcm")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(prepared.content)
    except BaseException:
        os.unlink(path)
        raise
    return dataclasses.replace(prepared, content=None, staged=path)


_SHM_ROOT = "/dev/shm"  # noqa: S108 - where glibc keeps POSIX shared memory (shm_open), not a temporary file


def _read_input(name: str, offset: int, length: int) -> bytes:
    fd = os.open(os.path.join(_SHM_ROOT, name), os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


class _Inputs:
    """A chunk's files in one shared memory segment, for the pool's processes to read with one pread each.

    Sent as call arguments instead, every file is pickled and pushed through the pool's pipe in 64 KiB
    pieces, each a wake-up of both sides: that cost the workers about 0.25 ms of CPU per 157 KB file here,
    a tenth of what preparing it costs. The segment lives in RAM (never on disk: these are the original,
    identifiable files), is unlinked when the chunk is done, and, should this process die first, by
    multiprocessing's resource tracker. Writes go through pwrite, so a full /dev/shm (64 MiB in a default
    container) is an OSError, not the SIGBUS a write into the mapping would be: the rest of the chunk then
    goes through the pipe.
    """

    def __init__(self, total: int) -> None:
        self.segment: shared_memory.SharedMemory | None = None
        self.fd = -1
        self.offset = 0
        self.full = False
        if total and os.path.isdir(_SHM_ROOT):
            try:
                self.segment = shared_memory.SharedMemory(create=True, size=total)
                self.fd = os.open(os.path.join(_SHM_ROOT, self.segment.name), os.O_WRONLY)
            except OSError:
                self.close()

    def add(self, data: bytes) -> bytes | InputRef:
        if self.segment is None or self.full:
            return data
        try:
            written = os.pwrite(self.fd, data, self.offset)
        except OSError:
            written = -1
        if written != len(data):
            self.full = True  # kept until `close`: the files already in it may not have been read yet
            return data
        ref = (self.segment.name, self.offset, len(data))
        self.offset += len(data)
        return ref

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.segment is not None:
            self.segment.close()
            self.segment.unlink()
            self.segment = None


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _processes() -> int:
    configured = os.environ.get("IMAGING_INGEST_PROCESSES")
    return int(configured) if configured else min(4, os.cpu_count() or 1)


def parallel_available() -> bool:
    # Celery's prefork children are daemonic and may not start processes of their own.
    return _processes() > 1 and not multiprocessing.current_process().daemon


def _init_child() -> None:
    # The parent indexes what the pool prepares, one database round trip at a time: when both compete for
    # the same cores at equal priority, every round trip waits for a time slice and indexing, not
    # parsing, sets the pace. Niced children take only the CPU the parent and PostgreSQL leave.
    os.nice(5)
    # Every file passes through several buffers of its own size (the upload, the pixel data, the written
    # copy, the pickled result). Above glibc's mmap threshold each is a fresh mapping, page-faulted in and
    # unmapped again per file; kept, the same blocks serve the next file.
    keep_freed_memory()


def _get_pool() -> ProcessPoolExecutor:
    global _pool  # noqa: PLW0603 - one lazily started pool per process
    with _pool_lock:
        if _pool is None:
            # forkserver: children start clean, never inheriting the parent's DB sockets or threads.
            _pool = ProcessPoolExecutor(
                max_workers=_processes(),
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_init_child,
            )
        return _pool


def prepare_groups(
    items: Iterable[tuple[str, bytes]],
    *,
    deid: DeidSettings,
    max_pixel_bytes: int,
    uid_context: str,
    min_group: int = 12,
    stage_dir: str | None = None,
) -> Iterator[list[tuple[str, Outcome]]]:
    """Prepare files (in worker processes where this process may start them) and yield the results in
    input order, in groups of at least `min_group` (fewer only at the end) plus whatever else has finished.
    Worker processes stage their results in `stage_dir` when it is given (see `_stage`).

    The caller indexes a group in one transaction; each commit waits for a WAL flush, so a few larger
    groups beat many small ones, while the pool keeps preparing the next group meanwhile.
    """
    group: list[tuple[str, Outcome]] = []
    if not parallel_available():
        for name, data in items:
            group.append((name, _prepare_job(data, deid, max_pixel_bytes, uid_context)))
            if len(group) >= min_group:
                yield group
                group = []
        if group:
            yield group
        return
    pool = _get_pool()
    items = list(items)
    inputs = _Inputs(sum(len(data) for _, data in items))
    pending: deque[tuple[list[str], Future[list[Outcome]]]] = deque()
    per_job = _files_per_job(len(items), _processes())
    try:
        for start in range(0, len(items), per_job):
            job = items[start : start + per_job]
            refs = [inputs.add(data) for _, data in job]
            future = pool.submit(_prepare_jobs, refs, deid, max_pixel_bytes, uid_context, stage_dir)
            pending.append(([name for name, _ in job], future))
        while pending:
            group = []
            while pending and (len(group) < min_group or pending[0][1].done()):
                names, future = pending.popleft()
                group += zip(names, future.result(), strict=True)
            yield group
    finally:
        # The consumer may have stopped mid-way (it failed): let the jobs it left finish reading their files
        # and writing into the staging directory before either goes away.
        wait([future for _, future in pending])
        inputs.close()
