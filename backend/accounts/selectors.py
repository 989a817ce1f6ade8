from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from backend.accounts.models import ProjectMembership, ProjectRole
from backend.annotation.models import Project
from backend.common.errors import Forbidden, NotFound

AnyUser = AbstractBaseUser | AnonymousUser


def projects_for_user(*, user: AnyUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user_id=user.pk).order_by("slug").distinct()


def project_role(*, project: Project, user: AnyUser) -> str | None:
    if not user.is_authenticated:
        return None
    return ProjectMembership.objects.filter(project=project, user_id=user.pk).values_list("role", flat=True).first()


def project_get_for_user(*, slug: str, user: AnyUser, roles: tuple[str, ...] | None = None) -> Project:
    """The project if the user is a member (with one of `roles`, when given).

    Outsiders get 404, not 403, so a project's existence is not disclosed to them.
    """
    project = Project.objects.filter(slug=slug).first()
    role = project_role(project=project, user=user) if project is not None else None
    if project is None or role is None:
        raise NotFound("project_not_found", "No such project, or you are not a member of it.")
    if roles is not None and role not in roles:
        raise Forbidden(
            "role_required",
            f"This needs one of the roles: {', '.join(roles)}.",
            extra={"required": list(roles), "role": role},
        )
    return project


def project_members(*, project: Project) -> QuerySet[ProjectMembership]:
    return ProjectMembership.objects.filter(project=project).select_related("user").order_by("user__username")


OWNER_ONLY = (ProjectRole.OWNER.value,)
