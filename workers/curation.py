"""Curation tasks on the `io` queue: statistics, pixel fingerprints and snapshot exports."""

from __future__ import annotations

from backend.common.tasks import queue_task


@queue_task("io")
def case_stats_refresh(case_id: int) -> str:
    from backend.annotation.models import Case
    from backend.curation.stats import stats_refresh

    project_id = Case.objects.filter(pk=case_id).values_list("project_id", flat=True).first()
    if project_id is None:
        return "skipped"
    # Recomputes only when the inputs changed, so duplicate or redelivered messages cost one query.
    return "done" if stats_refresh(project_id=project_id, case_ids=[case_id]) else "fresh"


@queue_task("io")
def project_stats_refresh(project_id: int) -> int:
    from backend.curation.stats import stats_refresh

    return stats_refresh(project_id=project_id)


@queue_task("io")
def fingerprint_project(project_id: int) -> int:
    from backend.curation.fingerprints import fingerprints_fill

    return fingerprints_fill(project_id=project_id)


@queue_task("io")
def fingerprint_series(series_id: int) -> int:
    from backend.curation.fingerprints import fingerprints_fill

    return fingerprints_fill(series_ids=[series_id])


@queue_task("io")
def export_snapshot(export_id: int) -> str:
    from backend.curation.exports import snapshot_export_run

    return snapshot_export_run(export_id=export_id)
