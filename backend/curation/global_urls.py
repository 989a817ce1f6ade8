"""Cross-project routes under /api/curation/."""

from django.urls import path

from backend.curation import api

urlpatterns = [
    path("find/", api.GlobalFindApi.as_view()),
]
