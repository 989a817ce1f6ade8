"""The reading workflow end to end on a real 3-slice CT: queues, versions, blind reading, review,
consensus, sign-off, immutability and export."""

from __future__ import annotations

import io
import threading
import zipfile

import highdicom as hd
import nibabel as nib
import numpy as np
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from backend.annotation.models import Case, Label, ReadingPolicy, Task
from backend.annotation.services import task_next_for_reader
from backend.common.rle import rle_encode_labels
from backend.imaging.models import Frame
from tests.conftest import PASSWORD, SHARED_DATA

CT3 = SHARED_DATA / "dicom" / "dcmqi_ct3slice" / "ct-3slice"
ROWS = COLS = 512


def _rect(y0: int, y1: int, x0: int, x1: int, value: int = 1) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    mask[y0:y1, x0:x1] = value
    return mask


@pytest.fixture
def study(cast, django_capture_on_commit_callbacks):
    ReadingPolicy.objects.filter(project=cast.project).update(readers_per_case=2, blind=True, review_stage=True)
    Label.objects.create(
        project=cast.project,
        value=1,
        name="Liver",
        color="#aa3300",
        type_code={"scheme": "SCT", "value": "10200004", "meaning": "Liver"},
    )
    with django_capture_on_commit_callbacks(execute=True):  # the new series becomes a case after commit
        call_command("import_dicom", str(CT3), "--project", cast.project.slug, "--pattern", "*.dcm")
    case = Case.objects.get()
    frames = list(Frame.objects.filter(series=case.series).order_by("sort_index"))
    return case, frames


def _save(client, slug, annotation_id, base, frames_masks, *, source="brush", **headers):
    payload = {
        "base_version": base,
        "source": source,
        "frames": {str(f.pk): rle_encode_labels(m) for f, m in frames_masks},
    }
    return client.post(f"/api/projects/{slug}/annotations/{annotation_id}/versions/", payload, format="json", **headers)


def _read(client, slug, frames, masks):
    task = client.post(f"/api/projects/{slug}/tasks/next/").json()
    annotation = client.get(f"/api/projects/{slug}/tasks/{task['id']}/annotation/").json()
    saved = _save(client, slug, annotation["id"], 0, list(zip(frames, masks, strict=True)))
    assert saved.status_code == 201, saved.json()
    return task, annotation


@pytest.mark.django_db
def test_full_reading_workflow(cast, client_for, study) -> None:
    case, frames = study
    slug = cast.project.slug
    assert Task.objects.filter(case=case).count() == 2
    reader1, reader2, reviewer = client_for(cast.annotator), client_for(cast.reader2), client_for(cast.reviewer)

    task1, ann1 = _read(reader1, slug, frames, [_rect(100, 300, 100, 300)] * 3)
    assert reader1.post(f"/api/projects/{slug}/tasks/next/").json()["id"] == task1["id"]  # resumes, no new case
    # Bad input changes nothing.
    stale = _save(reader1, slug, ann1["id"], 0, [(frames[0], _rect(0, 10, 0, 10))])
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale_version"
    assert stale.json()["extra"]["current_version"] == 1
    wrong_shape = reader1.post(
        f"/api/projects/{slug}/annotations/{ann1['id']}/versions/",
        {
            "base_version": 1,
            "source": "brush",
            "frames": {str(frames[0].pk): rle_encode_labels(np.zeros((10, 10), np.uint8))},
        },
        format="json",
    )
    assert wrong_shape.json()["code"] == "mask_shape"
    unknown = _save(reader1, slug, ann1["id"], 1, [(frames[0], _rect(0, 10, 0, 10, value=7))])
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "unknown_label"

    # Blind reading: the co-reader cannot see reader 1's work through any route.
    task2 = reader2.post(f"/api/projects/{slug}/tasks/next/").json()
    assert task2["case_id"] == case.pk and task2["id"] != task1["id"]
    for url in (
        f"/api/projects/{slug}/annotations/{ann1['id']}/",
        f"/api/projects/{slug}/annotations/{ann1['id']}/versions/",
        f"/api/projects/{slug}/annotations/{ann1['id']}/frames/{frames[0].pk}/",
    ):
        hidden = reader2.get(url)
        assert hidden.status_code == 404, url
        assert hidden.json()["code"] == "annotation_not_found"
    assert _save(reader2, slug, ann1["id"], 1, [(frames[0], _rect(0, 5, 0, 5))]).status_code == 404
    assert reader2.get(f"/api/projects/{slug}/tasks/{task1['id']}/annotation/").status_code == 404
    assert [a["id"] for a in reader2.get(f"/api/projects/{slug}/cases/{case.pk}/").json()["annotations"]] == []
    assert reviewer.get(f"/api/projects/{slug}/annotations/{ann1['id']}/").status_code == 404  # not submitted yet
    ann2 = reader2.get(f"/api/projects/{slug}/tasks/{task2['id']}/annotation/").json()
    assert _save(reader2, slug, ann2["id"], 0, [(f, _rect(120, 320, 110, 310)) for f in frames]).status_code == 201

    assert reader1.post(f"/api/projects/{slug}/tasks/{task1['id']}/submit/").status_code == 200
    assert reader2.get(f"/api/projects/{slug}/annotations/{ann1['id']}/").status_code == 404  # still reading
    assert reader2.post(f"/api/projects/{slug}/tasks/{task2['id']}/submit/").status_code == 200
    case.refresh_from_db()
    assert case.status == "in_review"
    assert reader2.get(f"/api/projects/{slug}/annotations/{ann1['id']}/").status_code == 200  # reads complete

    queue = reviewer.get(f"/api/projects/{slug}/review/queue/").json()
    assert [c["id"] for c in queue] == [case.pk]
    assert reader1.get(f"/api/projects/{slug}/review/queue/").status_code == 403
    detail = reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/review/").json()
    metrics = detail["agreement"]["labels"][0]["pairs"][0]
    a, b = _rect(100, 300, 100, 300).astype(bool), _rect(120, 320, 110, 310).astype(bool)
    assert metrics["dice"] == pytest.approx(2 * (a & b).sum() / (a.sum() + b.sum()), abs=1e-4)
    assert metrics["hd95_mm"] > 0
    assert metrics["volume_diff_ml"] == pytest.approx(0.0, abs=1e-6)

    staple = reviewer.post(f"/api/projects/{slug}/cases/{case.pk}/consensus/", {"method": "staple"}, format="json")
    assert staple.status_code == 201, staple.json()
    consensus_id = staple.json()["id"]
    majority = reviewer.post(f"/api/projects/{slug}/cases/{case.pk}/consensus/", {"method": "majority"}, format="json")
    assert majority.json()["id"] == consensus_id and majority.json()["head"] == 2
    picked = reviewer.post(
        f"/api/projects/{slug}/cases/{case.pk}/consensus/",
        {"method": "reviewer_pick", "annotation_id": ann1["id"]},
        format="json",
    )
    assert picked.json()["head"] == 3
    frame_mask = reviewer.get(f"/api/projects/{slug}/annotations/{consensus_id}/frames/{frames[1].pk}/").json()["mask"]
    assert frame_mask["values"] == [0, 1, 0, 1, 0, 1, 0] or 1 in frame_mask["values"]

    # Export before sign-off is refused where signatures are required.
    assert reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/export/?format=seg").json()["code"] == "not_signed"
    # Signing: readers cannot sign someone else's work; a wrong password is refused.
    assert (
        reader1.post(
            f"/api/projects/{slug}/annotations/{ann2['id']}/signoff/", {"password": PASSWORD}, format="json"
        ).json()["code"]
        == "signer_not_allowed"
    )
    wrong = reviewer.post(
        f"/api/projects/{slug}/annotations/{consensus_id}/signoff/", {"password": "nope"}, format="json"
    )
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "reauthentication_failed"
    signed = reviewer.post(
        f"/api/projects/{slug}/annotations/{consensus_id}/signoff/", {"password": PASSWORD}, format="json"
    )
    assert signed.status_code == 201, signed.json()
    assert set(signed.json()["manifest"]["frames"]) == {str(f.pk) for f in frames}
    case.refresh_from_db()
    assert case.status == "signed"

    # Signed content is immutable in the database itself.
    for statement in (
        "UPDATE annotation_maskframe SET sha256 = 'x' WHERE annotation_id = %s",
        "DELETE FROM annotation_maskframe WHERE annotation_id = %s",
        "DELETE FROM annotation_maskversion WHERE annotation_id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [consensus_id])

    seg_response = reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/export/?format=seg")
    assert seg_response.status_code == 200
    seg = hd.seg.segread(io.BytesIO(seg_response.content))
    assert seg.SegmentSequence[0].SegmentLabel == "Liver"
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {f.instance.sop_instance_uid for f in frames}
    for frame in frames:
        source_uid = frame.instance.sop_instance_uid
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[source_uid], combine_segments=True)
        assert np.array_equal(pixels[0].astype(bool), _rect(100, 300, 100, 300).astype(bool))
    nifti = nib.Nifti1Image.from_bytes(
        reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/export/?format=nifti").content
    )
    assert nifti.shape == (COLS, ROWS, 3)
    assert int(np.asarray(nifti.dataobj).sum()) == 3 * 200 * 200
    assert abs(np.linalg.det(nifti.affine[:3, :3])) == pytest.approx(
        frames[0].instance.pixel_spacing[0] * frames[0].instance.pixel_spacing[1] * case.series.slice_spacing, rel=1e-3
    )
    pngs = zipfile.ZipFile(io.BytesIO(reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/export/?format=png").content))
    assert len(pngs.namelist()) == 3
    coco = reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/export/?format=coco").json()
    assert coco["annotations"][0]["area"] == 200 * 200
    assert coco["categories"] == [{"id": 1, "name": "Liver"}]

    # An amendment is a new version that needs a new sign-off.
    amended = _save(reviewer, slug, consensus_id, 3, [(frames[0], _rect(100, 310, 100, 300))])
    assert amended.status_code == 201
    case.refresh_from_db()
    assert case.status == "in_review"
    assert reviewer.get(f"/api/projects/{slug}/cases/{case.pk}/export/?format=seg").json()["code"] == "not_signed"


@pytest.mark.django_db
def test_idempotency_key_replays_and_refuses_reuse(cast, client_for, study) -> None:
    _, frames = study
    slug = cast.project.slug
    reader = client_for(cast.annotator)
    task = reader.post(f"/api/projects/{slug}/tasks/next/").json()
    annotation = reader.get(f"/api/projects/{slug}/tasks/{task['id']}/annotation/").json()
    first = _save(reader, slug, annotation["id"], 0, [(frames[0], _rect(0, 50, 0, 50))], HTTP_IDEMPOTENCY_KEY="k-1")
    again = _save(reader, slug, annotation["id"], 0, [(frames[0], _rect(0, 50, 0, 50))], HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = _save(reader, slug, annotation["id"], 0, [(frames[0], _rect(0, 60, 0, 60))], HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert reader.get(f"/api/projects/{slug}/annotations/{annotation['id']}/").json()["head"] == 1


@pytest.mark.django_db
def test_return_reassign_drafts_and_owner_assignment(cast, client_for, study) -> None:
    case, frames = study
    slug = cast.project.slug
    reader1, reader2 = client_for(cast.annotator), client_for(cast.reader2)
    task1, ann1 = _read(reader1, slug, frames, [_rect(10, 60, 10, 60)] * 3)
    task2, _ = _read(reader2, slug, frames, [_rect(10, 60, 10, 60)] * 3)
    draft = reader1.put(
        f"/api/projects/{slug}/annotations/{ann1['id']}/drafts/{frames[0].pk}/",
        {"base_version": 1, "mask": rle_encode_labels(_rect(0, 5, 0, 5))},
        format="json",
    )
    assert draft.status_code == 204
    got = reader1.get(f"/api/projects/{slug}/annotations/{ann1['id']}/frames/{frames[0].pk}/").json()
    assert got["draft"]["base_version"] == 1 and got["version"] == 1
    for client, task in ((reader1, task1), (reader2, task2)):
        assert client.post(f"/api/projects/{slug}/tasks/{task['id']}/submit/").status_code == 200
    reviewer = client_for(cast.reviewer)
    returned = reviewer.post(
        f"/api/projects/{slug}/cases/{case.pk}/return/",
        {"task_id": task1["id"], "comment": "Include the caudate lobe."},
        format="json",
    )
    assert returned.json()["status"] == "returned"
    assert _save(reader1, slug, ann1["id"], 1, [(frames[0], _rect(10, 70, 10, 70))]).status_code == 201
    # A reader leaving hands their open read back to the queue.
    owner = client_for(cast.owner)
    assert owner.delete(f"/api/projects/{slug}/members/{cast.annotator.pk}/").status_code == 204
    reopened = Task.objects.get(pk=task1["id"])
    assert reopened.status == "open" and reopened.reader is None
    assigned = owner.post(
        f"/api/projects/{slug}/tasks/{task1['id']}/assign/", {"user_id": cast.reviewer.pk}, format="json"
    )
    assert assigned.status_code == 200 and assigned.json()["reader"] == "reviewer"
    dup = owner.post(f"/api/projects/{slug}/tasks/{task2['id']}/assign/", {"user_id": cast.reviewer.pk}, format="json")
    assert dup.status_code == 409


@pytest.mark.django_db(transaction=True)
def test_concurrent_readers_never_share_a_task(cast, make_user) -> None:
    from backend.accounts.models import ProjectMembership
    from backend.annotation.services import case_create
    from backend.imaging.models import Series, Study

    ReadingPolicy.objects.filter(project=cast.project).update(readers_per_case=2)
    study_row = Study.objects.create(project=cast.project, study_instance_uid="1.2.3")
    for i in range(6):
        series = Series.objects.create(project=cast.project, study=study_row, series_instance_uid=f"1.2.3.{i}")
        case_create(project=cast.project, series=series, actor=None)
    readers = [make_user(f"r{i}") for i in range(6)]
    for reader in readers:
        ProjectMembership.objects.create(project=cast.project, user=reader, role="annotator")
    got: list[int] = []
    lock = threading.Lock()

    def pull(reader) -> None:
        for _ in range(3):
            task = task_next_for_reader(project=cast.project, reader=reader)
            if task is None:
                break
            with lock:
                got.append(task.pk)
            Task.objects.filter(pk=task.pk).update(status="submitted")
        connection.close()

    threads = [threading.Thread(target=pull, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == len(set(got)) == 12
    pairs = list(Task.objects.values_list("case_id", "reader_id"))
    assert len(pairs) == len(set(pairs))
