from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.selectors import OWNER_ONLY, project_get_for_user
from backend.audit.models import AuditEvent
from backend.audit.selectors import audit_events_for_project


class AuditEventOut(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor_id",
            "actor_username",
            "action",
            "object_type",
            "object_id",
            "outcome",
            "request_id",
            "detail",
        ]


class _Page(CursorPagination):
    ordering = "-id"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class ProjectAuditApi(APIView):
    class AuditFilter(serializers.Serializer[Any]):
        action = serializers.CharField(required=False, max_length=64)
        actor_id = serializers.IntegerField(required=False)
        object_type = serializers.CharField(required=False, max_length=64)
        object_id = serializers.CharField(required=False, max_length=64)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(parameters=[AuditFilter], responses={200: AuditEventOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        filters = self.AuditFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = audit_events_for_project(project_id=project.pk, **filters.validated_data)
        paginator = _Page()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOut(page, many=True).data)
