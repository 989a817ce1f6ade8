"""Routes under /api/projects/<slug>/curation/."""

from django.urls import path

from backend.curation import api

urlpatterns = [
    path("access/", api.AccessApi.as_view()),
    path("find/", api.FindApi.as_view()),
    path("filters/", api.SavedFilterListApi.as_view()),
    path("filters/<int:filter_id>/", api.SavedFilterDetailApi.as_view()),
    path("bulk/", api.BulkApi.as_view()),
    path("notes/", api.NoteCreateApi.as_view()),
    path("tags/", api.TagListApi.as_view()),
    path("settings/", api.CurationSettingsApi.as_view()),
    path("cases/<int:case_id>/", api.CaseCurationApi.as_view()),
    path("studies/<int:study_id>/", api.StudyCurationApi.as_view()),
    path("stats/", api.StatisticsApi.as_view()),
    path("stats/refresh/", api.StatsRefreshApi.as_view()),
    path("duplicates/", api.DuplicatesApi.as_view()),
    path("duplicates/scan/", api.FingerprintScanApi.as_view()),
    path("snapshots/", api.SnapshotListCreateApi.as_view()),
    path("snapshots/preview/", api.SnapshotPreviewApi.as_view()),
    path("snapshots/<int:snapshot_id>/", api.SnapshotDetailApi.as_view()),
    path("snapshots/<int:snapshot_id>/items/", api.SnapshotItemsApi.as_view()),
    path("snapshots/<int:snapshot_id>/diff/<int:other_id>/", api.SnapshotDiffApi.as_view()),
    path("snapshots/<int:snapshot_id>/exports/", api.SnapshotExportListCreateApi.as_view()),
    path("snapshots/<int:snapshot_id>/exports/<int:export_id>/", api.SnapshotExportApi.as_view()),
    path("snapshots/<int:snapshot_id>/exports/<int:export_id>/download/", api.SnapshotExportDownloadApi.as_view()),
]
