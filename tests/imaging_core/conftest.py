"""Fixtures for the Django-free imaging core tests: where the shared test data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("READINGROOM_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "dicom").is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (set READINGROOM_SHARED_DATA)")
    return SHARED_DATA
