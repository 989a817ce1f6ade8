from __future__ import annotations

from django.db.models import Count, QuerySet

from backend.annotation.models import Project
from backend.common.errors import NotFound
from backend.imaging.models import Frame, IngestJob, Instance, QuarantinedFile, Series, Study


def studies_for_project(*, project: Project) -> QuerySet[Study]:
    return Study.objects.filter(project=project).annotate(series_count=Count("series")).order_by("-created_at", "-id")


def study_get(*, project: Project, study_id: int) -> Study:
    study = Study.objects.filter(project=project, pk=study_id).first()
    if study is None:
        raise NotFound("study_not_found", "No such study in this project.")
    return study


def series_get(*, project: Project, series_id: int) -> Series:
    series = Series.objects.filter(project=project, pk=series_id).select_related("study").first()
    if series is None:
        raise NotFound("series_not_found", "No such series in this project.")
    return series


def series_frames(*, series: Series) -> QuerySet[Frame]:
    """The series' frames in slice order, with their instances (rows, columns, geometry)."""
    return Frame.objects.filter(series=series).select_related("instance", "series").order_by("sort_index", "id")


def instance_get(*, project: Project, instance_id: int) -> Instance:
    instance = Instance.objects.filter(project=project, pk=instance_id).select_related("series").first()
    if instance is None:
        raise NotFound("instance_not_found", "No such instance in this project.")
    return instance


def ingest_job_get(*, project: Project, job_id: int) -> IngestJob:
    job = IngestJob.objects.filter(project=project, pk=job_id).first()
    if job is None:
        raise NotFound("ingest_job_not_found", "No such upload in this project.")
    return job


def quarantine_for_project(*, project: Project) -> QuerySet[QuarantinedFile]:
    return QuarantinedFile.objects.filter(project=project).order_by("-created_at")
