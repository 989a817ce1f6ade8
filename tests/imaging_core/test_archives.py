from __future__ import annotations

import io
import stat
import struct
import zipfile
from collections.abc import Iterable

import pytest

from backend.imaging.core.archives import ZipLimits, iter_zip_members, safe_member_name
from backend.imaging.core.errors import ImagingError


def _zip(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


def _members(data: bytes, **limits: int | float) -> dict[str, bytes]:
    return {m.name: b"".join(m.iter_chunks()) for m in iter_zip_members(io.BytesIO(data), limits=ZipLimits(**limits))}


def _code(data: bytes, **limits: int | float) -> ImagingError:
    with pytest.raises(ImagingError) as excinfo:
        _members(data, **limits)
    return excinfo.value


def test_regular_archive_streams_its_files_and_skips_folders_and_junk() -> None:
    data = _zip(
        [
            ("case/a.dcm", b"A" * 1000),
            ("case/", b""),
            ("case/b.dcm", b"B" * 10),
            ("__MACOSX/case/._a.dcm", b"junk"),
            ("case/.DS_Store", b"junk"),
            ("case\\c.dcm", b"C"),
        ]
    )
    assert _members(data) == {"case/a.dcm": b"A" * 1000, "case/b.dcm": b"B" * 10, "case/c.dcm": b"C"}


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "a/../../evil.dcm", "/etc/passwd", "C:/x.dcm", "a\\..\\..\\x", "bad\x01name", "x" * 2000]
)
def test_unsafe_paths_are_refused(name: str) -> None:
    error = _code(_zip([("ok.dcm", b"1"), (name, b"2")]))
    assert error.code == "zip_unsafe_path"


def test_duplicate_names_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.dcm", b"1")
        with pytest.warns(UserWarning):
            zf.writestr("A.dcm", b"2")  # same name after case folding: would overwrite on extraction
            zf.writestr("a.dcm", b"3")
    error = _code(buffer.getvalue())
    assert error.code == "zip_unsafe_path" and error.extra["reason"] == "duplicate"


def test_symlinks_and_special_files_are_refused() -> None:
    link = zipfile.ZipInfo("link.dcm")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert _code(_zip([(link, b"/etc/passwd")])).code == "zip_symlink"
    fifo = zipfile.ZipInfo("fifo")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    assert _code(_zip([(fifo, b"")])).code == "zip_unsafe_path"


def test_too_many_members() -> None:
    data = _zip([(f"{i}.dcm", b"x") for i in range(6)])
    error = _code(data, max_members=5)
    assert error.code == "zip_too_many_members" and error.extra["members"] == 6


def test_too_large_total_and_member() -> None:
    data = _zip([("a.dcm", b"a" * 600), ("b.dcm", b"b" * 600)])
    assert _code(data, max_total_bytes=1000).code == "zip_too_large"
    assert _code(data, max_member_bytes=500).code == "zip_too_large"


def test_compression_bomb_is_refused_by_ratio() -> None:
    data = _zip([("bomb.dcm", b"\x00" * (4 << 20))])  # 4 MiB of zeros -> ~4 KB
    error = _code(data, ratio_check_min_bytes=1 << 20, max_ratio=100)
    assert error.code == "zip_too_large" and error.extra["reason"] == "compression_ratio"
    # Below the size where the ratio matters, sparse files pass.
    assert len(_members(data, ratio_check_min_bytes=8 << 20)["bomb.dcm"]) == 4 << 20


def _patch_sizes(data: bytes, name: bytes, new_size: int) -> bytes:
    out = bytearray(data)
    local = out.index(b"PK\x03\x04" + b"")  # first local header belongs to the only member
    struct.pack_into("<L", out, local + 22, new_size)
    central = out.index(b"PK\x01\x02")
    struct.pack_into("<L", out, central + 24, new_size)
    assert name in out
    return bytes(out)


def test_lying_size_header_does_not_produce_more_bytes() -> None:
    data = _patch_sizes(_zip([("a.dcm", b"z" * 100_000)]), b"a.dcm", 100)
    error = _code(data)
    assert error.code == "zip_invalid"  # inflation stops at the declared size and the CRC fails


def test_overlapping_members_are_refused() -> None:
    data = bytearray(_zip([("a.dcm", b"q" * 5000), ("b.dcm", b"r" * 10)]))
    first = data.index(b"PK\x01\x02")
    second = data.index(b"PK\x01\x02", first + 4)
    offset_a = struct.unpack_from("<L", data, first + 42)[0]
    struct.pack_into("<L", data, second + 42, offset_a)  # b's directory entry points into a's data
    assert _code(bytes(data)).code == "zip_invalid"


def test_encrypted_members_are_refused() -> None:
    data = bytearray(_zip([("a.dcm", b"secret")]))
    central = data.index(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 0x1)
    error = _code(bytes(data))
    assert error.code == "zip_invalid" and error.extra["reason"] == "encrypted"


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x05\x06" + b"\x00" * 10])
def test_not_a_zip(data: bytes) -> None:
    assert _code(data).code == "zip_invalid"


def test_truncated_zip() -> None:
    data = _zip([("a.dcm", b"hello" * 1000)])
    assert _code(data[: len(data) // 2]).code == "zip_invalid"


def test_reads_are_capped_at_the_chunk_size() -> None:
    content = bytes(range(256)) * 40
    data = _zip([("a.dcm", content)])
    for member in iter_zip_members(io.BytesIO(data), limits=ZipLimits(chunk_size=1024)):
        assert len(member.stream.read(5000)) == 1024
        with pytest.raises(ImagingError) as excinfo:
            member.stream.read()
        assert excinfo.value.extra["reason"] == "read_all_too_large"
    for member in iter_zip_members(io.BytesIO(data), limits=ZipLimits(chunk_size=1024)):
        sink = io.BytesIO()
        assert member.copy_to(sink) == len(content)
        assert sink.getvalue() == content


def test_stored_and_bzip2_members() -> None:
    assert _members(_zip([("a", b"abc")], method=zipfile.ZIP_STORED)) == {"a": b"abc"}
    assert _members(_zip([("a", b"abc")], method=zipfile.ZIP_BZIP2)) == {"a": b"abc"}


def test_non_seekable_source_is_refused() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    with pytest.raises(ImagingError) as excinfo:
        list(iter_zip_members(Pipe()))  # type: ignore[arg-type]
    assert excinfo.value.code == "zip_invalid"


def test_safe_member_name_normalizes() -> None:
    assert safe_member_name("a//b/./c.dcm") == "a/b/c.dcm"
    assert safe_member_name("dir/") == "dir/"
