"""Extension point: other apps react to new series (precompute embeddings, create reading tasks).

Hooks run after the ingest transaction commits, and must only enqueue work (tasks pass IDs).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

SeriesHook = Callable[[int], None]
_series_added_hooks: list[SeriesHook] = []


def on_series_added(hook: SeriesHook) -> SeriesHook:
    if hook not in _series_added_hooks:
        _series_added_hooks.append(hook)
    return hook


def series_added(*, series_id: int) -> None:
    for hook in list(_series_added_hooks):
        transaction.on_commit(lambda hook=hook: hook(series_id))  # type: ignore[misc]
