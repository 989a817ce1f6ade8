"""Ingest through the API and the command line, on the shared real files."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.audit.models import AuditEvent
from backend.imaging.models import Frame, Instance, QuarantinedFile, Series, Study
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db

TOTALSEG = SHARED_DATA / "dicom" / "totalseg_ct_series"
CT_SMALL = SHARED_DATA / "dicom" / "pydicom" / "CT_small.dcm"
MR_SMALL = SHARED_DATA / "dicom" / "pydicom" / "MR_small.dcm"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path: Path) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


def _upload(client, slug: str, *files: tuple[str, bytes], **extra: str):
    payload = {"files": [io.BytesIO(content) for _, content in files], **extra}
    for handle, (name, _) in zip(payload["files"], files, strict=True):
        handle.name = name
    return client.post(f"/api/projects/{slug}/uploads/", payload, format="multipart")


def _counts() -> tuple[int, int, int, int]:
    return Study.objects.count(), Series.objects.count(), Instance.objects.count(), Frame.objects.count()


def test_import_command_indexes_jpeg2000_series_with_empty_uids(cast) -> None:
    call_command("import_dicom", str(TOTALSEG), "--project", cast.project.slug, "--pattern", "*.dcm")
    series = Series.objects.get()
    assert series.frame_count == 20
    assert series.modality == "CT"
    frames = list(Frame.objects.filter(series=series).order_by("sort_index"))
    positions = [f.slice_position for f in frames]
    assert positions == sorted(positions)
    assert series.slice_spacing == pytest.approx(np.median(np.diff(positions)))
    instance = frames[0].instance
    stored = pydicom.dcmread(default_storage.open(instance.file))
    assert stored.PatientIdentityRemoved == "YES"
    assert stored.StudyInstanceUID == series.study.study_instance_uid
    assert not any(element.tag.is_private for element in stored.iterall())
    # Importing again changes nothing: same UIDs (keyed by the project secret), same bytes.
    before = _counts()
    call_command("import_dicom", str(TOTALSEG), "--project", cast.project.slug, "--pattern", "*.dcm")
    assert _counts() == before


def test_upload_pixels_png_and_audit(cast, client_for) -> None:
    client = client_for(cast.annotator)
    response = _upload(client, cast.project.slug, ("ct.dcm", CT_SMALL.read_bytes()))
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 1
    instance = Instance.objects.get()
    url = f"/api/projects/{cast.project.slug}/instances/{instance.pk}/frames/0/pixels"
    pixels = client.get(url)
    assert pixels.status_code == 200
    assert pixels["Content-Encoding"] == "gzip"
    rows, cols = int(pixels["X-Rows"]), int(pixels["X-Columns"])
    assert pixels["X-Dtype"] == "int16"
    values = np.frombuffer(gzip.decompress(pixels.content), dtype="<i2").reshape(rows, cols)
    original = pydicom.dcmread(CT_SMALL)
    expected = original.pixel_array * float(original.RescaleSlope) + float(original.RescaleIntercept)
    assert np.array_equal(values, expected.astype(np.int16))
    assert client.get(url, HTTP_IF_NONE_MATCH=pixels["ETag"]).status_code == 304
    png = client.get(
        f"/api/projects/{cast.project.slug}/instances/{instance.pk}/frames/0/png?center=40&width=400&size=64"
    )
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    bad = client.get(f"/api/projects/{cast.project.slug}/instances/{instance.pk}/frames/5/pixels")
    assert bad.status_code == 404
    assert bad.json()["code"] == "frame_out_of_range"
    assert AuditEvent.objects.filter(action="series.view", actor=cast.annotator, project_id=cast.project.pk).exists()
    series = client.get(f"/api/projects/{cast.project.slug}/series/{instance.series_id}/").json()
    assert series["frames"][0]["instance_id"] == instance.pk


def test_same_uid_same_content_is_a_no_op_and_other_content_conflicts(cast, client_for) -> None:
    client = client_for(cast.owner)
    content = CT_SMALL.read_bytes()
    assert _upload(client, cast.project.slug, ("a.dcm", content)).status_code == 201
    again = _upload(client, cast.project.slug, ("a.dcm", content))
    assert again.status_code == 201
    assert again.json()["duplicates"] == 1
    changed = pydicom.dcmread(CT_SMALL)
    changed.PixelData = bytes(len(changed.PixelData))
    buffer = io.BytesIO()
    changed.save_as(buffer)
    before = _counts()
    conflict = _upload(client, cast.project.slug, ("b.dcm", buffer.getvalue()))
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "instance_conflict"
    assert _counts() == before


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("notes.dcm", b"hello, this is not DICOM at all" * 10, "not_dicom"),
        ("truncated.dcm", CT_SMALL.read_bytes()[:-1000], "malformed_dicom"),
        ("cut-in-header.dcm", CT_SMALL.read_bytes()[:3000], "malformed_dicom"),
        ("no-pixels.dcm", "no_pixels", "no_pixel_data"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(cast, client_for, name: str, content: bytes | str, code: str) -> None:
    if content == "no_pixels":
        # A structured report: valid DICOM, nothing to look at.
        dataset = pydicom.dcmread(CT_SMALL)
        del dataset.PixelData
        dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
        buffer = io.BytesIO()
        dataset.save_as(buffer)
        content = buffer.getvalue()
    assert isinstance(content, bytes)
    response = _upload(client_for(cast.owner), cast.project.slug, (name, content))
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert _counts() == (0, 0, 0, 0)
    assert not default_storage.exists(f"projects/{cast.project.pk}")


def test_pixel_cap_is_checked_before_decoding(cast, client_for, settings) -> None:
    settings.IMAGING_MAX_PIXEL_BYTES = 1 << 20
    rows = pydicom.dcmread(CT_SMALL)
    rows.Rows = rows.Columns = 4096  # header claims 32 MiB of pixels; the data is far shorter
    buffer = io.BytesIO()
    rows.save_as(buffer)
    response = _upload(client_for(cast.owner), cast.project.slug, ("big.dcm", buffer.getvalue()))
    assert response.status_code == 413
    assert response.json()["code"] == "pixel_data_too_large"
    assert _counts() == (0, 0, 0, 0)


def test_zip_upload_and_unsafe_zip(cast, client_for) -> None:
    client = client_for(cast.owner)
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("study/ct.dcm", CT_SMALL.read_bytes())
        archive.writestr("study/mr.dcm", MR_SMALL.read_bytes())
    response = _upload(client, cast.project.slug, ("study.zip", good.getvalue()))
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 2
    before = _counts()
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../etc/evil.dcm", CT_SMALL.read_bytes())
    refused = _upload(client, cast.project.slug, ("evil.zip", evil.getvalue()))
    assert refused.status_code == 400
    assert refused.json()["code"] == "zip_unsafe_path"
    assert _counts() == before


def test_outsider_and_viewer_cannot_add_images(cast, client_for) -> None:
    outsider = _upload(client_for(cast.outsider), cast.project.slug, ("ct.dcm", CT_SMALL.read_bytes()))
    assert outsider.status_code == 404
    from backend.accounts.models import ProjectMembership

    ProjectMembership.objects.create(project=cast.project, user=cast.outsider, role="viewer")
    viewer = _upload(client_for(cast.outsider), cast.project.slug, ("ct.dcm", CT_SMALL.read_bytes()))
    assert viewer.status_code == 403
    assert _counts() == (0, 0, 0, 0)


def test_raster_images_are_quarantined_unless_declared_clean(cast, client_for) -> None:
    png = next((SHARED_DATA / "png").rglob("*.png")).read_bytes()
    client = client_for(cast.owner)
    held = _upload(client, cast.project.slug, ("photo.png", png))
    assert held.status_code == 201
    assert held.json()["quarantined"] == 1
    item = QuarantinedFile.objects.get()
    listed = client.get(f"/api/projects/{cast.project.slug}/quarantine/").json()
    assert listed[0]["reason"] == item.reason
    assert (
        client_for(cast.annotator)
        .post(
            f"/api/projects/{cast.project.slug}/quarantine/{item.pk}/decision/", {"decision": "released"}, format="json"
        )
        .status_code
        == 403
    )
    released = client.post(
        f"/api/projects/{cast.project.slug}/quarantine/{item.pk}/decision/", {"decision": "released"}, format="json"
    )
    assert released.status_code == 200
    assert Instance.objects.get().photometric_interpretation in {"RGB", "MONOCHROME2"}
    clean = _upload(client, cast.project.slug, ("other.png", png[:]), burned_in_annotation="NO")
    assert clean.json()["quarantined"] == 0


def test_verify_storage_reports_corruption(cast, client_for) -> None:
    _upload(client_for(cast.owner), cast.project.slug, ("ct.dcm", CT_SMALL.read_bytes()))
    call_command("verify_storage")
    instance = Instance.objects.get()
    with default_storage.open(instance.file, "wb") as handle:
        handle.write(b"tampered")
    with pytest.raises(CommandError, match="1 corrupted"):
        call_command("verify_storage")


def _ct_variants(count: int) -> list[bytes]:
    """Distinct instances of one series: CT_small with its own SOP Instance UID and slice position each."""
    out = []
    for index in range(count):
        ds = pydicom.dcmread(CT_SMALL)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(index)]
        buffer = io.BytesIO()
        ds.save_as(buffer)
        out.append(buffer.getvalue())
    return out


def _ct_at(number: int, position: float | None) -> bytes:
    """CT_small as instance `number` of its series, at slice `position` (None: without a position)."""
    ds = pydicom.dcmread(CT_SMALL)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = number
    if position is None:
        del ds.ImagePositionPatient
    else:
        ds.ImagePositionPatient = [0.0, 0.0, position]
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def test_reindex_sorts_along_the_normal_then_by_instance_number(cast, client_for) -> None:
    # Uploaded out of order, positions running against instance numbers, two slices without a position
    # (they go last, by instance number), and a second upload that must renumber the whole series.
    variant = _ct_at
    client = client_for(cast.owner)
    first = [variant(1, 30.0), variant(9, None), variant(3, 10.0), variant(2, 20.0), variant(8, None)]
    assert _upload(client, cast.project.slug, *[(f"{i}.dcm", c) for i, c in enumerate(first)]).status_code == 201
    series = Series.objects.get(project=cast.project)

    def order() -> list[tuple[int, int]]:
        frames = Frame.objects.filter(series=series).order_by("sort_index")
        return list(frames.values_list("sort_index", "instance__instance_number"))

    assert order() == [(0, 3), (1, 2), (2, 1), (3, 8), (4, 9)]
    series.refresh_from_db()
    assert series.slice_spacing == pytest.approx(10.0)
    assert series.regular_spacing is True
    assert series.frame_count == 5
    second = [variant(4, 5.0), variant(5, 25.0)]
    assert _upload(client, cast.project.slug, *[(f"b{i}.dcm", c) for i, c in enumerate(second)]).status_code == 201
    assert order() == [(0, 4), (1, 3), (2, 2), (3, 5), (4, 1), (5, 8), (6, 9)]
    series.refresh_from_db()
    assert series.slice_spacing == pytest.approx(5.0)
    assert series.regular_spacing is False
    assert series.frame_count == 7


@pytest.mark.parametrize(
    "positions",
    [
        [5.0],  # one slice: its thickness
        [5.0, None],  # one position among two slices: still the thickness
        [0.0, 0.0, 0.0],  # no positive gap: no spacing, not regular
        [0.0, 1.0, 2.0, 3.059],  # the last gap within allclose's tolerance of the median
        [0.0, 1.0, 2.0, 3.061],  # just outside it
        [40.0, 0.0, 10.0, 25.0, None],  # unordered, uneven: the median of the sorted gaps
    ],
)
def test_reindex_records_spacing_as_numpy_would(cast, client_for, positions: list[float | None]) -> None:
    client = client_for(cast.owner)
    files = [(f"{i}.dcm", _ct_at(i + 1, p)) for i, p in enumerate(positions)]
    assert _upload(client, cast.project.slug, *files).status_code == 201
    series = Series.objects.get(project=cast.project)
    known = sorted(p for p in positions if p is not None)
    if len(known) < 2:
        expected_spacing, expected_regular = series.slice_thickness, True
    else:
        gaps = np.diff(known)
        median = float(np.median(gaps))
        expected_spacing = median if median > 0 else None
        expected_regular = bool(median > 0 and np.allclose(gaps, median, rtol=0.05, atol=0.01))
    assert series.slice_spacing == pytest.approx(expected_spacing)
    assert series.regular_spacing is expected_regular
    assert series.frame_count == len(positions)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_group_that_loses_a_row_race_is_retried_file_by_file(cast, client_for, monkeypatch, processes) -> None:
    # Grouped indexing creates study and series rows without savepoints. If another upload commits the
    # same study between the group's lookup and its insert, the insert fails the whole group; the group
    # must then land file by file in the existing rows, with nothing stored twice or left behind. With
    # worker processes, the retry stores the same staged files again.
    from django.db.models.query import QuerySet

    monkeypatch.setenv("IMAGING_INGEST_PROCESSES", processes)
    client = client_for(cast.owner)
    files = _ct_variants(10)
    first = _upload(client, cast.project.slug, *[(f"{i}.dcm", c) for i, c in enumerate(files[:2])])
    assert first.status_code == 201, first.json()
    real_first = QuerySet.first
    missed: list[object] = []

    def first_missing_the_study(self):  # the lookup runs before the other upload's row is visible
        if self.model is Study and not missed:
            missed.append(self)
            return None
        return real_first(self)

    monkeypatch.setattr(QuerySet, "first", first_missing_the_study)
    second = _upload(client, cast.project.slug, *[(f"b{i}.dcm", c) for i, c in enumerate(files[2:])])
    assert second.status_code == 201, second.json()
    assert second.json()["created"] == 8
    assert missed, "the grouped path did not look the study up"
    assert Study.objects.filter(project=cast.project).count() == 1
    assert Series.objects.filter(project=cast.project).count() == 1
    assert Instance.objects.filter(project=cast.project).count() == 10
    assert Frame.objects.filter(series__project=cast.project).count() == 10
    stored = [i.file for i in Instance.objects.filter(project=cast.project)]
    assert all(default_storage.exists(path) for path in stored)
    files_on_disk = [name for name in default_storage.listdir(str(Path(stored[0]).parent))[1]]
    assert len(files_on_disk) == 10  # the failed group's copies were removed
    assert not default_storage.exists(".staging") or default_storage.listdir(".staging") == ([], [])


@pytest.mark.parametrize("processes", ["1", "2"])
def test_grouped_indexing_keeps_per_file_outcomes(cast, client_for, monkeypatch, processes: str) -> None:
    # Groups of files share one transaction; each file must still get its own outcome: created, duplicate
    # (also when named twice in one upload), or refused with 409 while the rest of its group lands.
    monkeypatch.setenv("IMAGING_INGEST_PROCESSES", processes)
    client = client_for(cast.owner)
    files = _ct_variants(10)
    first = _upload(client, cast.project.slug, *[(f"{i}.dcm", c) for i, c in enumerate(files[:4])])
    assert first.status_code == 201, first.json()
    assert first.json()["created"] == 4
    changed = pydicom.dcmread(io.BytesIO(files[2]))
    changed.PixelData = bytes(len(changed.PixelData))
    buffer = io.BytesIO()
    changed.save_as(buffer)
    batch = [(f"{i}.dcm", c) for i, c in enumerate(files)] + [
        ("again-5.dcm", files[5]),
        ("changed-2.dcm", buffer.getvalue()),
    ]
    second = _upload(client, cast.project.slug, *batch)
    assert second.status_code == 201, second.json()
    body = second.json()
    assert (body["created"], body["duplicates"], body["refused"]) == (6, 5, 1)
    assert [e["code"] for e in body["errors"]] == ["instance_conflict"]
    assert body["errors"][0]["file"] == "changed-2.dcm"
    assert Instance.objects.filter(project=cast.project).count() == 10
    assert Series.objects.filter(project=cast.project).count() == 1
    assert Frame.objects.filter(series__project=cast.project).count() == 10
    assert AuditEvent.objects.filter(project_id=cast.project.pk, action="instance.create").count() == 10
    series = Series.objects.get(project=cast.project)
    ordered = list(
        Frame.objects.filter(series=series).order_by("sort_index").values_list("instance__instance_number", flat=True)
    )
    assert ordered == list(range(1, 11))
    stored = [i.file for i in Instance.objects.filter(project=cast.project)]
    assert all(default_storage.exists(path) for path in stored)
    assert len(set(stored)) == 10


def test_reupload_of_a_file_with_derived_uids_is_a_duplicate(cast, client_for) -> None:
    # TotalSegmentator files have empty Study/Series UIDs; they are derived per upload, so the stored
    # (de-identified) bytes differ between uploads. The same source file must still be a no-op, while
    # other content under the same SOP Instance UID stays a conflict.
    client = client_for(cast.owner)
    path = sorted(TOTALSEG.glob("*.dcm"))[0]
    first = _upload(client, cast.project.slug, (path.name, path.read_bytes()))
    assert first.status_code == 201 and first.json()["created"] == 1
    before = _counts()
    again = _upload(client, cast.project.slug, (path.name, path.read_bytes()))
    assert again.status_code == 201, again.json()
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 1)
    assert _counts() == before
    instance = Instance.objects.get(project=cast.project)
    assert len(instance.source_mac) == 64 and instance.source_mac != instance.sha256


@pytest.mark.django_db(transaction=True)  # hooks run on real commits
def test_a_new_series_is_announced_as_created_mid_batch_and_as_added_once_complete(
    cast, client_for, monkeypatch
) -> None:
    # `series_created` hooks (the reading case) run as soon as the group that made the series commits, while
    # the rest of the upload is still coming; `series_added` hooks (embeddings, fingerprints) need the whole
    # series and run once, after the batch. A series that already exists is never announced as created.
    from backend.annotation.models import Case
    from backend.imaging import signals

    monkeypatch.setenv("IMAGING_INGEST_PROCESSES", "1")  # groups of exactly 12: the first commits 12 of 20
    seen: list[tuple[str, int, int, bool]] = []

    def record(event: str):
        def hook(series_id: int) -> None:
            instances = Instance.objects.filter(series_id=series_id).count()
            seen.append((event, series_id, instances, Case.objects.filter(series_id=series_id).exists()))

        return hook

    monkeypatch.setattr(signals, "_series_created_hooks", [*signals._series_created_hooks, record("created")])
    monkeypatch.setattr(signals, "_series_added_hooks", [*signals._series_added_hooks, record("added")])
    client = client_for(cast.owner)
    files = _ct_variants(24)
    first = _upload(client, cast.project.slug, *[(f"{i}.dcm", c) for i, c in enumerate(files[:20])])
    assert first.status_code == 201, first.json()
    series = Series.objects.get(project=cast.project)
    assert seen == [("created", series.pk, 12, True), ("added", series.pk, 20, True)]
    seen.clear()
    second = _upload(client, cast.project.slug, *[(f"b{i}.dcm", c) for i, c in enumerate(files[20:])])
    assert second.status_code == 201 and second.json()["created"] == 4
    assert seen == [("added", series.pk, 24, True)]
    assert Case.objects.filter(series=series).count() == 1
