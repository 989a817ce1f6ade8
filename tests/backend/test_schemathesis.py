"""Property-based API fuzzing from our own OpenAPI schema: no generated request may cause a server error.

Runs in-process against the WSGI app as an authenticated project owner (slug fixed to the real project
half of the time), so every route is reached with data that exists and with plenty that does not."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """The WSGI handler closes DB connections after each request; the test's transaction must survive,
    as it does under Django's own test client."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_generated_request_causes_a_server_error(cast) -> None:
    from backend.accounts.services import api_token_create

    _, raw = api_token_create(user=cast.owner, name="schemathesis")
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    failures: list[str] = []
    operations = 0

    def check(case) -> None:
        if case.path_parameters and "slug" in case.path_parameters and len(str(case.path_parameters)) % 2:
            case.path_parameters["slug"] = cast.project.slug
        response = case.call(headers={"Authorization": f"Token {raw}"})
        if response.status_code >= 500:
            failures.append(f"{case.method.upper()} {case.formatted_path} -> {response.status_code}")

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        run = settings(
            max_examples=6, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
        )(given(case=operation.as_strategy())(check))
        run()
    assert operations >= 40
    assert failures == []
