"""Ingest: parse, validate, de-identify, store with SHA-256, index.

Batches index a group of prepared files per transaction (one query per table); a single file, and any
group that cannot commit as a whole, takes one transaction per file. A refused file leaves nothing
behind: stored files are deleted when their transaction fails, and every refusal is an ImagingError or
ApplicationError carrying a machine-readable code.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.annotation.models import Project
from backend.audit.services import audit_event, audit_record, audit_record_many
from backend.common.bulk import copy_insert, draw_ids_sql
from backend.common.errors import ApplicationError, Conflict
from backend.imaging import storage
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.parsing import InstanceSummary, dataset_to_bytes, read_dicom
from backend.imaging.models import (
    Frame,
    IngestJob,
    IngestStatus,
    Instance,
    QuarantinedFile,
    Series,
    Study,
)
from backend.imaging.prepare import DeidSettings, Prepared, parallel_available, prepare_groups, prepare_instance
from backend.imaging.signals import series_added, series_created

logger = logging.getLogger(__name__)

Outcome = Literal["created", "duplicate", "quarantined"]
_MAX_JOB_ERRORS = 200


@dataclass
class IngestResult:
    outcome: Outcome
    instance_id: int | None = None
    series_id: int | None = None
    quarantine_id: int | None = None
    reason: str | None = None


@dataclass
class BatchResult:
    created: int = 0
    duplicates: int = 0
    quarantined: int = 0
    refused: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)
    series_ids: set[int] = field(default_factory=set)
    instance_ids: list[int] = field(default_factory=list)
    first_error: ImagingError | ApplicationError | None = None

    def add(self, result: IngestResult) -> None:
        if result.outcome == "created":
            self.created += 1
        elif result.outcome == "duplicate":
            self.duplicates += 1
        else:
            self.quarantined += 1
        if result.series_id is not None:
            self.series_ids.add(result.series_id)
        if result.instance_id is not None and result.outcome == "created":
            self.instance_ids.append(result.instance_id)

    def refuse(self, name: str, error: ImagingError | ApplicationError) -> None:
        self.refused += 1
        self.first_error = self.first_error or error
        if len(self.errors) < _MAX_JOB_ERRORS:
            self.errors.append({"file": name[-200:], "code": error.code, "message": error.message})


def deid_settings(project: Project) -> DeidSettings:
    return DeidSettings(
        enabled=project.deidentify,
        secret_hex=project.secret,
        retain_dates=project.deid_retain_dates,
        retain_patient_characteristics=project.deid_retain_patient_characteristics,
    )


def _split_key(summary: InstanceSummary) -> str:
    """Instances of one DICOM series that cannot form one volume get different keys, per file, so that
    concurrent uploads agree: frame of reference, size, orientation (to 1e-2), localizer; a multi-frame
    instance is a volume of its own (the first-level grouping of core.geometry.split_series)."""
    orientation = summary.image_orientation_patient
    parts = [
        summary.frame_of_reference_uid or "",
        f"{summary.rows}x{summary.columns}",
        ",".join(f"{round(v, 2) + 0.0:.2f}" for v in orientation) if orientation else "",
        "localizer" if summary.is_localizer else "",
        summary.sop_instance_uid if summary.number_of_frames > 1 else "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _slice_position(summary: InstanceSummary, position: tuple[float, float, float] | None) -> float | None:
    orientation = summary.image_orientation_patient
    if position is None or orientation is None:
        return None
    # The slice normal is the cross product of the row and column directions (plain floats: numpy's
    # call overhead is most of the cost for three components).
    rx, ry, rz, cx, cy, cz = orientation[:6]
    x, y, z = position
    return (ry * cz - rz * cy) * x + (rz * cx - rx * cz) * y + (rx * cy - ry * cx) * z


def instance_ingest(
    *,
    project: Project,
    user: User | None,
    source: BinaryIO | bytes,
    origin: str = "upload",
    uid_context: str = "",
) -> IngestResult:
    """Ingest one DICOM file. Raises ImagingError (bad input) or Conflict (same UID, other content)."""
    prepared = prepare_instance(
        source, deid=deid_settings(project), max_pixel_bytes=settings.IMAGING_MAX_PIXEL_BYTES, uid_context=uid_context
    )
    return _store_and_index(project=project, user=user, prepared=prepared, origin=origin)


def _store_and_index(*, project: Project, user: User | None, prepared: Prepared, origin: str) -> IngestResult:
    summary = prepared.summary
    digest, quarantine = prepared.digest, prepared.quarantine
    stored: str | None = None
    try:
        with transaction.atomic():
            existing = (
                Instance.objects.select_for_update()
                .filter(project=project, sop_instance_uid=summary.sop_instance_uid)
                .first()
            )
            if existing is not None:
                outcome = _known_outcome(existing, prepared)
                if isinstance(outcome, Conflict):
                    raise outcome
                return outcome
            if quarantine is not None:
                held = QuarantinedFile.objects.filter(
                    project=project, sop_instance_uid=summary.sop_instance_uid, decision="pending"
                ).first()
                if held is not None:
                    return IngestResult("quarantined", quarantine_id=held.pk, reason=held.reason)
                stored = storage.file_save(storage.quarantine_path(project.pk, digest), prepared.body())
                held = QuarantinedFile.objects.create(
                    project=project,
                    file=stored,
                    sha256=digest,
                    reason=quarantine,
                    sop_instance_uid=summary.sop_instance_uid,
                    modality=summary.modality or "",
                    uploaded_by=user,
                )
                audit_record(
                    actor=user,
                    action="instance.quarantine",
                    object_type="quarantine",
                    object_id=held.pk,
                    project_id=project.pk,
                    detail={"reason": quarantine},
                )
                return IngestResult("quarantined", quarantine_id=held.pk, reason=quarantine)
            stored = storage.file_save(
                storage.instance_path(
                    project.pk, summary.study_instance_uid, summary.series_instance_uid, summary.sop_instance_uid
                ),
                prepared.body(),
            )
            instance = _index(
                project=project,
                user=user,
                prepared=prepared,
                path=stored,
                origin=origin,
            )
            audit_record(
                actor=user,
                action="instance.create",
                object_type="instance",
                object_id=instance.pk,
                project_id=project.pk,
                detail={"study_id": instance.series.study_id, "series_id": instance.series_id},
            )
            return IngestResult("created", instance_id=instance.pk, series_id=instance.series_id)
    except IntegrityError:
        # A concurrent upload of the same instance won; compare with what it stored.
        if stored:
            storage.file_delete(stored)
        winner = Instance.objects.filter(project=project, sop_instance_uid=summary.sop_instance_uid).first()
        if winner is not None and winner.sha256 == digest:
            return IngestResult("duplicate", instance_id=winner.pk, series_id=winner.series_id)
        raise Conflict("instance_conflict", "A concurrent upload stored different content for this instance.") from None
    except BaseException:
        if stored:
            storage.file_delete(stored)
        raise


def _index(*, project: Project, user: User | None, prepared: Prepared, path: str, origin: str) -> Instance:
    series = _series_for(project=project, summary=prepared.summary, cache={})
    instance = _instance_row(project=project, user=user, series=series, prepared=prepared, path=path, origin=origin)
    instance.save(force_insert=True)
    Frame.objects.bulk_create(_frame_rows(instance, prepared.summary))
    return instance


SeriesCache = dict[tuple[str, str, str], Series]
RowT = TypeVar("RowT", Study, Series)


def _series_for(*, project: Project, summary: InstanceSummary, cache: SeriesCache, grouped: bool = False) -> Series:
    """The study and series an instance belongs to, created on first sight; `cache` spares a group's repeats.

    `grouped`: inside a group's transaction, rows are created without get_or_create's savepoints (two
    round trips each). A concurrent upload that creates the same row first fails the whole group with an
    IntegrityError, and the group is then retried file by file, where get_or_create settles the race.
    """
    s = summary
    key = (s.study_instance_uid, s.series_instance_uid, _split_key(s))
    series = cache.get(key)
    if series is not None and (not s.modality or s.modality in series.study.modalities):
        return series
    study_fields = {
        "patient_key": (s.patient_id or "")[:64],
        "study_date": s.study_date,
        "study_description": (s.study_description or "")[:128],
        "modalities": [s.modality] if s.modality else [],
    }
    study, _ = _row(Study, study_fields, grouped, project=project, study_instance_uid=s.study_instance_uid)
    if s.modality and s.modality not in study.modalities:
        study.modalities = sorted({*study.modalities, s.modality})
        study.save(update_fields=["modalities", "updated_at"])
    series_fields = {
        "project": project,
        "modality": s.modality or "",
        "body_part": (s.body_part_examined or "")[:64],
        "manufacturer": (s.manufacturer or "")[:64],
        "series_number": s.series_number,
        "series_description": (s.series_description or "")[:128],
        "frame_of_reference_uid": s.frame_of_reference_uid or "",
        "rows": s.rows,
        "columns": s.columns,
        "pixel_spacing": list(s.pixel_spacing) if s.pixel_spacing else None,
        "image_orientation": list(s.image_orientation_patient) if s.image_orientation_patient else None,
        "slice_thickness": s.slice_thickness,
    }
    series, created = _row(
        Series, series_fields, grouped, study=study, series_instance_uid=s.series_instance_uid, split_key=key[2]
    )
    series.study = study
    if created:
        series_created(series_id=series.pk)
    cache[key] = series
    return series


def _row(model: type[RowT], fields: dict[str, Any], grouped: bool, **lookup: Any) -> tuple[RowT, bool]:
    """The row and whether this call created it."""
    if grouped:
        found = model.objects.filter(**lookup).first()
        return (found, False) if found is not None else (model.objects.create(**lookup, **fields), True)
    return model.objects.get_or_create(**lookup, defaults=fields)


def _instance_row(
    *, project: Project, user: User | None, series: Series, prepared: Prepared, path: str, origin: str
) -> Instance:
    s = prepared.summary
    assert s.rows is not None and s.columns is not None
    return Instance(
        project=project,
        series=series,
        sop_instance_uid=s.sop_instance_uid,
        sop_class_uid=s.sop_class_uid,
        instance_number=s.instance_number,
        file=path,
        sha256=prepared.digest,
        source_mac=prepared.source_mac,
        size=prepared.size,
        transfer_syntax_uid=prepared.transfer_syntax_uid,
        rows=s.rows,
        columns=s.columns,
        number_of_frames=max(1, s.number_of_frames),
        samples_per_pixel=s.samples_per_pixel or 1,
        photometric_interpretation=s.photometric_interpretation or "MONOCHROME2",
        bits_allocated=s.bits_allocated or 8,
        pixel_representation=s.pixel_representation or 0,
        rescale_slope=s.rescale_slope,
        rescale_intercept=s.rescale_intercept,
        window_presets=[{"center": w.center, "width": w.width, "explanation": w.explanation} for w in s.window_presets],
        pixel_spacing=list(s.pixel_spacing) if s.pixel_spacing else None,
        image_position=list(s.image_position_patient) if s.image_position_patient else None,
        image_orientation=list(s.image_orientation_patient) if s.image_orientation_patient else None,
        deidentified=project.deidentify,
        source=origin,
        created_by=user,
    )


def _frame_rows(instance: Instance, s: InstanceSummary) -> list[Frame]:
    frames = []
    for index in range(instance.number_of_frames):
        position = (
            s.frame_positions[index]
            if s.frame_positions and index < len(s.frame_positions)
            else s.image_position_patient
        )
        frames.append(
            Frame(
                series=instance.series,
                instance=instance,
                frame_index=index,
                slice_position=_slice_position(s, position),
                image_position=list(position) if position else None,
            )
        )
    return frames


def _index_group(
    *,
    project: Project,
    user: User | None,
    group: list[tuple[str, Prepared]],
    origin: str,
    batch: BatchResult,
    series_cache: SeriesCache,
) -> None:
    """Index prepared files in one transaction: one query per table instead of ~8 round trips per file.

    Outcomes are those of `_store_and_index` file by file: a known instance with the same content is a
    duplicate, with other content a refusal (409), and neither writes anything. Quarantined files, a group
    naming one instance twice, and a group that loses a race with a concurrent upload (IntegrityError) take
    the one-transaction-per-file path, which resolves each of those on its own.
    """
    uids = [prepared.summary.sop_instance_uid for _, prepared in group]
    if len(group) == 1 or len(set(uids)) != len(uids) or any(p.quarantine is not None for _, p in group):
        _index_each(project=project, user=user, group=group, origin=origin, batch=batch)
        return
    stored: list[str] = []
    outcomes: list[tuple[str, IngestResult | Conflict]] = []
    try:
        with transaction.atomic():
            known, ids = _lock_known_and_draw_ids(project, uids)
            created: list[tuple[str, Instance, Prepared]] = []
            for name, prepared in group:
                s = prepared.summary
                prior = known.get(s.sop_instance_uid)
                if prior is not None:
                    outcomes.append((name, _known_outcome(prior, prepared)))
                    continue
                path = storage.file_save(
                    storage.instance_path(project.pk, s.study_instance_uid, s.series_instance_uid, s.sop_instance_uid),
                    prepared.body(),
                )
                stored.append(path)
                series = _series_for(project=project, summary=s, cache=series_cache, grouped=True)
                row = _instance_row(
                    project=project, user=user, series=series, prepared=prepared, path=path, origin=origin
                )
                created.append((name, row, prepared))
            copy_insert([row for _, row, _ in created], ids=ids[: len(created)])
            copy_insert([f for _, row, prepared in created for f in _frame_rows(row, prepared.summary)])
            audit_record_many(
                [
                    audit_event(
                        actor=user,
                        action="instance.create",
                        object_type="instance",
                        object_id=row.pk,
                        project_id=project.pk,
                        detail={"study_id": row.series.study_id, "series_id": row.series_id},
                    )
                    for _, row, _ in created
                ]
            )
            outcomes += [
                (name, IngestResult("created", instance_id=row.pk, series_id=row.series_id)) for name, row, _ in created
            ]
    except IntegrityError:
        for path in stored:
            storage.file_delete(path)
        _index_each(project=project, user=user, group=group, origin=origin, batch=batch)
        return
    except BaseException:
        for path in stored:
            storage.file_delete(path)
        raise
    for name, outcome in outcomes:
        if isinstance(outcome, Conflict):
            batch.refuse(name, outcome)
        else:
            batch.add(outcome)


def _lock_known_and_draw_ids(project: Project, uids: list[str]) -> tuple[dict[str, Instance], list[int]]:
    """The group's instances the project already has, locked, and ids for as many new rows: one round
    trip, as two statements in one query (numbers drawn for files that turn out known are skipped)."""
    table = Instance._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, sop_instance_uid, series_id, sha256, source_mac FROM {table} "  # noqa: S608 - model metadata
            "WHERE project_id = %s AND sop_instance_uid = ANY(%s) FOR UPDATE; " + draw_ids_sql(Instance),
            [project.pk, uids, len(uids)],
        )
        known = {
            uid: Instance(pk=pk, project=project, sop_instance_uid=uid, series_id=series_id, sha256=sha, source_mac=mac)
            for pk, uid, series_id, sha, mac in cursor.fetchall()
        }
        cursor.nextset()
        ids = [number for (number,) in cursor.fetchall()]
    return known, ids


def _index_each(
    *, project: Project, user: User | None, group: list[tuple[str, Prepared]], origin: str, batch: BatchResult
) -> None:
    for name, prepared in group:
        try:
            batch.add(_store_and_index(project=project, user=user, prepared=prepared, origin=origin))
        except (ImagingError, ApplicationError) as error:
            batch.refuse(name, error)


def _known_outcome(existing: Instance, prepared: Prepared) -> IngestResult | Conflict:
    same_source = bool(existing.source_mac) and existing.source_mac == prepared.source_mac
    if existing.sha256 == prepared.digest or same_source:
        return IngestResult("duplicate", instance_id=existing.pk, series_id=existing.series_id)
    return Conflict(
        "instance_conflict",
        "An instance with this SOP Instance UID exists with different content.",
        extra={"sop_instance_uid": prepared.summary.sop_instance_uid, "instance_id": existing.pk},
    )


# numpy.allclose's default tolerances: gaps within them of the median gap make a regular spacing.
_SPACING_RTOL = 0.05
_SPACING_ATOL = 0.01


def series_reindex(*, series_id: int) -> None:
    """Sort frames along the slice normal, then by instance/frame number; record spacing and frame count.

    The spacing is the median gap between sorted slice positions (None when that is not positive; the
    slice thickness when there are fewer than two positions), regular when every gap lies within
    allclose tolerances of it. All of it is computed where the rows are, in one round trip: the
    statements go as one simple query, which PostgreSQL runs as a single transaction when the caller
    has none open (and inside the caller's when it has). The series row is locked first, so that
    concurrent reindexes of one series queue up instead of numbering the same frames at once.
    """
    frame_table, instance_table = Frame._meta.db_table, Instance._meta.db_table
    series_table = Series._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT 1 FROM {series_table} WHERE id = %(series)s FOR UPDATE;
            UPDATE {frame_table} AS f SET sort_index = o.position
            FROM (
                SELECT f2.id, row_number() OVER (
                    ORDER BY f2.slice_position IS NULL, f2.slice_position,
                             COALESCE(i.instance_number, 0), f2.frame_index, f2.id
                ) - 1 AS position
                FROM {frame_table} AS f2 JOIN {instance_table} AS i ON i.id = f2.instance_id
                WHERE f2.series_id = %(series)s
            ) AS o
            WHERE f.id = o.id AND f.sort_index <> o.position;
            WITH gaps AS (
                SELECT slice_position - lag(slice_position) OVER (ORDER BY sort_index) AS gap
                FROM {frame_table} WHERE series_id = %(series)s AND slice_position IS NOT NULL
            ), spacing AS (
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS median FROM gaps
            ), stats AS (
                SELECT median, bool_and(abs(gap - median) <= %(atol)s + %(rtol)s * abs(median)) AS regular
                FROM spacing LEFT JOIN gaps ON gap IS NOT NULL GROUP BY median
            )
            UPDATE {series_table} AS s SET
                slice_spacing = CASE
                    WHEN stats.median IS NULL THEN s.slice_thickness WHEN stats.median > 0 THEN stats.median
                END,
                regular_spacing = stats.median IS NULL OR (stats.median > 0 AND stats.regular),
                frame_count = (SELECT count(*) FROM {frame_table} WHERE series_id = %(series)s)
            FROM stats WHERE s.id = %(series)s
            """,  # noqa: S608 - table names come from model metadata, values are parameters
            {"series": series_id, "rtol": _SPACING_RTOL, "atol": _SPACING_ATOL},
        )


_POOL_MAX_FILE_BYTES = 8 << 20
_POOL_CHUNK_BYTES = 48 << 20
_POOL_CHUNK_FILES = 32


def ingest_files(
    *,
    project: Project,
    user: User | None,
    files: Iterable[tuple[str, BinaryIO]],
    origin: str,
    uid_context: str,
    job: IngestJob | None = None,
    into: BatchResult | None = None,
    raster_burned_in: Literal["YES", "NO"] | None = None,
) -> BatchResult:
    """Ingest many files; refusals are collected, not raised.

    Small DICOM files are parsed and de-identified in bounded chunks (at most 48 MiB in flight), in worker
    processes where this process may start them, while this process indexes finished ones in groups; order
    and per-file outcomes are as in a plain loop.
    `into` lets a caller see what was created so far if the file source itself fails mid-way.
    """
    batch = into if into is not None else BatchResult()
    with ExitStack() as cleanup:  # the staging directory, once a worker pool prepares files
        deid = deid_settings(project)
        stage_dir: str | None = None
        chunk: list[tuple[str, bytes]] = []
        # Study and series rows seen by earlier groups of this batch; a stale entry (a row deleted meanwhile)
        # fails the group's foreign key, and the group then retries file by file with fresh lookups.
        series_cache: SeriesCache = {}

        def progress() -> None:
            if job is not None:
                done = batch.created + batch.duplicates + batch.quarantined + batch.refused
                IngestJob.objects.filter(pk=job.pk).update(processed=done, total=max(job.total, done))

        def flush() -> None:
            nonlocal stage_dir
            if not chunk:
                return
            if stage_dir is None and parallel_available():
                stage_dir = cleanup.enter_context(storage.staging_directory())
            groups = prepare_groups(
                chunk,
                deid=deid,
                max_pixel_bytes=settings.IMAGING_MAX_PIXEL_BYTES,
                uid_context=uid_context,
                stage_dir=stage_dir,
            )
            for group in groups:
                ready: list[tuple[str, Prepared]] = []
                for name, (status, value) in group:
                    if status == "error":
                        batch.refuse(name, ImagingError(*value))
                    else:
                        ready.append((name, value))
                if ready:
                    _index_group(
                        project=project, user=user, group=ready, origin=origin, batch=batch, series_cache=series_cache
                    )
                progress()
            chunk.clear()

        for name, handle in files:
            head = handle.read(132)
            handle.seek(0)
            if head[128:132] == b"DICM":
                data = handle.read(_POOL_MAX_FILE_BYTES + 1)
                if len(data) <= _POOL_MAX_FILE_BYTES:
                    chunk.append((name, data))
                    if len(chunk) >= _POOL_CHUNK_FILES or sum(len(d) for _, d in chunk) >= _POOL_CHUNK_BYTES:
                        flush()
                    continue
                handle.seek(0)
            flush()
            try:
                batch.add(
                    _ingest_any(
                        project=project,
                        user=user,
                        name=name,
                        handle=handle,
                        origin=origin,
                        uid_context=uid_context,
                        raster_burned_in=raster_burned_in,
                    )
                )
            except (ImagingError, ApplicationError) as error:
                batch.refuse(name, error)
            progress()
        flush()
        for series_id in batch.series_ids:
            series_reindex(series_id=series_id)
        if batch.created:
            for series_id in sorted(batch.series_ids):
                series_added(series_id=series_id)
        return batch


def _ingest_any(
    *,
    project: Project,
    user: User | None,
    name: str,
    handle: BinaryIO,
    origin: str,
    uid_context: str,
    raster_burned_in: Literal["YES", "NO"] | None = None,
) -> IngestResult:
    """DICOM by content; PNG/JPEG/TIFF become Secondary Capture instances, one series per upload."""
    head = handle.read(132)
    handle.seek(0)
    if head[128:132] == b"DICM" or not _looks_like_raster(head):
        return instance_ingest(project=project, user=user, source=handle, origin=origin, uid_context=uid_context)
    from backend.imaging.core.raster import raster_to_secondary_capture, read_raster
    from backend.imaging.core.uids import derived_uid

    image = read_raster(handle)
    dataset = raster_to_secondary_capture(
        image,
        study_instance_uid=derived_uid("raster-study", uid_context),
        series_instance_uid=derived_uid("raster-series", uid_context),
        sop_instance_uid=derived_uid("raster", uid_context, name),
        # The uploader's statement; without "NO", de-identification policy quarantines the image.
        burned_in_annotation=raster_burned_in,
        series_description="Uploaded images",
    )
    return instance_ingest(
        project=project, user=user, source=dataset_to_bytes(dataset), origin="raster", uid_context=uid_context
    )


_RASTER_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF8")


def _looks_like_raster(head: bytes) -> bool:
    return head.startswith(_RASTER_MAGIC)


def ingest_job_finish(*, job: IngestJob, batch: BatchResult, status: str = IngestStatus.DONE) -> IngestJob:
    job.status = status
    job.created = batch.created
    job.duplicates = batch.duplicates
    job.quarantined = batch.quarantined
    job.refused = batch.refused
    job.errors = batch.errors
    job.series_ids = sorted(batch.series_ids)
    job.processed = job.total
    job.finished_at = timezone.now()
    job.save()
    return job


@transaction.atomic
def quarantine_decide(*, project: Project, user: User, quarantine_id: int, decision: str) -> QuarantinedFile:
    """A person's decision on a held file: release it into the index, or discard it for good."""
    held = QuarantinedFile.objects.select_for_update().filter(project=project, pk=quarantine_id).first()
    if held is None:
        raise ApplicationError("quarantine_not_found", "No such quarantined file.", status_code=404)
    if held.decision != "pending":
        raise Conflict("quarantine_decided", f"This file was already {held.decision}.")
    if decision == "released":
        content = storage.file_read(held.file)
        parsed = read_dicom(content, max_pixel_bytes=settings.IMAGING_MAX_PIXEL_BYTES)
        # Already de-identified when it was held: index it as stored, without a second pass.
        prepared = Prepared(
            content=content,
            size=len(content),
            digest=held.sha256,
            source_mac="",  # the upload's bytes are gone; the stored digest identifies it
            summary=parsed.summary,
            transfer_syntax_uid=parsed.transfer_syntax_uid,
            quarantine=None,
        )
        result = _store_and_index(project=project, user=user, prepared=prepared, origin="quarantine")
        if result.series_id is not None:
            transaction.on_commit(lambda: series_reindex(series_id=result.series_id or 0))
    held.decision = decision
    held.decided_by = user
    held.decided_at = timezone.now()
    held.save(update_fields=["decision", "decided_by", "decided_at"])
    path = held.file
    transaction.on_commit(lambda: storage.file_delete(path))
    audit_record(
        actor=user, action=f"quarantine.{decision}", object_type="quarantine", object_id=held.pk, project_id=project.pk
    )
    return held
