"""Signal receivers and ingest hooks: they only enqueue work after commit (tasks pass IDs).

`CURATION_STATS_ON_SAVE` (default on) keeps per-case statistics fresh as consensus versions, signatures
and submissions happen; `CURATION_FINGERPRINT_ON_INGEST` (default off) fingerprints new series on `io`.
Anything missed (a disabled hook, a broker outage) is caught by the on-demand refresh, which compares
each row's inputs digest.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from backend.annotation.models import Annotation, AnnotationKind, MaskVersion, SignOff, Task, TaskStatus


def _enqueue_stats(case_id: int) -> None:
    if not getattr(settings, "CURATION_STATS_ON_SAVE", True):
        return

    def send() -> None:
        from workers.curation import case_stats_refresh

        case_stats_refresh.delay(case_id)

    # robust: a broker outage must not fail a save that already committed.
    transaction.on_commit(send, robust=True)


def mask_version_saved(sender: Any, instance: MaskVersion, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    row = Annotation.objects.filter(pk=instance.annotation_id).values_list("case_id", "kind").first()
    if row is not None and row[1] == AnnotationKind.CONSENSUS:
        _enqueue_stats(row[0])


def signoff_saved(sender: Any, instance: SignOff, created: bool, **kwargs: Any) -> None:
    if created:
        case_id = Annotation.objects.filter(pk=instance.annotation_id).values_list("case_id", flat=True).first()
        if case_id is not None:
            _enqueue_stats(case_id)


def task_saved(sender: Any, instance: Task, created: bool, **kwargs: Any) -> None:
    if instance.status in (TaskStatus.SUBMITTED, TaskStatus.RETURNED) and not created:
        _enqueue_stats(instance.case_id)


def series_added_fingerprint(series_id: int) -> None:
    if getattr(settings, "CURATION_FINGERPRINT_ON_INGEST", False):
        from workers.curation import fingerprint_series

        fingerprint_series.delay(series_id)
