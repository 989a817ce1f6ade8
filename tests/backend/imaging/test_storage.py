"""Imaging storage: files staged by the preparing processes, linked into local storage or copied elsewhere."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage

from backend.imaging import storage


def _local(settings, root: Path, **options: object) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), **options},
        },
    }


def _staged(directory: str, content: bytes) -> Path:
    path = Path(directory) / f"{len(os.listdir(directory))}.dcm"
    path.write_bytes(content)
    return path


def test_a_staged_file_is_linked_into_place_and_stays_staged(settings, tmp_path: Path) -> None:
    _local(settings, tmp_path / "media", file_permissions_mode=0o640, directory_permissions_mode=0o750)
    with storage.staging_directory() as directory:
        assert Path(directory).parent == tmp_path / "media" / ".staging"
        staged = _staged(directory, b"first")
        name = storage.file_save("projects/1/dicom/a/b/c.dcm", staged)
        assert name == "projects/1/dicom/a/b/c.dcm"
        stored = tmp_path / "media" / name
        assert stored.read_bytes() == b"first"
        assert os.path.samefile(stored, staged)  # linked, not copied
        assert stat.S_IMODE(stored.stat().st_mode) == 0o640
        assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o750
        assert stat.S_IMODE((tmp_path / "media" / "projects").stat().st_mode) == 0o750
        # A failed transaction deletes what it stored and retries from the same staged file.
        storage.file_delete(name)
        assert storage.file_save("projects/1/dicom/a/b/c.dcm", staged) == name
        assert default_storage.open(name).read() == b"first"
    assert not Path(directory).exists()
    assert stored.read_bytes() == b"first"  # the batch's staging went, the stored file stays


def test_a_taken_name_is_never_overwritten(settings, tmp_path: Path) -> None:
    _local(settings, tmp_path / "media")
    first = storage.file_save("projects/1/dicom/x.dcm", b"winner")
    with storage.staging_directory() as directory:
        second = storage.file_save("projects/1/dicom/x.dcm", _staged(directory, b"loser"))
    assert second != first and second.startswith("projects/1/dicom/x_") and second.endswith(".dcm")
    assert default_storage.open(first).read() == b"winner"
    assert default_storage.open(second).read() == b"loser"


def test_a_name_outside_the_storage_root_is_refused(settings, tmp_path: Path) -> None:
    _local(settings, tmp_path / "media")
    with storage.staging_directory() as directory:
        staged = _staged(directory, b"x")
        for name in ("../outside.dcm", "projects/../../outside.dcm", "/etc/outside.dcm"):
            with pytest.raises(SuspiciousFileOperation):
                storage.file_save(name, staged)
    assert not (tmp_path / "outside.dcm").exists()


def test_a_vanished_staged_file_is_an_error_not_an_empty_directory_tree(settings, tmp_path: Path) -> None:
    _local(settings, tmp_path / "media")
    with storage.staging_directory() as directory, pytest.raises(FileNotFoundError):
        storage.file_save("projects/1/dicom/y.dcm", Path(directory) / "gone.dcm")
    assert not default_storage.exists("projects/1/dicom/y.dcm")


def test_other_storages_get_a_copy_of_the_staged_file(settings, tmp_path: Path) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    with storage.staging_directory() as directory:
        assert Path(directory).parent == tmp_path / "uploads" / "readingroom-staging"
        name = storage.file_save("projects/1/dicom/z.dcm", _staged(directory, b"copied"))
    assert default_storage.open(name).read() == b"copied"


def test_staging_left_by_a_killed_process_is_swept_after_a_day(settings, tmp_path: Path) -> None:
    _local(settings, tmp_path / "media")
    root = tmp_path / "media" / ".staging"
    old, recent = root / "old", root / "recent"
    for directory in (old, recent):
        directory.mkdir(parents=True)
        (directory / "1.dcm").write_bytes(b"x")
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(old, (day_ago, day_ago))
    with storage.staging_directory():
        pass
    assert not old.exists()
    assert (recent / "1.dcm").exists()  # perhaps a batch still running in another process


def test_a_file_staged_by_a_worker_gets_the_mode_storage_gives_when_none_is_set(settings, tmp_path: Path) -> None:
    from backend.imaging.prepare import Prepared, _stage

    _local(settings, tmp_path / "media", file_permissions_mode=None)
    direct = storage.file_save("projects/1/direct.dcm", b"x")
    with storage.staging_directory() as directory:
        prepared = Prepared(
            content=b"x", size=1, digest="", source_mac="", summary=None, transfer_syntax_uid="", quarantine=None
        )  # type: ignore[arg-type]
        staged = _stage(prepared, directory)
        assert staged.content is None and staged.staged is not None
        assert stat.S_IMODE(Path(directory).stat().st_mode) == 0o700  # the staged bytes are private
        linked = storage.file_save("projects/1/linked.dcm", staged.body())
    mode = stat.S_IMODE((tmp_path / "media" / direct).stat().st_mode)
    assert stat.S_IMODE((tmp_path / "media" / linked).stat().st_mode) == mode
