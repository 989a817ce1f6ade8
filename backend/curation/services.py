"""Curation writes: saved filters, tags, notes, quality flags, bulk actions, licences. Everything is audited."""

from __future__ import annotations

from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.annotation.models import Case, Project, Task, TaskStatus
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict, NotFound
from backend.curation import filters
from backend.curation.models import (
    CurationSettings,
    FlagKind,
    Note,
    QualityFlag,
    SavedFilter,
    StudyLicence,
    Tag,
)
from backend.imaging.models import Series, Study

MAX_BULK = 2000
BulkAction = Literal["tag", "untag", "flag", "unflag", "exclude", "include", "assign", "add_cases", "note"]
BulkTarget = Literal["case", "study", "series"]


# --- saved filters -------------------------------------------------------------------------------


@transaction.atomic
def saved_filter_create(
    *, project: Project, actor: User, name: str, document: Any, description: str = ""
) -> SavedFilter:
    parsed = filters.filter_parse(document)
    if parsed.projects is not None:
        raise ApplicationError(
            "invalid_filter",
            "A project's saved filter cannot name projects.",
            extra={"errors": [{"loc": ["projects"], "msg": "not allowed here"}]},
        )
    if SavedFilter.objects.filter(project=project, name=name).exists():
        raise Conflict("filter_exists", "A saved filter with this name exists.", extra={"name": name})
    saved = SavedFilter.objects.create(
        project=project, name=name, description=description, document=filters.filter_dump(parsed), created_by=actor
    )
    audit_record(
        actor=actor,
        action="curation.filter_create",
        object_type="saved_filter",
        object_id=saved.pk,
        project_id=project.pk,
    )
    return saved


@transaction.atomic
def saved_filter_update(
    *, saved: SavedFilter, actor: User, name: str | None = None, document: Any = None, description: str | None = None
) -> SavedFilter:
    if document is not None:
        saved.document = filters.filter_dump(filters.filter_parse(document))
    if name is not None:
        saved.name = name
    if description is not None:
        saved.description = description
    try:
        with transaction.atomic():
            saved.save()
    except IntegrityError as exc:
        raise Conflict("filter_exists", "A saved filter with this name exists.") from exc
    audit_record(
        actor=actor,
        action="curation.filter_update",
        object_type="saved_filter",
        object_id=saved.pk,
        project_id=saved.project_id,
    )
    return saved


@transaction.atomic
def saved_filter_delete(*, saved: SavedFilter, actor: User) -> None:
    audit_record(
        actor=actor,
        action="curation.filter_delete",
        object_type="saved_filter",
        object_id=saved.pk,
        project_id=saved.project_id,
    )
    saved.delete()


# --- notes and licences --------------------------------------------------------------------------


@transaction.atomic
def note_add(*, project: Project, actor: User, text: str, case: Case | None = None, study: Study | None = None) -> Note:
    if (case is None) == (study is None):
        raise ApplicationError("invalid_target", "A note belongs to one case or one study.")
    note = Note.objects.create(project=project, case=case, study=study, author=actor, text=text)
    audit_record(
        actor=actor,
        action="curation.note",
        object_type="case" if case is not None else "study",
        object_id=case.pk if case is not None else study.pk if study is not None else "",
        project_id=project.pk,
        detail={"note_id": note.pk},
    )
    return note


@transaction.atomic
def curation_settings_update(*, project: Project, actor: User, default_licence: str) -> CurationSettings:
    settings_row, _ = CurationSettings.objects.update_or_create(
        project=project, defaults={"default_licence": default_licence}
    )
    audit_record(
        actor=actor,
        action="curation.settings_update",
        object_type="project",
        object_id=project.pk,
        project_id=project.pk,
    )
    return settings_row


def curation_settings_get(*, project: Project) -> CurationSettings:
    return CurationSettings.objects.filter(project=project).first() or CurationSettings(project=project)


@transaction.atomic
def study_licence_set(*, study: Study, actor: User, licence: str) -> None:
    if licence:
        StudyLicence.objects.update_or_create(study=study, defaults={"licence": licence})
    else:
        StudyLicence.objects.filter(study=study).delete()
    audit_record(
        actor=actor,
        action="curation.licence_set",
        object_type="study",
        object_id=study.pk,
        project_id=study.project_id,
        detail={"cleared": not licence},
    )


# --- bulk actions --------------------------------------------------------------------------------


def _targets(*, project: Project, target: str, ids: list[int]) -> list[Any]:
    model: Any = {"case": Case, "study": Study, "series": Series}[target]
    found = list(model.objects.filter(project=project, pk__in=ids).order_by("pk"))
    missing = sorted(set(ids) - {row.pk for row in found})
    if missing:
        raise NotFound(
            f"{target}_not_found", f"Some {target} ids are not in this project.", extra={"ids": missing[:100]}
        )
    return found


def _target_kwargs(row: Any) -> dict[str, Any]:
    return {"case": row} if isinstance(row, Case) else {"study": row}


def _audit(actor: User, project: Project, action: str, row: Any, **detail: str | int | bool | None) -> None:
    audit_record(
        actor=actor,
        action=f"curation.{action}",
        object_type=type(row).__name__.lower(),
        object_id=row.pk,
        project_id=project.pk,
        detail={k: v for k, v in detail.items() if v is not None},
    )


@transaction.atomic
def bulk_apply(
    *, project: Project, actor: User, action: str, target: str, ids: list[int], params: dict[str, Any]
) -> dict[str, Any]:
    """Apply one action to many cases/studies/series; one audit row per object changed.

    Returns {"action", "done": [ids], "skipped": [{"id", "code"}]}; a skipped object was already in the
    asked state or could not take the action (e.g. a case without an open read for `assign`).
    """
    allowed: dict[str, tuple[str, ...]] = {
        "tag": ("case", "study"),
        "untag": ("case", "study"),
        "flag": ("case", "study"),
        "unflag": ("case", "study"),
        "exclude": ("case",),
        "include": ("case",),
        "note": ("case", "study"),
        "assign": ("case",),
        "add_cases": ("series", "study"),
    }
    if action not in allowed:
        raise ApplicationError("invalid_action", f"Unknown action {action!r}.", extra={"allowed": sorted(allowed)})
    if target not in allowed[action]:
        raise ApplicationError(
            "invalid_target", f"{action} applies to {', '.join(allowed[action])}.", extra={"allowed": allowed[action]}
        )
    if not ids:
        raise ApplicationError("nothing_selected", "Select at least one object.")
    if len(ids) > MAX_BULK:
        raise ApplicationError("too_many", f"At most {MAX_BULK} objects per bulk action.", extra={"max": MAX_BULK})
    rows = _targets(project=project, target=target, ids=sorted(set(ids)))
    done: list[int] = []
    skipped: list[dict[str, Any]] = []
    if action in ("tag", "untag"):
        name = str(params.get("tag") or "").strip()
        if not name or len(name) > 64:
            raise ApplicationError("invalid_tag", "A tag is 1..64 characters.")
        for row in rows:
            if action == "tag":
                _, created = Tag.objects.get_or_create(
                    project=project, name=name, **_target_kwargs(row), defaults={"created_by": actor}
                )
                changed = created
            else:
                changed = Tag.objects.filter(name=name, **_target_kwargs(row)).delete()[0] > 0
            if changed:
                _audit(actor, project, action, row, tag=name)
                done.append(row.pk)
            else:
                skipped.append({"id": row.pk, "code": "unchanged"})
    elif action in ("flag", "exclude"):
        kind = FlagKind.EXCLUDED.value if action == "exclude" else str(params.get("kind") or "")
        reason = str(params.get("reason") or "").strip()
        if kind not in FlagKind.values or (action == "flag" and kind == FlagKind.EXCLUDED):
            raise ApplicationError(
                "invalid_flag",
                "Unknown flag kind.",
                extra={"allowed": [k for k in FlagKind.values if k != FlagKind.EXCLUDED]},
            )
        if action == "exclude" and not reason:
            raise ApplicationError("reason_required", "Excluding a case needs a reason.")
        for row in rows:
            open_flag = QualityFlag.objects.filter(kind=kind, resolved_at__isnull=True, **_target_kwargs(row))
            if open_flag.exists():
                skipped.append({"id": row.pk, "code": "already_flagged"})
                continue
            flag = QualityFlag.objects.create(
                project=project, kind=kind, reason=reason, created_by=actor, **_target_kwargs(row)
            )
            _audit(actor, project, action, row, kind=kind, flag_id=flag.pk)
            done.append(row.pk)
    elif action in ("unflag", "include"):
        kinds = [FlagKind.EXCLUDED.value] if action == "include" else [str(k) for k in params.get("kinds") or []]
        if action == "unflag" and (not kinds or set(kinds) - set(FlagKind.values)):
            raise ApplicationError("invalid_flag", "Give the flag kinds to clear.", extra={"allowed": FlagKind.values})
        for row in rows:
            cleared = QualityFlag.objects.filter(
                kind__in=kinds, resolved_at__isnull=True, **_target_kwargs(row)
            ).update(resolved_at=timezone.now(), resolved_by=actor)
            if cleared:
                _audit(actor, project, action, row, kinds=",".join(sorted(kinds)), cleared=cleared)
                done.append(row.pk)
            else:
                skipped.append({"id": row.pk, "code": "not_flagged"})
    elif action == "note":
        text = str(params.get("text") or "").strip()
        if not text or len(text) > 5000:
            raise ApplicationError("invalid_note", "A note is 1..5000 characters.")
        for row in rows:
            note_add(project=project, actor=actor, text=text, **_target_kwargs(row))
            done.append(row.pk)
    elif action == "assign":
        done, skipped = _bulk_assign(project=project, actor=actor, cases=rows, params=params)
    else:  # add_cases
        from backend.annotation.services import case_create

        series = rows if target == "series" else list(Series.objects.filter(study__in=rows).order_by("pk"))
        existing = set(Case.objects.filter(project=project, series__in=series).values_list("series_id", flat=True))
        for one in series:
            if one.pk in existing:
                skipped.append({"id": one.pk, "code": "already_a_case"})
                continue
            case = case_create(project=project, series=one, actor=actor, priority=int(params.get("priority") or 0))
            done.append(case.pk)
    audit_record(
        actor=actor,
        action="curation.bulk",
        object_type="project",
        object_id=project.pk,
        project_id=project.pk,
        detail={"action": action, "target": target, "done": len(done), "skipped": len(skipped)},
    )
    return {"action": action, "target": target, "done": done, "skipped": skipped}


def _bulk_assign(
    *, project: Project, actor: User, cases: list[Case], params: dict[str, Any]
) -> tuple[list[int], list[dict[str, Any]]]:
    from backend.annotation.services import task_assign

    user_id = params.get("user_id")
    reader = User.objects.filter(pk=user_id).first() if isinstance(user_id, int) else None
    if reader is None:
        raise NotFound("user_not_found", "Give the user_id of a project member to assign.")
    done: list[int] = []
    skipped: list[dict[str, Any]] = []
    for case in cases:
        if Task.objects.filter(case=case, reader=reader).exists():
            skipped.append({"id": case.pk, "code": "already_reading"})
            continue
        task = Task.objects.filter(case=case, status=TaskStatus.OPEN).order_by("slot").first()
        if task is None:
            skipped.append({"id": case.pk, "code": "no_open_task"})
            continue
        try:
            task_assign(task=task, actor=actor, reader=reader)  # audits task.assign itself
        except ApplicationError as error:
            if error.code == "not_a_reader":
                raise
            skipped.append({"id": case.pk, "code": error.code})
            continue
        done.append(case.pk)
    return done, skipped
