"""DICOMweb routes, mounted at /dicomweb/: every route is scoped to a project, /dicomweb/<slug>/..."""

from __future__ import annotations

from django.urls import path, register_converter

from backend.imaging import dicomweb


class DicomUidConverter:
    regex = r"[0-9]+(?:\.[0-9]+)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FrameListConverter:
    regex = r"[0-9]+(?:,[0-9]+)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(DicomUidConverter, "dicomuid")
register_converter(FrameListConverter, "framelist")

_STUDY = "<slug:slug>/studies/<dicomuid:study>"
_SERIES = _STUDY + "/series/<dicomuid:series>"
_INSTANCE = _SERIES + "/instances/<dicomuid:instance>"

urlpatterns = [
    # QIDO-RS (GET) and STOW-RS (POST)
    path("<slug:slug>/studies", dicomweb.StudiesView.as_view(), name="dicomweb-studies"),
    path("<slug:slug>/series", dicomweb.QidoView.as_view(level="series"), name="dicomweb-series"),
    path("<slug:slug>/instances", dicomweb.QidoView.as_view(level="instance"), name="dicomweb-instances"),
    path(_STUDY + "/series", dicomweb.QidoView.as_view(level="series"), name="dicomweb-study-series"),
    path(_STUDY + "/instances", dicomweb.QidoView.as_view(level="instance"), name="dicomweb-study-instances"),
    path(_SERIES + "/instances", dicomweb.QidoView.as_view(level="instance"), name="dicomweb-series-instances"),
    # WADO-RS (GET; POST to a study is STOW-RS into that study)
    path(_STUDY, dicomweb.StudyView.as_view(level="study"), name="dicomweb-study"),
    path(_STUDY + "/metadata", dicomweb.MetadataView.as_view(level="study"), name="dicomweb-study-metadata"),
    path(_SERIES, dicomweb.RetrieveView.as_view(level="series"), name="dicomweb-series-retrieve"),
    path(_SERIES + "/metadata", dicomweb.MetadataView.as_view(level="series"), name="dicomweb-series-metadata"),
    path(_INSTANCE, dicomweb.RetrieveView.as_view(level="instance"), name="dicomweb-instance"),
    path(_INSTANCE + "/metadata", dicomweb.MetadataView.as_view(level="instance"), name="dicomweb-instance-metadata"),
    path(_INSTANCE + "/frames/<framelist:frames>", dicomweb.FramesView.as_view(), name="dicomweb-frames"),
]
