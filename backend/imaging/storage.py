"""Where imaging files live in Django storage. Paths hold only (de-identified) UIDs, never PHI."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def instance_path(project_id: int, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"projects/{project_id}/dicom/{study_uid}/{series_uid}/{sop_uid}.dcm"


def quarantine_path(project_id: int, sha256: str) -> str:
    return f"projects/{project_id}/quarantine/{sha256}.dcm"


def file_save(path: str, content: bytes) -> str:
    """Save and return the stored name; storage may rename on collision, so callers keep the result."""
    return default_storage.save(path, ContentFile(content))


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
