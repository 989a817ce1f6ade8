"""The catch-all for the browser app's routes. Included last in the root URLconf.

It never matches the server's own prefixes (/api/, /dicomweb/, /ws/, /admin/, /static/, /healthz), nor a
path whose last segment has a dot (a missing file should be a 404, not the app).
"""

from django.urls import re_path

from backend.web import views

APP_ROUTE = r"^(?!(?:api|dicomweb|ws|admin|static|healthz)(?:/|$))(?:[^/.]+/)*[^/.]*$"

urlpatterns = [re_path(APP_ROUTE, views.app_index, name="app")]
