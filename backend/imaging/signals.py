"""Extension points: other apps react to new series (create reading tasks, precompute embeddings).

- `series_created`: a Series row was just made; hooks run once the transaction that made it commits, while
  the rest of the batch may still be arriving, so they must not depend on the series' instances.
- `series_added`: a batch finished adding instances to the series; the series is sorted and complete.

Hooks must only write their own rows or enqueue work (tasks pass IDs).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

SeriesHook = Callable[[int], None]
_series_added_hooks: list[SeriesHook] = []
_series_created_hooks: list[SeriesHook] = []


def on_series_created(hook: SeriesHook) -> SeriesHook:
    if hook not in _series_created_hooks:
        _series_created_hooks.append(hook)
    return hook


def series_created(*, series_id: int) -> None:
    for hook in list(_series_created_hooks):
        transaction.on_commit(lambda hook=hook: hook(series_id))  # type: ignore[misc]


def on_series_added(hook: SeriesHook) -> SeriesHook:
    if hook not in _series_added_hooks:
        _series_added_hooks.append(hook)
    return hook


def series_added(*, series_id: int) -> None:
    for hook in list(_series_added_hooks):
        transaction.on_commit(lambda hook=hook: hook(series_id))  # type: ignore[misc]
