from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from backend.accounts.models import User
from backend.audit.models import AuditEvent, Outcome
from backend.common.bulk import copy_insert
from backend.common.middleware import current_request_id

Scalar = str | int | float | bool | None
_MAX_DETAIL_ITEMS = 32


def audit_event(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    project_id: int | None = None,
    outcome: str = Outcome.SUCCESS,
    detail: dict[str, Scalar] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """An audit row, checked but not saved: for callers that write many at once with audit_record_many."""
    detail = dict(detail or {})
    if len(detail) > _MAX_DETAIL_ITEMS or any(
        not isinstance(value, str | int | float | bool | type(None)) for value in detail.values()
    ):
        raise ValueError("audit detail must be a small flat dict of scalars")
    user = actor if isinstance(actor, User) and actor.is_authenticated else None
    return AuditEvent(
        actor=user,
        actor_username=user.get_username() if user is not None else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        project_id=project_id,
        outcome=outcome,
        request_id=request_id if request_id is not None else current_request_id(),
        detail=detail,
    )


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    project_id: int | None = None,
    outcome: str = Outcome.SUCCESS,
    detail: dict[str, Scalar] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """The one way to write an audit row. Detail holds ids and codes, never names or other PHI."""
    event = audit_event(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        project_id=project_id,
        outcome=outcome,
        detail=detail,
        request_id=request_id,
    )
    event.save(force_insert=True)
    return event


def audit_record_many(events: list[AuditEvent]) -> None:
    """Insert rows built by audit_event with one COPY (bulk ingest writes one row per instance)."""
    copy_insert(events)


def audit_detail(**values: Any) -> dict[str, Scalar]:
    return {key: value for key, value in values.items() if value is not None}
