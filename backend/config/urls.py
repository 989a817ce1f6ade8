from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from backend.accounts import api as accounts_api
from backend.annotation import api as annotation_api
from backend.audit import api as audit_api
from backend.common.health import healthz
from backend.imaging import api as imaging_api
from backend.segmentation import api as segmentation_api

api = [
    path("auth/csrf/", accounts_api.CsrfApi.as_view()),
    path("auth/login/", accounts_api.LoginApi.as_view()),
    path("auth/logout/", accounts_api.LogoutApi.as_view()),
    path("auth/me/", accounts_api.MeApi.as_view()),
    path("auth/tokens/", accounts_api.TokenListCreateApi.as_view()),
    path("auth/tokens/<int:token_id>/", accounts_api.TokenRevokeApi.as_view()),
    path("teams/", accounts_api.TeamListCreateApi.as_view()),
    path("teams/<int:team_id>/members/", accounts_api.TeamMemberAddApi.as_view()),
    path("projects/", accounts_api.ProjectListCreateApi.as_view()),
    path("projects/<slug:slug>/", accounts_api.ProjectDetailApi.as_view()),
    path("projects/<slug:slug>/members/", accounts_api.ProjectMemberListApi.as_view()),
    path("projects/<slug:slug>/members/<int:user_id>/", accounts_api.ProjectMemberApi.as_view()),
    path("projects/<slug:slug>/audit/", audit_api.ProjectAuditApi.as_view()),
    path("projects/<slug:slug>/uploads/", imaging_api.UploadApi.as_view()),
    path("projects/<slug:slug>/ingest-jobs/<int:job_id>/", imaging_api.IngestJobApi.as_view()),
    path("projects/<slug:slug>/studies/", imaging_api.StudyListApi.as_view()),
    path("projects/<slug:slug>/studies/<int:study_id>/", imaging_api.StudyDetailApi.as_view()),
    path("projects/<slug:slug>/series/<int:series_id>/", imaging_api.SeriesDetailApi.as_view()),
    path("projects/<slug:slug>/instances/<int:instance_id>/", imaging_api.InstanceDetailApi.as_view()),
    path(
        "projects/<slug:slug>/instances/<int:instance_id>/frames/<int:frame>/pixels",
        imaging_api.FramePixelsApi.as_view(),
    ),
    path("projects/<slug:slug>/instances/<int:instance_id>/frames/<int:frame>/png", imaging_api.FramePngApi.as_view()),
    path("projects/<slug:slug>/frames/<int:frame_id>/prompt/", segmentation_api.PromptApi.as_view()),
    path("projects/<slug:slug>/series/<int:series_id>/embed/", segmentation_api.EmbedSeriesApi.as_view()),
    path("projects/<slug:slug>/series/<int:series_id>/propagate/", segmentation_api.PropagateApi.as_view()),
    path("projects/<slug:slug>/segmentation-jobs/<int:job_id>/", segmentation_api.JobDetailApi.as_view()),
    path("projects/<slug:slug>/segmentation-jobs/<int:job_id>/cancel/", segmentation_api.JobCancelApi.as_view()),
    path("models/", segmentation_api.ModelListApi.as_view()),
    path("codes/segmentation/", annotation_api.CodeListApi.as_view()),
    path("projects/<slug:slug>/policy/", annotation_api.PolicyApi.as_view()),
    path("projects/<slug:slug>/labels/", annotation_api.LabelListApi.as_view()),
    path("projects/<slug:slug>/labels/<int:label_id>/", annotation_api.LabelDetailApi.as_view()),
    path("projects/<slug:slug>/cases/", annotation_api.CaseListApi.as_view()),
    path("projects/<slug:slug>/cases/<int:case_id>/", annotation_api.CaseDetailApi.as_view()),
    path("projects/<slug:slug>/cases/<int:case_id>/review/", annotation_api.CaseReviewApi.as_view()),
    path("projects/<slug:slug>/cases/<int:case_id>/consensus/", annotation_api.ConsensusApi.as_view()),
    path("projects/<slug:slug>/cases/<int:case_id>/return/", annotation_api.CaseReturnApi.as_view()),
    path("projects/<slug:slug>/cases/<int:case_id>/export/", annotation_api.CaseExportApi.as_view()),
    path("projects/<slug:slug>/tasks/next/", annotation_api.NextTaskApi.as_view()),
    path("projects/<slug:slug>/tasks/mine/", annotation_api.MyTasksApi.as_view()),
    path("projects/<slug:slug>/tasks/<int:task_id>/", annotation_api.TaskUpdateApi.as_view()),
    path("projects/<slug:slug>/tasks/<int:task_id>/assign/", annotation_api.TaskAssignApi.as_view()),
    path("projects/<slug:slug>/tasks/<int:task_id>/submit/", annotation_api.TaskSubmitApi.as_view()),
    path("projects/<slug:slug>/tasks/<int:task_id>/annotation/", annotation_api.TaskAnnotationApi.as_view()),
    path("projects/<slug:slug>/annotations/<int:annotation_id>/", annotation_api.AnnotationDetailApi.as_view()),
    path(
        "projects/<slug:slug>/annotations/<int:annotation_id>/versions/",
        annotation_api.AnnotationVersionsApi.as_view(),
    ),
    path(
        "projects/<slug:slug>/annotations/<int:annotation_id>/frames/<int:frame_id>/",
        annotation_api.AnnotationFrameApi.as_view(),
    ),
    path(
        "projects/<slug:slug>/annotations/<int:annotation_id>/drafts/<int:frame_id>/",
        annotation_api.DraftApi.as_view(),
    ),
    path("projects/<slug:slug>/annotations/<int:annotation_id>/signoff/", annotation_api.SignOffApi.as_view()),
    path("projects/<slug:slug>/review/queue/", annotation_api.ReviewQueueApi.as_view()),
    path("projects/<slug:slug>/review/readers/", annotation_api.ReaderSummaryApi.as_view()),
    path("projects/<slug:slug>/exports/", annotation_api.ProjectExportApi.as_view()),
    path("projects/<slug:slug>/exports/<int:job_id>/", annotation_api.ExportJobApi.as_view()),
    path("projects/<slug:slug>/exports/<int:job_id>/download/", annotation_api.ExportDownloadApi.as_view()),
    path("projects/<slug:slug>/quarantine/", imaging_api.QuarantineListApi.as_view()),
    path("projects/<slug:slug>/quarantine/<int:quarantine_id>/decision/", imaging_api.QuarantineDecideApi.as_view()),
]

urlpatterns = [
    path("healthz", healthz),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    # In urlpatterns, not `api`: a URLResolver in `api` makes mypy type that list as list[object].
    path("api/projects/<slug:slug>/curation/", include("backend.curation.urls")),
    path("api/curation/", include("backend.curation.global_urls")),
    path("dicomweb/", include("backend.imaging.dicomweb_urls")),
    path("", include("backend.web.urls")),  # the browser app's routes: must stay last
]

handler404 = "backend.common.errors.json_404"
handler500 = "backend.common.errors.json_500"
