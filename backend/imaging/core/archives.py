"""Safe, streaming extraction of uploaded zip archives.

Nothing from the archive touches the file system here: members come out as streams the caller copies to
storage chunk by chunk. What is refused, before any member is inflated:
- more members than allowed (counted from the end-of-central-directory record, before zipfile builds its
  list, so a central directory of millions of entries costs nothing)       -> zip_too_many_members
- names that are absolute, contain "..", NUL/control characters, or repeat -> zip_unsafe_path
- symlinks (Unix mode bits in external_attr); other special files           -> zip_symlink / zip_unsafe_path
- declared sizes or ratios over the limits                                  -> zip_too_large
- encryption, unsupported compression, overlapping members ("better zip bomb"), corrupt structure -> zip_invalid
Header sizes can lie, so the same limits are enforced again on the bytes actually inflated while reading:
the total across members, the member size, and the compression ratio (once a member has produced
`ratio_check_min_bytes`). A read never returns more than `chunk_size` bytes, and `read()` without a size
refuses members larger than that, so at most one chunk per read is held in memory.
"""

from __future__ import annotations

import io
import itertools
import posixpath
import stat
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Final, Protocol

from .errors import Code, ImagingError

_SUPPORTED_METHODS: Final = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
_LOCAL_HEADER: Final = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE: Final = b"PK\x03\x04"


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 20_000
    max_total_bytes: int = 8 << 30
    max_member_bytes: int = 2 << 30
    max_ratio: float = 200.0
    # The ratio test only applies to members that inflate past this: small, very sparse files (an empty
    # segmentation mask) legitimately compress 1000:1 and cost nothing.
    ratio_check_min_bytes: int = 32 << 20
    chunk_size: int = 64 << 20
    max_name_length: int = 1024


class SupportsWriteBytes(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass
class ZipMember:
    """One regular file of the archive. `stream` is valid until the iteration moves on."""

    name: str
    declared_size: int
    compressed_size: int
    stream: ZipMemberStream

    def iter_chunks(self) -> Iterator[bytes]:
        while chunk := self.stream.read(self.stream.chunk_size):
            yield chunk

    def copy_to(self, destination: SupportsWriteBytes) -> int:
        written = 0
        for chunk in self.iter_chunks():
            destination.write(chunk)
            written += len(chunk)
        return written


class _Budget:
    def __init__(self, limits: ZipLimits) -> None:
        self.limits = limits
        self.total = 0


class ZipMemberStream(io.RawIOBase):
    """A read-only stream over one member that enforces the byte budget on inflated bytes."""

    def __init__(self, inner: IO[bytes], info: zipfile.ZipInfo, name: str, budget: _Budget) -> None:
        super().__init__()
        self._inner = inner
        self._info = info
        self._name = name
        self._budget = budget
        self._produced = 0
        self.chunk_size = budget.limits.chunk_size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.chunk_size)
        data = self._read(want)
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        return self._read(min(size, self.chunk_size))

    def readall(self) -> bytes:
        remaining = self._info.file_size - self._produced
        if remaining > self.chunk_size:
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "The member is larger than one in-memory chunk; read it in chunks.",
                {"name": self._name, "reason": "read_all_too_large", "limit": self.chunk_size},
            )
        parts = []
        while data := self._read(self.chunk_size):
            parts.append(data)
            if sum(len(p) for p in parts) > self.chunk_size:
                raise ImagingError(
                    Code.ZIP_TOO_LARGE,
                    "The member inflates past one in-memory chunk.",
                    {"name": self._name, "reason": "read_all_too_large", "limit": self.chunk_size},
                )
        return b"".join(parts)

    def _read(self, size: int) -> bytes:
        if size == 0:
            return b""
        try:
            data = self._inner.read(size)
        except ImagingError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise ImagingError(
                Code.ZIP_INVALID,
                "A member of the archive is corrupt.",
                {"name": self._name, "detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
            ) from exc
        except Exception as exc:  # zlib/bz2/lzma errors come in several types
            raise ImagingError(
                Code.ZIP_INVALID,
                "A member of the archive is corrupt.",
                {"name": self._name, "detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
            ) from exc
        self._account(len(data))
        return data

    def _account(self, count: int) -> None:
        limits = self._budget.limits
        self._produced += count
        self._budget.total += count
        if self._produced > self._info.file_size:
            raise ImagingError(Code.ZIP_INVALID, "A member inflates past its declared size.", {"name": self._name})
        if self._produced > limits.max_member_bytes:
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "A member is too large.",
                {"name": self._name, "reason": "member_size", "limit": limits.max_member_bytes},
            )
        if self._budget.total > limits.max_total_bytes:
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "The archive inflates past the allowed total.",
                {"reason": "total_size", "limit": limits.max_total_bytes},
            )
        if self._produced > limits.ratio_check_min_bytes and self._produced > limits.max_ratio * max(
            self._info.compress_size, 1
        ):
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "A member has a suspicious compression ratio.",
                {"name": self._name, "reason": "compression_ratio", "limit": limits.max_ratio},
            )

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def safe_member_name(raw: str, *, max_length: int = 1024) -> str:
    """The normalized relative POSIX path of a member, or ImagingError(zip_unsafe_path)."""

    def unsafe(reason: str) -> ImagingError:
        return ImagingError(
            Code.ZIP_UNSAFE_PATH, "The archive contains an unsafe path.", {"name": raw[:200], "reason": reason}
        )

    if len(raw) > max_length:
        raise unsafe("too_long")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise unsafe("control_character")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise unsafe("absolute")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise unsafe("parent_reference")
    if not parts:
        raise unsafe("empty")
    normalized = posixpath.join(*parts)
    if name.endswith("/"):
        normalized += "/"
    return normalized


def _is_hidden(name: str) -> bool:
    base = posixpath.basename(name.rstrip("/"))
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store", "Thumbs.db")


def _entry_count(fp: BinaryIO) -> int:
    """Total entries from the end-of-central-directory record (zip64 aware), read before zipfile parses the
    central directory."""
    try:
        # zipfile has no public way to read the entry count without parsing the whole central directory.
        record = zipfile._EndRecData(fp)  # type: ignore[attr-defined]
    except (OSError, struct.error, ValueError) as exc:
        raise ImagingError(
            Code.ZIP_INVALID, "The file is not a valid zip archive.", {"detail": str(exc)[:200]}
        ) from exc
    if not record:
        raise ImagingError(Code.ZIP_INVALID, "The file is not a zip archive (no end of central directory).")
    return int(record[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]


def _check_overlaps(fp: BinaryIO, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse members whose data overlap another member's local header (the overlapping-file zip bomb)."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    ends: list[tuple[int, int, str]] = []
    for info in ordered:
        fp.seek(info.header_offset)
        header = fp.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
            raise ImagingError(
                Code.ZIP_INVALID,
                "A member's local header is missing.",
                {"name": info.filename[:200], "reason": "bad_local_header"},
            )
        fields = _LOCAL_HEADER.unpack(header)
        name_len, extra_len = fields[10], fields[11]
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        ends.append((info.header_offset, start + info.compress_size, info.filename))
    for (_, end, name), (next_start, _, _) in itertools.pairwise(ends):
        if next_start < end:
            raise ImagingError(
                Code.ZIP_INVALID,
                "Members of the archive overlap.",
                {"name": name[:200], "reason": "overlapping_members"},
            )


def iter_zip_members(
    source: BinaryIO, *, limits: ZipLimits | None = None, skip_hidden: bool = True
) -> Iterator[ZipMember]:
    """Validate the archive's directory, then yield its regular files one at a time as budgeted streams.

    `source` must be seekable (the upload already spooled to a temporary file or object storage).
    Directories are skipped; so are macOS/Windows metadata files (`__MACOSX/`, `._*`, `.DS_Store`) unless
    `skip_hidden` is False.
    """
    limits = limits or ZipLimits()
    try:
        seekable = source.seekable()
    except (AttributeError, OSError, ValueError):
        seekable = False
    if not seekable:
        raise ImagingError(Code.ZIP_INVALID, "The archive must be given as a seekable file.")
    count = _entry_count(source)
    if count > limits.max_members:
        raise ImagingError(
            Code.ZIP_TOO_MANY_MEMBERS,
            "The archive has too many members.",
            {"members": count, "limit": limits.max_members},
        )
    try:
        archive = zipfile.ZipFile(source)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        struct.error,
        UnicodeDecodeError,
    ) as exc:
        raise ImagingError(
            Code.ZIP_INVALID,
            "The file is not a valid zip archive.",
            {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
        ) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise ImagingError(
                Code.ZIP_TOO_MANY_MEMBERS,
                "The archive has too many members.",
                {"members": len(infos), "limit": limits.max_members},
            )
        members = _validate_directory(infos, limits, skip_hidden)
        _check_overlaps(source, [info for info, _ in members])
        budget = _Budget(limits)
        for info, name in members:
            try:
                inner = archive.open(info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise ImagingError(
                    Code.ZIP_INVALID,
                    "A member of the archive is corrupt.",
                    {"name": name, "detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
                ) from exc
            stream = ZipMemberStream(inner, info, name, budget)
            try:
                yield ZipMember(name, info.file_size, info.compress_size, stream)
            finally:
                stream.close()


def _validate_directory(
    infos: list[zipfile.ZipInfo], limits: ZipLimits, skip_hidden: bool
) -> list[tuple[zipfile.ZipInfo, str]]:
    seen: set[str] = set()
    out: list[tuple[zipfile.ZipInfo, str]] = []
    declared_total = 0
    for info in infos:
        name = safe_member_name(info.filename, max_length=limits.max_name_length)
        mode = (info.external_attr >> 16) & 0xFFFF
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise ImagingError(Code.ZIP_SYMLINK, "The archive contains a symbolic link.", {"name": name})
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ImagingError(
                Code.ZIP_UNSAFE_PATH, "The archive contains a special file.", {"name": name, "reason": "special_file"}
            )
        folded = name.casefold()
        if folded in seen:
            raise ImagingError(
                Code.ZIP_UNSAFE_PATH, "The archive contains the same path twice.", {"name": name, "reason": "duplicate"}
            )
        seen.add(folded)
        if info.is_dir() or name.endswith("/"):
            continue
        if info.flag_bits & 0x1:
            raise ImagingError(
                Code.ZIP_INVALID, "Encrypted archives are not accepted.", {"name": name, "reason": "encrypted"}
            )
        if info.compress_type not in _SUPPORTED_METHODS:
            raise ImagingError(
                Code.ZIP_INVALID,
                "A member uses an unsupported compression method.",
                {"name": name, "reason": "unsupported_compression", "method": info.compress_type},
            )
        if info.file_size > limits.max_member_bytes:
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "A member is too large.",
                {"name": name, "reason": "member_size", "limit": limits.max_member_bytes},
            )
        if info.file_size > limits.ratio_check_min_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "A member has a suspicious compression ratio.",
                {"name": name, "reason": "compression_ratio", "limit": limits.max_ratio},
            )
        declared_total += info.file_size
        if declared_total > limits.max_total_bytes:
            raise ImagingError(
                Code.ZIP_TOO_LARGE,
                "The archive inflates past the allowed total.",
                {"reason": "total_size", "limit": limits.max_total_bytes},
            )
        if skip_hidden and _is_hidden(name):
            continue
        out.append((info, name))
    return out


__all__ = ["ZipLimits", "ZipMember", "ZipMemberStream", "iter_zip_members", "safe_member_name"]
