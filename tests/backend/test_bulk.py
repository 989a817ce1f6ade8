"""copy_insert stores what bulk_create stores: defaults, JSON (null and values), choices, timestamps, ids."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models, transaction
from django.db.utils import IntegrityError

from backend.audit.models import AuditEvent
from backend.common.bulk import copy_insert
from backend.imaging.models import Frame, Instance, Series, Study

pytestmark = pytest.mark.django_db


def _stored(model: type[models.Model], pks: list[int], skip: set[str]) -> list[dict[str, Any]]:
    rows = model.objects.filter(pk__in=pks).order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in skip} for row in rows]


def _instance(series: Series, uid: str, **fields: Any) -> Instance:
    return Instance(
        project=series.project,
        series=series,
        sop_instance_uid=uid,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        file=f"f/{uid}.dcm",
        sha256="0" * 64,
        size=10,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        rows=4,
        columns=5,
        photometric_interpretation="MONOCHROME2",
        bits_allocated=16,
        **fields,
    )


def test_rows_match_bulk_create_and_ids_are_assigned(cast) -> None:
    study = Study.objects.create(project=cast.project, study_instance_uid="1.2.3")
    series = Series.objects.create(project=cast.project, study=study, series_instance_uid="1.2.3.4")
    variants: list[dict[str, Any]] = [
        {},
        {"pixel_spacing": [0.5, 0.25], "window_presets": [{"center": 40.0, "width": 400.0, "explanation": "it's"}]},
        {"image_position": None, "instance_number": -3, "rescale_slope": 1e-7, "created_by": cast.owner},
    ]
    by_orm = [_instance(series, f"1.{i}", **v) for i, v in enumerate(variants)]
    by_copy = [_instance(series, f"2.{i}", **v) for i, v in enumerate(variants)]
    Instance.objects.bulk_create(by_orm)
    copy_insert(by_copy, assign_ids=True)

    assert all(obj.pk is not None and not obj._state.adding for obj in by_copy)
    assert [obj.pk for obj in by_copy] == sorted({obj.pk for obj in by_copy})
    skip = {"id", "sop_instance_uid", "file", "created_at"}
    assert _stored(Instance, [o.pk for o in by_copy], skip) == _stored(Instance, [o.pk for o in by_orm], skip)
    stored = Instance.objects.get(pk=by_copy[1].pk)
    assert stored.window_presets == [{"center": 40.0, "width": 400.0, "explanation": "it's"}]
    assert Instance.objects.get(pk=by_copy[0].pk).pixel_spacing is None  # SQL NULL, not JSON null
    assert Instance.objects.filter(pk=by_copy[0].pk, pixel_spacing__isnull=True).exists()
    assert stored.created_at == by_copy[1].created_at  # the auto_now_add time is set on the instance too

    frames = [Frame(series=series, instance=obj, image_position=[0.0, 1.5, -2.0]) for obj in by_copy]
    copy_insert(frames)
    assert all(frame.pk is None for frame in frames)  # numbered by the table, not read back
    assert (
        list(Frame.objects.filter(instance__in=by_copy).values_list("image_position", flat=True))
        == [[0.0, 1.5, -2.0]] * 3
    )


def test_ids_drawn_beforehand_are_the_rows_ids(cast) -> None:
    from django.db import connection

    from backend.common.bulk import draw_ids_sql

    study = Study.objects.create(project=cast.project, study_instance_uid="1.2.3")
    series = Series.objects.create(project=cast.project, study=study, series_instance_uid="1.2.3.4")
    with connection.cursor() as cursor:
        cursor.execute(draw_ids_sql(Instance), [3])
        drawn = [number for (number,) in cursor.fetchall()]
    rows = [_instance(series, f"3.{i}") for i in range(2)]
    with pytest.raises(ValueError):  # one id per row, no more, no fewer
        copy_insert(rows, ids=drawn)
    copy_insert(rows, ids=drawn[1:])
    assert [row.pk for row in rows] == drawn[1:]
    assert list(Instance.objects.filter(series=series).order_by("pk").values_list("pk", "sop_instance_uid")) == [
        (drawn[1], "3.0"),
        (drawn[2], "3.1"),
    ]
    later = _instance(series, "3.9")
    copy_insert([later], assign_ids=True)
    assert later.pk > drawn[2]  # drawn from the same sequence: never reused


def test_choices_and_defaults_of_audit_rows(cast) -> None:
    events = [
        AuditEvent(action="x.y", detail={"n": 1}, outcome="denied", project_id=cast.project.pk),
        AuditEvent(action="x.z", actor=cast.owner, actor_username="owner"),
    ]
    copy_insert(events)
    rows = list(AuditEvent.objects.filter(action__startswith="x.").order_by("action").values())
    assert [(r["outcome"], r["detail"], r["object_id"], r["actor_id"]) for r in rows] == [
        ("denied", {"n": 1}, "", None),
        ("success", {}, "", cast.owner.pk),
    ]


def test_a_constraint_violation_fails_the_copy_and_leaves_nothing(cast) -> None:
    study = Study.objects.create(project=cast.project, study_instance_uid="1.2.3")
    series = Series.objects.create(project=cast.project, study=study, series_instance_uid="1.2.3.4")
    Instance.objects.bulk_create([_instance(series, "9.9")])
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert([_instance(series, "9.8"), _instance(series, "9.9")], assign_ids=True)
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == ["9.9"]
