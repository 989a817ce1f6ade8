"""Every API endpoint refuses anonymous callers, and every project endpoint refuses non-members.

The route list comes from the URL resolver, so a new endpoint without a refusal fails here.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PUBLIC = {"api/schema/", "api/auth/csrf/", "api/auth/login/"}


def _routes(patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "") -> list[str]:
    routes: list[str] = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            routes.append(prefix + str(pattern.pattern))
    return [r for r in routes if r.startswith("api/")]


def _fill(route: str, slug: str) -> str:
    route = route.replace("<slug:slug>", slug)
    return "/" + re.sub(r"<(?:int|str|uuid|slug|path):\w+>", "1", route)


API_ROUTES = [r for r in _routes() if r not in PUBLIC]
PROJECT_ROUTES = [r for r in API_ROUTES if "<slug:slug>" in r]


def test_route_list_is_not_empty() -> None:
    assert len(API_ROUTES) >= 10
    assert PROJECT_ROUTES


@pytest.mark.parametrize("route", API_ROUTES)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_anonymous_is_refused(route: str, method: str, cast) -> None:
    response = getattr(APIClient(), method)(_fill(route, cast.project.slug), {}, format="json")
    assert response.status_code in {401, 403, 405}, (route, method, response.status_code)
    if response.status_code != 405:
        assert response.json()["code"] in {"not_authenticated", "permission_denied"}


@pytest.mark.parametrize("route", PROJECT_ROUTES)
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_outsider_is_refused_on_project_routes(route: str, method: str, cast, client_for) -> None:
    client = client_for(cast.outsider)
    response = getattr(client, method)(_fill(route, cast.project.slug), {"role": "owner"}, format="json")
    assert response.status_code in {404, 405}, (route, method, response.status_code)
    if response.status_code == 404:
        assert response.json()["code"] == "project_not_found"
