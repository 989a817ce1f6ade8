"""Fixtures for the model engine tests: shared data location and one predictor per session.

Shared data is ``../shared/data`` next to the repository root, or
``$READINGROOM_SHARED_DATA``. Loading the predictor (weights verification +
model build) is done once; every test reuses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.cvpr24 import shared_data_dir
from models.predictor import Predictor

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir(REPO_ROOT)
    if not (path / "npz" / "imgs").is_dir():
        pytest.fail(f"shared test data not found at {path} (set READINGROOM_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    """The route workers use (optimize='auto' -> exact fused fp32 on CPU)."""
    return Predictor("litemedsam", device="cpu", optimize="auto")
