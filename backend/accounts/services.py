from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from backend.accounts.models import ApiToken, ProjectMembership, ProjectRole, Team, TeamMembership, User
from backend.annotation.models import Project
from backend.audit.models import Outcome
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, Conflict, NotFound


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _rate_keys(username: str, ip: str) -> list[str]:
    # Hash the username: cache keys must not become a list of who tried to log in.
    user_key = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{user_key}", f"login-fail:ip:{ip}"]


def session_login(*, request: HttpRequest, username: str, password: str) -> User:
    """Log in with a password, refusing for a while after repeated failures for a user or an address."""
    keys = _rate_keys(username, _client_ip(request))
    limit = settings.LOGIN_RATE_LIMIT_ATTEMPTS
    window = settings.LOGIN_RATE_LIMIT_WINDOW_S
    if any((cache.get(key) or 0) >= limit for key in keys):
        audit_record(actor=None, action="auth.login", outcome=Outcome.DENIED, detail={"reason": "rate_limited"})
        raise ApplicationError(
            "login_rate_limited",
            "Too many failed logins. Try again later.",
            extra={"retry_after_s": window},
            status_code=429,
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        for key in keys:
            cache.add(key, 0, timeout=window)
            cache.incr(key)
        audit_record(actor=None, action="auth.login", outcome=Outcome.FAILED)
        raise ApplicationError("invalid_credentials", "Wrong username or password.", status_code=400)
    for key in keys[:1]:
        cache.delete(key)
    login(request, user)
    audit_record(actor=user, action="auth.login")
    assert isinstance(user, User)
    return user


def session_logout(*, request: HttpRequest) -> None:
    user = request.user
    if user.is_authenticated:
        audit_record(actor=user, action="auth.logout")
        from backend.realtime.services import realtime_disconnect_user

        realtime_disconnect_user(user_id=int(user.pk))
    logout(request)


@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and the raw secret, which is shown once and never stored."""
    raw = "rr_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], digest=ApiToken.digest_of(raw))
    audit_record(actor=user, action="token.create", object_type="api_token", object_id=token.pk)
    return token, raw


@transaction.atomic
def api_token_revoke(*, user: User, token_id: int) -> None:
    updated = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not updated:
        raise NotFound("token_not_found", "No such active token.")
    audit_record(actor=user, action="token.revoke", object_type="api_token", object_id=token_id)


@transaction.atomic
def team_create(*, creator: User, name: str) -> Team:
    if Team.objects.filter(name=name).exists():
        raise Conflict("team_exists", "A team with this name exists.")
    team = Team.objects.create(name=name)
    TeamMembership.objects.create(team=team, user=creator, is_admin=True)
    audit_record(actor=creator, action="team.create", object_type="team", object_id=team.pk)
    return team


@transaction.atomic
def team_member_add(*, actor: User, team: Team, user: User, is_admin: bool = False) -> TeamMembership:
    if not TeamMembership.objects.filter(team=team, user=actor, is_admin=True).exists():
        raise NotFound("team_not_found", "No such team, or you do not administer it.")
    membership, _ = TeamMembership.objects.update_or_create(team=team, user=user, defaults={"is_admin": is_admin})
    audit_record(
        actor=actor, action="team.member_add", object_type="team", object_id=team.pk, detail={"user_id": user.pk}
    )
    return membership


@transaction.atomic
def project_member_set(*, actor: User, project: Project, user: User, role: str) -> ProjectMembership:
    if role not in ProjectRole.values:
        raise ApplicationError("invalid_role", f"Unknown role {role!r}.", extra={"allowed": list(ProjectRole.values)})
    existing = ProjectMembership.objects.select_for_update().filter(project=project, user=user).first()
    if existing is not None and existing.role == ProjectRole.OWNER and role != ProjectRole.OWNER:
        _ensure_another_owner(project=project, leaving=user)
    membership, _ = ProjectMembership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    audit_record(
        actor=actor,
        action="project.member_set",
        object_type="project",
        object_id=project.pk,
        project_id=project.pk,
        detail={"user_id": user.pk, "role": role},
    )
    return membership


@transaction.atomic
def project_member_remove(*, actor: User, project: Project, user: User) -> None:
    membership = ProjectMembership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise NotFound("member_not_found", "This user is not a member of the project.")
    if membership.role == ProjectRole.OWNER:
        _ensure_another_owner(project=project, leaving=user)
    membership.delete()
    from backend.annotation.services import reader_left_project

    reassigned = reader_left_project(project_id=project.pk, user_id=int(user.pk))
    audit_record(
        actor=actor,
        action="project.member_remove",
        object_type="project",
        object_id=project.pk,
        project_id=project.pk,
        detail={"user_id": user.pk, "tasks_reassigned": reassigned},
    )
    from backend.realtime.services import realtime_disconnect_user

    realtime_disconnect_user(user_id=int(user.pk), project_id=project.pk)


def _ensure_another_owner(*, project: Project, leaving: User) -> None:
    others = ProjectMembership.objects.filter(project=project, role=ProjectRole.OWNER).exclude(user=leaving)
    if not others.exists():
        raise Conflict("last_owner", "A project needs at least one owner; add another owner first.")
