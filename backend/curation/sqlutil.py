"""Large id lists as one array parameter: `id IN (SELECT unnest(%s))` instead of 10,000 placeholders,
which the driver would otherwise split and bind one by one."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models.expressions import RawSQL


def any_of(ids: Iterable[int]) -> RawSQL:
    return RawSQL("SELECT unnest(%s::bigint[])", (sorted({int(i) for i in ids}),))
