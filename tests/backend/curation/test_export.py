"""On a real 3-slice CT: pixel fingerprints and duplicates across projects, and snapshot exports (nnU-Net,
MONAI, DICOM SEG, COCO) that are reproducible byte for byte and leave nothing behind when they fail."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from backend.accounts.models import ProjectMembership
from backend.annotation.masks import annotation_for_task, mask_save
from backend.annotation.models import Case, Label, ReadingPolicy, Task
from backend.annotation.review import annotation_sign, consensus_build
from backend.annotation.services import project_create, task_assign, task_submit
from backend.common.rle import rle_encode_labels
from backend.curation import exports
from backend.curation.fingerprints import fingerprints_fill
from backend.curation.models import InstanceFingerprint, SnapshotExport
from backend.imaging.models import Frame
from tests.conftest import PASSWORD, SHARED_DATA

pytestmark = pytest.mark.django_db
CT3 = SHARED_DATA / "dicom" / "dcmqi_ct3slice" / "ct-3slice"


def _import(project, callbacks) -> Case:
    with callbacks(execute=True):  # the new series becomes a case after commit
        call_command("import_dicom", str(CT3), "--project", project.slug, "--pattern", "*.dcm")
    return Case.objects.get(project=project)


@pytest.fixture
def signed_ct(cast, django_capture_on_commit_callbacks):
    ReadingPolicy.objects.filter(project=cast.project).update(readers_per_case=1, review_stage=True)
    Label.objects.create(project=cast.project, value=3, name="Liver", color="#aa3300")
    case = _import(cast.project, django_capture_on_commit_callbacks)
    frames = list(Frame.objects.filter(series=case.series).order_by("sort_index").select_related("instance"))
    task = Task.objects.get(case=case)
    task_assign(task=task, actor=cast.owner, reader=cast.annotator)
    task.refresh_from_db()
    annotation = annotation_for_task(task=task, user=cast.annotator)
    mask = np.zeros((512, 512), dtype=np.uint8)
    mask[100:300, 120:260] = 3
    mask_save(
        annotation=annotation,
        user=cast.annotator,
        base_version=0,
        frames={str(f.pk): rle_encode_labels(mask) for f in frames[:2]},
        source="brush",
    )
    task_submit(task=task, user=cast.annotator)
    case.refresh_from_db()
    consensus = consensus_build(case=case, user=cast.reviewer, method="reviewer_pick", annotation_id=annotation.pk)
    annotation_sign(annotation=consensus, user=cast.reviewer, password=PASSWORD)
    return case, frames


def test_duplicates_across_projects_and_in_the_preview(cast, client_for, signed_ct, django_capture_on_commit_callbacks):
    case, frames = signed_ct
    copy = project_create(creator=cast.owner, slug="copy", name="Copy")
    ProjectMembership.objects.create(project=copy, user=cast.reviewer, role="reviewer")
    copied = _import(copy, django_capture_on_commit_callbacks)
    owner = client_for(cast.owner)
    slug = cast.project.slug

    assert owner.post(f"/api/projects/{slug}/curation/duplicates/scan/").json() == {"missing": 3}
    assert fingerprints_fill(project_id=copy.pk) == 3
    preview = owner.post(
        f"/api/projects/{slug}/curation/snapshots/preview/", {"split": {"train": 1.0}}, format="json"
    ).json()  # fingerprints the selection inline
    assert InstanceFingerprint.objects.filter(project=cast.project, error="").count() == 3
    fp = InstanceFingerprint.objects.get(instance=frames[0].instance)
    assert len(fp.pixel_sha256) == 64 and fp.dhash is not None
    pairs = preview["duplicates"]["pairs"]
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair["series_a"], pair["series_b"], pair["kind"]) == (case.series_id, copied.series_id, "exact")
    assert pair["exact_instances"] == 3 and pair["project_b"] == "copy" and pair["cross_split"] is False
    # Near duplicates: neighbouring slices of one series never count; only other series do.
    near = owner.get(f"/api/projects/{slug}/curation/duplicates/?max_distance=8").json()
    assert {(p["series_a"], p["series_b"]) for p in near["pairs"]} == {(case.series_id, copied.series_id)}
    assert owner.get(f"/api/projects/{slug}/curation/duplicates/?max_distance=20").json()["code"] == (
        "invalid_distance"
    )
    # Someone who cannot see the copy does not learn about it.
    ProjectMembership.objects.filter(project=copy, user=cast.owner).delete()
    assert owner.get(f"/api/projects/{slug}/curation/duplicates/").json()["pairs"] == []


def _export(client, url: str, formats: list[str]) -> tuple[dict, bytes]:
    job = client.post(url, {"formats": formats}, format="json")
    assert job.status_code == 202, job.json()
    assert exports.snapshot_export_run(export_id=job.json()["id"]) == "done"  # what the io worker runs
    state = client.get(f"{url}{job.json()['id']}/").json()
    assert state["state"] == "done" and state["done"] == state["total"] == 1
    download = client.get(f"{url}{job.json()['id']}/download/")
    assert download.status_code == 200
    return state, b"".join(download.streaming_content)


def test_snapshot_export_is_complete_reproducible_and_atomic(cast, client_for, make_user, signed_ct, monkeypatch):
    case, _ = signed_ct
    slug = cast.project.slug
    reviewer = client_for(cast.reviewer)
    owner = client_for(cast.owner)
    owner.put(f"/api/projects/{slug}/curation/settings/", {"default_licence": "CC-BY-4.0"}, format="json")
    snapshot = reviewer.post(
        f"/api/projects/{slug}/curation/snapshots/",
        {"name": "ct", "split": {"train": 0.8, "val": 0.2}, "seed": 1},
        format="json",
    ).json()
    url = f"/api/projects/{slug}/curation/snapshots/{snapshot['id']}/exports/"
    first, archive = _export(reviewer, url, ["nnunet", "monai", "seg", "coco"])
    second, archive_again = _export(reviewer, url, ["coco", "seg", "monai", "nnunet"])
    assert first["manifest_sha256"] == second["manifest_sha256"]
    assert archive == archive_again  # fixed dates, fixed order, derived UIDs: the whole zip is identical

    files = zipfile.ZipFile(io.BytesIO(archive))
    manifest = json.loads(files.read("manifest.json"))
    assert manifest["snapshot"]["content_hash"] == snapshot["content_hash"]
    assert set(manifest["files"]) == set(files.namelist()) - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files.read(name)).hexdigest() == digest, name
    assert manifest["cases"][0]["licence"] == "CC-BY-4.0"
    assert manifest["cases"][0]["source"]["study_uid"] == case.series.study.study_instance_uid
    assert manifest["label_schema"][0]["name"] == "Liver" and manifest["nnunet_label_ids"] == {"3": 1}
    assert {r["reader"] for r in manifest["reader_stats"]} == {"annotator"}
    assert "created_at" not in json.dumps(manifest)

    root = next(n for n in files.namelist() if n.endswith("dataset.json")).rsplit("/", 1)[0]
    dataset = json.loads(files.read(f"{root}/dataset.json"))
    assert dataset["labels"] == {"background": 0, "Liver": 1}
    assert dataset["channel_names"] == {"0": "CT"} and dataset["file_ending"] == ".nii.gz"
    assert dataset["numTraining"] == 1
    image = nib.Nifti1Image.from_bytes(gzip.decompress(files.read(f"{root}/imagesTr/case_0000_0000.nii.gz")))
    label = nib.Nifti1Image.from_bytes(gzip.decompress(files.read(f"{root}/labelsTr/case_0000.nii.gz")))
    assert image.shape == label.shape == (512, 512, 3)
    assert np.allclose(image.affine, label.affine)
    assert set(np.unique(np.asarray(label.dataobj)).tolist()) == {0, 1}  # remapped to consecutive ids
    assert int(np.asarray(label.dataobj).sum()) == 2 * 200 * 140
    datalist = json.loads(files.read("monai/datalist.json"))
    assert len(datalist["training"]) == 1 and datalist["testing"] == []
    seg = hd.seg.segread(io.BytesIO(files.read("seg/case_0000.dcm")))
    assert seg.SegmentSequence[0].SegmentLabel == "Liver"
    coco = json.loads(files.read("coco/train.json"))
    assert len(coco["images"]) == 3 and coco["annotations"][0]["area"] == 200 * 140
    assert files.read(coco["images"][0]["file_name"])[:8] == b"\x89PNG\r\n\x1a\n"

    # Not visible: outsiders get the project 404; another project's snapshot id is a snapshot 404.
    outsider = client_for(cast.outsider).post(url, {"formats": ["nnunet"]}, format="json")
    assert outsider.status_code == 404 and outsider.json()["code"] == "project_not_found"
    other = project_create(creator=cast.outsider, slug="elsewhere", name="Elsewhere")
    foreign = client_for(cast.outsider).get(
        f"/api/projects/{other.slug}/curation/snapshots/{snapshot['id']}/exports/{first['id']}/download/"
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "snapshot_not_found"
    viewer = make_user("viewer")
    ProjectMembership.objects.create(project=cast.project, user=viewer, role="viewer")
    assert client_for(viewer).get(f"{url}{first['id']}/download/").status_code == 403
    assert reviewer.post(url, {"formats": ["tiff"]}, format="json").status_code == 400

    # A failure half-way leaves no archive, no temp folder, and a failed job with a code.
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(exports, "_nifti", broken)
    job = reviewer.post(url, {"formats": ["nnunet"]}, format="json").json()
    assert exports.snapshot_export_run(export_id=job["id"]) == "failed"
    failed = SnapshotExport.objects.get(pk=job["id"])
    assert failed.status == "failed" and failed.error_code == "export_failed" and failed.path == ""
    folder = f"projects/{cast.project.pk}/curation/snapshots/{snapshot['id']}"
    assert not any(name.startswith(f"export-{job['id']}") for name in default_storage.listdir(folder)[1])
    assert not list(Path(tempfile.gettempdir()).glob(f"rr-snapshot-export-{job['id']}-*"))
    assert reviewer.get(f"{url}{job['id']}/download/").json()["code"] == "export_not_ready"
    assert exports.snapshot_export_run(export_id=first["id"]) == "skipped"  # a finished job is never redone
