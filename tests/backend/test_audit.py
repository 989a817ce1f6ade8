from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from backend.audit.models import AuditEvent
from backend.audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_audit_rows_refuse_update_and_delete_even_with_raw_sql(cast) -> None:
    event = audit_record(
        actor=cast.owner, action="study.view", object_type="study", object_id=7, project_id=cast.project.pk
    )
    for statement in (
        "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.action == "study.view"


def test_audit_record_fields(cast) -> None:
    event = audit_record(
        actor=cast.annotator,
        action="study.view",
        object_type="study",
        object_id="12",
        project_id=cast.project.pk,
        request_id="req-12345678",
    )
    assert event.actor_id == cast.annotator.pk
    assert event.actor_username == "annotator"
    assert event.outcome == "success"
    assert event.occurred_at.tzinfo is not None
    assert event.request_id == "req-12345678"


def test_audit_detail_refuses_nested_values(cast) -> None:
    with pytest.raises(ValueError, match="flat dict"):
        audit_record(actor=cast.owner, action="x", detail={"patient": {"name": "nested"}})  # type: ignore[dict-item]


def test_owner_queries_audit_log_and_others_cannot(cast, client_for) -> None:
    audit_record(
        actor=cast.annotator, action="study.view", object_type="study", object_id=1, project_id=cast.project.pk
    )
    audit_record(actor=cast.reviewer, action="study.view", object_type="study", object_id=2, project_id=cast.project.pk)
    response = client_for(cast.owner).get(f"/api/projects/{cast.project.slug}/audit/", {"actor_id": cast.annotator.pk})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["object_id"] for row in rows if row["action"] == "study.view"] == ["1"]
    assert client_for(cast.annotator).get(f"/api/projects/{cast.project.slug}/audit/").json()["code"] == "role_required"
    outsider = client_for(cast.outsider).get(f"/api/projects/{cast.project.slug}/audit/")
    assert outsider.status_code == 404
    assert outsider.json()["code"] == "project_not_found"


def test_request_id_flows_into_audit_rows(cast, client_for) -> None:
    client = client_for(cast.owner)
    response = client.put(
        f"/api/projects/{cast.project.slug}/members/{cast.outsider.pk}/",
        {"role": "viewer"},
        format="json",
        HTTP_X_REQUEST_ID="trace-abcdef123",
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "trace-abcdef123"
    event = AuditEvent.objects.filter(action="project.member_set").latest("id")
    assert event.request_id == "trace-abcdef123"
    assert event.detail == {"user_id": cast.outsider.pk, "role": "viewer"}
