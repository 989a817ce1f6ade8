"""Curation API: find, saved filters, tags/notes/flags (bulk), duplicates, statistics, snapshots, exports.

Every view checks membership first (outsiders get 404 `project_not_found`). Members read; owners and
reviewers (curators) write. A filter is a JSON document validated by pydantic (`invalid_filter`).
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import ProjectRole, User
from backend.accounts.selectors import project_get_for_user, project_role
from backend.annotation.models import Project
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, NotFound
from backend.common.idempotency import idempotent
from backend.curation import exports, filters, selectors, services, snapshots
from backend.curation.models import ExportStatus, SavedFilter, Snapshot, SnapshotExport, StudyLicence

CURATORS = (ProjectRole.OWNER.value, ProjectRole.REVIEWER.value)

FILTER_HELP = (
    "Filter document (JSON object). Fields (all optional; lists are OR, fields are AND): target "
    "(case|series|study), case_ids, series_ids, study_ids, modality, body_part, manufacturer (substring), "
    "slice_thickness {min,max}, study_date {from,to}, patient_keys, has_case, status "
    "[unread|reading|in_review|signed], labels [{label (value or name), present, volume_ml {min,max}, "
    "slices {min,max}, dice {min,max}}], agreement {mean_dice, min_dice, min_readers}, readers "
    "[user id or username], tags, exclude_tags, flagged, flags [kinds]; projects [slugs] on the "
    "cross-project search only. Unknown fields or bad values: 400 invalid_filter."
)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _member(request: Request, slug: str) -> tuple[Project, str]:
    project = project_get_for_user(slug=slug, user=request.user)
    return project, project_role(project=project, user=request.user) or ""


def _curator(request: Request, slug: str) -> Project:
    return project_get_for_user(slug=slug, user=request.user, roles=CURATORS)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApplicationError(f"invalid_{name}", f"{name} must be an integer.") from exc


# --- access -------------------------------------------------------------------------------------


class AccessOut(serializers.Serializer[Any]):
    role = serializers.CharField()
    curator = serializers.BooleanField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="The roles that may curate.")


class AccessApi(APIView):
    @extend_schema(
        responses={200: AccessOut},
        summary="May I curate this project? 200 for owners and reviewers, 403 role_required for other members",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        return Response(
            {"role": project_role(project=project, user=request.user) or "", "curator": True, "roles": list(CURATORS)}
        )


# --- find ---------------------------------------------------------------------------------------


class FindIn(serializers.Serializer[Any]):
    filter = serializers.JSONField(required=False, allow_null=True, help_text=FILTER_HELP)
    saved_filter_id = serializers.IntegerField(required=False, help_text="Use a saved filter of the project.")
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=selectors.MAX_PAGE)
    count = serializers.BooleanField(required=False, default=False, help_text="Also count all matches (slower).")


class FindOut(serializers.Serializer[Any]):
    target = serializers.CharField()
    items = serializers.ListField(child=serializers.DictField())
    next_cursor = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(required=False)


def _run_find(request: Request, *, roles: dict[int, str], document: Any) -> dict[str, Any]:
    data = FindIn(data=request.data)
    data.is_valid(raise_exception=True)
    parsed = filters.filter_parse(document)
    return selectors.find(
        user=_user(request),
        f=parsed,
        roles=roles,
        cursor=data.validated_data.get("cursor"),
        limit=data.validated_data["limit"],
        with_count=data.validated_data["count"],
    )


class FindApi(APIView):
    @extend_schema(request=FindIn, responses={200: FindOut}, summary="Find cases, series or studies (keyset pages)")
    def post(self, request: Request, slug: str) -> Response:
        project, role = _member(request, slug)
        data = FindIn(data=request.data)
        data.is_valid(raise_exception=True)
        document = data.validated_data.get("filter")
        if data.validated_data.get("saved_filter_id") is not None:
            if document is not None:
                raise ApplicationError("invalid_filter", "Give a filter or a saved_filter_id, not both.")
            document = selectors.saved_filter_get(
                project=project, filter_id=data.validated_data["saved_filter_id"]
            ).document
        if isinstance(document, dict) and "projects" in document:
            raise ApplicationError(
                "invalid_filter",
                "projects belongs to the cross-project search (/api/curation/find/).",
                extra={"errors": [{"loc": ["projects"], "msg": "not allowed here"}]},
            )
        return Response(_run_find(request, roles={project.pk: role}, document=document))


class GlobalFindApi(APIView):
    @extend_schema(
        request=FindIn, responses={200: FindOut}, summary="Find across every project you belong to (or `projects`)"
    )
    def post(self, request: Request) -> Response:
        data = FindIn(data=request.data)
        data.is_valid(raise_exception=True)
        document = data.validated_data.get("filter")
        parsed = filters.filter_parse(document)
        roles = selectors.project_roles(user=_user(request), slugs=parsed.projects)
        return Response(_run_find(request, roles=roles, document=document))


# --- saved filters ------------------------------------------------------------------------------


class SavedFilterOut(serializers.ModelSerializer[SavedFilter]):
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = SavedFilter
        fields = ["id", "name", "description", "document", "created_by", "created_at", "updated_at"]


class SavedFilterIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    document = serializers.JSONField(help_text=FILTER_HELP)


class SavedFilterUpdateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    document = serializers.JSONField(required=False, help_text=FILTER_HELP)


class SavedFilterListApi(APIView):
    @extend_schema(responses={200: SavedFilterOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = _member(request, slug)
        rows = SavedFilter.objects.filter(project=project).select_related("created_by").order_by("name")
        return Response(SavedFilterOut(rows, many=True).data)

    @extend_schema(request=SavedFilterIn, responses={201: SavedFilterOut})
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        data = SavedFilterIn(data=request.data)
        data.is_valid(raise_exception=True)
        saved = services.saved_filter_create(project=project, actor=_user(request), **data.validated_data)
        return Response(SavedFilterOut(saved).data, status=status.HTTP_201_CREATED)


class SavedFilterDetailApi(APIView):
    @extend_schema(responses={200: SavedFilterOut})
    def get(self, request: Request, slug: str, filter_id: int) -> Response:
        project, _ = _member(request, slug)
        return Response(SavedFilterOut(selectors.saved_filter_get(project=project, filter_id=filter_id)).data)

    @extend_schema(request=SavedFilterUpdateIn, responses={200: SavedFilterOut})
    def put(self, request: Request, slug: str, filter_id: int) -> Response:
        project = _curator(request, slug)
        saved = selectors.saved_filter_get(project=project, filter_id=filter_id)
        data = SavedFilterUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.saved_filter_update(saved=saved, actor=_user(request), **data.validated_data)
        return Response(SavedFilterOut(updated).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, filter_id: int) -> Response:
        project = _curator(request, slug)
        services.saved_filter_delete(
            saved=selectors.saved_filter_get(project=project, filter_id=filter_id), actor=_user(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tags, notes, flags, bulk -------------------------------------------------------------------


class BulkIn(serializers.Serializer[Any]):
    action = serializers.ChoiceField(
        choices=["tag", "untag", "flag", "unflag", "exclude", "include", "note", "assign", "add_cases"]
    )
    target = serializers.ChoiceField(choices=["case", "study", "series"])
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=services.MAX_BULK)
    filter = serializers.JSONField(
        required=False, allow_null=True, help_text="Select by filter instead of ids (target must match)."
    )
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="tag/untag: {tag}; flag: {kind, reason}; unflag: {kinds}; exclude: {reason}; note: {text}; "
        "assign: {user_id}; add_cases: {priority}",
    )


class BulkOut(serializers.Serializer[Any]):
    action = serializers.CharField()
    target = serializers.CharField()
    done = serializers.ListField(child=serializers.IntegerField())
    skipped = serializers.ListField(child=serializers.DictField())


class BulkApi(APIView):
    @extend_schema(request=BulkIn, responses={200: BulkOut}, summary="Tag, flag, exclude, note, assign, add cases")
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        role = project_role(project=project, user=request.user) or ""
        data = BulkIn(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data.get("ids")
        document = data.validated_data.get("filter")
        if (ids is None) == (document is None):
            raise ApplicationError("invalid_selection", "Give ids or a filter.")
        if document is not None:
            parsed = filters.filter_parse(document)
            if parsed.target != data.validated_data["target"] or parsed.projects is not None:
                raise ApplicationError(
                    "invalid_filter",
                    "The filter's target must be the action's target, within this project.",
                    extra={"errors": [{"loc": ["target"], "msg": "mismatch"}]},
                )
            queryset = selectors.filter_queryset(f=parsed, roles={project.pk: role}, user=_user(request))
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: services.MAX_BULK + 1])
            if len(ids) > services.MAX_BULK:
                raise ApplicationError(
                    "too_many", f"The filter matches more than {services.MAX_BULK}.", extra={"max": services.MAX_BULK}
                )
        result = services.bulk_apply(
            project=project,
            actor=_user(request),
            action=data.validated_data["action"],
            target=data.validated_data["target"],
            ids=ids or [],
            params=data.validated_data["params"],
        )
        return Response(result)


class NoteIn(serializers.Serializer[Any]):
    case_id = serializers.IntegerField(required=False)
    study_id = serializers.IntegerField(required=False)
    text = serializers.CharField(max_length=5000)


class NoteOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    author = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class NoteCreateApi(APIView):
    @extend_schema(request=NoteIn, responses={201: NoteOut})
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        role = project_role(project=project, user=request.user) or ""
        data = NoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        case_id, study_id = data.validated_data.get("case_id"), data.validated_data.get("study_id")
        if (case_id is None) == (study_id is None):
            raise ApplicationError("invalid_target", "Give case_id or study_id.")
        case = (
            selectors.case_for_curation(project=project, case_id=case_id, user=_user(request), role=role)
            if case_id is not None
            else None
        )
        study = selectors.study_for_curation(project=project, study_id=study_id) if study_id is not None else None
        note = services.note_add(
            project=project, actor=_user(request), text=data.validated_data["text"], case=case, study=study
        )
        return Response(
            {"id": note.pk, "author": _user(request).username, "text": note.text, "created_at": note.created_at},
            status=status.HTTP_201_CREATED,
        )


class CaseCurationApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="A case with its tags, flags, notes and statistics")
    def get(self, request: Request, slug: str, case_id: int) -> Response:
        project, role = _member(request, slug)
        case = selectors.case_for_curation(project=project, case_id=case_id, user=_user(request), role=role)
        return Response(selectors.case_detail(case=case, role=role))


class StudyLicenceIn(serializers.Serializer[Any]):
    licence = serializers.CharField(max_length=200, allow_blank=True, help_text="Empty: the project default.")


class StudyCurationApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="A study with its tags, flags, notes and licence")
    def get(self, request: Request, slug: str, study_id: int) -> Response:
        project, _ = _member(request, slug)
        study = selectors.study_for_curation(project=project, study_id=study_id)
        row = selectors.study_rows(study_ids=[study.pk])[0]
        licence = StudyLicence.objects.filter(study=study).values_list("licence", flat=True).first()
        default = services.curation_settings_get(project=project).default_licence
        return Response(
            {
                **row,
                "licence": licence or default,
                "licence_is_default": licence is None,
                "notes": selectors.notes_for(study=study),
            }
        )

    @extend_schema(request=StudyLicenceIn, responses={200: OpenApiTypes.OBJECT})
    def put(self, request: Request, slug: str, study_id: int) -> Response:
        project = _curator(request, slug)
        study = selectors.study_for_curation(project=project, study_id=study_id)
        data = StudyLicenceIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.study_licence_set(study=study, actor=_user(request), licence=data.validated_data["licence"])
        return self.get(request, slug, study_id)


class TagListApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "CurationTagCount", {"name": serializers.CharField(), "count": serializers.IntegerField()}, many=True
            )
        }
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = _member(request, slug)
        return Response(selectors.tag_counts(project=project))


class CurationSettingsIn(serializers.Serializer[Any]):
    default_licence = serializers.CharField(max_length=200, allow_blank=True)


class CurationSettingsApi(APIView):
    @extend_schema(responses={200: CurationSettingsIn})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = _member(request, slug)
        return Response({"default_licence": services.curation_settings_get(project=project).default_licence})

    @extend_schema(request=CurationSettingsIn, responses={200: CurationSettingsIn})
    def put(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        data = CurationSettingsIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.curation_settings_update(project=project, actor=_user(request), **data.validated_data)
        return Response({"default_licence": row.default_licence})


# --- statistics and duplicates ------------------------------------------------------------------


class StatisticsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("snapshot", int, required=False, description="Only the cases of this snapshot."),
            OpenApiParameter("bins", int, required=False, description="Histogram bins (2..100, default 10)."),
            OpenApiParameter("days", int, required=False, description="Throughput window in days (default 30)."),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Counts per label, volume and agreement histograms, reader throughput per day",
    )
    def get(self, request: Request, slug: str) -> Response:
        project, role = _member(request, slug)
        case_ids = None
        snapshot_id = request.query_params.get("snapshot")
        if snapshot_id:
            snapshot = selectors.snapshot_get(project=project, snapshot_id=_int_param(request, "snapshot", 0))
            case_ids = list(snapshot.items.values_list("case_id", flat=True))
        return Response(
            selectors.statistics(
                project=project,
                user=_user(request),
                role=role,
                case_ids=case_ids,
                bins=_int_param(request, "bins", 10),
                days=_int_param(request, "days", 30),
            )
        )


class StatsRefreshApi(APIView):
    @extend_schema(
        request=None,
        responses={202: inline_serializer("CurationStatsRefresh", {"stale": serializers.IntegerField()})},
        summary="Recompute stale per-case statistics on the io queue",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        from backend.curation.stats import stats_stale_case_ids
        from workers.curation import project_stats_refresh

        stale = len(stats_stale_case_ids(project_id=project.pk))
        if stale:
            project_stats_refresh.delay_on_commit(project.pk)
        audit_record(
            actor=_user(request),
            action="curation.stats_refresh",
            object_type="project",
            object_id=project.pk,
            project_id=project.pk,
            detail={"stale": stale},
        )
        return Response({"stale": stale}, status=status.HTTP_202_ACCEPTED)


class DuplicatesApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("max_distance", int, required=False, description="dHash Hamming distance 0..8 (4)."),
            OpenApiParameter("series", int, required=False, many=True, description="Only these series."),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Exact and near duplicates of this project's series among every project you can see",
    )
    def get(self, request: Request, slug: str) -> Response:
        project, _ = _member(request, slug)
        from backend.imaging.models import Series

        series = Series.objects.filter(project=project)
        wanted = request.query_params.getlist("series")
        if wanted:
            try:
                series = series.filter(pk__in=[int(s) for s in wanted])
            except ValueError as exc:
                raise ApplicationError("invalid_series", "series must be integers.") from exc
        return Response(
            selectors.duplicates_for_series(
                series_ids=list(series.values_list("pk", flat=True)),
                user=_user(request),
                max_distance=_int_param(request, "max_distance", 4),
            )
        )


class FingerprintScanApi(APIView):
    @extend_schema(
        request=None,
        responses={202: inline_serializer("CurationFingerprintScan", {"missing": serializers.IntegerField()})},
        summary="Fingerprint every instance of the project that has none yet (io queue)",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        from backend.imaging.models import Series
        from workers.curation import fingerprint_project

        missing = selectors.fingerprints_missing(
            list(Series.objects.filter(project=project).values_list("pk", flat=True))
        )
        if missing:
            fingerprint_project.delay_on_commit(project.pk)
        return Response({"missing": missing}, status=status.HTTP_202_ACCEPTED)


# --- snapshots ----------------------------------------------------------------------------------


class SnapshotSelectionIn(serializers.Serializer[Any]):
    filter = serializers.JSONField(required=False, allow_null=True, help_text=FILTER_HELP)
    saved_filter_id = serializers.IntegerField(required=False)
    case_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=100000)
    exclude_case_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=100000)
    include_flagged = serializers.JSONField(
        required=False, help_text="true, or a list of flagged case ids to include anyway (default false)."
    )
    split = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        help_text='Ratios of train/val/test summing to 1 (else 400 invalid_split), e.g. {"train": 0.8, "test": 0.2}.',
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**62)

    def selection(self, project: Project) -> dict[str, Any]:
        data = self.validated_data
        document = data.get("filter")
        if data.get("saved_filter_id") is not None:
            if document is not None:
                raise ApplicationError("invalid_filter", "Give a filter or a saved_filter_id, not both.")
            document = selectors.saved_filter_get(project=project, filter_id=data["saved_filter_id"]).document
        include = data.get("include_flagged", False)
        if not (isinstance(include, bool) or (isinstance(include, list) and all(isinstance(i, int) for i in include))):
            raise ApplicationError("invalid_include_flagged", "include_flagged is true/false or a list of case ids.")
        return {
            "filter_doc": document,
            "case_ids": data.get("case_ids"),
            "exclude_case_ids": data.get("exclude_case_ids"),
            "include_flagged": include,
            "ratios": data["split"],
            "seed": data["seed"],
        }


class SnapshotPreviewIn(SnapshotSelectionIn):
    max_distance = serializers.IntegerField(required=False, default=4, min_value=0, max_value=8)


class SnapshotCreateIn(SnapshotSelectionIn):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", help_text="Letters, digits, . _ -")
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class SnapshotOut(serializers.ModelSerializer[Snapshot]):
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "name",
            "version",
            "content_hash",
            "description",
            "seed",
            "ratios",
            "selection",
            "label_schema",
            "reader_stats",
            "split_counts",
            "case_count",
            "created_by",
            "created_at",
        ]


class SnapshotListCreateApi(APIView):
    @extend_schema(responses={200: SnapshotOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project, _ = _member(request, slug)
        rows = Snapshot.objects.filter(project=project).select_related("created_by").order_by("name", "-version")
        return Response(SnapshotOut(rows, many=True).data)

    @extend_schema(
        request=SnapshotCreateIn,
        responses={201: SnapshotOut, 200: SnapshotOut},
        summary="Create an immutable snapshot (200 with the existing one when the content is identical)",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    @idempotent
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        data = SnapshotCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        snapshot, created = snapshots.snapshot_create(
            project=project,
            user=_user(request),
            name=data.validated_data["name"],
            description=data.validated_data["description"],
            **data.selection(project),
        )
        return Response(SnapshotOut(snapshot).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SnapshotPreviewApi(APIView):
    @extend_schema(
        request=SnapshotPreviewIn,
        responses={200: OpenApiTypes.OBJECT},
        summary="What a snapshot would hold: splits, flagged cases left out, problems and duplicates",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = _curator(request, slug)
        data = SnapshotPreviewIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            snapshots.snapshot_preview(
                project=project,
                user=_user(request),
                max_distance=data.validated_data["max_distance"],
                **data.selection(project),
            )
        )


class SnapshotDetailApi(APIView):
    @extend_schema(responses={200: SnapshotOut})
    def get(self, request: Request, slug: str, snapshot_id: int) -> Response:
        project, _ = _member(request, slug)
        return Response(SnapshotOut(selectors.snapshot_get(project=project, snapshot_id=snapshot_id)).data)


class SnapshotItemsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, required=False, enum=["train", "val", "test"]),
            OpenApiParameter("cursor", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses={
            200: inline_serializer(
                "SnapshotItemPage",
                {
                    "items": serializers.ListField(child=serializers.DictField()),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            )
        },
    )
    def get(self, request: Request, slug: str, snapshot_id: int) -> Response:
        project, _ = _member(request, slug)
        snapshot = selectors.snapshot_get(project=project, snapshot_id=snapshot_id)
        split = request.query_params.get("split") or None
        if split not in (None, "train", "val", "test"):
            raise ApplicationError("invalid_split", "split is train, val or test.")
        return Response(
            selectors.snapshot_items_page(
                snapshot=snapshot,
                split=split,
                cursor=request.query_params.get("cursor"),
                limit=_int_param(request, "limit", 100),
            )
        )


class SnapshotDiffApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Cases added, removed, changed and moved")
    def get(self, request: Request, slug: str, snapshot_id: int, other_id: int) -> Response:
        project, _ = _member(request, slug)
        a = selectors.snapshot_get(project=project, snapshot_id=snapshot_id)
        b = selectors.snapshot_get(project=project, snapshot_id=other_id)
        return Response(selectors.snapshot_diff(a=a, b=b))


class SnapshotExportOut(serializers.ModelSerializer[SnapshotExport]):
    state = serializers.CharField(source="status")

    class Meta:
        model = SnapshotExport
        fields = [
            "id",
            "snapshot_id",
            "formats",
            "state",
            "done",
            "total",
            "size",
            "manifest_sha256",
            "error_code",
            "created_at",
            "finished_at",
        ]


class SnapshotExportIn(serializers.Serializer[Any]):
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=list(exports.FORMATS)), min_length=1, max_length=len(exports.FORMATS)
    )


class SnapshotExportListCreateApi(APIView):
    @extend_schema(responses={200: SnapshotExportOut(many=True)})
    def get(self, request: Request, slug: str, snapshot_id: int) -> Response:
        project = _curator(request, slug)
        snapshot = selectors.snapshot_get(project=project, snapshot_id=snapshot_id)
        return Response(SnapshotExportOut(snapshot.exports.order_by("-id"), many=True).data)

    @extend_schema(
        request=SnapshotExportIn,
        responses={202: SnapshotExportOut},
        summary="Export on the io queue: nnunet, monai, seg, coco, with a manifest of hashes",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    @idempotent
    def post(self, request: Request, slug: str, snapshot_id: int) -> Response:
        project = _curator(request, slug)
        snapshot = selectors.snapshot_get(project=project, snapshot_id=snapshot_id)
        data = SnapshotExportIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = SnapshotExport.objects.create(
            snapshot=snapshot,
            project=project,
            formats=sorted(set(data.validated_data["formats"])),
            created_by=_user(request),
        )
        audit_record(
            actor=_user(request),
            action="curation.snapshot_export",
            object_type="snapshot",
            object_id=snapshot.pk,
            project_id=project.pk,
            detail={"export_id": job.pk, "formats": ",".join(job.formats)},
        )
        from workers.curation import export_snapshot

        export_snapshot.delay_on_commit(job.pk)
        return Response(SnapshotExportOut(job).data, status=status.HTTP_202_ACCEPTED)


def _export(request: Request, slug: str, snapshot_id: int, export_id: int) -> SnapshotExport:
    project = _curator(request, slug)
    snapshot = selectors.snapshot_get(project=project, snapshot_id=snapshot_id)
    job = SnapshotExport.objects.filter(snapshot=snapshot, pk=export_id).first()
    if job is None:
        raise NotFound("export_not_found", "No such export of this snapshot.")
    return job


class SnapshotExportApi(APIView):
    @extend_schema(responses={200: SnapshotExportOut})
    def get(self, request: Request, slug: str, snapshot_id: int, export_id: int) -> Response:
        return Response(SnapshotExportOut(_export(request, slug, snapshot_id, export_id)).data)


class SnapshotExportDownloadApi(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, snapshot_id: int, export_id: int) -> FileResponse:
        job = _export(request, slug, snapshot_id, export_id)
        if job.status != ExportStatus.DONE:
            raise NotFound("export_not_ready", "The export is not finished.", extra={"state": job.status})
        from django.core.files.storage import default_storage

        audit_record(
            actor=_user(request),
            action="curation.snapshot_download",
            object_type="snapshot",
            object_id=snapshot_id,
            project_id=job.project_id,
            detail={"export_id": job.pk},
        )
        return FileResponse(
            default_storage.open(job.path, "rb"),
            as_attachment=True,
            filename=f"snapshot-{snapshot_id}-export-{job.pk}.zip",
            content_type="application/zip",
        )
