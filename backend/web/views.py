"""Serve the browser app: index.html for / and every client-side route.

The built assets (frontend/dist/assets/*, hashed names) are static files served by WhiteNoise under
/static/; this view only returns the HTML shell, never cached, with a strict Content-Security-Policy
(the app has no inline script or style).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

NOT_BUILT = "The browser app is not built. Run `make frontend` (or `make run`, which builds it).\n"


def index_html_path() -> Path | None:
    """The built index.html, from where the assets it names are served.

    With DEBUG off WhiteNoise serves the collected files (STATIC_ROOT), so the shell comes from there too:
    a rebuilt but not yet collected frontend/dist must not name assets the server does not have. With
    DEBUG on (WhiteNoise's finders read frontend/dist directly) the build folder comes first.
    """
    dist = [Path(settings.FRONTEND_DIST) / "index.html"] if getattr(settings, "FRONTEND_DIST", None) else []
    collected = [Path(settings.STATIC_ROOT) / "index.html"] if settings.STATIC_ROOT else []
    use_finders = getattr(settings, "WHITENOISE_USE_FINDERS", settings.DEBUG)
    candidates = [*dist, *collected] if use_finders else [*collected, *dist]
    return next((path for path in candidates if path.is_file()), None)


@require_safe
@ensure_csrf_cookie
def app_index(request: HttpRequest) -> HttpResponse:
    path = index_html_path()
    if path is None:
        return HttpResponse(NOT_BUILT, status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(path.read_bytes(), content_type="text/html; charset=utf-8")
    # The shell names the hashed assets of one build: always revalidate it so a new build is picked up.
    response["Cache-Control"] = "no-cache"
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
