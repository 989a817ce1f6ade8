"""Mutation fuzzer for the DICOM ingest path: read_dicom -> decode_frame -> summarize -> deidentify -> write,
then the same input through prepare_instance (the deferred path ingest runs).

    python tests/imaging_core/fuzz_parser.py --seconds 120 [--workers 2] [--seed 1]
    python tests/imaging_core/fuzz_parser.py --replay var/fuzz-crashes/<file>.dcm

Seeds are the shared DICOM files plus variants made from them (RLE, JPEG-LS, JPEG 2000, deflated, big
endian), so every decoder is reached. Each input is one to three mutations of a seed: bit flips,
interesting bytes, truncation, corrupted length fields, duplicated/deleted/inserted chunks.

An ImagingError is the expected refusal. Anything else is a crash, and so is a worker that dies (a
segfault in a C decoder) or hangs: inputs run in worker processes with an address-space limit, so a
decoder that tries to allocate gigabytes fails with MemoryError instead of taking the machine down.
Crashing inputs are saved for --replay. The exit status is 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import multiprocessing as mp
import os
import random
import resource
import sys
import time
import traceback
import warnings
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("READINGROOM_SHARED_DATA", ROOT.parent / "shared" / "data"))
FUZZ_MAX_PIXEL_BYTES = 64 << 20
WORKER_ADDRESS_SPACE = 4 << 30
PER_INPUT_TIMEOUT_S = 30.0
_EXPLICIT_VRS = {
    b"AE",
    b"AS",
    b"AT",
    b"CS",
    b"DA",
    b"DS",
    b"DT",
    b"FL",
    b"FD",
    b"IS",
    b"LO",
    b"LT",
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"PN",
    b"SH",
    b"SL",
    b"SQ",
    b"SS",
    b"ST",
    b"SV",
    b"TM",
    b"UC",
    b"UI",
    b"UL",
    b"UN",
    b"UR",
    b"US",
    b"UT",
    b"UV",
}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_INTERESTING_32 = (
    0,
    1,
    2,
    3,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
)


# --------------------------------------------------------------------------------------------------
# Seeds


def _seed_files() -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(SHARED / "dicom"):
        for name in files:
            if name.endswith((".json", ".nrrd", ".txt", ".md", ".gz")) or name.upper().startswith("LICENSE"):
                continue
            out.append(Path(dirpath) / name)
    return sorted(out)


def build_seeds() -> list[tuple[str, bytes]]:
    import numpy as np
    import pydicom
    from pydicom.uid import (
        JPEG2000,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        JPEG2000Lossless,
        JPEGLSLossless,
        RLELossless,
    )

    seeds = [(p.relative_to(SHARED).as_posix(), p.read_bytes()) for p in _seed_files()]
    mr = SHARED / "dicom" / "pydicom" / "MR_small.dcm"
    ct = SHARED / "dicom" / "pydicom" / "CT_small.dcm"
    sm = SHARED / "dicom" / "highdicom" / "sm_image_control.dcm"
    for syntax in (RLELossless, JPEGLSLossless, JPEG2000Lossless):
        ds = pydicom.dcmread(mr)
        ds.compress(syntax)
        seeds.append((f"variant/MR_small.{syntax.name}", _write(ds)))
    ds = pydicom.dcmread(mr)
    ds.compress(JPEG2000, j2k_cr=[20])
    seeds.append(("variant/MR_small.j2k_lossy", _write(ds)))
    ds = pydicom.dcmread(sm)
    ds.compress(RLELossless)
    seeds.append(("variant/sm_rgb_rle", _write(ds)))
    ds = pydicom.dcmread(ct)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    seeds.append(("variant/CT_small.deflated", _write(ds)))
    ds = pydicom.dcmread(ct)
    ds.PixelData = np.frombuffer(ds.PixelData, "<u2").byteswap().tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, little_endian=False, implicit_vr=False, force_encoding=True)
    seeds.append(("variant/CT_small.bigendian", buffer.getvalue()))
    return seeds


def _write(ds: object) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
    return buffer.getvalue()


def length_field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of bytes that look like explicit-VR length fields, or implicit ones after even tags."""
    out = []
    for i in range(132, len(data) - 8):
        vr = data[i + 4 : i + 6]
        if vr in _EXPLICIT_VRS and data[i] % 2 == 0 and data[i + 1] < 0x80:
            out.append((i + 8, 4) if vr in _LONG_VRS else (i + 6, 2))
    if len(out) < 8:  # implicit VR: guess at 4-byte lengths after group 0008..0028 tags
        for i in range(132, len(data) - 8, 2):
            group = int.from_bytes(data[i : i + 2], "little")
            if group in (0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x7FE0):
                out.append((i + 4, 4))
    return out


# --------------------------------------------------------------------------------------------------
# Mutation


def mutate(data: bytes, rng: random.Random, lengths: list[tuple[int, int]]) -> tuple[bytes, list[str]]:
    buf = bytearray(data)
    applied = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(("flip", "flip", "byte", "truncate", "length", "length", "length", "dup", "delete", "insert"))
        if not buf:
            break
        if kind == "flip":
            for _ in range(rng.randint(1, 16)):
                pos = rng.randrange(len(buf))
                buf[pos] ^= 1 << rng.randrange(8)
        elif kind == "byte":
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE))
        elif kind == "truncate":
            del buf[rng.randrange(len(buf)) :]
        elif kind == "length" and lengths:
            offset, width = rng.choice(lengths)
            if offset + width <= len(buf):
                old = int.from_bytes(buf[offset : offset + width], "little")
                new = rng.choice((*_INTERESTING_32, old + rng.randint(-8, 8), old * 2, old // 2, old + 1))
                new %= 1 << (8 * width)
                buf[offset : offset + width] = new.to_bytes(width, "little")
        elif kind == "dup":
            a = rng.randrange(len(buf))
            chunk = bytes(buf[a : a + rng.randint(1, 4096)])
            at = rng.randrange(len(buf))
            buf[at:at] = chunk * rng.choice((1, 1, 2, 8))
        elif kind == "delete":
            a = rng.randrange(len(buf))
            del buf[a : a + rng.randint(1, 512)]
        elif kind == "insert":
            at = rng.randrange(len(buf))
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        applied.append(kind)
    return bytes(buf), applied


# --------------------------------------------------------------------------------------------------
# The target


def run_target(data: bytes, progress: list[str] | None = None) -> tuple[str, str]:
    """('accepted' | 'refused:<code>', stage). Raises anything that is not an ImagingError; `progress`
    gets the stage appended as it goes, so a crash can say where it happened."""
    progress = progress if progress is not None else []
    from backend.imaging.core.deid import DeidPolicy, deidentify, quarantine_decision
    from backend.imaging.core.errors import ImagingError
    from backend.imaging.core.parsing import dataset_to_bytes, decode_frame, read_dicom, summarize

    stage = "read"
    progress.append(stage)
    try:
        parsed = read_dicom(data, max_pixel_bytes=FUZZ_MAX_PIXEL_BYTES, uid_context="fuzz")
        summary = parsed.summary
        if summary.has_pixel_data:
            stage = "decode"
            progress.append(stage)
            for index in sorted({0, max(summary.number_of_frames - 1, 0)}):
                try:
                    decode_frame(parsed.dataset, index, max_pixel_bytes=FUZZ_MAX_PIXEL_BYTES)
                except ImagingError as exc:
                    progress.append(f"decode refused:{exc.code}")  # the header still goes through de-id
        stage = "summarize"
        progress.append(stage)
        summarize(parsed.dataset)
        quarantine_decision(parsed.dataset)
        stage = "deid"
        progress.append(stage)
        out = deidentify(parsed.dataset, policy=DeidPolicy(project_secret=b"fuzz-secret-0123456789abcdef"))
        stage = "write"
        progress.append(stage)
        written = dataset_to_bytes(out.dataset)
        stage = "reread"
        progress.append(stage)
        try:
            read_dicom(written, max_pixel_bytes=FUZZ_MAX_PIXEL_BYTES)
        except ImagingError as exc:
            # What ingest stores must read back: a refusal here is a bug in de-id or the writer.
            raise AssertionError(f"de-identified output refused on re-read: {exc!r}") from exc
    except ImagingError as exc:
        outcome = f"refused:{exc.code}"
    else:
        outcome = "accepted"
    _ingest_path(data, progress)
    return outcome, stage


def _ingest_path(data: bytes, progress: list[str]) -> None:
    """What ingest runs on an upload: the raw elements go straight to the de-identifier, which parses only
    what it keeps. It may accept a file the converting path refuses (a bad value in an element it removes),
    but what it stores must read back."""
    from backend.imaging.core.errors import ImagingError
    from backend.imaging.core.parsing import read_dicom
    from backend.imaging.prepare import DeidSettings, prepare_instance

    progress.append("ingest")
    deid = DeidSettings(enabled=True, secret_hex="66757a7a" * 8, retain_dates=True, retain_patient_characteristics=True)
    try:
        prepared = prepare_instance(data, deid=deid, max_pixel_bytes=FUZZ_MAX_PIXEL_BYTES, uid_context="fuzz")
    except ImagingError:
        return
    progress.append("ingest reread")
    try:
        read_dicom(prepared.content, max_pixel_bytes=FUZZ_MAX_PIXEL_BYTES)
    except ImagingError as exc:
        raise AssertionError(f"stored ingest output refused on re-read: {exc!r}") from exc


def _crash_key(stage: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inner = next((f for f in reversed(frames)), None)
    where = f"{Path(inner.filename).name}:{inner.lineno}" if inner else "?"
    return f"{stage} {type(exc).__name__} @ {where}"


def _worker(conn: Connection, seeds: list[tuple[str, bytes]], lengths: list[list[tuple[int, int]]]) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    warnings.simplefilter("ignore")
    # Rust plugins print a panic message before raising PanicException; results travel over the pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        seed_index, input_seed = job
        rng = random.Random(input_seed)
        data, applied = mutate(seeds[seed_index][1], rng, lengths[seed_index])
        started = time.monotonic()
        progress: list[str] = []
        try:
            outcome, stage = run_target(data, progress)
            notes = ",".join(p for p in progress if p.startswith("decode refused"))
            conn.send(("ok", outcome, stage, notes, time.monotonic() - started))
        except BaseException as exc:  # noqa: BLE001 - every non-ImagingError is what we are looking for
            stage = next((p for p in reversed(progress) if " " not in p), "read")
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
            conn.send(
                ("crash", _crash_key(stage, exc), stage, f"{detail} | mutations={applied}", time.monotonic() - started)
            )


class _Slot:
    def __init__(
        self, ctx: mp.context.BaseContext, seeds: list[tuple[str, bytes]], lengths: list[list[tuple[int, int]]]
    ) -> None:
        self.ctx, self.seeds, self.lengths = ctx, seeds, lengths
        self.start()

    def start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.conn = parent
        self.proc = self.ctx.Process(target=_worker, args=(child, self.seeds, self.lengths), daemon=True)
        self.proc.start()
        child.close()
        self.job: tuple[int, int] | None = None
        self.sent_at = 0.0

    def restart(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()
        self.start()


def _save(save_dir: Path, name: str, data: bytes) -> Path:
    save_dir.mkdir(parents=True, exist_ok=True)
    path = save_dir / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}.dcm"
    path.write_bytes(data)
    return path


def fuzz(seconds: float, workers: int, seed: int, save_dir: Path) -> int:
    seeds = build_seeds()
    lengths = [length_field_offsets(data) for _, data in seeds]
    ctx = mp.get_context("fork")
    slots = [_Slot(ctx, seeds, lengths) for _ in range(workers)]
    master = random.Random(seed)
    outcomes: collections.Counter[str] = collections.Counter()
    stages: collections.Counter[str] = collections.Counter()
    decodes: collections.Counter[str] = collections.Counter()
    crashes: dict[str, list[str]] = collections.defaultdict(list)
    slowest = 0.0
    deadline = time.monotonic() + seconds
    executed = 0

    def record_crash(key: str, slot: _Slot, detail: str) -> None:
        assert slot.job is not None
        seed_index, input_seed = slot.job
        data, _ = mutate(seeds[seed_index][1], random.Random(input_seed), lengths[seed_index])
        path = _save(save_dir, Path(seeds[seed_index][0]).name, data)
        crashes[key].append(f"{seeds[seed_index][0]} seed={input_seed} saved={path.relative_to(ROOT)} {detail}")

    while time.monotonic() < deadline or any(s.job for s in slots):
        for slot in slots:
            if slot.job is None and time.monotonic() < deadline:
                slot.job = (master.randrange(len(seeds)), master.getrandbits(48))
                slot.sent_at = time.monotonic()
                slot.conn.send(slot.job)
            if slot.job is None:
                continue
            if slot.conn.poll(0.01):
                try:
                    status, key, stage, detail, elapsed = slot.conn.recv()
                except (EOFError, OSError):
                    record_crash("worker died (signal) ", slot, f"exitcode={slot.proc.exitcode}")
                    outcomes["crash"] += 1
                    slot.restart()
                    executed += 1
                    continue
                executed += 1
                slowest = max(slowest, elapsed)
                if status == "ok":
                    outcomes[key] += 1
                    stages[stage] += 1
                    for note in filter(None, detail.split(",")):
                        decodes[note] += 1
                else:
                    outcomes["crash"] += 1
                    record_crash(key, slot, detail)
                slot.job = None
            elif not slot.proc.is_alive():
                record_crash("worker died (signal)", slot, f"exitcode={slot.proc.exitcode}")
                outcomes["crash"] += 1
                executed += 1
                slot.restart()
            elif time.monotonic() - slot.sent_at > PER_INPUT_TIMEOUT_S:
                record_crash(f"hang > {PER_INPUT_TIMEOUT_S:.0f} s", slot, "")
                outcomes["crash"] += 1
                executed += 1
                slot.restart()
    for slot in slots:
        with contextlib.suppress(BrokenPipeError, OSError):
            slot.conn.send(None)
        slot.proc.join(5)

    print(
        f"\nfuzz_parser: {executed} inputs in {seconds:.0f} s ({executed / max(seconds, 1):.0f}/s), "
        f"{len(seeds)} seeds, {workers} workers, seed {seed}, slowest input {slowest:.2f} s"
    )
    print(f"\n{'outcome':<48}{'count':>10}")
    for key, count in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{key:<48}{count:>10}")
    print(f"\n{'furthest stage reached (non-crash)':<48}{'count':>10}")
    for key, count in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"{key:<48}{count:>10}")
    print(f"\n{'frames refused by decode_frame':<48}{'count':>10}")
    for key, count in sorted(decodes.items(), key=lambda kv: -kv[1]):
        print(f"{key:<48}{count:>10}")
    if crashes:
        print(f"\nCRASHES: {sum(len(v) for v in crashes.values())} in {len(crashes)} distinct places")
        for key, examples in crashes.items():
            print(f"  {key}  x{len(examples)}")
            for example in examples[:3]:
                print(f"      {example}")
        return 1
    print("\nno crashes")
    return 0


def replay(path: Path) -> int:
    warnings.simplefilter("ignore")
    outcome, stage = run_target(path.read_bytes())
    print(f"{path}: {outcome} (stage {stage})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--save-dir", type=Path, default=ROOT / "var" / "fuzz-crashes")
    parser.add_argument("--replay", type=Path, help="run one saved input in-process and show its traceback")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    if not (SHARED / "dicom").is_dir():
        print(f"shared test data not found at {SHARED}", file=sys.stderr)
        return 2
    return fuzz(args.seconds, args.workers, args.seed, args.save_dir)


if __name__ == "__main__":
    sys.exit(main())
