"""Model registry: a name ("litemedsam") -> how to build it, where its weights are, how to preprocess.

Callers (workers, CLI, bench) only ever say a model name; operators add
checkpoints by name + path, either in code with :func:`register_checkpoint` /
:func:`register_model`, or without code through the environment variable
``READINGROOM_MODEL_CHECKPOINTS`` holding a JSON list such as::

    [{"name": "litemedsam-ft", "path": "/models/ft.pth", "sha256": "...",
      "architecture": "litemedsam"},
     {"name": "sam-vit-b", "path": "/models/sam_vit_b.pth",
      "architecture": "mypkg.sam_vit:build", "image_size": 1024}]

An architecture is a registered name or an importable ``module:function``
returning a :class:`~models.litemedsam.SamModel`, so a ViT-B/L/H SAM or MedSAM
encoder can be plugged in without touching this package.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .litemedsam import SamModel, build_litemedsam
from .preprocess import PreprocessConfig
from .weights import LITEMEDSAM_SHA256, LITEMEDSAM_SIZE, WeightsError, WeightsLocator, load_into, load_state_dict

Builder = Callable[[], SamModel]
ENV_EXTRA_MODELS = "READINGROOM_MODEL_CHECKPOINTS"
DEFAULT_MODEL = "litemedsam"


class UnknownModelError(KeyError):
    """No model is registered under the requested name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown model {name!r}; registered models: {', '.join(known) or 'none'}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class UnknownArchitectureError(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown architecture {name!r}; registered: {', '.join(known)} (or use 'module:function')")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Builder
    weights: WeightsLocator
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    image_size: int = 256
    embedding_shape: tuple[int, int, int] = (256, 64, 64)
    description: str = ""


_lock = threading.Lock()
_architectures: dict[str, Builder] = {"litemedsam": build_litemedsam}
_models: dict[str, ModelSpec] = {}
# The last READINGROOM_MODEL_CHECKPOINTS value registered (a 1-slot box, not a global rebinding).
_env_state: dict[str, str] = {}


def register_architecture(name: str, builder: Builder, *, replace_existing: bool = False) -> None:
    with _lock:
        if name in _architectures and not replace_existing:
            raise ValueError(f"architecture {name!r} is already registered")
        _architectures[name] = builder


def _resolve_architecture(arch: str | Builder) -> Builder:
    if callable(arch):
        return arch
    with _lock:
        found = _architectures.get(arch)
        known = sorted(_architectures)
    if found is not None:
        return found
    if ":" in arch:
        module_name, _, attr = arch.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownArchitectureError(arch, known) from exc
        if not callable(fn):
            raise UnknownArchitectureError(arch, known)
        return fn  # type: ignore[no-any-return]
    raise UnknownArchitectureError(arch, known)


def register_model(spec: ModelSpec, *, replace_existing: bool = False) -> ModelSpec:
    with _lock:
        if spec.name in _models and not replace_existing:
            raise ValueError(f"model {spec.name!r} is already registered (pass replace_existing=True)")
        _models[spec.name] = spec
    return spec


def register_checkpoint(
    name: str,
    path: str | Path,
    *,
    architecture: str | Builder = "litemedsam",
    sha256: str | None = None,
    image_size: int = 256,
    preprocess: PreprocessConfig | None = None,
    description: str = "",
    replace_existing: bool = False,
) -> ModelSpec:
    """Register an operator checkpoint by name + path (architecture defaults to LiteMedSAM)."""
    builder = _resolve_architecture(architecture)
    pp = preprocess if preprocess is not None else PreprocessConfig(image_size=image_size)
    spec = ModelSpec(
        name=name,
        builder=builder,
        weights=WeightsLocator(path=Path(path), sha256=sha256),
        preprocess=replace(pp, image_size=image_size),
        image_size=image_size,
        description=description or f"{architecture} checkpoint {path}",
    )
    return register_model(spec, replace_existing=replace_existing)


def unregister_model(name: str) -> None:
    with _lock:
        _models.pop(name, None)


def _load_env_models() -> None:
    """Register the operator list from the environment once per distinct value."""
    raw = os.environ.get(ENV_EXTRA_MODELS, "")
    if not raw or raw == _env_state.get("loaded"):
        return
    try:
        entries = json.loads(raw)
        if not isinstance(entries, list):
            raise ValueError("expected a JSON list")
        for entry in entries:
            register_checkpoint(
                str(entry["name"]),
                str(entry["path"]),
                architecture=str(entry.get("architecture", "litemedsam")),
                sha256=entry.get("sha256"),
                image_size=int(entry.get("image_size", 256)),
                replace_existing=True,
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid {ENV_EXTRA_MODELS}: {exc}") from exc
    _env_state["loaded"] = raw


def list_models() -> list[str]:
    _load_env_models()
    with _lock:
        return sorted(_models)


def get_model_spec(name: str) -> ModelSpec:
    _load_env_models()
    with _lock:
        spec = _models.get(name)
        known = sorted(_models)
    if spec is None:
        raise UnknownModelError(name, known)
    return spec


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device = "cpu") -> SamModel:
    """Build the architecture, verify and strictly load its weights, move to ``device``, eval mode."""
    spec = get_model_spec(name)
    path = spec.weights.verified_path()
    state = load_state_dict(path)
    model = spec.builder()
    load_into(model, state, path)
    return model.to(device).eval()


register_model(
    ModelSpec(
        name="litemedsam",
        builder=build_litemedsam,
        weights=WeightsLocator(
            path=None, sha256=LITEMEDSAM_SHA256, size=LITEMEDSAM_SIZE, env_var="READINGROOM_LITEMEDSAM_WEIGHTS"
        ),
        preprocess=PreprocessConfig(image_size=256),
        image_size=256,
        description="LiteMedSAM (TinyViT-5M + SAM decoder), MedSAM CVPR 2024 weights",
    )
)

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "UnknownArchitectureError",
    "UnknownModelError",
    "WeightsError",
    "get_model_spec",
    "list_models",
    "load_model",
    "register_architecture",
    "register_checkpoint",
    "register_model",
    "unregister_model",
]
