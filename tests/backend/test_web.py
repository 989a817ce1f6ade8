"""The browser app's shell: served for client routes, never in place of the server's own prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import resolve

INDEX = b'<!doctype html><html><head><script type="module" src="/static/assets/app.js"></script></head></html>'


@pytest.fixture
def built_app(settings, tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_bytes(INDEX)
    settings.FRONTEND_DIST = dist
    settings.STATIC_ROOT = tmp_path / "static-root"
    settings.STATIC_ROOT.mkdir()
    return dist


@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/projects/demo", "/projects/demo/upload", "/projects/demo/series/12", "/projects/demo/queue/"],
)
def test_client_routes_get_the_app_shell(built_app: Path, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-cache"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    # The app can send X-CSRFToken on its first unsafe request without another round trip.
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing-here/",
        "/api",
        "/healthz",
        "/healthz/",
        "/static/assets/missing.js",
        "/static",
        "/admin/",
        "/ws/images/1/",
        "/dicomweb/studies",
        "/favicon.ico",
        "/projects/demo/file.png",
    ],
)
def test_server_prefixes_and_files_are_not_the_app(built_app: Path, path: str) -> None:
    match = None
    try:
        match = resolve(path)
    except Exception:  # noqa: BLE001 - Resolver404: not routed at all is fine too
        match = None
    assert match is None or match.url_name != "app", path


def test_unknown_api_path_is_a_json_404(built_app: Path) -> None:
    response = Client().get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_only_safe_methods(built_app: Path) -> None:
    assert Client().head("/projects/demo").status_code == 200
    assert Client(enforce_csrf_checks=False).post("/projects/demo").status_code == 405


def test_unbuilt_app_says_how_to_build(settings, tmp_path: Path) -> None:
    settings.FRONTEND_DIST = tmp_path / "missing"
    settings.STATIC_ROOT = tmp_path / "static-root-without-index"
    settings.STATIC_ROOT.mkdir()
    response = Client().get("/")
    assert response.status_code == 503
    assert b"make frontend" in response.content


def test_collected_index_is_used_when_the_build_folder_is_absent(settings, tmp_path: Path) -> None:
    settings.FRONTEND_DIST = tmp_path / "missing"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    (settings.STATIC_ROOT / "index.html").write_bytes(INDEX)
    assert Client().get("/projects/x").content == INDEX


@pytest.mark.parametrize(("debug", "expected"), [(False, b"collected"), (True, b"built")])
def test_the_shell_comes_from_where_its_assets_are_served(
    settings, tmp_path: Path, debug: bool, expected: bytes
) -> None:
    # DEBUG off: WhiteNoise serves STATIC_ROOT, so a newer, uncollected build must not be announced.
    settings.DEBUG = debug
    settings.WHITENOISE_USE_FINDERS = debug
    settings.FRONTEND_DIST = tmp_path / "dist"
    settings.STATIC_ROOT = tmp_path / "static"
    for folder, body in ((settings.FRONTEND_DIST, b"built"), (settings.STATIC_ROOT, b"collected")):
        folder.mkdir()
        (folder / "index.html").write_bytes(body)
    assert Client().get("/").content == expected
