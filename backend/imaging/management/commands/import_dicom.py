"""`python manage.py import_dicom PATH --project SLUG`: ingest a folder (recursively), a file or a zip."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.accounts.models import User
from backend.annotation.models import Project
from backend.imaging.uploads import run_batch

_SKIP_SUFFIXES = {".txt", ".json", ".md", ".nrrd", ".csv"}


class Command(BaseCommand):
    help = "Import DICOM files (and PNG/JPEG/TIFF/NIfTI/zip) from a folder into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--pattern", default="*", help="glob for files inside a folder, e.g. '*.dcm'")
        parser.add_argument("--user", help="username recorded as the uploader (default: the project's creator)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}.")
        user = User.objects.filter(username=options["user"]).first() if options["user"] else project.created_by
        if options["user"] and user is None:
            raise CommandError(f"No user {options['user']!r}.")
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        files = sorted(p for p in ([path] if path.is_file() else path.rglob(options["pattern"])) if p.is_file())
        files = [p for p in files if p.suffix.lower() not in _SKIP_SUFFIXES and not p.name.startswith("LICENSE")]
        with ExitStack() as stack:
            named = [(str(p.relative_to(path.parent)), stack.enter_context(p.open("rb"))) for p in files]
            batch = run_batch(
                project=project,
                user=user,
                named=named,
                origin="folder",
                context=f"folder:{path.resolve()}:{uuid.uuid4().hex}",
            )
        self.stdout.write(
            f"created {batch.created}, duplicates {batch.duplicates}, quarantined {batch.quarantined}, "
            f"refused {batch.refused}, series {sorted(batch.series_ids)}"
        )
        for error in batch.errors:
            self.stdout.write(f"  refused {error['file']}: {error['code']} ({error['message']})")
