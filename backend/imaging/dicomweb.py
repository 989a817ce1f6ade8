"""DICOMweb (PS3.18) for one project, under /dicomweb/<slug>/: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

- QIDO-RS answers from the index (de-identified values only), in the DICOM JSON model (PS3.18 F.2).
- WADO-RS streams the stored files: a study is never held in memory, only one instance at a time when it
  has to be transcoded (application/dicom defaults to Explicit VR Little Endian, PS3.18 8.7.3.5.2).
  Frames are decoded and sent as native little-endian stored values.
- STOW-RS parses the multipart/related body part by part (each part spooled, to disk when large) and ingests
  every part through the imaging services, so de-identification and quarantine apply as for uploads.

Members of any role may search and retrieve; storing needs a contributor role. Outsiders get 404 on every
route, so that a project's existence is not disclosed. Errors use the one error shape {code, message, extra}.
The UIDs served are the project's (de-identified) UIDs.
"""

from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO, Protocol

import numpy as np
import pydicom
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count, Max, Min, Q, QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import parse_header_parameters
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.pixels.utils import pack_bits, pixel_array
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from backend.accounts.models import User
from backend.accounts.selectors import project_get_for_user
from backend.annotation.models import Project
from backend.audit.services import audit_record
from backend.common.errors import ApplicationError, NotFound
from backend.imaging import services, storage
from backend.imaging.api import CONTRIBUTORS, audit_view
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.parsing import read_dicom
from backend.imaging.core.uids import keyed_uid
from backend.imaging.models import IngestJob, Instance, QuarantinedFile, Series, Study
from backend.imaging.signals import series_added

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
EXPLICIT_LE = str(ExplicitVRLittleEndian)
_ANY_SYNTAX = "*"
MAX_RESULTS = 5000
_CHUNK = 256 << 10
_SPOOL_BYTES = 8 << 20
_MAX_PART_HEADER_BYTES = 16 << 10
_BIG_ENDIAN = "1.2.840.10008.1.2.2"


# --------------------------------------------------------------------------------------------------
# The DICOM JSON model (PS3.18 F.2)

JsonDataset = dict[str, dict[str, Any]]


def _el(vr: str, *values: Any) -> dict[str, Any]:
    """One attribute; no values (or only None/"") gives an empty attribute, as F.2.5 allows."""
    kept = [v for v in values if v is not None and v != ""]
    if not kept:
        return {"vr": vr}
    if vr == "PN":
        kept = [{"Alphabetic": str(v)} for v in kept]
    return {"vr": vr, "Value": kept}


def _da(value: date | None) -> str | None:
    return value.strftime("%Y%m%d") if value is not None else None


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


# --------------------------------------------------------------------------------------------------
# Accept header: which representations the client takes


def _accept_items(header: str) -> list[tuple[str, dict[str, str]]]:
    """Media ranges with their parameters, best first (q=0 dropped); a malformed item is skipped."""
    items: list[tuple[float, int, str, dict[str, str]]] = []
    for position, raw in enumerate(header.split(",")):
        if not raw.strip():
            continue
        try:
            media, params = parse_header_parameters(raw.strip())
            quality = float(params.get("q", "1"))
        except ValueError:
            continue
        if quality > 0:
            items.append((-quality, position, media, {k.lower(): str(v).strip() for k, v in params.items()}))
    return [(media, params) for _, _, media, params in sorted(items)]


def _not_acceptable(supported: str) -> ApplicationError:
    return ApplicationError(
        "not_acceptable",
        "None of the media types in the Accept header can be served here.",
        extra={"supported": supported},
        status_code=406,
    )


def dicom_syntaxes_accepted(header: str) -> list[str]:
    """Transfer syntaxes the client takes for application/dicom, in order; "*" means as stored."""
    if not header.strip():
        return [EXPLICIT_LE]
    syntaxes: list[str] = []
    for media, params in _accept_items(header):
        part_type = params.get("type", "application/dicom").lower()
        if media in {"*/*", "multipart/*"} or (
            media in {"multipart/related", "application/dicom"} and part_type in {"application/dicom", "*/*"}
        ):
            syntaxes.append(params.get("transfer-syntax", EXPLICIT_LE))
    if not syntaxes:
        raise _not_acceptable('multipart/related; type="application/dicom"')
    return syntaxes


def _check_frames_accepted(header: str) -> None:
    """Frames are served as native (uncompressed) bytes only: application/octet-stream."""
    if not header.strip():
        return
    for media, params in _accept_items(header):
        part_type = params.get("type", "application/octet-stream").lower()
        syntax = params.get("transfer-syntax", EXPLICIT_LE)
        if syntax not in {EXPLICIT_LE, _ANY_SYNTAX}:
            continue
        if media in {"*/*", "multipart/*", "application/octet-stream"} or (
            media == "multipart/related" and part_type in {"application/octet-stream", "application/*", "*/*"}
        ):
            return
    raise _not_acceptable('multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1')


def _check_json_accepted(header: str) -> None:
    if not header.strip():
        return
    for media, _ in _accept_items(header):
        if media in {"*/*", "application/*", DICOM_JSON, "application/json"}:
            return
    raise _not_acceptable(DICOM_JSON)


# --------------------------------------------------------------------------------------------------
# QIDO-RS: query parameters


@dataclass(frozen=True)
class _Matcher:
    level: str  # the level whose model holds the field: "study", "series" or "instance"
    kind: str  # uid | code | text | itext | date | int | modalities
    field: str


_MATCHERS: dict[str, _Matcher] = {
    "StudyInstanceUID": _Matcher("study", "uid", "study_instance_uid"),
    "PatientID": _Matcher("study", "text", "patient_key"),
    "StudyDate": _Matcher("study", "date", "study_date"),
    "StudyDescription": _Matcher("study", "itext", "study_description"),
    "ModalitiesInStudy": _Matcher("study", "modalities", "modalities"),
    "SeriesInstanceUID": _Matcher("series", "uid", "series_instance_uid"),
    "Modality": _Matcher("series", "code", "modality"),
    "SeriesNumber": _Matcher("series", "int", "series_number"),
    "SeriesDescription": _Matcher("series", "itext", "series_description"),
    "BodyPartExamined": _Matcher("series", "code", "body_part"),
    "Manufacturer": _Matcher("series", "itext", "manufacturer"),
    "SOPInstanceUID": _Matcher("instance", "uid", "sop_instance_uid"),
    "SOPClassUID": _Matcher("instance", "uid", "sop_class_uid"),
    "InstanceNumber": _Matcher("instance", "int", "instance_number"),
}
_DEPTH = {"study": 0, "series": 1, "instance": 2}
# Path from each queried model to the model of each level.
_PREFIX = {
    ("study", "study"): "",
    ("series", "study"): "study__",
    ("series", "series"): "",
    ("instance", "study"): "series__study__",
    ("instance", "series"): "series__",
    ("instance", "instance"): "",
}
_CONTROL_PARAMS = {"limit", "offset", "includefield", "fuzzymatching", "emptyvaluematching", "multiplevaluematching"}
_DATE = re.compile(r"^\d{8}$")


@dataclass
class QidoQuery:
    level: str
    q: Q = field(default_factory=Q)
    limit: int = MAX_RESULTS
    offset: int = 0
    include: set[str] = field(default_factory=set)  # tags, "XXXXXXXX"
    include_all: bool = False
    ignored: list[str] = field(default_factory=list)


def _invalid(parameter: str, message: str) -> ApplicationError:
    return ApplicationError("invalid_query", message, extra={"parameter": parameter})


def _keyword(key: str) -> str | None:
    """The attribute keyword of a query key given as a keyword or as a tag ("0020000D")."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        return keyword_for_tag(int(key, 16)) or None
    return key if tag_for_keyword(key) is not None else None


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\\]", value) if part.strip()]


def _wildcard_q(lookup: str, value: str, *, insensitive: bool) -> Q:
    """PS3.4 C.2.2.2.4 wildcard matching: '*' any run, '?' one character."""
    if "*" not in value and "?" not in value:
        return Q(**{f"{lookup}__{'iexact' if insensitive else 'exact'}": value})
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return Q(**{f"{lookup}__{'iregex' if insensitive else 'regex'}": f"^{pattern}$"})


def _date_q(lookup: str, key: str, value: str) -> Q:
    """DA single value or range (PS3.4 C.2.2.2.5): 'A', 'A-B', '-B', 'A-'."""
    start, dash, end = value.partition("-")
    if not dash:
        end = start
    bounds: list[date | None] = []
    for text in (start.strip(), end.strip()):
        if not text:
            bounds.append(None)
            continue
        if not _DATE.match(text):
            raise _invalid(key, "Dates are YYYYMMDD, ranges YYYYMMDD-YYYYMMDD (either end may be open).")
        try:
            bounds.append(date.fromisoformat(text))
        except ValueError:
            raise _invalid(key, f"{text} is not a valid date.") from None
    low, high = bounds
    if low is None and high is None:
        raise _invalid(key, "A date range needs at least one end.")
    if low is not None and low == high:
        return Q(**{lookup: low})
    q = Q()
    if low is not None:
        q &= Q(**{f"{lookup}__gte": low})
    if high is not None:
        q &= Q(**{f"{lookup}__lte": high})
    return q


def _matcher_q(matcher: _Matcher, lookup: str, key: str, values: list[str]) -> Q | None:
    """None for universal matching (an empty value or '*')."""
    values = [v.strip() for v in values if v.strip() and v.strip() != "*"]
    if not values:
        return None
    if matcher.kind in {"uid", "code", "modalities"}:
        items = sorted({item for value in values for item in _split_list(value)})
        if matcher.kind == "modalities":
            q = Q()
            for item in items:
                q |= Q(**{f"{lookup}__contains": [item]})
            return q
        return Q(**{f"{lookup}__in": items})
    q = Q()
    for value in values:
        if matcher.kind == "date":
            q |= _date_q(lookup, key, value)
        elif matcher.kind == "int":
            try:
                q |= Q(**{lookup: int(value)})
            except ValueError:
                raise _invalid(key, f"{key} takes an integer.") from None
        else:
            q |= _wildcard_q(lookup, value, insensitive=matcher.kind == "itext")
    return q


def _int_param(params: Any, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"{name} takes a non-negative integer.") from None
    if value < 0:
        raise _invalid(name, f"{name} takes a non-negative integer.")
    return value


def qido_query_parse(*, params: Any, level: str) -> QidoQuery:
    """Matching keys, limit, offset and includefield of a QIDO-RS request (PS3.18 8.3.4)."""
    query = QidoQuery(level=level)
    limit = _int_param(params, "limit", 0)
    query.limit = min(limit, MAX_RESULTS) if limit else MAX_RESULTS
    query.offset = _int_param(params, "offset", 0)
    for raw in params.getlist("includefield"):
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            if item.lower() == "all":
                query.include_all = True
                continue
            keyword = _keyword(item)
            if keyword is None:
                raise _invalid("includefield", f"{item} is not a DICOM attribute keyword or tag.")
            query.include.add(_tag(keyword))
    for key in params:
        if key in _CONTROL_PARAMS:
            continue
        keyword = _keyword(key) if "." not in key else None
        if keyword is None:
            if "." in key and all(_keyword(part) for part in key.split(".")):
                query.ignored.append(key)  # sequence matching: valid, not supported
                continue
            raise _invalid(key, f"{key} is neither a DICOM attribute nor a QIDO-RS parameter.")
        matcher = _MATCHERS.get(keyword)
        if matcher is None or _DEPTH[matcher.level] > _DEPTH[level]:
            query.ignored.append(keyword)
            continue
        q = _matcher_q(matcher, _PREFIX[(level, matcher.level)] + matcher.field, key, params.getlist(key))
        if q is not None:
            query.q &= q
    return query


# --------------------------------------------------------------------------------------------------
# QIDO-RS: results


def _study_url(base: str, study: str) -> str:
    return f"{base}/studies/{study}"


def _series_url(base: str, study: str, series: str) -> str:
    return f"{base}/studies/{study}/series/{series}"


def _instance_url(base: str, study: str, series: str, sop: str) -> str:
    return f"{base}/studies/{study}/series/{series}/instances/{sop}"


def _study_attributes(study: Study, base: str, *, counts: bool) -> JsonDataset:
    uid = study.study_instance_uid
    out: JsonDataset = {
        "00080020": _el("DA", _da(study.study_date)),
        "00080056": _el("CS", "ONLINE"),
        "00080061": _el("CS", *study.modalities),
        "00081030": _el("LO", study.study_description),
        "00081190": _el("UR", _study_url(base, uid)),
        "00100020": _el("LO", study.patient_key),
        "0020000D": _el("UI", uid),
    }
    if counts:
        out["00201206"] = _el("IS", getattr(study, "n_series", None))
        out["00201208"] = _el("IS", getattr(study, "n_instances", None))
    return out


@dataclass(frozen=True)
class _SeriesRow:
    """A DICOM series: the index may split one into several Series rows (orientation, size...)."""

    study: Study
    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    body_part: str
    manufacturer: str
    frame_of_reference_uid: str
    instances: int | None


def _series_attributes(row: _SeriesRow, base: str, *, counts: bool) -> JsonDataset:
    study_uid = row.study.study_instance_uid
    out: JsonDataset = {
        "00080060": _el("CS", row.modality),
        "0008103E": _el("LO", row.series_description),
        "00081190": _el("UR", _series_url(base, study_uid, row.series_instance_uid)),
        "0020000D": _el("UI", study_uid),
        "0020000E": _el("UI", row.series_instance_uid),
        "00200011": _el("IS", row.series_number),
        # optional, returned on includefield:
        "00080070": _el("LO", row.manufacturer),
        "00180015": _el("CS", row.body_part),
        "00200052": _el("UI", row.frame_of_reference_uid),
    }
    if counts:
        out["00201209"] = _el("IS", row.instances)
    return out


def _instance_attributes(instance: Instance, base: str) -> JsonDataset:
    series = instance.series
    study_uid = series.study.study_instance_uid
    return {
        "00080016": _el("UI", instance.sop_class_uid),
        "00080018": _el("UI", instance.sop_instance_uid),
        "00080056": _el("CS", "ONLINE"),
        "00081190": _el("UR", _instance_url(base, study_uid, series.series_instance_uid, instance.sop_instance_uid)),
        "00083002": _el("UI", instance.transfer_syntax_uid),
        "0020000D": _el("UI", study_uid),
        "0020000E": _el("UI", series.series_instance_uid),
        "00200013": _el("IS", instance.instance_number),
        "00280008": _el("IS", instance.number_of_frames),
        "00280010": _el("US", instance.rows),
        "00280011": _el("US", instance.columns),
        "00280100": _el("US", instance.bits_allocated),
        # optional, returned on includefield:
        "00280002": _el("US", instance.samples_per_pixel),
        "00280004": _el("CS", instance.photometric_interpretation),
        "00280030": _el("DS", *(instance.pixel_spacing or [])),
        "00200032": _el("DS", *(instance.image_position or [])),
        "00200037": _el("DS", *(instance.image_orientation or [])),
    }


_OPTIONAL = {"00080070", "00180015", "00200052", "00280002", "00280004", "00280030", "00200032", "00200037"}


def _select(attributes: JsonDataset, query: QidoQuery) -> JsonDataset:
    if query.include_all:
        return dict(sorted(attributes.items()))
    return {tag: value for tag, value in sorted(attributes.items()) if tag not in _OPTIONAL or tag in query.include}


@dataclass
class QidoResult:
    matches: list[JsonDataset]
    remaining: int


def _studies_with_counts(ids: Iterable[int]) -> dict[int, Study]:
    studies = Study.objects.filter(pk__in=list(ids)).annotate(
        n_series=Count("series__series_instance_uid", distinct=True),
        n_instances=Count("series__instances", distinct=True),
    )
    return {study.pk: study for study in studies}


def _page(total_if_full: QuerySet[Any], rows: list[Any], query: QidoQuery) -> int:
    """How many matches are left after this page (counted only when the page is full)."""
    if len(rows) < query.limit:
        return 0
    return max(0, total_if_full.count() - query.offset - len(rows))


def qido_studies(*, project: Project, query: QidoQuery, base: str) -> QidoResult:
    queryset = Study.objects.filter(project=project).filter(query.q).order_by("id")
    ids = list(queryset.values_list("id", flat=True)[query.offset : query.offset + query.limit])
    studies = _studies_with_counts(ids)
    matches = [_select(_study_attributes(studies[pk], base, counts=True), query) for pk in ids]
    return QidoResult(matches, _page(queryset, ids, query))


def qido_series(*, project: Project, query: QidoQuery, base: str, study_uid: str | None) -> QidoResult:
    queryset = Series.objects.filter(project=project).filter(query.q)
    if study_uid is not None:
        queryset = queryset.filter(study__study_instance_uid=study_uid)
    grouped = (
        queryset.values("study_id", "series_instance_uid")
        .annotate(
            first_id=Min("id"),
            n_instances=Count("instances", distinct=True),
            modality_=Max("modality"),
            number=Min("series_number"),
            description=Max("series_description"),
            body_part_=Max("body_part"),
            manufacturer_=Max("manufacturer"),
            frame_of_reference=Max("frame_of_reference_uid"),
        )
        .order_by("first_id")
    )
    rows = list(grouped[query.offset : query.offset + query.limit])
    studies = _studies_with_counts(row["study_id"] for row in rows)
    matches = []
    for row in rows:
        series = _SeriesRow(
            study=studies[row["study_id"]],
            series_instance_uid=row["series_instance_uid"],
            modality=row["modality_"],
            series_number=row["number"],
            series_description=row["description"],
            body_part=row["body_part_"],
            manufacturer=row["manufacturer_"],
            frame_of_reference_uid=row["frame_of_reference"],
            instances=row["n_instances"],
        )
        attributes = _series_attributes(series, base, counts=True)
        if study_uid is None:
            # Not scoped to a study: the study's attributes come along (PS3.18 Table 6.7.1-2a).
            attributes = {**_study_attributes(series.study, base, counts=True), **attributes}
        matches.append(_select(attributes, query))
    return QidoResult(matches, _page(grouped, rows, query))


def qido_instances(
    *, project: Project, query: QidoQuery, base: str, study_uid: str | None, series_uid: str | None
) -> QidoResult:
    queryset = Instance.objects.filter(project=project).filter(query.q)
    if study_uid is not None:
        queryset = queryset.filter(series__study__study_instance_uid=study_uid)
    if series_uid is not None:
        queryset = queryset.filter(series__series_instance_uid=series_uid)
    ordered = queryset.select_related("series", "series__study").order_by(
        "series__study_id", "series__series_number", "series__series_instance_uid", "instance_number", "id"
    )
    rows = list(ordered[query.offset : query.offset + query.limit])
    matches = []
    for instance in rows:
        attributes = _instance_attributes(instance, base)
        if series_uid is None:
            series = instance.series
            row = _SeriesRow(
                study=series.study,
                series_instance_uid=series.series_instance_uid,
                modality=series.modality,
                series_number=series.series_number,
                series_description=series.series_description,
                body_part=series.body_part,
                manufacturer=series.manufacturer,
                frame_of_reference_uid=series.frame_of_reference_uid,
                instances=None,
            )
            extra = _series_attributes(row, base, counts=False)
            if study_uid is None:
                extra = {**_study_attributes(series.study, base, counts=False), **extra}
            attributes = {**extra, **attributes}
        matches.append(_select(attributes, query))
    return QidoResult(matches, _page(queryset, rows, query))


# --------------------------------------------------------------------------------------------------
# WADO-RS


def instances_for_retrieve(
    *, project: Project, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
) -> list[Instance]:
    """The stored instances under a study/series/instance URL, in series and instance order; 404 if none."""
    queryset = Instance.objects.filter(project=project, series__study__study_instance_uid=study_uid)
    if series_uid is not None:
        queryset = queryset.filter(series__series_instance_uid=series_uid)
    if sop_uid is not None:
        queryset = queryset.filter(sop_instance_uid=sop_uid)
    instances = list(
        queryset.select_related("series", "series__study").order_by(
            "series__series_number", "series__series_instance_uid", "instance_number", "id"
        )
    )
    if not instances:
        if sop_uid is not None:
            raise NotFound("instance_not_found", "No such instance in this project.")
        if series_uid is not None:
            raise NotFound("series_not_found", "No such series in this project.")
        raise NotFound("study_not_found", "No such study in this project.")
    return instances


def _audit_retrieval(*, user: User, project: Project, instances: list[Instance], level: str) -> None:
    """One 'viewed' row per user and object per ten minutes (audit_view), for the study or each series row."""
    if level == "study":
        study_id = instances[0].series.study_id
        audit_view(user=user, project=project, object_type="study", object_id=study_id, study_id=study_id)
        return
    for series in {instance.series_id: instance.series for instance in instances}.values():
        audit_view(user=user, project=project, object_type="series", object_id=series.pk, study_id=series.study_id)


@dataclass(frozen=True)
class _Outgoing:
    path: str
    send_syntax: str  # what goes out; equal to the stored syntax unless transcoded
    transcode: bool
    location: str


def plan_retrieve(*, instances: list[Instance], accepted: list[str], base: str) -> list[_Outgoing]:
    """Per instance, the first acceptable syntax we can serve: as stored, or transcoded to Explicit VR LE.

    Decided for every instance before the response starts, so that a refusal is still a proper 406.
    """
    plan = []
    for instance in instances:
        stored = instance.transfer_syntax_uid
        choice = next(
            (
                (stored, False) if syntax in {_ANY_SYNTAX, stored} else (EXPLICIT_LE, True)
                for syntax in accepted
                if syntax in {_ANY_SYNTAX, stored, EXPLICIT_LE}
            ),
            None,
        )
        if choice is None:
            raise ApplicationError(
                "transfer_syntax_not_supported",
                "An instance cannot be served in any requested transfer syntax; ask for "
                "transfer-syntax=* (as stored) or 1.2.840.10008.1.2.1.",
                extra={"stored": stored},
                status_code=406,
            )
        series = instance.series
        location = _instance_url(
            base, series.study.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid
        )
        plan.append(_Outgoing(path=instance.file, send_syntax=choice[0], transcode=choice[1], location=location))
    return plan


def _swap_bytes(elem: pydicom.DataElement) -> None:
    width = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}.get(str(elem.VR))
    if width and isinstance(elem.value, bytes | bytearray) and len(elem.value) % width == 0:
        elem.value = np.frombuffer(elem.value, dtype=f">u{width}").astype(f"<u{width}").tobytes()


def transcode_explicit_le(source: BinaryIO) -> bytes:
    """One Part 10 file in Explicit VR Little Endian: decompressed, re-encoded or byte-swapped. Same UIDs."""
    dataset = pydicom.dcmread(source)
    syntax = dataset.file_meta.TransferSyntaxUID
    if syntax.is_compressed:
        # A lossless transcoding of the same instance: its SOP Instance UID does not change.
        dataset.decompress(generate_instance_uid=False)
    elif syntax == _BIG_ENDIAN:
        # pydicom will not re-encode a big endian dataset in place: copy it, swapping pixels and words.
        frames = [pixel_array(dataset, index=i, raw=True) for i in range(int(dataset.get("NumberOfFrames") or 1))]
        fresh = pydicom.Dataset()
        for elem in dataset:
            if elem.tag != 0x7FE00010:
                _swap_bytes(elem)
            fresh.add(elem)
        fresh.PixelData = b"".join(_native_bytes(frame, dataset) for frame in frames)
        fresh["PixelData"].VR = "OB" if int(dataset.BitsAllocated) <= 8 else "OW"
        fresh.file_meta = dataset.file_meta
        fresh.preamble = dataset.preamble
        dataset = fresh  # type: ignore[assignment]
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _native_bytes(frame: np.ndarray, header: pydicom.Dataset) -> bytes:
    """Stored values of one frame as they lie in native little-endian pixel data."""
    if int(header.get("BitsAllocated") or 8) == 1:
        return bytes(pack_bits(frame))
    if frame.ndim == 3 and int(header.get("PlanarConfiguration") or 0) == 1:
        frame = frame.transpose(2, 0, 1)  # colour-by-plane, as PlanarConfiguration says
    contiguous = np.ascontiguousarray(frame)
    return contiguous.astype(contiguous.dtype.newbyteorder("<"), copy=False).tobytes()


def frame_bytes(*, path: str, index: int) -> bytes:
    """Frame `index` (0-based) of a stored instance: decoded, native, little endian."""
    header = pydicom.Dataset()
    try:
        with storage.file_open(path) as handle:
            frame = pixel_array(handle, index=index, raw=True, ds_out=header)
    except Exception as exc:  # decoder plugins raise anything from ValueError to RuntimeError
        raise ImagingError(
            "pixel_decode_failed", "The pixel data could not be decoded.", {"detail": type(exc).__name__}
        ) from exc
    return _native_bytes(frame, header)


def _multipart(parts: Iterable[tuple[dict[str, str], Iterable[bytes]]], boundary: str) -> Iterator[bytes]:
    """A multipart/related body, one part at a time (RFC 2387)."""
    for headers, chunks in parts:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        yield f"--{boundary}\r\n{head}\r\n".encode("ascii")
        yield from chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def _file_chunks(path: str) -> Iterator[bytes]:
    with storage.file_open(path) as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _dicom_parts(plan: list[_Outgoing]) -> Iterator[tuple[dict[str, str], Iterable[bytes]]]:
    for item in plan:
        headers = {
            "Content-Type": f"application/dicom; transfer-syntax={item.send_syntax}",
            "Content-Location": item.location,
        }
        if item.transcode:
            with storage.file_open(item.path) as handle:
                yield headers, [transcode_explicit_le(handle)]
        else:
            yield headers, _file_chunks(item.path)


def _frame_parts(
    *, path: str, numbers: list[int], first: bytes, location: str
) -> Iterator[tuple[dict[str, str], Iterable[bytes]]]:
    for position, number in enumerate(numbers):
        headers = {
            "Content-Type": f"application/octet-stream; transfer-syntax={EXPLICIT_LE}",
            "Content-Location": f"{location}/frames/{number}",
        }
        yield headers, [first if position == 0 else frame_bytes(path=path, index=number - 1)]


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Under ASGI, Django would drain a sync iterator into a list first; pull it chunk by chunk instead."""
    try:
        while (chunk := await sync_to_async(_next_chunk)(chunks)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close)()


def _streaming(request: Request, chunks: Iterator[bytes], content_type: str) -> StreamingHttpResponse:
    body: Iterator[bytes] | AsyncIterator[bytes] = chunks
    if isinstance(request._request, ASGIRequest):
        body = _async_chunks(chunks)
    return StreamingHttpResponse(body, content_type=content_type)


def _without_bulk(value: Any, marker: str) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_bulk(item, marker)
            for key, item in value.items()
            if not (isinstance(item, dict) and item.get("BulkDataURI") == marker)
        }
    if isinstance(value, list):
        return [_without_bulk(item, marker) for item in value]
    return value


def instance_metadata(instance: Instance) -> JsonDataset:
    """The stored dataset as DICOM JSON without bulk data: pixel data is never read (frames serve it)."""
    marker = "bulk:dropped"
    with storage.file_open(instance.file) as handle:
        dataset = pydicom.dcmread(handle, stop_before_pixels=True)
    encoded = dataset.to_json_dict(
        bulk_data_threshold=1024, bulk_data_element_handler=lambda _elem: marker, suppress_invalid_tags=True
    )
    result: JsonDataset = _without_bulk(encoded, marker)
    result["00083002"] = _el("UI", instance.transfer_syntax_uid)  # Available Transfer Syntax UID
    return dict(sorted(result.items()))


# --------------------------------------------------------------------------------------------------
# STOW-RS: a streaming multipart/related reader


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class ReceivedPart:
    headers: dict[str, str]
    body: BinaryIO
    size: int
    too_large: bool  # the part exceeded the per-part cap; its bytes past the cap were dropped
    complete: bool  # False when the body ended before this part's closing boundary


class MultipartReader:
    """Parts of a multipart body read from a stream, each spooled (to disk past a few MiB).

    Parts are yielded lazily: the caller handles one before the next is read, so memory stays bounded by
    the read chunk and the spool threshold whatever the request size.
    """

    def __init__(self, stream: _Readable, boundary: str, *, max_bytes: int, max_part_bytes: int) -> None:
        self.stream = stream
        self.delimiter = b"\r\n--" + boundary.encode("latin-1")
        self.max_bytes = max_bytes
        self.max_part_bytes = max_part_bytes
        # A leading CRLF lets the first boundary, which may open the body, match the delimiter.
        self.buffer = bytearray(b"\r\n")
        self.received = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise ImagingError(
                "upload_too_large",
                "The request body is larger than allowed.",
                {"limit": self.max_bytes},
            )
        self.buffer += chunk
        return True

    def _find(self, needle: bytes, *, within: int) -> int:
        """Index of `needle` in the buffer, reading on as needed; -1 if not within `within` bytes or at EOF."""
        start = 0
        while True:
            index = self.buffer.find(needle, start)
            if index >= 0:
                return index if index <= within else -1
            if len(self.buffer) > within + len(needle):
                return -1
            start = max(0, len(self.buffer) - len(needle) + 1)
            if not self._fill():
                return -1

    def _malformed(self, message: str) -> ApplicationError:
        return ApplicationError("multipart_malformed", message)

    def parts(self) -> Iterator[ReceivedPart]:
        # Preamble: skip to the first boundary, keeping only a delimiter's length of unsearched bytes.
        while (index := self.buffer.find(self.delimiter)) < 0:
            keep = len(self.delimiter) - 1
            if len(self.buffer) > keep:
                del self.buffer[:-keep]
            if not self._fill():
                raise self._malformed(
                    "The body has no part with the boundary of its Content-Type (an empty body, or chunked "
                    "transfer encoding that the server did not pass on?)."
                )
        del self.buffer[: index + len(self.delimiter)]
        while True:
            while len(self.buffer) < 2 and self._fill():
                pass
            if self.buffer[:2] == b"--":
                return  # the close delimiter; the epilogue is ignored
            end_of_line = self._find(b"\r\n", within=1024)
            if end_of_line < 0 or self.buffer[:end_of_line].strip(b" \t"):
                raise self._malformed("A boundary line is not followed by CRLF.")
            del self.buffer[: end_of_line + 2]
            headers = self._headers()
            part = self._body(headers)
            yield part
            if not part.complete:
                return

    def _headers(self) -> dict[str, str]:
        while len(self.buffer) < 2 and self._fill():
            pass
        if self.buffer[:2] == b"\r\n":
            del self.buffer[:2]
            return {}
        end = self._find(b"\r\n\r\n", within=_MAX_PART_HEADER_BYTES)
        if end < 0:
            raise self._malformed("A part's headers are too long or not terminated by an empty line.")
        headers: dict[str, str] = {}
        for line in bytes(self.buffer[:end]).decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                raise self._malformed("A part header line has no colon.")
            headers[name.strip().lower()] = value.strip()
        del self.buffer[: end + 4]
        return headers

    def _body(self, headers: dict[str, str]) -> ReceivedPart:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115
        part = ReceivedPart(headers=headers, body=spool, size=0, too_large=False, complete=False)  # type: ignore[arg-type]

        def write(data: bytes | bytearray) -> None:
            if part.size + len(data) > self.max_part_bytes:
                part.too_large = True
            if not part.too_large:
                spool.write(data)
                part.size += len(data)

        try:
            keep = len(self.delimiter) - 1
            start = 0
            while True:
                index = self.buffer.find(self.delimiter, start)
                if index >= 0:
                    end = index + len(self.delimiter)
                    while len(self.buffer) < end + 2 and self._fill():
                        pass
                    after = bytes(self.buffer[end : end + 2])
                    if after and not after.startswith((b"--", b"\r\n", b" ", b"\t")):
                        # Not a delimiter line (the boundary text followed by other bytes): it is content.
                        start = index + 1
                        continue
                    write(self.buffer[:index])
                    del self.buffer[:end]
                    part.complete = True
                    break
                start = 0
                if len(self.buffer) > keep:
                    write(self.buffer[:-keep])
                    del self.buffer[:-keep]
                if not self._fill():
                    write(self.buffer)
                    self.buffer.clear()
                    break
        except BaseException:
            spool.close()  # a body over the request cap, or a client gone: nothing to hand on
            raise
        spool.seek(0)
        return part


# --------------------------------------------------------------------------------------------------
# STOW-RS: storing

# PS3.18 Table I.2-2 failure reasons; 0111 and C409 are additional codes (PS3.4 duplicate SOP instance,
# and the Study Instance UID mismatch code other archives use).
FAILURE_PROCESSING = 0x0110
FAILURE_DUPLICATE = 0x0111
FAILURE_SOP_CLASS = 0x0122
FAILURE_OUT_OF_RESOURCES = 0xA700
FAILURE_CANNOT_UNDERSTAND = 0xC000
FAILURE_TRANSFER_SYNTAX = 0xC122
FAILURE_STUDY_MISMATCH = 0xC409
WARNING_COERCION = 0xB000

_FAILURE_BY_CODE = {
    "not_dicom": FAILURE_CANNOT_UNDERSTAND,
    "malformed_dicom": FAILURE_CANNOT_UNDERSTAND,
    "dataset_too_large": FAILURE_OUT_OF_RESOURCES,
    "pixel_data_too_large": FAILURE_OUT_OF_RESOURCES,
    "part_too_large": FAILURE_OUT_OF_RESOURCES,
    "part_truncated": FAILURE_CANNOT_UNDERSTAND,
    "part_type_unsupported": FAILURE_CANNOT_UNDERSTAND,
    "unsupported_transfer_syntax": FAILURE_TRANSFER_SYNTAX,
    "no_pixel_data": FAILURE_SOP_CLASS,
    "instance_conflict": FAILURE_DUPLICATE,
    "study_mismatch": FAILURE_STUDY_MISMATCH,
}


@dataclass
class StowOutcome:
    referenced: list[JsonDataset] = field(default_factory=list)
    failed: list[JsonDataset] = field(default_factory=list)
    held: int = 0  # accepted but quarantined: not retrievable until a person releases them
    study_urls: set[str] = field(default_factory=set)
    errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def status(self) -> int:
        if not self.referenced:
            return 409
        return 202 if self.failed or self.held else 200

    def as_json(self) -> JsonDataset:
        body: JsonDataset = {
            "00081198": _el("SQ", *self.failed),
            "00081199": _el("SQ", *self.referenced),
        }
        if len(self.study_urls) == 1:
            body["00081190"] = _el("UR", *self.study_urls)
        return dict(sorted(body.items()))


def _part_uids(handle: BinaryIO) -> tuple[str, str, str]:
    """SOP Class, SOP Instance and Study Instance UID as sent (empty when unreadable).

    The part is untrusted: large values are not read (defer_size), and a deflated dataset, which pydicom
    would inflate without a bound, goes through the guarded reader instead.
    """
    values = ("", "", "")
    try:
        read_preamble(handle, False)
        meta = _read_file_meta_info(handle)
        if str(meta.get("TransferSyntaxUID") or "").strip("\x00 ") == DeflatedExplicitVRLittleEndian:
            summary = read_dicom(handle, max_pixel_bytes=settings.IMAGING_MAX_PIXEL_BYTES).summary
            values = (summary.sop_class_uid, summary.sop_instance_uid, summary.study_instance_uid)
        else:
            handle.seek(0)
            dataset = pydicom.dcmread(
                handle,
                stop_before_pixels=True,
                defer_size="64 KB",
                specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"],
            )
            values = (
                str(dataset.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or ""),
                str(dataset.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID") or ""),
                str(dataset.get("StudyInstanceUID") or ""),
            )
    except Exception:  # noqa: BLE001 - any bytes may arrive; the ingest gives the real refusal
        values = ("", "", "")
    handle.seek(0)
    sop_class, sop_instance, study = (v.strip().rstrip("\x00")[:64] for v in values)
    return sop_class, sop_instance, study


def _in_study(*, project: Project, sent_study: str, target: str) -> bool:
    """The URL's study may be named by the UID as sent or by the project's de-identified UID."""
    if not sent_study:
        return False
    if sent_study == target:
        return True
    return project.deidentify and keyed_uid(bytes.fromhex(project.secret), sent_study) == target


def _failed_item(outcome: StowOutcome, *, sop_class: str, sop_instance: str, code: str, message: str) -> None:
    outcome.failed.append(
        {
            "00081150": _el("UI", sop_class),
            "00081155": _el("UI", sop_instance),
            "00081197": _el("US", _FAILURE_BY_CODE.get(code, FAILURE_PROCESSING)),
        }
    )
    if len(outcome.errors) < 50:
        outcome.errors.append({"sop_instance_uid": sop_instance, "code": code, "message": message})


def _referenced_item(
    outcome: StowOutcome, *, project: Project, result: services.IngestResult, sop_class: str, base: str
) -> None:
    item: JsonDataset
    if result.outcome == "quarantined":
        held = QuarantinedFile.objects.filter(pk=result.quarantine_id or 0).first()
        # Accepted, but not retrievable until released: no Retrieve URL.
        item = {"00081150": _el("UI", sop_class), "00081155": _el("UI", held.sop_instance_uid if held else "")}
        outcome.held += 1
    else:
        assert result.instance_id is not None  # created and duplicate outcomes name the instance
        instance = Instance.objects.select_related("series", "series__study").get(pk=result.instance_id)
        study_uid = instance.series.study.study_instance_uid
        item = {
            "00081150": _el("UI", instance.sop_class_uid),
            "00081155": _el("UI", instance.sop_instance_uid),
            "00081190": _el(
                "UR",
                _instance_url(base, study_uid, instance.series.series_instance_uid, instance.sop_instance_uid),
            ),
        }
        outcome.study_urls.add(_study_url(base, study_uid))
    if project.deidentify:
        item["00081196"] = _el("US", WARNING_COERCION)  # UIDs and identifying attributes were replaced
    outcome.referenced.append(dict(sorted(item.items())))


def stow_content_type(content_type: str) -> str:
    """The boundary of a STOW-RS body; 415 for anything but multipart/related of application/dicom."""
    try:
        media, params = parse_header_parameters(content_type)
    except ValueError:
        media, params = "", {}
    if media != "multipart/related":
        raise ApplicationError(
            "unsupported_media_type",
            'Send multipart/related; type="application/dicom".',
            extra={"content_type": content_type[:200]},
            status_code=415,
        )
    part_type = str(params.get("type", "application/dicom")).strip().lower()
    if part_type != "application/dicom":
        raise ApplicationError(
            "unsupported_media_type",
            "Only application/dicom parts are stored (no metadata and bulk data requests).",
            extra={"type": part_type[:100]},
            status_code=415,
        )
    boundary = str(params.get("boundary", ""))
    if not 1 <= len(boundary) <= 200:
        raise ApplicationError("multipart_malformed", "The Content-Type has no boundary parameter.")
    return boundary


def stow_store(
    *,
    project: Project,
    user: User,
    stream: _Readable,
    content_type: str,
    content_length: int,
    base: str,
    study_uid: str | None = None,
) -> StowOutcome:
    """Store every application/dicom part through the ingest; refusals are collected per part."""
    boundary = stow_content_type(content_type)
    limit = settings.IMAGING_MAX_UPLOAD_BYTES
    if content_length > limit:
        raise ImagingError(
            "upload_too_large", "The request body is larger than allowed.", {"bytes": content_length, "limit": limit}
        )
    reader = MultipartReader(
        stream, boundary, max_bytes=limit, max_part_bytes=settings.IMAGING_MAX_PIXEL_BYTES + (64 << 20)
    )
    outcome = StowOutcome()
    batch = services.BatchResult()
    new_series: set[int] = set()
    context = uuid.uuid4().hex
    try:
        for index, part in enumerate(reader.parts()):
            with part.body:
                _store_part(
                    project=project,
                    user=user,
                    part=part,
                    name=f"part-{index + 1}",
                    context=context,
                    base=base,
                    study_uid=study_uid,
                    outcome=outcome,
                    batch=batch,
                    new_series=new_series,
                )
    finally:
        # Whatever happened to the body, the instances already stored get their series sorted and announced.
        for series_id in sorted(batch.series_ids):
            services.series_reindex(series_id=series_id)
        for series_id in sorted(new_series):
            series_added(series_id=series_id)
    if not outcome.referenced and not outcome.failed:
        raise ApplicationError("multipart_empty", "The body holds no parts.")
    total = batch.created + batch.duplicates + batch.quarantined + batch.refused
    job = IngestJob.objects.create(project=project, created_by=user, source="stow", total=total)
    services.ingest_job_finish(job=job, batch=batch)
    audit_record(
        actor=user,
        action="ingest.stow",
        object_type="ingest_job",
        object_id=job.pk,
        project_id=project.pk,
        detail={"created": batch.created, "duplicates": batch.duplicates, "refused": batch.refused},
    )
    logger.info(
        "stow project=%s job=%s created=%d duplicates=%d held=%d refused=%d",
        project.pk,
        job.pk,
        batch.created,
        batch.duplicates,
        batch.quarantined,
        batch.refused,
    )
    return outcome


def _store_part(
    *,
    project: Project,
    user: User,
    part: ReceivedPart,
    name: str,
    context: str,
    base: str,
    study_uid: str | None,
    outcome: StowOutcome,
    batch: services.BatchResult,
    new_series: set[int],
) -> None:
    sop_class, sop_instance, sent_study = _part_uids(part.body)

    def refuse(code: str, message: str) -> None:
        _failed_item(outcome, sop_class=sop_class, sop_instance=sop_instance, code=code, message=message)
        batch.refuse(name, ImagingError(code, message))

    part_type, _ = parse_header_parameters(part.headers.get("content-type", "application/dicom"))
    if part_type != "application/dicom":
        return refuse("part_type_unsupported", "Parts must be application/dicom.")
    if part.too_large:
        return refuse("part_too_large", "The part is larger than an instance may be.")
    if not part.complete:
        return refuse("part_truncated", "The body ended inside this part.")
    if study_uid is not None and not _in_study(project=project, sent_study=sent_study, target=study_uid):
        return refuse("study_mismatch", "The instance belongs to another study than the one in the URL.")
    try:
        result = services.instance_ingest(
            project=project, user=user, source=part.body, origin="stow", uid_context=context
        )
    except (ImagingError, ApplicationError) as error:
        _failed_item(outcome, sop_class=sop_class, sop_instance=sop_instance, code=error.code, message=error.message)
        batch.refuse(name, error)
        return None
    batch.add(result)
    if result.outcome == "created" and result.series_id is not None:
        new_series.add(result.series_id)
    _referenced_item(outcome, project=project, result=result, sop_class=sop_class, base=base)
    return None


# --------------------------------------------------------------------------------------------------
# Views: thin; membership first (404 for outsiders), then one selector or service.


class _TakeAnyAccept(BaseContentNegotiation):
    """DICOMweb negotiates its own media types (multipart/related...); errors are always JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


class _DicomWebView(APIView):
    schema = None  # not part of the OpenAPI document: PS3.18 is its specification
    content_negotiation_class = _TakeAnyAccept
    level = "study"

    def _user(self, request: Request) -> User:
        assert isinstance(request.user, User)
        return request.user

    def _base(self, request: Request, slug: str) -> str:
        return request.build_absolute_uri(reverse("dicomweb-studies", kwargs={"slug": slug})).removesuffix("/studies")

    def _accept(self, request: Request) -> str:
        return str(request.headers.get("Accept", ""))


class QidoView(_DicomWebView):
    """QIDO-RS: search for studies, series or instances (level set per route)."""

    def get(self, request: Request, slug: str, study: str | None = None, series: str | None = None) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        _check_json_accepted(self._accept(request))
        query = qido_query_parse(params=request.query_params, level=self.level)
        base = self._base(request, slug)
        if self.level == "study":
            result = qido_studies(project=project, query=query, base=base)
        elif self.level == "series":
            result = qido_series(project=project, query=query, base=base, study_uid=study)
        else:
            result = qido_instances(project=project, query=query, base=base, study_uid=study, series_uid=series)
        warnings = []
        if result.remaining:
            warnings.append(f"There are {result.remaining} additional results that can be requested")
        if query.ignored:
            warnings.append("These matching keys are not supported and were ignored: " + ", ".join(query.ignored))
        return _with_warnings(_json_response(result.matches), request, warnings)


def _json_response(datasets: list[JsonDataset]) -> HttpResponse:
    if not datasets:
        return HttpResponse(status=204)  # PS3.18 8.3.4.4: no matches
    return HttpResponse(json.dumps(datasets, separators=(",", ":")), content_type=DICOM_JSON)


def _with_warnings(response: HttpResponse, request: Request, notes: list[str]) -> HttpResponse:
    """PS3.18 8.1.6: warnings go in the Warning header as '299 <agent>: "<text>"'."""
    agent = re.sub(r"[^A-Za-z0-9.:\[\]-]", "", request.get_host()) or "-"
    texts = [re.sub(r'[^ -~]|"', "'", note)[:500] for note in notes]
    values = [f'299 {agent}: "{text}"' for text in texts]
    if values:
        response.headers["Warning"] = ", ".join(values)
    return response


class _StowMixin(_DicomWebView):
    def _stow(self, request: Request, slug: str, study: str | None) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user, roles=CONTRIBUTORS)
        django_request = request._request
        try:
            length = int(django_request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        outcome = stow_store(
            project=project,
            user=self._user(request),
            stream=django_request,
            content_type=str(django_request.META.get("CONTENT_TYPE", "")),
            content_length=length,
            base=self._base(request, slug),
            study_uid=study,
        )
        response = HttpResponse(
            json.dumps(outcome.as_json(), separators=(",", ":")), content_type=DICOM_JSON, status=outcome.status
        )
        notes = [f"{error['code']}: {error['message']}" for error in outcome.errors[:5]]
        if outcome.held:
            notes.append(f"{outcome.held} instance(s) are held for review before they can be retrieved")
        return _with_warnings(response, request, notes)


class StudiesView(QidoView, _StowMixin):
    """GET: search for studies (QIDO-RS). POST: store instances (STOW-RS)."""

    def post(self, request: Request, slug: str) -> HttpResponse:
        return self._stow(request, slug, None)


class RetrieveView(_DicomWebView):
    """WADO-RS: a study, series or instance as multipart/related; type="application/dicom"."""

    def get(
        self, request: Request, slug: str, study: str, series: str | None = None, instance: str | None = None
    ) -> StreamingHttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        accepted = dicom_syntaxes_accepted(self._accept(request))
        instances = instances_for_retrieve(project=project, study_uid=study, series_uid=series, sop_uid=instance)
        plan = plan_retrieve(instances=instances, accepted=accepted, base=self._base(request, slug))
        _audit_retrieval(user=self._user(request), project=project, instances=instances, level=self.level)
        boundary = uuid.uuid4().hex
        return _streaming(
            request,
            _multipart(_dicom_parts(plan), boundary),
            f'multipart/related; type="application/dicom"; boundary={boundary}',
        )


class StudyView(RetrieveView, _StowMixin):
    """GET: retrieve the study (WADO-RS). POST: store instances of this study only (STOW-RS)."""

    def post(self, request: Request, slug: str, study: str) -> HttpResponse:
        return self._stow(request, slug, study)


class MetadataView(_DicomWebView):
    """WADO-RS metadata: the stored datasets as DICOM JSON, without bulk data."""

    def get(
        self, request: Request, slug: str, study: str, series: str | None = None, instance: str | None = None
    ) -> HttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        _check_json_accepted(self._accept(request))
        instances = instances_for_retrieve(project=project, study_uid=study, series_uid=series, sop_uid=instance)
        _audit_retrieval(user=self._user(request), project=project, instances=instances, level=self.level)
        datasets = [instance_metadata(item) for item in instances]
        return HttpResponse(json.dumps(datasets, separators=(",", ":")), content_type=DICOM_JSON)


class FramesView(_DicomWebView):
    """Frames (1-based) of one instance, each as native little-endian bytes (application/octet-stream)."""

    def get(
        self, request: Request, slug: str, *, study: str, series: str, instance: str, frames: str
    ) -> StreamingHttpResponse:
        project = project_get_for_user(slug=slug, user=request.user)
        _check_frames_accepted(self._accept(request))
        target = instances_for_retrieve(project=project, study_uid=study, series_uid=series, sop_uid=instance)[0]
        numbers = [int(n) for n in frames.split(",")]
        if any(not 1 <= n <= target.number_of_frames for n in numbers):
            raise ImagingError(
                "frame_out_of_range", "No such frame (frames are numbered from 1).", {"frames": target.number_of_frames}
            )
        _audit_retrieval(user=self._user(request), project=project, instances=[target], level="series")
        # The first frame is decoded before answering, so that an undecodable instance gets a proper error.
        first = frame_bytes(path=target.file, index=numbers[0] - 1)
        location = _instance_url(
            self._base(request, slug), study, target.series.series_instance_uid, target.sop_instance_uid
        )
        boundary = uuid.uuid4().hex
        return _streaming(
            request,
            _multipart(_frame_parts(path=target.file, numbers=numbers, first=first, location=location), boundary),
            f'multipart/related; type="application/octet-stream"; boundary={boundary}',
        )
