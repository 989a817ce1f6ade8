from __future__ import annotations

from django.db import IntegrityError, transaction

from backend.accounts.models import ProjectMembership, ProjectRole, User
from backend.annotation.models import Project
from backend.audit.services import audit_record
from backend.common.errors import Conflict


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
    audit_record(
        actor=creator, action="project.create", object_type="project", object_id=project.pk, project_id=project.pk
    )
    return project
