"""`python manage.py verify_storage [--project SLUG]`: report missing or corrupted files; exit 1 if any."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.imaging.models import Instance, QuarantinedFile
from backend.imaging.storage import sha256_of_file


class Command(BaseCommand):
    help = "Check every stored imaging file against its recorded SHA-256."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="only this project (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        rows: list[tuple[str, int, str, str]] = []
        instances = Instance.objects.all()
        held = QuarantinedFile.objects.filter(decision="pending")
        if options["project"]:
            instances = instances.filter(project__slug=options["project"])
            held = held.filter(project__slug=options["project"])
        for kind, queryset in (("instance", instances), ("quarantine", held)):
            for pk, path, digest in queryset.values_list("pk", "file", "sha256").iterator():
                rows.append((kind, pk, path, digest))
        missing = corrupted = 0
        for kind, pk, path, digest in rows:
            if not default_storage.exists(path):
                missing += 1
                self.stdout.write(f"MISSING   {kind} {pk} {path}")
            elif sha256_of_file(path) != digest:
                corrupted += 1
                self.stdout.write(f"CORRUPTED {kind} {pk} {path}")
        self.stdout.write(f"checked {len(rows)} files: {missing} missing, {corrupted} corrupted")
        if missing or corrupted:
            raise CommandError(f"{missing} missing and {corrupted} corrupted files")
