"""Workflow API: policy, labels, cases, reader queues, masks, review, sign-off and export.

Every view checks membership first (outsiders get 404) and every route that returns masks goes through
`selectors.annotation_visible` (the blind-reading rule).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import ProjectRole, User
from backend.accounts.selectors import OWNER_ONLY, project_get_for_user
from backend.annotation import codes, exports, maskcodec, masks, review, selectors, services
from backend.annotation.models import (
    Annotation,
    Case,
    ConsensusMethod,
    ExportJob,
    Label,
    MaskSource,
    MaskVersion,
    ReadingPolicy,
    SignOff,
    Task,
)
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, NotFound
from backend.common.idempotency import idempotent
from backend.imaging.models import Frame, Series, Study

REVIEWERS = (ProjectRole.OWNER.value, ProjectRole.REVIEWER.value)
READERS = (ProjectRole.OWNER.value, ProjectRole.ANNOTATOR.value, ProjectRole.REVIEWER.value)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class CodeSerializer(serializers.Serializer[Any]):
    scheme = serializers.CharField(max_length=16)
    value = serializers.CharField(max_length=64)
    meaning = serializers.CharField(max_length=128)


class PolicyOut(serializers.ModelSerializer[ReadingPolicy]):
    class Meta:
        model = ReadingPolicy
        fields = ["readers_per_case", "blind", "review_stage", "consensus_method", "require_signoff_for_export"]


class PolicyIn(serializers.Serializer[Any]):
    readers_per_case = serializers.IntegerField(min_value=1, max_value=20, required=False)
    blind = serializers.BooleanField(required=False)
    review_stage = serializers.BooleanField(required=False)
    consensus_method = serializers.ChoiceField(choices=ConsensusMethod.choices, required=False)
    require_signoff_for_export = serializers.BooleanField(required=False)
    window = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="Project CT window for model prompts: {level, width}"
    )


class PolicyApi(APIView):
    @extend_schema(responses={200: PolicyOut})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        return Response({**PolicyOut(selectors.policy_for(project)).data, "model_settings": project.model_settings})

    @extend_schema(request=PolicyIn, responses={200: PolicyOut})
    def put(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        data = PolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        window = fields.pop("window", None)
        if window is not None:
            if set(window) != {"level", "width"} or window["width"] <= 0:
                raise ApplicationError("invalid_window", "A window is {level, width} with a positive width.")
            project.model_settings = {**project.model_settings, "window": window}
            project.save(update_fields=["model_settings"])
        policy = services.policy_update(project=project, actor=_user(request), **fields)
        return Response({**PolicyOut(policy).data, "model_settings": project.model_settings})


class LabelOut(serializers.ModelSerializer[Label]):
    class Meta:
        model = Label
        fields = ["id", "value", "name", "color", "category_code", "type_code", "window"]


class LabelIn(serializers.Serializer[Any]):
    value = serializers.IntegerField(min_value=1, max_value=255)
    name = serializers.CharField(max_length=64)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$")
    category_code = CodeSerializer(required=False)
    type_code = CodeSerializer(required=False)
    window = serializers.DictField(child=serializers.FloatField(), required=False, allow_null=True)


class LabelUpdateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=64, required=False)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    category_code = CodeSerializer(required=False)
    type_code = CodeSerializer(required=False)
    window = serializers.DictField(child=serializers.FloatField(), required=False, allow_null=True)


class LabelListApi(APIView):
    @extend_schema(responses={200: LabelOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(LabelOut(selectors.labels_for(project), many=True).data)

    @extend_schema(request=LabelIn, responses={201: LabelOut})
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        data = LabelIn(data=request.data)
        data.is_valid(raise_exception=True)
        label = services.label_create(project=project, actor=_user(request), **data.validated_data)
        return Response(LabelOut(label).data, status=status.HTTP_201_CREATED)


class LabelDetailApi(APIView):
    def _label(self, request: Request, slug: str, label_id: int) -> Label:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        label = Label.objects.filter(project=project, pk=label_id).first()
        if label is None:
            raise NotFound("label_not_found", "No such label.")
        return label

    @extend_schema(request=LabelUpdateIn, responses={200: LabelOut})
    def put(self, request: Request, slug: str, label_id: int) -> Response:
        label = self._label(request, slug, label_id)
        data = LabelUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(LabelOut(services.label_update(label=label, actor=_user(request), **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, label_id: int) -> Response:
        services.label_delete(label=self._label(request, slug, label_id), actor=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CodeListApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "SegmentationCodes", {"categories": CodeSerializer(many=True), "types": CodeSerializer(many=True)}
            )
        }
    )
    def get(self, request: Request) -> Response:
        return Response({"categories": codes.CATEGORIES, "types": codes.TYPES})


class TaskOut(serializers.ModelSerializer[Task]):
    case_id = serializers.IntegerField()
    series_id = serializers.IntegerField(source="case.series_id")
    reader = serializers.CharField(source="reader.username", default=None)
    annotation_id = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "case_id",
            "series_id",
            "slot",
            "reader",
            "status",
            "priority",
            "due_date",
            "assigned_at",
            "submitted_at",
            "return_comment",
            "annotation_id",
        ]

    def get_annotation_id(self, task: Task) -> int | None:
        annotation = Annotation.objects.filter(task=task).only("pk").first()
        return annotation.pk if annotation else None


class CaseOut(serializers.ModelSerializer[Case]):
    series_id = serializers.IntegerField()
    study_id = serializers.IntegerField(source="series.study_id")
    modality = serializers.CharField(source="series.modality")
    frame_count = serializers.IntegerField(source="series.frame_count")

    class Meta:
        model = Case
        fields = [
            "id",
            "series_id",
            "study_id",
            "modality",
            "frame_count",
            "status",
            "priority",
            "due_date",
            "created_at",
        ]


class CaseCreateIn(serializers.Serializer[Any]):
    series_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=1000)
    study_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=1000)
    priority = serializers.IntegerField(default=0)
    due_date = serializers.DateField(required=False, allow_null=True)


class CaseListApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("status", str, required=False)], responses={200: CaseOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        cases = selectors.cases_for_user(
            project=project, user=_user(request), status=request.query_params.get("status")
        )
        return Response(CaseOut(cases, many=True).data)

    @extend_schema(request=CaseCreateIn, responses={201: CaseOut(many=True)})
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=OWNER_ONLY)
        data = CaseCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        series = list(Series.objects.filter(project=project, pk__in=data.validated_data.get("series_ids", [])))
        studies = Study.objects.filter(project=project, pk__in=data.validated_data.get("study_ids", []))
        series += list(Series.objects.filter(study__in=studies))
        if not series:
            raise ApplicationError("nothing_to_add", "Give series_ids or study_ids of this project.")
        created = [
            services.case_create(
                project=project,
                series=s,
                actor=_user(request),
                priority=data.validated_data["priority"],
                due_date=data.validated_data.get("due_date"),
            )
            for s in series
        ]
        return Response(CaseOut(created, many=True).data, status=status.HTTP_201_CREATED)


class CaseDetailApi(APIView):
    @extend_schema(responses={200: CaseOut})
    def get(self, request: Request, slug: str, case_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        case = selectors.case_get(project=project, case_id=case_id)
        if case not in selectors.cases_for_user(project=project, user=_user(request)):
            raise NotFound("case_not_found", "No such case in this project.")
        annotations = selectors.annotations_visible_for_case(case=case, user=_user(request))
        return Response(
            {
                **CaseOut(case).data,
                **selectors.case_summary(case),
                "annotations": [AnnotationOut(a).data for a in annotations],
            }
        )


class NextTaskApi(APIView):
    @extend_schema(request=None, responses={200: TaskOut, 204: None})
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=READERS)
        task = services.task_next_for_reader(project=project, reader=_user(request))
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TaskOut(task).data)


class MyTasksApi(APIView):
    @extend_schema(responses={200: TaskOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(TaskOut(selectors.tasks_for_reader(project=project, user=_user(request)), many=True).data)


def _task(project_slug: str, request: Request, task_id: int, roles: tuple[str, ...] | None = None) -> Task:
    project = project_get_for_user(slug=project_slug, user=request.user, roles=roles)
    task = Task.objects.filter(case__project=project, pk=task_id).select_related("case", "case__project").first()
    if task is None:
        raise NotFound("task_not_found", "No such task in this project.")
    return task


class TaskAssignApi(APIView):
    class AssignIn(serializers.Serializer[Any]):
        user_id = serializers.IntegerField()

    @extend_schema(request=AssignIn, responses={200: TaskOut})
    def post(self, request: Request, slug: str, task_id: int) -> Response:
        task = _task(slug, request, task_id, OWNER_ONLY)
        data = self.AssignIn(data=request.data)
        data.is_valid(raise_exception=True)
        reader = User.objects.filter(pk=data.validated_data["user_id"]).first()
        if reader is None:
            raise NotFound("user_not_found", "No such user.")
        return Response(TaskOut(services.task_assign(task=task, actor=_user(request), reader=reader)).data)


class TaskUpdateApi(APIView):
    class TaskPatchIn(serializers.Serializer[Any]):
        priority = serializers.IntegerField(required=False)
        due_date = serializers.DateField(required=False)

    @extend_schema(request=TaskPatchIn, responses={200: TaskOut})
    def patch(self, request: Request, slug: str, task_id: int) -> Response:
        task = _task(slug, request, task_id, OWNER_ONLY)
        data = self.TaskPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(TaskOut(services.task_update(task=task, actor=_user(request), **data.validated_data)).data)


class TaskSubmitApi(APIView):
    @extend_schema(request=None, responses={200: TaskOut})
    @idempotent
    def post(self, request: Request, slug: str, task_id: int) -> Response:
        task = _task(slug, request, task_id)
        return Response(TaskOut(services.task_submit(task=task, user=_user(request))).data)


class AnnotationOut(serializers.ModelSerializer[Annotation]):
    author = serializers.CharField(source="author.username")
    signed_version = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = ["id", "case_id", "task_id", "kind", "author", "head", "signed_version", "created_at"]

    def get_signed_version(self, annotation: Annotation) -> int | None:
        signoff = SignOff.objects.filter(annotation=annotation).order_by("-version__number").first()
        return signoff.version.number if signoff else None


class TaskAnnotationApi(APIView):
    @extend_schema(responses={200: AnnotationOut})
    def get(self, request: Request, slug: str, task_id: int) -> Response:
        task = _task(slug, request, task_id)
        if task.reader_id != request.user.pk:
            raise NotFound("task_not_found", "No such task among yours.")
        return Response(AnnotationOut(masks.annotation_for_task(task=task, user=_user(request))).data)


class AnnotationDetailApi(APIView):
    @extend_schema(responses={200: AnnotationOut})
    def get(self, request: Request, slug: str, annotation_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        annotation = selectors.annotation_get_visible(project=project, annotation_id=annotation_id, user=_user(request))
        frames = selectors.annotation_frames_at(annotation=annotation)
        return Response(
            {
                **AnnotationOut(annotation).data,
                "frames": {
                    str(fid): {"sha256": row.sha256, "labels": row.labels_present, "version": row.number}
                    for fid, row in frames.items()
                },
            }
        )


class AnnotationFrameApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("version", int, required=False)],
        responses={
            200: inline_serializer(
                "LabelMap",
                {
                    "frame_id": serializers.IntegerField(),
                    "version": serializers.IntegerField(),
                    "mask": serializers.DictField(),
                },
            )
        },
    )
    def get(self, request: Request, slug: str, annotation_id: int, frame_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        annotation = selectors.annotation_get_visible(project=project, annotation_id=annotation_id, user=_user(request))
        frame = (
            Frame.objects.filter(pk=frame_id, series_id=annotation.case.series_id).select_related("instance").first()
        )
        if frame is None:
            raise NotFound("frame_not_found", "No such frame in this case.")
        raw_version = request.query_params.get("version")
        try:
            number = int(raw_version) if raw_version is not None else annotation.head
        except ValueError as exc:
            raise ApplicationError("invalid_version", "version must be an integer.") from exc
        if not 0 <= number <= annotation.head:
            raise NotFound("version_not_found", "No such version.")
        labels = selectors.frame_label_map(annotation=annotation, frame=frame, number=number)
        draft = None
        if annotation.author_id == request.user.pk and raw_version is None:
            row = annotation.drafts.filter(frame=frame).first()
            if row is not None:
                draft = {
                    "base_version": row.base_number,
                    "mask": maskcodec.to_rle(maskcodec.decode(row.data, (frame.instance.rows, frame.instance.columns))),
                }
        return Response({"frame_id": frame.pk, "version": number, "mask": maskcodec.to_rle(labels), "draft": draft})


class VersionOut(serializers.ModelSerializer[MaskVersion]):
    author = serializers.CharField(source="author.username")

    class Meta:
        model = MaskVersion
        fields = ["number", "author", "source", "created_at", "frames_changed"]


class MaskSaveIn(serializers.Serializer[Any]):
    base_version = serializers.IntegerField(min_value=0)
    source = serializers.ChoiceField(choices=MaskSource.choices)  # type: ignore[assignment]
    frames = serializers.DictField(child=serializers.DictField(), help_text="{frame_id: {size, values, counts}}")


class AnnotationVersionsApi(APIView):
    @extend_schema(responses={200: VersionOut(many=True)})
    def get(self, request: Request, slug: str, annotation_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        annotation = selectors.annotation_get_visible(project=project, annotation_id=annotation_id, user=_user(request))
        return Response(VersionOut(annotation.versions.order_by("-number").select_related("author"), many=True).data)

    @extend_schema(
        request=MaskSaveIn,
        responses={201: VersionOut},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    @idempotent
    def post(self, request: Request, slug: str, annotation_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=READERS)
        annotation = selectors.annotation_get_visible(project=project, annotation_id=annotation_id, user=_user(request))
        data = MaskSaveIn(data=request.data)
        data.is_valid(raise_exception=True)
        version = masks.mask_save(annotation=annotation, user=_user(request), **data.validated_data)
        return Response(VersionOut(version).data, status=status.HTTP_201_CREATED)


class DraftApi(APIView):
    class DraftIn(serializers.Serializer[Any]):
        base_version = serializers.IntegerField(min_value=0)
        mask = serializers.DictField()

    @extend_schema(request=DraftIn, responses={204: None})
    def put(self, request: Request, slug: str, annotation_id: int, frame_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=READERS)
        annotation = selectors.annotation_get_visible(project=project, annotation_id=annotation_id, user=_user(request))
        data = self.DraftIn(data=request.data)
        data.is_valid(raise_exception=True)
        masks.draft_save(annotation=annotation, user=_user(request), frame_id=frame_id, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReviewQueueApi(APIView):
    @extend_schema(responses={200: CaseOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        return Response(CaseOut(selectors.review_queue(project=project), many=True).data)


class CaseReviewApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str, case_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        case = selectors.case_get(project=project, case_id=case_id)
        if selectors.is_reader_of(case, _user(request)) and not selectors.case_reads_complete(case):
            raise NotFound("case_not_found", "No such case in review.")
        audit_record(
            actor=_user(request),
            action="case.review_view",
            object_type="case",
            object_id=case.pk,
            project_id=project.pk,
        )
        tasks = case.tasks.select_related("reader").order_by("slot")
        visible = selectors.annotations_visible_for_case(case=case, user=_user(request))
        return Response(
            {
                "case": CaseOut(case).data,
                "tasks": TaskOut(tasks, many=True).data,
                "annotations": [AnnotationOut(a).data for a in visible],
                "agreement": review.case_agreement(case=case),
            }
        )


class ConsensusApi(APIView):
    class ConsensusIn(serializers.Serializer[Any]):
        method = serializers.ChoiceField(choices=ConsensusMethod.choices)
        annotation_id = serializers.IntegerField(required=False)

    @extend_schema(request=ConsensusIn, responses={201: AnnotationOut})
    @idempotent
    def post(self, request: Request, slug: str, case_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        case = selectors.case_get(project=project, case_id=case_id)
        data = self.ConsensusIn(data=request.data)
        data.is_valid(raise_exception=True)
        consensus = review.consensus_build(case=case, user=_user(request), **data.validated_data)
        return Response(AnnotationOut(consensus).data, status=status.HTTP_201_CREATED)


class CaseReturnApi(APIView):
    class ReturnIn(serializers.Serializer[Any]):
        task_id = serializers.IntegerField()
        comment = serializers.CharField(max_length=5000)

    @extend_schema(request=ReturnIn, responses={200: TaskOut})
    def post(self, request: Request, slug: str, case_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        case = selectors.case_get(project=project, case_id=case_id)
        data = self.ReturnIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(TaskOut(review.case_return(case=case, user=_user(request), **data.validated_data)).data)


class SignOffOut(serializers.ModelSerializer[SignOff]):
    signer = serializers.CharField(source="signer.username")
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = SignOff
        fields = ["id", "annotation_id", "version", "signer", "signed_at", "digest", "manifest", "meaning"]


class SignOffApi(APIView):
    class SignIn(serializers.Serializer[Any]):
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        meaning = serializers.ChoiceField(choices=["approved", "reviewed", "authored"], default="approved")

    @extend_schema(request=SignIn, responses={201: SignOffOut})
    def post(self, request: Request, slug: str, annotation_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user)
        annotation = selectors.annotation_get_visible(project=project, annotation_id=annotation_id, user=_user(request))
        data = self.SignIn(data=request.data)
        data.is_valid(raise_exception=True)
        signoff = review.annotation_sign(annotation=annotation, user=_user(request), **data.validated_data)
        return Response(SignOffOut(signoff).data, status=status.HTTP_201_CREATED)


class CaseExportApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(exports.FORMATS)),
            OpenApiParameter("annotation_id", int, required=False),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, slug: str, case_id: int) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        case = selectors.case_get(project=project, case_id=case_id)
        fmt = request.query_params.get("format", "seg")
        raw_id = request.query_params.get("annotation_id")
        annotation = exports.export_annotation_for_case(
            case, annotation_id=int(raw_id) if raw_id and raw_id.isdigit() else None
        )
        if not selectors.annotation_visible(annotation=annotation, user=_user(request)):
            raise NotFound("annotation_not_found", "No such annotation, or it is not visible to you yet.")
        content, content_type, name = exports.export_case(annotation, fmt)
        audit_record(
            actor=_user(request),
            action="case.export",
            object_type="case",
            object_id=case.pk,
            project_id=project.pk,
            detail={"format": fmt, "annotation_id": annotation.pk},
        )
        return HttpResponse(
            content, content_type=content_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )


class ExportJobOut(serializers.ModelSerializer[ExportJob]):
    class Meta:
        model = ExportJob
        fields = ["id", "formats", "case_ids", "status", "done", "total", "error_code", "created_at", "finished_at"]


class ProjectExportApi(APIView):
    class ExportIn(serializers.Serializer[Any]):
        formats = serializers.ListField(child=serializers.ChoiceField(choices=list(exports.FORMATS)), min_length=1)
        case_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=100000)

    @extend_schema(request=ExportIn, responses={202: ExportJobOut})
    @idempotent
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        data = self.ExportIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = ExportJob.objects.create(
            project=project,
            created_by=_user(request),
            formats=data.validated_data["formats"],
            case_ids=data.validated_data.get("case_ids", []),
        )
        audit_record(
            actor=_user(request),
            action="project.export",
            object_type="export_job",
            object_id=job.pk,
            project_id=project.pk,
        )
        from workers.annotation import export_project

        export_project.delay_on_commit(job.pk)
        return Response(ExportJobOut(job).data, status=status.HTTP_202_ACCEPTED)


class ExportJobApi(APIView):
    @extend_schema(responses={200: ExportJobOut})
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        job = ExportJob.objects.filter(project=project, pk=job_id).first()
        if job is None:
            raise NotFound("export_not_found", "No such export.")
        return Response(ExportJobOut(job).data)


class ExportDownloadApi(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, job_id: int) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        job = ExportJob.objects.filter(project=project, pk=job_id, status="done").first()
        if job is None:
            raise NotFound("export_not_found", "No such finished export.")
        from backend.imaging.storage import file_read

        audit_record(
            actor=_user(request),
            action="export.download",
            object_type="export_job",
            object_id=job.pk,
            project_id=project.pk,
        )
        return HttpResponse(
            file_read(job.path),
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="export-{job.pk}.zip"'},
        )


class ReaderSummaryApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for_user(slug=slug, user=request.user, roles=REVIEWERS)
        return Response(review.project_reader_summary(project_id=project.pk))
