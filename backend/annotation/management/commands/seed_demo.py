"""Idempotent demo data for `make run`: an admin, readers, a reviewer and a project."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from backend.accounts.models import ProjectMembership, ProjectRole, User
from backend.annotation.models import Project
from backend.annotation.services import project_create

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - a documented local demo login, created only by this command
DEMO_USERS = [
    ("demo", ProjectRole.OWNER, True),
    ("reader1", ProjectRole.ANNOTATOR, False),
    ("reader2", ProjectRole.ANNOTATOR, False),
    ("reviewer", ProjectRole.REVIEWER, False),
]


DEMO_SERIES = Path(__file__).resolve().parents[4] / "demo" / "totalseg_ct_series"


class Command(BaseCommand):
    help = "Create the demo admin, users and project (safe to run again)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        users: dict[str, User] = {}
        for username, _role, is_admin in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": is_admin, "is_superuser": is_admin}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            users[username] = user
        project = Project.objects.filter(slug="demo").first()
        if project is None:
            project = project_create(creator=users["demo"], slug="demo", name="Demo: abdominal CT")
        for username, role, _ in DEMO_USERS:
            ProjectMembership.objects.get_or_create(project=project, user=users[username], defaults={"role": role})
        if not project.studies.exists():
            self._import_demo_series(project, users["demo"])
        self.stdout.write(self.style.SUCCESS("demo data ready: project 'demo', users demo/reader1/reader2/reviewer"))

    def _import_demo_series(self, project: Project, user: User) -> None:
        from backend.imaging.uploads import run_batch

        files = sorted(DEMO_SERIES.glob("*.dcm"))
        with ExitStack() as stack:
            named = [(p.name, stack.enter_context(p.open("rb"))) for p in files]
            batch = run_batch(project=project, user=user, named=named, origin="folder", context="demo-series")
        self.stdout.write(f"demo CT series imported: {batch.created} instances")
