from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from backend.accounts import api as accounts_api
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
    path("projects/<slug:slug>/quarantine/", imaging_api.QuarantineListApi.as_view()),
    path("projects/<slug:slug>/quarantine/<int:quarantine_id>/decision/", imaging_api.QuarantineDecideApi.as_view()),
]

urlpatterns = [
    path("healthz", healthz),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
]

handler404 = "backend.common.errors.json_404"
handler500 = "backend.common.errors.json_500"
