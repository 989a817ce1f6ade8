"""Checkpoint location, verification, strict loading and the model registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from models import registry
from models.litemedsam import build_litemedsam
from models.registry import (
    UnknownArchitectureError,
    UnknownModelError,
    get_model_spec,
    list_models,
    load_model,
    register_checkpoint,
    unregister_model,
)
from models.weights import (
    LITEMEDSAM_SHA256,
    LITEMEDSAM_SIZE,
    WeightsError,
    load_state_dict,
    packaged_litemedsam_path,
    sha256_file,
    verify_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return packaged_litemedsam_path()


def test_packaged_checkpoint_found_and_hash_pinned(checkpoint: Path) -> None:
    assert checkpoint.name == "lite_medsam.pth"
    assert checkpoint.stat().st_size == LITEMEDSAM_SIZE == 39_370_479
    assert LITEMEDSAM_SHA256.startswith("79d8c9dc") and LITEMEDSAM_SHA256.endswith("3028ce76")
    assert sha256_file(checkpoint) == LITEMEDSAM_SHA256
    assert verify_checkpoint(checkpoint, LITEMEDSAM_SHA256, LITEMEDSAM_SIZE) == checkpoint.resolve()


def test_every_checkpoint_key_loads_strictly(checkpoint: Path) -> None:
    state = load_state_dict(checkpoint, LITEMEDSAM_SHA256)
    model = build_litemedsam()
    expected = set(model.state_dict().keys())
    assert set(state) == expected, (sorted(set(state) - expected)[:5], sorted(expected - set(state))[:5])
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in model.state_dict().items():
        assert value.shape == state[key].shape, key


def test_load_model_produces_256x64x64_embeddings() -> None:
    model = load_model("litemedsam")
    assert not model.training
    with torch.inference_mode():
        emb = model.encode(torch.rand(1, 3, 256, 256))
    assert emb.shape == (1, 256, 64, 64)
    assert emb.dtype == torch.float32


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(WeightsError) as err:
        verify_checkpoint(missing, LITEMEDSAM_SHA256)
    assert str(missing) in str(err.value) and "does not exist" in str(err.value)
    assert err.value.path == missing


def test_wrong_hash_and_wrong_size_are_rejected(tmp_path: Path, checkpoint: Path) -> None:
    bad = tmp_path / "lite_medsam.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"sha256 is .* expected 79d8c9dc"):
        verify_checkpoint(bad, LITEMEDSAM_SHA256)
    with pytest.raises(WeightsError, match="size is 16 bytes, expected 39370479"):
        verify_checkpoint(bad, LITEMEDSAM_SHA256, LITEMEDSAM_SIZE)
    # Same size, one flipped byte: only the hash can tell.
    tampered = tmp_path / "tampered.pth"
    shutil.copyfile(checkpoint, tampered)
    with tampered.open("r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(WeightsError, match="sha256"):
        verify_checkpoint(tampered, LITEMEDSAM_SHA256, LITEMEDSAM_SIZE)


def test_folder_and_unloadable_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not a regular file"):
        verify_checkpoint(tmp_path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="cannot be loaded by torch"):
        load_state_dict(junk)


def test_unknown_model_name() -> None:
    with pytest.raises(UnknownModelError) as err:
        get_model_spec("sam-vit-z")
    assert "sam-vit-z" in str(err.value) and "litemedsam" in str(err.value)
    assert isinstance(err.value, KeyError)


def test_operator_checkpoint_by_name_and_path(tmp_path: Path, checkpoint: Path) -> None:
    copy = tmp_path / "site_copy.pth"
    shutil.copyfile(checkpoint, copy)
    register_checkpoint("litemedsam-site", copy, sha256=LITEMEDSAM_SHA256)
    try:
        assert "litemedsam-site" in list_models()
        assert isinstance(load_model("litemedsam-site"), torch.nn.Module)
        with pytest.raises(ValueError, match="already registered"):
            register_checkpoint("litemedsam-site", copy)
        # A wrong expected hash fails at load time with the path in the message.
        register_checkpoint("litemedsam-site", copy, sha256="0" * 64, replace_existing=True)
        with pytest.raises(WeightsError, match=str(copy)):
            load_model("litemedsam-site")
    finally:
        unregister_model("litemedsam-site")


def test_operator_checkpoints_from_environment(
    tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        {"name": "env-model", "path": str(checkpoint), "sha256": LITEMEDSAM_SHA256},
        {"name": "env-plugin", "path": str(checkpoint), "architecture": "models.litemedsam:build_litemedsam"},
    ]
    monkeypatch.setenv(registry.ENV_EXTRA_MODELS, json.dumps(entries))
    try:
        assert {"env-model", "env-plugin"} <= set(list_models())
        assert get_model_spec("env-plugin").builder is build_litemedsam
    finally:
        unregister_model("env-model")
        unregister_model("env-plugin")
    monkeypatch.setenv(registry.ENV_EXTRA_MODELS, "[{]")
    with pytest.raises(ValueError, match=registry.ENV_EXTRA_MODELS):
        list_models()


def test_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(UnknownArchitectureError, match="sam_vit_h"):
        register_checkpoint("vit-h", tmp_path / "x.pth", architecture="sam_vit_h")
    with pytest.raises(UnknownArchitectureError):
        register_checkpoint("vit-h", tmp_path / "x.pth", architecture="no_such_module_xyz:build")
