"""One Predictor per worker process, and what turns a stored frame into the model's input."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from numpy.typing import NDArray

from backend.annotation.models import Project
from backend.common.errors import ApplicationError
from backend.imaging.models import Frame, Series
from backend.imaging.pixels import frame_pixels
from models.preprocess import PreprocessConfig, preprocessing_hash, resolve_bounds
from models.registry import UnknownModelError, get_model_spec, list_models

_lock = threading.Lock()
_predictors: dict[str, Any] = {}


def model_name_checked(name: str | None) -> str:
    """The model to use, refusing unknown names at the API before anything is queued."""
    chosen = name or settings.SEGMENTATION_DEFAULT_MODEL
    try:
        get_model_spec(chosen)
    except UnknownModelError as exc:
        raise ApplicationError(
            "unknown_model", f"No model named {chosen!r}.", extra={"available": list_models()}
        ) from exc
    return chosen


def predictor_for(model: str) -> Any:
    """Loaded lazily, once per process: the web process never loads a model."""
    from models.predictor import Predictor

    with _lock:
        predictor = _predictors.get(model)
        if predictor is None:
            device = None if settings.SEGMENTATION_DEVICE == "auto" else settings.SEGMENTATION_DEVICE
            predictor = Predictor(model, device=device, optimize=settings.SEGMENTATION_OPTIMIZE)  # type: ignore[arg-type]
            _predictors[model] = predictor
        return predictor


def frame_image(frame: Frame) -> NDArray[Any]:
    return frame_pixels(instance=frame.instance, frame_index=frame.frame_index).pixels


def preprocess_config(*, project: Project, series: Series, label_id: int | None = None) -> PreprocessConfig:
    """The authors' preprocessing, with the project's (or the label's) CT window when one is set."""
    spec = get_model_spec(settings.SEGMENTATION_DEFAULT_MODEL)
    config: PreprocessConfig = spec.preprocess
    model_settings = project.model_settings or {}
    window = None
    if label_id is not None:
        window = (model_settings.get("label_windows") or {}).get(str(label_id))
    window = window or model_settings.get("window")
    if window and series.modality == "CT":
        config = config.with_window(float(window["level"]), float(window["width"]))
    return config


def series_config(*, project: Project, series: Series, label_id: int | None = None) -> PreprocessConfig:
    """The full config for a series: percentile mode (MR and others) takes its bounds over the whole
    volume, as the authors do, computed once per series and kept in the cache."""
    config = preprocess_config(project=project, series=series, label_id=label_id)
    if series.modality == "CT" or config.intensity in ("ct_window", "uint8"):
        return resolve_bounds(config, np.zeros((1, 1, 1), dtype=np.int16), series.modality)
    key = f"series-bounds:{series.pk}:{preprocessing_hash(config)}"
    bounds = cache.get(key)
    if bounds is None:
        frames = list(Frame.objects.filter(series=series).select_related("instance").order_by("sort_index"))
        volume = np.stack([frame_image(f) for f in frames]) if frames else np.zeros((1, 1, 1))
        resolved = resolve_bounds(config, volume, series.modality)
        bounds = (resolved.intensity, resolved.lower, resolved.upper)
        cache.set(key, bounds, timeout=None)
    intensity, lower, upper = bounds
    return replace(config, intensity=intensity, lower=lower, upper=upper)
