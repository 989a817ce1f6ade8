"""Thin imaging views: upload, browse, pixels, quarantine. Project membership is checked first."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.core.cache import cache
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import ProjectRole, User
from backend.accounts.selectors import OWNER_ONLY, project_get_for_user
from backend.annotation.models import Project
from backend.audit.services import audit_record
from backend.imaging import pixels, selectors, services, uploads
from backend.imaging.models import Frame, IngestJob, Instance, QuarantinedFile, Series, Study

CONTRIBUTORS = (ProjectRole.OWNER.value, ProjectRole.ANNOTATOR.value, ProjectRole.REVIEWER.value)
_VIEW_AUDIT_TTL_S = 600


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def audit_view(*, user: User, project: Project, object_type: str, object_id: int, study_id: int) -> None:
    """One 'viewed' row per user and object per ten minutes: a viewer fetching 300 slices is one access."""
    key = f"viewed:{user.pk}:{object_type}:{object_id}"
    if cache.add(key, 1, timeout=_VIEW_AUDIT_TTL_S):
        audit_record(
            actor=user,
            action=f"{object_type}.view",
            object_type=object_type,
            object_id=object_id,
            project_id=project.pk,
            detail={"study_id": study_id},
        )


class StudyOut(serializers.ModelSerializer[Study]):
    series_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Study
        fields = [
            "id",
            "study_instance_uid",
            "patient_key",
            "study_date",
            "study_description",
            "modalities",
            "created_at",
            "series_count",
        ]


class SeriesOut(serializers.ModelSerializer[Series]):
    class Meta:
        model = Series
        fields = [
            "id",
            "study_id",
            "series_instance_uid",
            "split_key",
            "modality",
            "body_part",
            "manufacturer",
            "series_number",
            "series_description",
            "rows",
            "columns",
            "pixel_spacing",
            "image_orientation",
            "slice_spacing",
            "slice_thickness",
            "regular_spacing",
            "frame_count",
        ]


class FrameOut(serializers.ModelSerializer[Frame]):
    instance_id = serializers.IntegerField()
    sop_instance_uid = serializers.CharField(source="instance.sop_instance_uid")

    class Meta:
        model = Frame
        fields = [
            "id",
            "instance_id",
            "sop_instance_uid",
            "frame_index",
            "sort_index",
            "slice_position",
            "image_position",
        ]


class InstanceOut(serializers.ModelSerializer[Instance]):
    modality = serializers.CharField(source="series.modality")

    class Meta:
        model = Instance
        fields = [
            "id",
            "series_id",
            "sop_instance_uid",
            "sop_class_uid",
            "instance_number",
            "rows",
            "columns",
            "number_of_frames",
            "samples_per_pixel",
            "photometric_interpretation",
            "rescale_slope",
            "rescale_intercept",
            "window_presets",
            "pixel_spacing",
            "image_position",
            "image_orientation",
            "sha256",
            "size",
            "modality",
        ]


class SeriesDetailOut(SeriesOut):
    frames = FrameOut(many=True, source="ordered_frames")

    class Meta(SeriesOut.Meta):
        fields = [*SeriesOut.Meta.fields, "frames"]


class IngestJobOut(serializers.ModelSerializer[IngestJob]):
    class Meta:
        model = IngestJob
        fields = [
            "id",
            "source",
            "status",
            "total",
            "processed",
            "created",
            "duplicates",
            "quarantined",
            "refused",
            "errors",
            "series_ids",
            "created_at",
            "finished_at",
        ]


class QuarantineOut(serializers.ModelSerializer[QuarantinedFile]):
    class Meta:
        model = QuarantinedFile
        fields = ["id", "sop_instance_uid", "modality", "reason", "sha256", "created_at", "decision", "decided_at"]


class UploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "burned_in_annotation": {
                        "type": "string",
                        "enum": ["YES", "NO"],
                        "description": "For PNG/JPEG/TIFF: whether pixels show identifying text",
                    },
                },
            }
        },
        responses={201: IngestJobOut, 202: IngestJobOut},
        summary="Upload DICOM files, images, NIfTI volumes or a zip of them",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=CONTRIBUTORS)
        files = request.FILES.getlist("files") or request.FILES.getlist("file")
        statement: Literal["YES", "NO"] | None = {"YES": "YES", "NO": "NO"}.get(  # type: ignore[assignment]
            request.POST.get("burned_in_annotation", "")
        )
        job, done = uploads.upload_receive(
            project=project,
            user=_user(request),
            files=files,
            raster_burned_in=statement,
        )
        return Response(IngestJobOut(job).data, status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED)


class IngestJobApi(APIView):
    @extend_schema(responses={200: IngestJobOut})
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(IngestJobOut(selectors.ingest_job_get(project=project, job_id=job_id)).data)


class StudyListApi(APIView):
    @extend_schema(responses={200: StudyOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(StudyOut(selectors.studies_for_project(project=project), many=True).data)


class StudyDetailApi(APIView):
    @extend_schema(responses={200: SeriesOut(many=True)}, operation_id="projects_study_series_list")
    def get(self, request: Request, slug: str, study_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        study = selectors.study_get(project=project, study_id=study_id)
        audit_view(user=_user(request), project=project, object_type="study", object_id=study.pk, study_id=study.pk)
        return Response(SeriesOut(study.series.order_by("series_number", "id"), many=True).data)


class SeriesDetailApi(APIView):
    @extend_schema(responses={200: SeriesDetailOut})
    def get(self, request: Request, slug: str, series_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        series = selectors.series_get(project=project, series_id=series_id)
        audit_view(
            user=_user(request), project=project, object_type="series", object_id=series.pk, study_id=series.study_id
        )
        series.ordered_frames = selectors.series_frames(series=series)  # type: ignore[attr-defined]
        return Response(SeriesDetailOut(series).data)


class InstanceDetailApi(APIView):
    @extend_schema(responses={200: InstanceOut})
    def get(self, request: Request, slug: str, instance_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(InstanceOut(selectors.instance_get(project=project, instance_id=instance_id)).data)


def _etag(instance: Instance, frame: int, variant: str) -> str:
    return f'"{instance.sha256[:24]}-{frame}-{variant}"'


class FramePixelsApi(APIView):
    """Raw pixels (gzip) with the rescale applied; geometry and window presets in headers."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, instance_id: int, frame: int) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        instance = selectors.instance_get(project=project, instance_id=instance_id)
        audit_view(
            user=_user(request),
            project=project,
            object_type="series",
            object_id=instance.series_id,
            study_id=instance.series.study_id,
        )
        etag = _etag(instance, frame, "raw")
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        decoded = pixels.frame_pixels(instance=instance, frame_index=frame)
        body, dtype = pixels.encode_raw(decoded)
        headers = {
            "ETag": etag,
            "Cache-Control": "private, max-age=86400",
            "Content-Encoding": "gzip",
            "X-Rows": str(decoded.pixels.shape[0]),
            "X-Columns": str(decoded.pixels.shape[1]),
            "X-Samples": str(3 if decoded.pixels.ndim == 3 else 1),
            "X-Dtype": dtype,
            "X-Photometric": decoded.photometric,
            "X-Modality": instance.series.modality,
            "X-Pixel-Spacing": json.dumps(instance.pixel_spacing),
            "X-Window-Presets": json.dumps(instance.window_presets),
            "Access-Control-Expose-Headers": "X-Rows, X-Columns, X-Samples, X-Dtype, X-Photometric, X-Modality, "
            "X-Pixel-Spacing, X-Window-Presets",
        }
        return HttpResponse(body, content_type="application/octet-stream", headers=headers)


class FramePngApi(APIView):
    class PngQuery(serializers.Serializer[Any]):
        center = serializers.FloatField(required=False)
        width = serializers.FloatField(required=False, min_value=1e-3)
        size = serializers.IntegerField(required=False, min_value=16, max_value=2048)

    @extend_schema(parameters=[PngQuery], responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, instance_id: int, frame: int) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        query = self.PngQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        instance = selectors.instance_get(project=project, instance_id=instance_id)
        audit_view(
            user=_user(request),
            project=project,
            object_type="series",
            object_id=instance.series_id,
            study_id=instance.series.study_id,
        )
        params = query.validated_data
        etag = _etag(instance, frame, f"png-{params.get('center')}-{params.get('width')}-{params.get('size')}")
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        decoded = pixels.frame_pixels(instance=instance, frame_index=frame)
        body = pixels.render_png(
            decoded, center=params.get("center"), width=params.get("width"), max_size=params.get("size")
        )
        return HttpResponse(
            body, content_type="image/png", headers={"ETag": etag, "Cache-Control": "private, max-age=86400"}
        )


class QuarantineListApi(APIView):
    @extend_schema(responses={200: QuarantineOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        return Response(QuarantineOut(selectors.quarantine_for_project(project=project), many=True).data)


class QuarantineDecideApi(APIView):
    class DecisionIn(serializers.Serializer[Any]):
        decision = serializers.ChoiceField(choices=["released", "discarded"])

    @extend_schema(request=DecisionIn, responses={200: QuarantineOut})
    def post(self, request: Request, slug: str, quarantine_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        data = self.DecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        held = services.quarantine_decide(
            project=project, user=_user(request), quarantine_id=quarantine_id, decision=data.validated_data["decision"]
        )
        return Response(QuarantineOut(held).data)
