"""ReadingRoom model engine: LiteMedSAM (and other SAM-family models) in plain PyTorch.

Public entry points: :class:`Predictor` for inference, the registry functions
for naming models, :func:`preprocessing_hash` for embedding cache keys.
"""

from .optimize import OptimizeMode
from .predictor import Decoded, Embedding, Predictor, PromptError, Propagation, PropagationCancelled, dice
from .preprocess import PreprocessConfig, SliceGeometry, preprocessing_hash
from .registry import (
    DEFAULT_MODEL,
    ModelSpec,
    UnknownArchitectureError,
    UnknownModelError,
    get_model_spec,
    list_models,
    load_model,
    register_architecture,
    register_checkpoint,
    register_model,
    unregister_model,
)
from .weights import WeightsError, WeightsLocator, verify_checkpoint

__all__ = [
    "DEFAULT_MODEL",
    "Decoded",
    "Embedding",
    "ModelSpec",
    "OptimizeMode",
    "Predictor",
    "PreprocessConfig",
    "PromptError",
    "Propagation",
    "PropagationCancelled",
    "SliceGeometry",
    "UnknownArchitectureError",
    "UnknownModelError",
    "WeightsError",
    "WeightsLocator",
    "dice",
    "get_model_spec",
    "list_models",
    "load_model",
    "preprocessing_hash",
    "register_architecture",
    "register_checkpoint",
    "register_model",
    "unregister_model",
    "verify_checkpoint",
]
