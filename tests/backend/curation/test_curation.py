"""Curation through the API: find (filters, keyset pages, visibility), tags/flags/bulk, stats, snapshots."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from backend.accounts.models import ProjectMembership
from backend.annotation.models import Case, ReadingPolicy, TaskStatus
from backend.annotation.services import project_create
from backend.audit.models import AuditEvent
from backend.curation.models import CaseStats, Snapshot
from backend.curation.stats import stats_refresh, stats_stale_case_ids
from tests.backend.curation.conftest import make_series, rect

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, curation):
    liver = rect(0, 4, 0, 10)
    a = curation(
        uid="a",
        patient="P1",
        reads=([rect(10, 12, 10, 12, 2, base=liver), liver], [rect(10, 12, 10, 12, 2, base=liver), liver]),
    )
    b = curation(
        uid="b",
        patient="P1",
        thickness=5.0,
        date=dt.date(2021, 6, 1),
        reads=([rect(0, 8, 0, 8)] * 2, [rect(4, 12, 4, 12)] * 2),
    )
    c = curation(
        uid="c",
        patient="P2",
        modality="MR",
        body_part="HEAD",
        manufacturer="SIEMENS",
        thickness=1.0,
        date=dt.date(2019, 3, 1),
        reads=([rect(0, 2, 0, 5)] * 2, [rect(0, 2, 0, 5)] * 2),
    )
    d = curation(uid="d", patient="P3", reads=([rect(0, 3, 0, 3), rect(0, 0, 0, 0)],) * 2, stage="review")
    e = curation(uid="e", patient="P4", reads=None)
    assert [x.case.status for x in (a, b, c, d, e)] == ["signed", "signed", "signed", "in_review", "reading"]
    assert stats_refresh(project_id=cast.project.pk) == 5
    return {"a": a.case.pk, "b": b.case.pk, "c": c.case.pk, "d": d.case.pk, "e": e.case.pk, "built": (a, b, c, d, e)}


def _find(client, slug, document=None, **extra):
    body = {"filter": document, **extra} if document is not None else extra
    return client.post(f"/api/projects/{slug}/curation/find/", body, format="json")


def _ids(response):
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["items"]]


def test_find_filters_pagination_and_saved_filters(cast, client_for, world) -> None:
    slug, w = cast.project.slug, world
    owner = client_for(cast.owner)
    assert stats_stale_case_ids(project_id=cast.project.pk) == []  # computed from the current inputs
    stats_b = CaseStats.objects.get(case_id=w["b"])
    assert stats_b.mean_dice == pytest.approx(0.25) and stats_b.reference_source == "signed"

    everything = [w[k] for k in "abcde"]
    assert _ids(_find(owner, slug, {})) == everything
    cases = {
        "modality CT": ({"modality": ["ct"]}, ["a", "b", "d", "e"]),
        "liver 50..200 mL": ({"labels": [{"label": "Liver", "volume_ml": {"min": 50, "max": 200}}]}, ["a", "b"]),
        "tumor present": ({"labels": [{"label": 2}]}, ["a"]),
        "tumor absent": ({"labels": [{"label": "tumor", "present": False}]}, ["b", "c", "d"]),
        "readers disagree": ({"agreement": {"mean_dice": {"max": 0.8}}}, ["b"]),
        "label dice": ({"labels": [{"label": 1, "dice": {"min": 0.99}}]}, ["a", "c", "d"]),
        "unread": ({"status": ["unread"]}, ["e"]),
        "in review or signed": ({"status": ["in_review", "signed"]}, ["a", "b", "c", "d"]),
        "thickness": ({"slice_thickness": {"min": 2, "max": 3}}, ["a", "d", "e"]),
        "shifted date": ({"study_date": {"from": "2021-01-01"}}, ["b"]),
        "manufacturer": ({"manufacturer": ["siemens"], "body_part": ["head"]}, ["c"]),
        "reader": ({"readers": ["reader2"]}, ["a", "b", "c", "d"]),
        "patient": ({"patient_keys": ["P1"]}, ["a", "b"]),
    }
    for name, (document, expected) in cases.items():
        assert _ids(_find(owner, slug, document)) == [w[k] for k in expected], name

    # Keyset pages: the cursor continues after the last id; the last page has no cursor.
    seen, cursor = [], None
    while True:
        page = _find(owner, slug, {}, limit=2, count=True, **({"cursor": cursor} if cursor else {})).json()
        assert page["count"] == 5
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    first = _find(owner, slug, {"status": ["signed"]}).json()["items"][0]
    assert first["labels"][0] == {"value": 1, "volume_ml": 80.0, "slices": 2, "dice": 1.0}
    assert first["reference"]["source"] == "signed" and first["project"] == slug

    # Series and studies: series without a case, studies with a matching series.
    orphan, _ = make_series(cast.project, uid="orphan", patient="P9", frames=1)
    series = _find(owner, slug, {"target": "series", "has_case": False})
    assert _ids(series) == [orphan.pk] and series.json()["items"][0]["case_id"] is None
    studies = _ids(_find(owner, slug, {"target": "study", "modality": ["MR"]}))
    assert studies == [Case.objects.get(pk=w["c"]).series.study_id]

    # Bad input: one error shape, nothing else happens.
    for body, code in (
        ({"filter": {"modality": "CT"}}, "invalid_filter"),
        ({"filter": {"labels": [{"label": 1, "volume_ml": {"min": 9, "max": 1}}]}}, "invalid_filter"),
        ({"filter": {"projects": ["liver"]}}, "invalid_filter"),
        ({"filter": {"readers": ["nobody"]}}, "invalid_filter"),
        ({"filter": {}, "cursor": "bogus"}, "invalid_cursor"),
    ):
        response = owner.post(f"/api/projects/{slug}/curation/find/", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["code"] == code
    assert owner.post(f"/api/projects/{slug}/curation/find/", {"limit": 0}, format="json").json()["code"] == "invalid"

    # Saved filters: validated on save, named per project, usable by id.
    url = f"/api/projects/{slug}/curation/filters/"
    saved = owner.post(url, {"name": "disagree", "document": {"agreement": {"mean_dice": {"max": 0.8}}}}, format="json")
    assert saved.status_code == 201, saved.json()
    assert owner.post(url, {"name": "disagree", "document": {}}, format="json").status_code == 409
    assert owner.post(url, {"name": "bad", "document": {"x": 1}}, format="json").json()["code"] == "invalid_filter"
    assert client_for(cast.annotator).post(url, {"name": "x", "document": {}}, format="json").status_code == 403
    assert _ids(_find(owner, slug, saved_filter_id=saved.json()["id"])) == [w["b"]]
    updated = owner.put(f"{url}{saved.json()['id']}/", {"document": {"status": ["unread"]}}, format="json")
    assert updated.json()["document"] == {"status": ["unread"], "target": "case"}
    assert client_for(cast.annotator).get(url).json()[0]["name"] == "disagree"  # members read
    assert owner.delete(f"{url}{saved.json()['id']}/").status_code == 204


def test_visibility_cross_project_and_roles(cast, client_for, make_user, world) -> None:
    slug, w = cast.project.slug, world
    viewer = make_user("viewer")
    ProjectMembership.objects.create(project=cast.project, user=viewer, role="viewer")
    # Viewers see signed cases only; content predicates never reach cases still in review for non-curators.
    assert _ids(_find(client_for(viewer), slug, {})) == [w["a"], w["b"], w["c"]]
    assert _ids(_find(client_for(cast.annotator), slug, {"labels": [{"label": 1}]})) == [w["a"], w["b"], w["c"]]
    assert _ids(_find(client_for(cast.reviewer), slug, {"labels": [{"label": 1}]})) == [w["a"], w["b"], w["c"], w["d"]]
    hidden = client_for(viewer).get(f"/api/projects/{slug}/curation/cases/{w['d']}/")
    assert hidden.status_code == 404 and hidden.json()["code"] == "case_not_found"
    in_review = client_for(cast.annotator).get(f"/api/projects/{slug}/curation/cases/{w['d']}/").json()
    assert in_review["labels"] == [] and in_review["mean_dice"] is None  # a reader of it: no content stats
    listed = {i["id"]: i for i in _find(client_for(cast.annotator), slug, {}).json()["items"]}
    assert listed[w["d"]]["mean_dice"] is None and listed[w["a"]]["mean_dice"] == 1.0

    # Cross-project search covers the user's projects, or the named ones; others are 404.
    other = project_create(creator=cast.owner, slug="kidney", name="Kidney")
    series, _ = make_series(other, uid="k1", patient="K1", frames=1)
    from backend.annotation.services import case_create

    kidney_case = case_create(project=other, series=series, actor=cast.owner)
    owner = client_for(cast.owner)
    found = _ids(owner.post("/api/curation/find/", {"filter": {"modality": ["CT"]}}, format="json"))
    assert found == [w["a"], w["b"], w["d"], w["e"], kidney_case.pk]
    only = owner.post("/api/curation/find/", {"filter": {"projects": ["kidney"]}}, format="json")
    assert [i["project"] for i in only.json()["items"]] == ["kidney"]
    assert (
        client_for(cast.annotator)
        .post("/api/curation/find/", {"filter": {"projects": ["kidney"]}}, format="json")
        .json()["code"]
        == "project_not_found"
    )
    # The annotator reads a..d; e's reads are still open, so it is not theirs to see.
    assert _ids(client_for(cast.annotator).post("/api/curation/find/", {}, format="json")) == [w[k] for k in "abcd"]


def test_tags_flags_notes_bulk_and_audit(cast, client_for, world) -> None:
    slug, w = cast.project.slug, world
    owner = client_for(cast.owner)
    bulk = f"/api/projects/{slug}/curation/bulk/"

    tagged = owner.post(
        bulk, {"action": "tag", "target": "case", "ids": [w["a"], w["b"]], "params": {"tag": "good"}}, format="json"
    )
    assert tagged.status_code == 200, tagged.json()
    assert tagged.json()["done"] == [w["a"], w["b"]]
    again = owner.post(
        bulk, {"action": "tag", "target": "case", "ids": [w["a"]], "params": {"tag": "good"}}, format="json"
    )
    assert again.json()["skipped"] == [{"id": w["a"], "code": "unchanged"}]
    study_c = Case.objects.get(pk=w["c"]).series.study_id
    owner.post(bulk, {"action": "tag", "target": "study", "ids": [study_c], "params": {"tag": "mri"}}, format="json")
    assert _ids(_find(owner, slug, {"tags": ["mri"]})) == [w["c"]]  # a study tag applies to its cases
    assert _ids(_find(owner, slug, {"tags": ["good"], "exclude_tags": ["mri"]})) == [w["a"], w["b"]]
    assert owner.get(f"/api/projects/{slug}/curation/tags/").json() == [
        {"name": "good", "count": 2},
        {"name": "mri", "count": 1},
    ]

    flag = {"action": "flag", "target": "case", "ids": [w["a"]], "params": {"kind": "motion_artefact"}}
    assert owner.post(bulk, flag, format="json").json()["done"] == [w["a"]]
    assert owner.post(bulk, flag, format="json").json()["skipped"][0]["code"] == "already_flagged"
    study_flag = {"action": "flag", "target": "study", "ids": [study_c], "params": {"kind": "visible_phi"}}
    assert owner.post(bulk, study_flag, format="json").status_code == 200
    assert _ids(_find(owner, slug, {"flagged": True})) == [w["a"], w["c"]]
    assert _ids(_find(owner, slug, {"flags": ["visible_phi"]})) == [w["c"]]
    assert _ids(_find(owner, slug, {"flagged": False})) == [w["b"], w["d"], w["e"]]
    refused = owner.post(bulk, {"action": "exclude", "target": "case", "ids": [w["e"]]}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "reason_required"
    bad_kind = owner.post(bulk, {**flag, "params": {"kind": "ugly"}}, format="json")
    assert bad_kind.json()["code"] == "invalid_flag"
    excluded = owner.post(
        bulk,
        {"action": "exclude", "target": "case", "filter": {"status": ["unread"]}, "params": {"reason": "no reads"}},
        format="json",
    )
    assert excluded.json()["done"] == [w["e"]]
    assert _ids(_find(owner, slug, {"flags": ["excluded"]})) == [w["e"]]
    unflag = owner.post(
        bulk,
        {"action": "unflag", "target": "study", "ids": [study_c], "params": {"kinds": ["visible_phi"]}},
        format="json",
    )
    assert unflag.json()["done"] == [study_c]
    assert _ids(_find(owner, slug, {"flagged": True})) == [w["a"], w["e"]]

    note = owner.post(
        f"/api/projects/{slug}/curation/notes/", {"case_id": w["a"], "text": "motion at L1"}, format="json"
    )
    assert note.status_code == 201
    detail = owner.get(f"/api/projects/{slug}/curation/cases/{w['a']}/").json()
    assert detail["tags"] == ["good"] and detail["flags"][0]["kind"] == "motion_artefact"
    assert detail["notes"][0]["text"] == "motion at L1"

    # Adding series as cases, and assigning reads, in bulk.
    orphan, _ = make_series(cast.project, uid="orphan", patient="P9", frames=1)
    added = owner.post(bulk, {"action": "add_cases", "target": "series", "ids": [orphan.pk]}, format="json").json()
    new_case = added["done"][0]
    assert Case.objects.get(pk=new_case).series_id == orphan.pk
    assigned = owner.post(
        bulk,
        {"action": "assign", "target": "case", "ids": [new_case, w["a"]], "params": {"user_id": cast.reader2.pk}},
        format="json",
    ).json()
    assert assigned["done"] == [new_case]
    assert assigned["skipped"] == [{"id": w["a"], "code": "already_reading"}]
    assert Case.objects.get(pk=new_case).tasks.filter(reader=cast.reader2, status=TaskStatus.ASSIGNED).exists()

    # Writes need a curator; unknown ids are 404; everything is audited per object.
    forbidden = client_for(cast.annotator).post(bulk, {**flag, "ids": [w["b"]]}, format="json")
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "role_required"
    missing = owner.post(bulk, {**flag, "ids": [999999]}, format="json")
    assert missing.status_code == 404 and missing.json()["code"] == "case_not_found"
    assert owner.post(bulk, {"action": "tag", "target": "series", "ids": [1]}, format="json").json()["code"] == (
        "invalid_target"
    )
    actions = set(AuditEvent.objects.filter(action__startswith="curation.").values_list("action", flat=True))
    assert {"curation.tag", "curation.flag", "curation.exclude", "curation.unflag", "curation.note"} <= actions
    assert AuditEvent.objects.filter(action="curation.tag", object_type="case", object_id=str(w["b"])).exists()


def test_snapshots_splits_immutability_and_diff(cast, client_for, world) -> None:
    slug, w = cast.project.slug, world
    owner = client_for(cast.owner)
    url = f"/api/projects/{slug}/curation/snapshots/"
    split = {"train": 0.5, "val": 0.0, "test": 0.5}

    unsigned = owner.post(url, {"name": "all", "split": split}, format="json")
    assert unsigned.status_code == 409 and unsigned.json()["code"] == "unsigned_work"
    assert unsigned.json()["extra"]["case_ids"] == [w["d"], w["e"]]
    assert owner.post(url, {"name": "x", "split": {"train": 0.7, "test": 0.2}}, format="json").json()["code"] == (
        "invalid_split"
    )
    assert owner.post(url, {"name": "x", "filter": {"bad": 1}}, format="json").json()["code"] == "invalid_filter"
    assert client_for(cast.annotator).post(url, {"name": "x"}, format="json").status_code == 403
    empty = owner.post(url, {"name": "x", "filter": {"modality": ["PT"]}}, format="json")
    assert empty.status_code == 400 and empty.json()["code"] == "empty_selection"

    signed = {"name": "liver-seg", "filter": {"status": ["signed"]}, "split": split, "seed": 3}
    preview = owner.post(f"{url}preview/", signed, format="json").json()
    assert preview["problem"] is None and preview["cases"] == 3
    assert preview["duplicates"]["pairs"] == []
    created = owner.post(url, signed, format="json")
    assert created.status_code == 201, created.json()
    first = created.json()
    assert first["version"] == 1 and first["case_count"] == 3 and first["content_hash"] == preview["content_hash"]
    assert preview["existing_snapshot_id"] is None
    items = owner.get(f"{url}{first['id']}/items/").json()["items"]
    by_case = {item["case_id"]: item for item in items}
    assert by_case[w["a"]]["split"] == by_case[w["b"]]["split"]  # one patient, one split
    assert by_case[w["a"]]["labels"] == [1, 2] and by_case[w["a"]]["licence"] == ""
    assert {r["reader"] for r in first["reader_stats"]} == {"annotator", "reader2"}

    # Same content: the existing snapshot, not a new version.
    same = owner.post(url, {**signed, "name": "other-name"}, format="json")
    assert same.status_code == 200 and same.json()["id"] == first["id"]

    # A flag keeps the case out unless explicitly included; the new content is version 2 of the name.
    owner.post(
        f"/api/projects/{slug}/curation/bulk/",
        {"action": "flag", "target": "case", "ids": [w["c"]], "params": {"kind": "wrong_series"}},
        format="json",
    )
    preview2 = owner.post(f"{url}preview/", signed, format="json").json()
    assert preview2["flagged_excluded"] == [{"case_id": w["c"], "flags": ["wrong_series"]}]
    second = owner.post(url, signed, format="json").json()
    assert second["version"] == 2 and second["case_count"] == 2
    included = owner.post(url, {**signed, "include_flagged": [w["c"]]}, format="json")
    assert included.status_code == 200 and included.json()["id"] == first["id"]

    diff = owner.get(f"{url}{first['id']}/diff/{second['id']}/").json()
    assert diff["removed"] == [w["c"]] and diff["added"] == [] and not diff["identical"]

    # Without required signatures the consensus (or a submitted read) stands in; unread cases refuse.
    ReadingPolicy.objects.filter(project=cast.project).update(require_signoff_for_export=False)
    unread = owner.post(url, {"name": "draft", "split": split}, format="json")
    assert unread.status_code == 409 and unread.json()["code"] == "unannotated_cases"
    draft = owner.post(url, {"name": "draft", "split": split, "exclude_case_ids": [w["e"]]}, format="json").json()
    assert draft["case_count"] == 3  # a, b, d: e excluded by id, c flagged
    sources = {i["case_id"]: i["source"]["reference"] for i in owner.get(f"{url}{draft['id']}/items/").json()["items"]}
    assert sources == {w["a"]: "signed", w["b"]: "signed", w["d"]: "consensus"}

    # Immutable in the database itself.
    for statement in (
        "UPDATE curation_snapshot SET name = 'x' WHERE id = %s",
        "DELETE FROM curation_snapshotitem WHERE snapshot_id = %s",
        "DELETE FROM curation_snapshot WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [first["id"]])
    assert Snapshot.objects.filter(pk=first["id"], name="liver-seg").exists()

    # Members read snapshots and statistics; the other project's ids are 404 here.
    listed = client_for(cast.annotator).get(url).json()
    assert [s["id"] for s in listed] == [draft["id"], second["id"], first["id"]]  # by name, newest version first
    assert owner.get(f"{url}999999/").json()["code"] == "snapshot_not_found"
    stats = owner.get(f"/api/projects/{slug}/curation/stats/?snapshot={first['id']}&bins=4").json()
    assert stats["cases"] == 3
    liver = next(label for label in stats["labels"] if label["name"] == "Liver")
    assert liver["cases"] == 3 and sum(liver["volume_histogram"]["counts"]) == 3
    assert stats["agreement"]["cases"] == 3 and len(stats["agreement"]["mean_dice_histogram"]["counts"]) == 4
    reader = next(r for r in stats["throughput"]["readers"] if r["reader"] == "annotator")
    assert reader["total"] == 3
    assert owner.get(f"/api/projects/{slug}/curation/stats/?bins=1").json()["code"] == "invalid_bins"


def test_stats_hooks_enqueue_after_commit_and_task_is_idempotent(
    cast, world, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from backend.annotation.masks import mask_save
    from backend.annotation.models import Annotation
    from backend.common.rle import rle_encode_labels
    from workers import curation as tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.case_stats_refresh, "delay", sent.append)
    a = world["built"][0]
    consensus = Annotation.objects.get(pk=a.consensus)
    with django_capture_on_commit_callbacks(execute=True):
        mask_save(
            annotation=consensus,
            user=cast.reviewer,
            base_version=consensus.head,
            frames={str(a.frames[0].pk): rle_encode_labels(rect(0, 16, 0, 16))},
            source="brush",
        )
    assert sent == [a.case.pk]  # enqueued after commit, by id
    assert tasks.case_stats_refresh(a.case.pk) == "done"  # the amendment changed the inputs
    assert tasks.case_stats_refresh(a.case.pk) == "fresh"  # a redelivery costs one query
    assert CaseStats.objects.get(case_id=a.case.pk).reference_source == "signed"  # still the signed version


def test_settings_licences_and_stats_refresh(cast, client_for, world, django_capture_on_commit_callbacks) -> None:
    slug, w = cast.project.slug, world
    owner = client_for(cast.owner)
    base = f"/api/projects/{slug}/curation"
    assert owner.put(f"{base}/settings/", {"default_licence": "CC-BY-4.0"}, format="json").status_code == 200
    study = Case.objects.get(pk=w["a"]).series.study_id
    assert owner.get(f"{base}/studies/{study}/").json()["licence"] == "CC-BY-4.0"
    changed = owner.put(f"{base}/studies/{study}/", {"licence": "CC-BY-NC-4.0"}, format="json").json()
    assert changed["licence"] == "CC-BY-NC-4.0" and changed["licence_is_default"] is False
    assert (
        client_for(cast.annotator).put(f"{base}/studies/{study}/", {"licence": "x"}, format="json").status_code == 403
    )
    assert owner.get(f"{base}/studies/999999/").json()["code"] == "study_not_found"

    # Nothing stale: nothing queued. A row computed from other inputs is stale, and the refresh queues it.
    with django_capture_on_commit_callbacks() as callbacks:
        assert owner.post(f"{base}/stats/refresh/").json() == {"stale": 0}
    assert callbacks == []
    CaseStats.objects.filter(case_id=w["c"]).update(inputs="outdated")
    with django_capture_on_commit_callbacks() as callbacks:
        assert owner.post(f"{base}/stats/refresh/").json() == {"stale": 1}
    assert len(callbacks) == 1
    assert stats_refresh(project_id=cast.project.pk) == 1
    assert AuditEvent.objects.filter(action="curation.stats_refresh").count() == 2
    assert client_for(cast.annotator).post(f"{base}/stats/refresh/").status_code == 403


def test_access_and_thumbnails_for_the_browser_app(cast, client_for, world) -> None:
    """The curation page asks the backend whether the user may curate, and draws each row's middle slice."""
    slug, w = cast.project.slug, world
    access = f"/api/projects/{slug}/curation/access/"
    for user, role in ((cast.owner, "owner"), (cast.reviewer, "reviewer")):
        answer = client_for(user).get(access)
        assert answer.status_code == 200 and answer.json() == {
            "role": role,
            "curator": True,
            "roles": ["owner", "reviewer"],
        }
    refused = client_for(cast.annotator).get(access)
    assert refused.status_code == 403 and refused.json()["code"] == "role_required"
    assert "owner, reviewer" in refused.json()["message"]
    hidden = client_for(cast.outsider).get(access)
    assert hidden.status_code == 404 and hidden.json()["code"] == "project_not_found"

    owner = client_for(cast.owner)
    three, frames = make_series(cast.project, uid="three", patient="P7", frames=3)
    from backend.annotation.services import case_create

    case = case_create(project=cast.project, series=three, actor=cast.owner)
    rows = {item["id"]: item for item in _find(owner, slug, {}).json()["items"]}
    # The middle frame in slice order (3 frames: the second; 2 frames: the first).
    assert rows[case.pk]["thumbnail"] == {"instance_id": frames[1].instance_id, "frame_index": 0}
    first_a = world["built"][0].frames[0]
    assert rows[w["a"]]["thumbnail"] == {"instance_id": first_a.instance_id, "frame_index": first_a.frame_index}
    series = _find(owner, slug, {"target": "series", "series_ids": [three.pk]}).json()["items"]
    assert series[0]["thumbnail"]["instance_id"] == frames[1].instance_id and series[0]["case_id"] == case.pk
    empty, _ = make_series(cast.project, uid="empty", patient="P8", frames=0)
    assert _find(owner, slug, {"target": "series", "series_ids": [empty.pk]}).json()["items"][0]["thumbnail"] is None
