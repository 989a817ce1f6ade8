"""Thin views for model proposals, precompute and propagation."""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import User
from backend.accounts.selectors import project_get_for_user
from backend.common.errors import ApplicationError, NotFound
from backend.imaging.api import CONTRIBUTORS
from backend.imaging.models import Frame
from backend.imaging.selectors import series_get
from backend.segmentation import services
from backend.segmentation.models import SegmentationJob
from models.registry import list_models


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class PromptIn(serializers.Serializer[Any]):
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, required=False)
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        required=False,
        max_length=64,
    )
    point_labels = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=64)
    multimask = serializers.BooleanField(default=False)
    use_previous = serializers.BooleanField(default=False)
    model = serializers.CharField(required=False, max_length=64)
    label_id = serializers.IntegerField(required=False)


ProposalOut = inline_serializer(
    "Proposal",
    {
        "frame_id": serializers.IntegerField(),
        "model": serializers.CharField(),
        "masks": serializers.ListField(child=serializers.DictField()),
        "scores": serializers.ListField(child=serializers.FloatField()),
        "best": serializers.IntegerField(),
    },
)


class PromptApi(APIView):
    @extend_schema(request=PromptIn, responses={200: ProposalOut})
    def post(self, request: Request, slug: str, frame_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=CONTRIBUTORS)
        frame = Frame.objects.filter(pk=frame_id, series__project=project).select_related("instance").first()
        if frame is None:
            raise NotFound("frame_not_found", "No such frame in this project.")
        data = PromptIn(data=request.data)
        data.is_valid(raise_exception=True)
        prompt = services.prompt_validate(frame=frame, prompt=data.validated_data)
        from workers.segmentation import decode_prompt

        pending = decode_prompt.delay(frame.pk, prompt, _user(request).pk)
        try:
            result = pending.get(timeout=settings.SEGMENTATION_PROMPT_TIMEOUT_S)
        except CeleryTimeout as exc:
            pending.revoke()
            raise ApplicationError(
                "model_busy", "No model worker answered in time; try again.", status_code=503
            ) from exc
        return Response(result)


class JobOut(serializers.ModelSerializer[SegmentationJob]):
    class Meta:
        model = SegmentationJob
        fields = [
            "id",
            "series_id",
            "kind",
            "status",
            "model",
            "params",
            "done",
            "total",
            "attempts",
            "cancel_requested",
            "error_code",
            "result",
            "created_at",
            "started_at",
            "finished_at",
        ]


class EmbedSeriesApi(APIView):
    class EmbedIn(serializers.Serializer[Any]):
        model = serializers.CharField(required=False, max_length=64)

    @extend_schema(request=EmbedIn, responses={202: JobOut})
    def post(self, request: Request, slug: str, series_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=CONTRIBUTORS)
        series = series_get(project=project, series_id=series_id)
        data = self.EmbedIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.series_embed_start(
            project=project, series=series, user=_user(request), model=data.validated_data.get("model")
        )
        return Response(JobOut(job).data, status=status.HTTP_202_ACCEPTED)


class PropagateApi(APIView):
    class PropagateIn(serializers.Serializer[Any]):
        box = serializers.ListField(
            child=serializers.FloatField(),
            min_length=6,
            max_length=6,
            help_text="x0, y0, z0, x1, y1, z1 (z in slice order, inclusive)",
        )
        start_slice = serializers.IntegerField(required=False)
        model = serializers.CharField(required=False, max_length=64)
        label_id = serializers.IntegerField(required=False)

    @extend_schema(request=PropagateIn, responses={202: JobOut})
    def post(self, request: Request, slug: str, series_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=CONTRIBUTORS)
        series = series_get(project=project, series_id=series_id)
        data = self.PropagateIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.propagate_start(
            project=project,
            series=series,
            user=_user(request),
            box3d=data.validated_data["box"],
            start_slice=data.validated_data.get("start_slice"),
            model=data.validated_data.get("model"),
            label_id=data.validated_data.get("label_id"),
        )
        return Response(JobOut(job).data, status=status.HTTP_202_ACCEPTED)


def _job(request: Request, slug: str, job_id: int) -> SegmentationJob:
    project = project_get_for_user(slug=slug, user=request.user)
    job = SegmentationJob.objects.filter(pk=job_id, project=project).first()
    if job is None:
        raise NotFound("job_not_found", "No such job in this project.")
    # Propagation results are one reader's proposals: private to whoever started them.
    if job.kind == "propagate" and job.created_by_id != request.user.pk:
        raise NotFound("job_not_found", "No such job in this project.")
    return job


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOut})
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        return Response(JobOut(_job(request, slug, job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobOut})
    def post(self, request: Request, slug: str, job_id: int) -> Response:
        job = _job(request, slug, job_id)
        project_get_for_user(slug=slug, user=request.user, roles=CONTRIBUTORS)
        return Response(JobOut(services.job_cancel(job=job, user=_user(request))).data)


class ModelListApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "ModelList",
                {"models": serializers.ListField(child=serializers.CharField()), "default": serializers.CharField()},
            )
        }
    )
    def get(self, request: Request) -> Response:
        return Response({"models": list_models(), "default": settings.SEGMENTATION_DEFAULT_MODEL})
