"""The embedding cache: float16 in storage under a byte budget (LRU), plus an in-memory LRU per worker.

Two requests for the same key at once compute it once: a Redis lock elects one computer, the others
wait for its result (or take over if it dies and its lock expires).
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
import redis
import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from backend.imaging.models import Frame
from backend.segmentation.models import EmbeddingEntry
from models.predictor import Embedding
from models.preprocess import PreprocessConfig, SliceGeometry, preprocessing_hash

_LOCK_TTL_S = 120
_TOUCH_EVERY_S = 60


class _MemoryLRU:
    def __init__(self) -> None:
        self.items: OrderedDict[tuple[int, int, str, str], Embedding] = OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    # Entries are kept as float16, the precision storage keeps: a memory hit then decodes exactly what a
    # storage hit would, at half the memory, and never pins the batch tensor a fresh embedding views.
    @staticmethod
    def _size(value: Embedding) -> int:
        return int(value.tensor.numel() * value.tensor.element_size())

    def get(self, key: tuple[int, int, str, str]) -> Embedding | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
        return None if value is None else replace(value, tensor=value.tensor.to(torch.float32))

    def put(self, key: tuple[int, int, str, str], value: Embedding) -> None:
        budget = settings.EMBED_CACHE_MEMORY_BYTES
        compact = replace(value, tensor=value.tensor.to(torch.float16))
        with self.lock:
            if key in self.items:
                return
            self.items[key] = compact
            self.used += self._size(compact)
            while self.used > budget and self.items:
                _, old = self.items.popitem(last=False)
                self.used -= self._size(old)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.used = 0


memory = _MemoryLRU()
stats = {"memory_hits": 0, "storage_hits": 0, "computed": 0}


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _serialize(embedding: Embedding) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, embedding.tensor.to(torch.float16).numpy(), allow_pickle=False)
    return buffer.getvalue()


def _geometry_json(geometry: SliceGeometry) -> dict[str, Any]:
    return {"original_size": list(geometry.original_size), "resized_size": list(geometry.resized_size)}


def _entry_to_embedding(entry: EmbeddingEntry, model: str) -> Embedding:
    with default_storage.open(entry.path, "rb") as handle:
        array = np.load(io.BytesIO(handle.read()), allow_pickle=False)
    geometry = SliceGeometry(
        original_size=tuple(entry.geometry["original_size"]),
        resized_size=tuple(entry.geometry["resized_size"]),
    )
    return Embedding(
        tensor=torch.from_numpy(array.astype(np.float32)),
        geometry=geometry,
        model=model,
        preprocessing=entry.preprocessing,
    )


def _lookup(frame: Frame, namespace: str, pp: str) -> EmbeddingEntry | None:
    return EmbeddingEntry.objects.filter(
        instance_id=frame.instance_id, frame_index=frame.frame_index, model=namespace, preprocessing=pp
    ).first()


def embedding_get(*, frame: Frame, predictor: Any, config: PreprocessConfig) -> Embedding | None:
    namespace, pp = predictor.cache_namespace, preprocessing_hash(config)
    key = (frame.instance_id, frame.frame_index, namespace, pp)
    cached = memory.get(key)
    if cached is not None:
        stats["memory_hits"] += 1
        return cached
    entry = _lookup(frame, namespace, pp)
    if entry is None:
        return None
    try:
        embedding = _entry_to_embedding(entry, predictor.model_name)
    except FileNotFoundError:
        EmbeddingEntry.objects.filter(pk=entry.pk).delete()  # evicted or lost: recompute
        return None
    if (timezone.now() - entry.last_used_at).total_seconds() > _TOUCH_EVERY_S:
        EmbeddingEntry.objects.filter(pk=entry.pk).update(last_used_at=timezone.now())
    memory.put(key, embedding)
    stats["storage_hits"] += 1
    return embedding


def embedding_store(*, frame: Frame, embedding: Embedding, namespace: str, pp: str) -> None:
    path = f"embeddings/{namespace.replace(':', '_')}/{pp}/{frame.instance_id}-{frame.frame_index}.npy"
    content = _serialize(embedding)
    stored = default_storage.save(path, ContentFile(content))
    try:
        with transaction.atomic():
            EmbeddingEntry.objects.create(
                instance_id=frame.instance_id,
                frame_index=frame.frame_index,
                model=namespace,
                preprocessing=pp,
                path=stored,
                size=len(content),
                geometry=_geometry_json(embedding.geometry),
            )
    except IntegrityError:
        default_storage.delete(stored)  # another process stored it first; keep one copy
        return
    memory.put((frame.instance_id, frame.frame_index, namespace, pp), embedding)
    _evict_over_budget()


def _evict_over_budget() -> None:
    budget = settings.EMBED_CACHE_STORAGE_BYTES
    total = EmbeddingEntry.objects.aggregate(total=Sum("size"))["total"] or 0
    if total <= budget:
        return
    for entry in EmbeddingEntry.objects.order_by("last_used_at", "id").iterator(chunk_size=200):
        if total <= budget:
            break
        deleted, _ = EmbeddingEntry.objects.filter(pk=entry.pk).delete()
        if deleted:
            default_storage.delete(entry.path)
            total -= entry.size


def embedding_get_or_compute(*, frame: Frame, predictor: Any, config: PreprocessConfig) -> Embedding:
    """The embedding of one frame, computed at most once across all workers for concurrent requests."""
    found = embedding_get(frame=frame, predictor=predictor, config=config)
    if found is not None:
        return found
    from backend.segmentation.engine import frame_image

    lock_key = (
        f"rr:emb-lock:{frame.instance_id}:{frame.frame_index}:{predictor.cache_namespace}:{preprocessing_hash(config)}"
    )
    client = _redis()
    deadline = time.monotonic() + _LOCK_TTL_S * 2
    while True:
        if client.set(lock_key, "1", nx=True, ex=_LOCK_TTL_S):
            try:
                found = embedding_get(frame=frame, predictor=predictor, config=config)
                if found is not None:
                    return found
                embedding: Embedding = predictor.embed(
                    frame_image(frame), modality=frame.series.modality, config=config
                )
                stats["computed"] += 1
                embedding_store(
                    frame=frame, embedding=embedding, namespace=predictor.cache_namespace, pp=preprocessing_hash(config)
                )
                return embedding
            finally:
                client.delete(lock_key)
        time.sleep(0.02)
        found = embedding_get(frame=frame, predictor=predictor, config=config)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long for another worker to compute an embedding")


def embeddings_store_batch(*, frames: list[Frame], predictor: Any, config: PreprocessConfig) -> int:
    """Batch-encode the frames that are not cached yet (bulk precompute); returns how many were computed."""
    from backend.segmentation.engine import frame_image

    pp = preprocessing_hash(config)
    missing = [f for f in frames if _lookup(f, predictor.cache_namespace, pp) is None]
    if not missing:
        return 0
    embeddings = predictor.embed_batch(
        [frame_image(f) for f in missing], modality=missing[0].series.modality, config=config
    )
    for frame, embedding in zip(missing, embeddings, strict=True):
        embedding_store(frame=frame, embedding=embedding, namespace=predictor.cache_namespace, pp=pp)
    stats["computed"] += len(missing)
    return len(missing)
