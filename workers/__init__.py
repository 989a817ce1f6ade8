"""Celery tasks: thin wrappers that take IDs, re-read rows and call services."""
