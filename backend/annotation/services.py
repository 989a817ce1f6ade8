from __future__ import annotations

from datetime import date

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from backend.accounts.models import ProjectMembership, ProjectRole, User
from backend.accounts.selectors import project_role
from backend.annotation.codes import DEFAULT_CATEGORY, DEFAULT_TYPE
from backend.annotation.models import (
    Annotation,
    Case,
    CaseStatus,
    Label,
    MaskFrame,
    Project,
    ReadingPolicy,
    Task,
    TaskStatus,
)
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict, NotFound
from backend.imaging.models import Series

ACTIVE_TASK = (TaskStatus.ASSIGNED, TaskStatus.RETURNED)


@transaction.atomic
def project_create(*, creator: User, slug: str, name: str, description: str = "") -> Project:
    if Project.objects.filter(slug=slug).exists():
        raise Conflict("project_exists", "A project with this slug exists.", extra={"slug": slug})
    try:
        with transaction.atomic():
            project = Project.objects.create(slug=slug, name=name, description=description, created_by=creator)
    except IntegrityError as exc:  # a concurrent create won the race
        raise Conflict("project_exists", "A project with this slug exists.", extra={"slug": slug}) from exc
    ProjectMembership.objects.create(project=project, user=creator, role=ProjectRole.OWNER)
    ReadingPolicy.objects.create(project=project)
    audit_record(
        actor=creator, action="project.create", object_type="project", object_id=project.pk, project_id=project.pk
    )
    return project


# --- policy and labels -------------------------------------------------------------------------


@transaction.atomic
def policy_update(*, project: Project, actor: User, **fields: object) -> ReadingPolicy:
    policy, _ = ReadingPolicy.objects.select_for_update().get_or_create(project=project)
    readers = fields.get("readers_per_case")
    if readers is not None and Case.objects.filter(project=project).exists() and readers != policy.readers_per_case:
        _resize_open_cases(project=project, readers=int(str(readers)))
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    audit_record(
        actor=actor,
        action="project.policy_update",
        object_type="project",
        object_id=project.pk,
        project_id=project.pk,
        detail={k: str(v) for k, v in fields.items()},
    )
    return policy


def _resize_open_cases(*, project: Project, readers: int) -> None:
    """More readers per case adds open slots to cases still being read; fewer removes unclaimed slots."""
    for case in Case.objects.filter(project=project, status=CaseStatus.READING):
        slots = list(case.tasks.order_by("slot"))
        if len(slots) < readers:
            start = max((t.slot for t in slots), default=0)
            Task.objects.bulk_create(
                Task(case=case, slot=start + i + 1, priority=case.priority, due_date=case.due_date)
                for i in range(readers - len(slots))
            )
        elif len(slots) > readers:
            extra = len(slots) - readers
            removable = [t.pk for t in reversed(slots) if t.status == TaskStatus.OPEN][:extra]
            Task.objects.filter(pk__in=removable).delete()


@transaction.atomic
def label_create(
    *,
    project: Project,
    actor: User,
    value: int,
    name: str,
    color: str,
    category_code: dict[str, str] | None = None,
    type_code: dict[str, str] | None = None,
    window: dict[str, float] | None = None,
) -> Label:
    if Label.objects.filter(project=project).filter(models.Q(value=value) | models.Q(name=name)).exists():
        raise Conflict("label_exists", "A label with this value or name exists.")
    label = Label.objects.create(
        project=project,
        value=value,
        name=name,
        color=color,
        category_code=category_code or dict(DEFAULT_CATEGORY),
        type_code=type_code or dict(DEFAULT_TYPE),
        window=window,
    )
    audit_record(actor=actor, action="label.create", object_type="label", object_id=label.pk, project_id=project.pk)
    return label


@transaction.atomic
def label_update(*, label: Label, actor: User, **fields: object) -> Label:
    for name, value in fields.items():
        setattr(label, name, value)
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError as exc:
        raise Conflict("label_exists", "Another label has this name.") from exc
    audit_record(
        actor=actor, action="label.update", object_type="label", object_id=label.pk, project_id=label.project_id
    )
    return label


@transaction.atomic
def label_delete(*, label: Label, actor: User) -> None:
    used = MaskFrame.objects.filter(
        annotation__case__project_id=label.project_id, labels_present__contains=[label.value]
    ).exists()
    if used:
        raise Conflict("label_in_use", "Masks use this label; rename it instead of deleting it.")
    audit_record(
        actor=actor, action="label.delete", object_type="label", object_id=label.pk, project_id=label.project_id
    )
    label.delete()


# --- cases and tasks ---------------------------------------------------------------------------


@transaction.atomic
def case_create(
    *, project: Project, series: Series, actor: User | None, priority: int = 0, due_date: date | None = None
) -> Case:
    """A series becomes a case with one task per reader slot. Adding it again changes nothing."""
    existing = Case.objects.filter(project=project, series=series).first()
    if existing is not None:
        return existing
    policy, _ = ReadingPolicy.objects.get_or_create(project=project)
    case = Case.objects.create(project=project, series=series, priority=priority, due_date=due_date)
    Task.objects.bulk_create(
        Task(case=case, slot=i + 1, priority=priority, due_date=due_date) for i in range(policy.readers_per_case)
    )
    audit_record(
        actor=actor,
        action="case.create",
        object_type="case",
        object_id=case.pk,
        project_id=project.pk,
        detail={"series_id": series.pk},
    )
    return case


def series_created_create_case(series_id: int) -> None:
    """Hook: every new series of a project becomes a case to read."""
    series = Series.objects.select_related("project").filter(pk=series_id).first()
    if series is not None:
        case_create(project=series.project, series=series, actor=None)


def task_next_for_reader(*, project: Project, reader: User) -> Task | None:
    """The reader's current open task, or the next unclaimed one they have not read before.

    SKIP LOCKED lets many readers pull at once without waiting on each other or getting the same row;
    the (case, reader) unique constraint settles the race of one reader's two concurrent pulls.
    """
    for _ in range(3):
        try:
            with transaction.atomic():
                current = (
                    Task.objects.filter(case__project=project, reader=reader, status__in=ACTIVE_TASK)
                    .order_by("-priority", "due_date", "id")
                    .first()
                )
                if current is not None:
                    return current
                task = (
                    Task.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(case__project=project, status=TaskStatus.OPEN, case__status=CaseStatus.READING)
                    .exclude(case__tasks__reader=reader)
                    .order_by("-priority", "due_date", "id")
                    .first()
                )
                if task is None:
                    return None
                task.reader = reader
                task.status = TaskStatus.ASSIGNED
                task.assigned_at = timezone.now()
                task.save(update_fields=["reader", "status", "assigned_at"])
                audit_record(
                    actor=reader,
                    action="task.assign",
                    object_type="task",
                    object_id=task.pk,
                    project_id=project.pk,
                    detail={"case_id": task.case_id, "how": "next"},
                )
                return task
        except IntegrityError:
            continue
    return None


@transaction.atomic
def task_assign(*, task: Task, actor: User, reader: User) -> Task:
    task = Task.objects.select_for_update().select_related("case").get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise Conflict("task_taken", "The task already has a reader.", extra={"status": task.status})
    if project_role(project=task.case.project, user=reader) not in (
        ProjectRole.ANNOTATOR,
        ProjectRole.OWNER,
        ProjectRole.REVIEWER,
    ):
        raise ApplicationError("not_a_reader", "This user cannot read cases in the project.")
    if Task.objects.filter(case=task.case, reader=reader).exists():
        raise Conflict("already_reading", "This reader already has a read of this case.")
    task.reader, task.status, task.assigned_at = reader, TaskStatus.ASSIGNED, timezone.now()
    task.save(update_fields=["reader", "status", "assigned_at"])
    audit_record(
        actor=actor,
        action="task.assign",
        object_type="task",
        object_id=task.pk,
        project_id=task.case.project_id,
        detail={"reader_id": reader.pk, "how": "owner"},
    )
    return task


@transaction.atomic
def task_update(*, task: Task, actor: User, priority: int | None = None, due_date: date | None = None) -> Task:
    if priority is not None:
        task.priority = priority
    if due_date is not None:
        task.due_date = due_date
    task.save(update_fields=["priority", "due_date"])
    audit_record(
        actor=actor, action="task.update", object_type="task", object_id=task.pk, project_id=task.case.project_id
    )
    return task


def reader_left_project(*, project_id: int, user_id: int) -> int:
    """Hand the open reads of a reader who left back to the queue; submitted reads stay theirs."""
    tasks = list(
        Task.objects.select_for_update().filter(case__project_id=project_id, reader_id=user_id, status__in=ACTIVE_TASK)
    )
    for task in tasks:
        Annotation.objects.filter(task=task).update(task=None)
        task.reader, task.status, task.assigned_at = None, TaskStatus.OPEN, None
        task.save(update_fields=["reader", "status", "assigned_at"])
    return len(tasks)


@transaction.atomic
def task_submit(*, task: Task, user: User) -> Task:
    task = Task.objects.select_for_update().select_related("case", "case__project").get(pk=task.pk)
    if task.reader_id != user.pk:
        raise NotFound("task_not_found", "No such task among yours.")
    if task.status not in ACTIVE_TASK:
        raise Conflict("task_not_open", f"The task is {task.status}.")
    annotation = Annotation.objects.filter(task=task).first()
    if annotation is None or annotation.head == 0:
        raise ApplicationError("nothing_to_submit", "Save a mask before submitting.")
    task.status, task.submitted_at = TaskStatus.SUBMITTED, timezone.now()
    task.save(update_fields=["status", "submitted_at"])
    case = Case.objects.select_for_update().get(pk=task.case_id)
    policy, _ = ReadingPolicy.objects.get_or_create(project=case.project)
    if policy.review_stage and not case.tasks.exclude(status=TaskStatus.SUBMITTED).exists():
        case.status = CaseStatus.IN_REVIEW
        case.save(update_fields=["status"])
    audit_record(
        actor=user,
        action="task.submit",
        object_type="task",
        object_id=task.pk,
        project_id=case.project_id,
        detail={"case_id": case.pk},
    )
    from backend.realtime.events import series_event

    series_event(
        series_id=case.series_id,
        event={"type": "case_status", "case_id": case.pk, "status": case.status},
        durable=True,
    )
    return task
