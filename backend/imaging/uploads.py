"""Uploads: files, zips and NIfTI volumes, synchronously when small, on the `io` queue when large.

A small upload answers with the result at once (a lone refused file gets its own 4xx code). A large one
is spooled to storage and answered 202 with a job the client polls for progress. Memory stays bounded:
Django spools request files to disk past 2.5 MiB, zip members are copied out in chunks.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any, BinaryIO, Literal

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from backend.accounts.models import User
from backend.annotation.models import Project
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError
from backend.imaging import storage
from backend.imaging.core.archives import ZipLimits, iter_zip_members
from backend.imaging.core.errors import ImagingError
from backend.imaging.models import Frame, IngestJob, IngestStatus, Instance, Series, Study
from backend.imaging.services import BatchResult, ingest_files, ingest_job_finish

_SPOOL_BYTES = 8 << 20
_ZIP_MAGIC = b"PK\x03\x04"


def _zip_limits() -> ZipLimits:
    return ZipLimits(
        max_members=settings.IMAGING_MAX_ZIP_MEMBERS,
        max_total_bytes=settings.IMAGING_MAX_ZIP_EXPANDED_BYTES,
        max_member_bytes=min(settings.IMAGING_MAX_ZIP_EXPANDED_BYTES, settings.IMAGING_MAX_PIXEL_BYTES + (64 << 20)),
    )


def _is_zip(handle: BinaryIO) -> bool:
    head = handle.read(4)
    handle.seek(0)
    return head == _ZIP_MAGIC


def _is_nifti(name: str) -> bool:
    return name.lower().endswith((".nii", ".nii.gz"))


def expand(named: Sequence[tuple[str, BinaryIO]]) -> Iterator[tuple[str, BinaryIO]]:
    """Every file to ingest: plain files as they are, zip members spooled one at a time, NIfTI as slices."""
    for name, handle in named:
        if _is_zip(handle):
            for member in iter_zip_members(handle, limits=_zip_limits()):
                with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
                    member.copy_to(spool)
                    spool.seek(0)
                    if _is_nifti(member.name):
                        yield from _nifti_slices(member.name, spool)  # type: ignore[arg-type]
                    else:
                        yield member.name, spool  # type: ignore[misc]
        elif _is_nifti(name):
            yield from _nifti_slices(name, handle)
        else:
            yield name, handle


def _nifti_slices(name: str, handle: BinaryIO) -> Iterator[tuple[str, BinaryIO]]:
    """A NIfTI volume becomes one DICOM series (geometry from its affine), one instance per slice."""
    import io

    from backend.imaging.core.nifti import nifti_to_dicom_series, read_nifti
    from backend.imaging.core.parsing import dataset_to_bytes
    from backend.imaging.core.uids import derived_uid

    volume = read_nifti(handle, max_voxels=settings.IMAGING_MAX_PIXEL_BYTES // 2)
    conversion = nifti_to_dicom_series(
        volume,
        study_instance_uid=derived_uid("nifti-study", name, str(uuid.uuid4())),
        series_description="Imported NIfTI volume",
    )
    for index, dataset in enumerate(conversion.datasets):
        yield f"{name}#{index}", io.BytesIO(dataset_to_bytes(dataset))


def _undo(batch: BatchResult) -> None:
    """Remove what a failed upload had already indexed, so a refused upload leaves nothing behind."""
    instances = list(Instance.objects.filter(pk__in=batch.instance_ids))
    paths = [instance.file for instance in instances]
    with transaction.atomic():
        Frame.objects.filter(instance__in=instances).delete()
        Instance.objects.filter(pk__in=batch.instance_ids).delete()
        Series.objects.filter(pk__in=batch.series_ids, instances__isnull=True).delete()
        Study.objects.filter(series__isnull=True, project__in=[i.project_id for i in instances]).delete()
    for path in paths:
        storage.file_delete(path)


def run_batch(
    *,
    project: Project,
    user: User | None,
    named: Sequence[tuple[str, BinaryIO]],
    origin: str,
    context: str,
    job: IngestJob | None = None,
    raster_burned_in: Literal["YES", "NO"] | None = None,
) -> BatchResult:
    batch = BatchResult()
    try:
        ingest_files(
            project=project,
            user=user,
            files=expand(named),
            origin=origin,
            uid_context=context,
            job=job,
            into=batch,
            raster_burned_in=raster_burned_in,
        )
    except ImagingError:
        _undo(batch)
        raise
    return batch


def upload_receive(
    *,
    project: Project,
    user: User,
    files: Sequence[UploadedFile[Any]],
    raster_burned_in: Literal["YES", "NO"] | None = None,
) -> tuple[IngestJob, bool]:
    """Returns the job and whether it is already done (sync) or queued (async)."""
    if not files:
        raise ApplicationError("no_files", "Send one or more files in the multipart field 'files'.")
    total = sum(f.size or 0 for f in files)
    if total > settings.IMAGING_MAX_UPLOAD_BYTES:
        raise ImagingError(
            "upload_too_large",
            "The upload is larger than allowed.",
            {"bytes": total, "limit": settings.IMAGING_MAX_UPLOAD_BYTES},
        )
    context = uuid.uuid4().hex
    named: list[tuple[str, BinaryIO]] = [(f.name or "upload", f) for f in files]  # type: ignore[misc]
    if total <= settings.IMAGING_SYNC_UPLOAD_BYTES:
        batch = run_batch(
            project=project, user=user, named=named, origin="upload", context=context, raster_burned_in=raster_burned_in
        )
        handled = batch.created + batch.duplicates + batch.quarantined
        if not handled and batch.first_error is not None:
            # Nothing was accepted: answer with the (first) file's own refusal and status.
            batch.first_error.extra = {**batch.first_error.extra, "errors": batch.errors}
            raise batch.first_error
        job = IngestJob.objects.create(project=project, created_by=user, source="upload", total=handled + batch.refused)
        ingest_job_finish(job=job, batch=batch)
        audit_record(
            actor=user,
            action="ingest.upload",
            object_type="ingest_job",
            object_id=job.pk,
            project_id=project.pk,
            detail={"created": batch.created, "refused": batch.refused},
        )
        return job, True
    # Large: spool every file to storage, then let a worker ingest it with progress.
    paths = []
    for name, handle in named:
        handle.seek(0)
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-100:]
        paths.append(default_storage.save(f"projects/{project.pk}/uploads/{context}/{safe}", handle))
    with transaction.atomic():
        job = IngestJob.objects.create(project=project, created_by=user, source="upload", upload="\n".join(paths))
        audit_record(
            actor=user,
            action="ingest.upload",
            object_type="ingest_job",
            object_id=job.pk,
            project_id=project.pk,
            detail={"queued": True},
        )
        from workers.imaging import ingest_job_run

        ingest_job_run.delay_on_commit(job.pk)
    return job, False


def ingest_job_process(*, job_id: int) -> IngestJob | None:
    """Worker side of a large upload. Claimed with a conditional UPDATE so a redelivery does nothing twice."""
    claimed = IngestJob.objects.filter(pk=job_id, status=IngestStatus.QUEUED).update(status=IngestStatus.RUNNING)
    if not claimed:
        return None
    job = IngestJob.objects.select_related("project", "created_by").get(pk=job_id)
    paths = [p for p in job.upload.split("\n") if p]
    try:
        with ExitStack() as stack:
            named = [(p.rsplit("/", 1)[-1], stack.enter_context(storage.file_open(p))) for p in paths]
            batch = run_batch(
                project=job.project, user=job.created_by, named=named, origin="upload", context=f"job-{job.pk}", job=job
            )
        ingest_job_finish(job=job, batch=batch)
    except ImagingError as error:
        job.status = IngestStatus.FAILED
        job.errors = [{"file": "", "code": error.code, "message": error.message}]
        job.save(update_fields=["status", "errors"])
    finally:
        for path in paths:
            storage.file_delete(path)
    return job
