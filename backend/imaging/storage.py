"""Where imaging files live in Django storage. Paths hold only (de-identified) UIDs, never PHI."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.utils import validate_file_name
from django.utils._os import safe_makedirs

_STAGING = ".staging"
_STALE_STAGING_SECONDS = 24 * 3600


def instance_path(project_id: int, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"projects/{project_id}/dicom/{study_uid}/{series_uid}/{sop_uid}.dcm"


def quarantine_path(project_id: int, sha256: str) -> str:
    return f"projects/{project_id}/quarantine/{sha256}.dcm"


def file_save(path: str, content: bytes | Path) -> str:
    """Save and return the stored name; storage may rename on collision, so callers keep the result.

    `content` is the bytes, or a staged file (see `staging_directory`) that stays in place: a failed
    transaction may need it again.
    """
    if isinstance(content, bytes):
        return default_storage.save(path, ContentFile(content))
    if isinstance(default_storage, FileSystemStorage):
        return _link_into(default_storage, path, content)
    with content.open("rb") as handle:
        return default_storage.save(path, File(handle))


def _link_into(storage: FileSystemStorage, name: str, staged: Path) -> str:
    """FileSystemStorage.save for a file already on the same disk: a hard link instead of a copy.

    Linking fails when the name exists, like the O_EXCL create Django uses, so a concurrent upload of
    the same instance gets a name of its own and never overwrites (or later deletes) the winner's file.
    Directories are created only when the link finds them missing.
    """
    validate_file_name(name, allow_relative_path=True)
    while True:
        full_path = storage.path(name)
        try:
            os.link(staged, full_path)
            break
        except FileNotFoundError:
            if not staged.exists():
                raise
            _make_directories(storage, os.path.dirname(full_path))
        except FileExistsError:
            name = storage.get_available_name(name)
    if storage.file_permissions_mode is not None:
        os.chmod(full_path, storage.file_permissions_mode)
    return os.path.relpath(full_path, storage.location).replace(os.sep, "/")


def _make_directories(storage: FileSystemStorage, directory: str) -> None:
    if storage.directory_permissions_mode is not None:
        safe_makedirs(directory, storage.directory_permissions_mode, exist_ok=True)
    else:
        os.makedirs(directory, exist_ok=True)


@contextmanager
def staging_directory() -> Iterator[str]:
    """A private directory for one batch, where preparing processes write finished files.

    On local storage it lies inside the storage root, so that `file_save` links a staged file into place
    on the same file system. Removed with everything in it when the batch ends; directories that a
    killed process left behind are swept once they are a day old.
    """
    if isinstance(default_storage, FileSystemStorage):
        root = Path(default_storage.location) / _STAGING
    else:
        root = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()) / "readingroom-staging"
    root.mkdir(parents=True, exist_ok=True)
    _sweep(root)
    directory = tempfile.mkdtemp(dir=root)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _sweep(root: Path) -> None:
    cutoff = time.time() - _STALE_STAGING_SECONDS
    with os.scandir(root) as entries:
        for entry in entries:
            try:
                stale = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff
            except OSError:
                continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)


def file_delete(path: str) -> None:
    if path and default_storage.exists(path):
        default_storage.delete(path)


def file_open(path: str) -> BinaryIO:
    return default_storage.open(path, "rb")  # type: ignore[return-value]


def file_read(path: str) -> bytes:
    with default_storage.open(path, "rb") as handle:
        return handle.read()  # type: ignore[no-any-return]


def sha256_of_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with default_storage.open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
