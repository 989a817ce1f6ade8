from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from backend.accounts.models import ProjectMembership
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_rate_limits() -> None:
    cache.clear()


def _csrf_client() -> tuple[APIClient, str]:
    client = APIClient(enforce_csrf_checks=True)
    response = client.get("/api/auth/csrf/")
    assert response.status_code == 204
    return client, response.cookies["csrftoken"].value


def test_session_login_needs_csrf_and_then_works(cast) -> None:
    client, token = _csrf_client()
    without = client.post("/api/auth/login/", {"username": "owner", "password": PASSWORD}, format="json")
    assert without.status_code == 403
    assert without.json()["code"] == "csrf_failed"
    ok = client.post(
        "/api/auth/login/", {"username": "owner", "password": PASSWORD}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert ok.status_code == 200
    assert ok.json()["username"] == "owner"
    me = client.get("/api/auth/me/")
    assert me.json()["username"] == "owner"
    # A session's writes need the CSRF token too (the cookie rotates at login).
    token = client.cookies["csrftoken"].value
    assert client.post("/api/auth/logout/").status_code == 403
    assert client.post("/api/auth/logout/", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get("/api/auth/me/").status_code == 401


def test_failed_logins_are_rate_limited(cast, settings) -> None:
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 3
    client = APIClient()
    for _ in range(3):
        bad = client.post("/api/auth/login/", {"username": "owner", "password": "wrong"}, format="json")
        assert bad.status_code == 400
        assert bad.json()["code"] == "invalid_credentials"
    limited = client.post("/api/auth/login/", {"username": "owner", "password": PASSWORD}, format="json")
    assert limited.status_code == 429
    assert limited.json()["code"] == "login_rate_limited"
    assert limited.json()["extra"]["retry_after_s"] > 0


def test_api_token_lifecycle(cast, client_for) -> None:
    created = client_for(cast.annotator).post("/api/auth/tokens/", {"name": "script"}, format="json")
    assert created.status_code == 201
    raw = created.json()["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert script.get("/api/auth/me/").json()["username"] == "annotator"
    listed = client_for(cast.annotator).get("/api/auth/tokens/").json()
    assert listed[0]["prefix"] == raw[:10]
    assert "token" not in listed[0]
    assert client_for(cast.outsider).delete(f"/api/auth/tokens/{created.json()['id']}/").status_code == 404
    assert client_for(cast.annotator).delete(f"/api/auth/tokens/{created.json()['id']}/").status_code == 204
    refused = script.get("/api/auth/me/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"


def test_project_create_list_and_detail(cast, client_for) -> None:
    client = client_for(cast.outsider)
    created = client.post("/api/projects/", {"slug": "lung-ct", "name": "Lung CT"}, format="json")
    assert created.status_code == 201
    assert ProjectMembership.objects.get(project__slug="lung-ct", user=cast.outsider).role == "owner"
    assert [p["slug"] for p in client.get("/api/projects/").json()] == ["lung-ct"]
    dup = client.post("/api/projects/", {"slug": "lung-ct", "name": "again"}, format="json")
    assert dup.status_code == 409
    assert dup.json()["code"] == "project_exists"
    bad = client.post("/api/projects/", {"slug": "Bad Slug!", "name": "x"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid"
    assert "slug" in bad.json()["extra"]["fields"]


def test_members_roles_and_last_owner(cast, client_for) -> None:
    owner = client_for(cast.owner)
    url = f"/api/projects/{cast.project.slug}/members/"
    roles = {m["user"]["username"]: m["role"] for m in owner.get(url).json()}
    assert roles == {"owner": "owner", "annotator": "annotator", "reader2": "annotator", "reviewer": "reviewer"}
    assert (
        client_for(cast.annotator).put(f"{url}{cast.outsider.pk}/", {"role": "viewer"}, format="json").status_code
        == 403
    )
    bad_role = owner.put(f"{url}{cast.outsider.pk}/", {"role": "emperor"}, format="json")
    assert bad_role.status_code == 400
    last = owner.delete(f"{url}{cast.owner.pk}/")
    assert last.status_code == 409
    assert last.json()["code"] == "last_owner"
    assert owner.delete(f"{url}{cast.reader2.pk}/").status_code == 204
    assert not ProjectMembership.objects.filter(project=cast.project, user=cast.reader2).exists()


def test_unknown_api_path_uses_error_shape(cast, client_for) -> None:
    response = client_for(cast.owner).get("/api/does-not-exist/")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "extra"}
