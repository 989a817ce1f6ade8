"""DICOMweb end to end: dicomweb-client against a live server, on the shared real files."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
from asgiref.sync import sync_to_async
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage
from django.urls import URLPattern, get_resolver
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from backend.accounts.models import ProjectMembership, ProjectRole
from backend.accounts.services import api_token_create
from backend.audit.models import AuditEvent
from backend.imaging.models import IngestJob, Instance, Series, Study
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db(transaction=True)

DICOM = SHARED_DATA / "dicom"
CT_SMALL = DICOM / "pydicom" / "CT_small.dcm"
MR_SMALL = DICOM / "pydicom" / "MR_small.dcm"
CT_3SLICE = sorted((DICOM / "dcmqi_ct3slice" / "ct-3slice").glob("*.dcm"))
SM_MULTIFRAME = DICOM / "highdicom" / "sm_image_control.dcm"
ALL_FILES = [CT_SMALL, MR_SMALL, *CT_3SLICE]
DICOM_JSON = "application/dicom+json"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path: Path) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture
def connect(live_server) -> Callable[..., DICOMwebClient]:
    """A dicomweb-client for a user (None: anonymous), with an API token."""

    def _connect(user=None, slug: str = "liver") -> DICOMwebClient:
        headers = {}
        if user is not None:
            _, raw = api_token_create(user=user, name="dicomweb")
            headers["Authorization"] = f"Token {raw}"
        # Django's test server does not decode chunked request bodies: send STOW bodies in one piece.
        return DICOMwebClient(url=f"{live_server.url}/dicomweb/{slug}", headers=headers, chunk_size=64 << 20)

    return _connect


def _post(client: DICOMwebClient, url: str, parts: list[bytes], **headers: str) -> requests.Response:
    body = b"".join(b"--B0und\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n" for p in parts) + b"--B0und--"
    headers = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=B0und', **headers}
    return client._session.post(url, data=body, headers=headers, timeout=30)


def _uids(study: dict[str, Any], *tags: str) -> list[str]:
    return [study[tag]["Value"][0] for tag in tags]


def _read_stored(instance: Instance) -> bytes:
    with default_storage.open(instance.file, "rb") as handle:
        return handle.read()


def _stored(instance: Instance) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(_read_stored(instance)))


def test_stow_search_retrieve_round_trip(cast, connect, live_server) -> None:
    # Keep (shifted) dates, so that StudyDate matching has something to match.
    cast.project.deid_retain_dates = True
    cast.project.save(update_fields=["deid_retain_dates"])
    client = connect(cast.annotator)
    stored = client.store_instances(datasets=[pydicom.dcmread(path) for path in ALL_FILES])
    assert len(stored.ReferencedSOPSequence) == 5
    assert len(stored.get("FailedSOPSequence", [])) == 0
    instances = {i.sop_instance_uid: i for i in Instance.objects.select_related("series__study")}
    assert {item.ReferencedSOPInstanceUID for item in stored.ReferencedSOPSequence} == set(instances)
    for item in stored.ReferencedSOPSequence:
        instance = instances[item.ReferencedSOPInstanceUID]
        assert item.ReferencedSOPClassUID == instance.sop_class_uid
        assert item.RetrieveURL.endswith(
            f"/dicomweb/liver/studies/{instance.series.study.study_instance_uid}/series/"
            f"{instance.series.series_instance_uid}/instances/{instance.sop_instance_uid}"
        )
        assert item.WarningReason == 0xB000  # de-identified: UIDs were replaced
    # De-identified UIDs only: nothing served carries the UIDs that were sent.
    sent = {pydicom.dcmread(path).SOPInstanceUID for path in ALL_FILES}
    assert not sent & set(instances)
    job = IngestJob.objects.get(source="stow")
    assert (job.created, job.refused, job.status) == (5, 0, "done")
    # The same instances again: duplicates are success.
    again = client.store_instances(datasets=[pydicom.dcmread(CT_SMALL)])
    assert len(again.ReferencedSOPSequence) == 1 and Instance.objects.count() == 5

    ct3 = Study.objects.get(series__frame_count=3)
    mr = Study.objects.get(modalities=["MR"])

    # --- QIDO-RS: studies
    studies = client.search_for_studies()
    assert len(studies) == 3
    by_uid = {s["0020000D"]["Value"][0]: s for s in studies}
    row = by_uid[ct3.study_instance_uid]
    assert row["0020000D"]["vr"] == "UI"
    assert row["00201206"] == {"vr": "IS", "Value": [1]}
    assert row["00201208"] == {"vr": "IS", "Value": [3]}
    assert row["00080061"] == {"vr": "CS", "Value": ["CT"]}
    assert row["00100020"] == {"vr": "LO", "Value": [ct3.patient_key]}
    assert row["00080020"] == {"vr": "DA", "Value": [ct3.study_date.strftime("%Y%m%d")]}
    assert row["00081190"]["vr"] == "UR" and row["00081190"]["Value"][0].endswith(ct3.study_instance_uid)
    assert [
        s["0020000D"]["Value"][0] for s in client.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})
    ] == [mr.study_instance_uid]
    by_patient = client.search_for_studies(search_filters={"PatientID": ct3.patient_key})
    assert _uids(by_patient[0], "0020000D") == [ct3.study_instance_uid]
    day = ct3.study_date.strftime("%Y%m%d")
    assert len(client.search_for_studies(search_filters={"StudyDate": f"{day}-{day}"})) >= 1
    assert all(
        s["00080020"]["Value"][0] <= day for s in client.search_for_studies(search_filters={"StudyDate": f"-{day}"})
    )
    assert client.search_for_studies(search_filters={"StudyDate": "19000101-19000102"}) == []
    assert client.search_for_studies(search_filters={"StudyInstanceUID": "1.2.3.4"}) == []
    first, second = client.search_for_studies(limit=1), client.search_for_studies(limit=1, offset=1)
    assert len(first) == len(second) == 1 and first != second
    assert len(client.search_for_studies(limit=1, get_remaining=True)) == 3
    studies_url = f"{live_server.url}/dicomweb/liver/studies"
    ignored = client._session.get(studies_url, params={"PatientName": "DOE*"}, timeout=30)
    assert ignored.status_code == 200 and "PatientName" in ignored.headers["Warning"]
    truncated = client._session.get(studies_url, params={"limit": "2"}, timeout=30)
    assert "There are 1 additional results" in truncated.headers["Warning"]
    invalid = client._session.get(studies_url, params={"StudyDate": "2020"}, timeout=30)
    assert (invalid.status_code, invalid.json()["code"]) == (400, "invalid_query")

    # --- QIDO-RS: series and instances
    series = client.search_for_series(study_instance_uid=ct3.study_instance_uid, fields=["BodyPartExamined"])
    assert len(series) == 1
    series_uid = series[0]["0020000E"]["Value"][0]
    assert series[0]["00201209"] == {"vr": "IS", "Value": [3]}
    assert series[0]["00080060"] == {"vr": "CS", "Value": ["CT"]}
    assert series[0]["00200011"]["vr"] == "IS" and "00180015" in series[0]
    assert len(client.search_for_series()) == 3
    only_mr = client.search_for_series(search_filters={"Modality": "MR"})
    assert len(only_mr) == 1 and only_mr[0]["0020000D"]["Value"] == [mr.study_instance_uid]
    assert only_mr[0]["00201208"]["Value"] == [1]  # unscoped: the study's attributes come along
    listed = client.search_for_instances(study_instance_uid=ct3.study_instance_uid, series_instance_uid=series_uid)
    assert len(listed) == 3
    sop = listed[0]["00080018"]["Value"][0]
    assert listed[0]["00080016"]["vr"] == "UI" and listed[0]["00280010"] == {"vr": "US", "Value": [512]}
    assert len(client.search_for_instances(study_instance_uid=ct3.study_instance_uid)) == 3
    assert len(client.search_for_instances()) == 5
    one = client.search_for_instances(search_filters={"SOPInstanceUID": sop}, fields=["all"])
    assert len(one) == 1 and one[0]["0020000E"]["Value"] == [series_uid] and "00280030" in one[0]

    # --- WADO-RS: instances, transcoded to Explicit VR Little Endian by default, or as stored on request
    retrieved = client.retrieve_study(ct3.study_instance_uid)
    assert len(retrieved) == 3
    for dataset in retrieved:
        original = _stored(Instance.objects.get(sop_instance_uid=dataset.SOPInstanceUID))
        assert original.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        assert dataset.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert np.array_equal(dataset.pixel_array, original.pixel_array)
    as_stored = client.retrieve_series(ct3.study_instance_uid, series_uid, media_types=(("application/dicom", "*"),))
    assert [d.file_meta.TransferSyntaxUID for d in as_stored] == [ImplicitVRLittleEndian] * 3
    ct_small = Instance.objects.select_related("series__study").get(rows=128)
    dataset = client.retrieve_instance(
        ct_small.series.study.study_instance_uid, ct_small.series.series_instance_uid, ct_small.sop_instance_uid
    )
    assert dataset.SOPInstanceUID == ct_small.sop_instance_uid
    assert np.array_equal(dataset.pixel_array, _stored(ct_small).pixel_array)
    assert dataset.PatientIdentityRemoved == "YES"

    # --- WADO-RS: metadata, without bulk data
    metadata = client.retrieve_study_metadata(ct3.study_instance_uid)
    assert len(metadata) == 3
    assert all("7FE00010" not in item and item["00080018"]["vr"] == "UI" for item in metadata)
    assert len(client.retrieve_series_metadata(ct3.study_instance_uid, series_uid)) == 3
    single = client.retrieve_instance_metadata(ct3.study_instance_uid, series_uid, sop)
    assert single["00080018"]["Value"] == [sop] and single["00280010"] == {"vr": "US", "Value": [512]}
    assert pydicom.Dataset.from_json(single).SOPInstanceUID == sop

    # --- WADO-RS: frames, native little-endian stored values
    frames = client.retrieve_instance_frames(ct3.study_instance_uid, series_uid, sop, frame_numbers=[1])
    expected = _stored(Instance.objects.get(sop_instance_uid=sop)).pixel_array
    assert frames == [expected.astype(expected.dtype.newbyteorder("<")).tobytes()]

    # --- Every retrieval was audited: the study, and the series for series/instance/frame requests.
    assert AuditEvent.objects.filter(action="study.view", object_id=str(ct3.pk), actor=cast.annotator).exists()
    assert AuditEvent.objects.filter(action="series.view", actor=cast.annotator).count() >= 2
    assert AuditEvent.objects.filter(action="ingest.stow", actor=cast.annotator).count() == 2


def test_multiframe_frames_in_requested_order(cast, connect) -> None:
    client = connect(cast.owner)
    client.store_instances(datasets=[pydicom.dcmread(SM_MULTIFRAME)])
    instance = Instance.objects.select_related("series__study").get()
    assert instance.number_of_frames == 25
    uids = (instance.series.study.study_instance_uid, instance.series.series_instance_uid, instance.sop_instance_uid)
    frames = client.retrieve_instance_frames(*uids, frame_numbers=[5, 2])
    stored = _stored(instance).pixel_array
    assert frames == [stored[4].tobytes(), stored[1].tobytes()]
    with pytest.raises(requests.HTTPError) as missing:
        client.retrieve_instance_frames(*uids, frame_numbers=[26])
    assert missing.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as jpeg:
        client.retrieve_instance_frames(*uids, frame_numbers=[1], media_types=("image/jpeg",))
    assert jpeg.value.response.status_code == 406


def test_stow_failures_and_partial_success(cast, connect, settings, live_server) -> None:
    client = connect(cast.reviewer)
    url = f"{live_server.url}/dicomweb/liver/studies"
    # Only non-DICOM parts: nothing stored, 409 with the failure list.
    refused = _post(client, url, [b"this is not a DICOM file"])
    assert refused.status_code == 409 and refused.headers["Content-Type"] == DICOM_JSON
    failed = pydicom.Dataset.from_json(refused.json()).FailedSOPSequence
    assert [item.FailureReason for item in failed] == [0xC000]
    assert "not_dicom" in refused.headers["Warning"]
    # One good, one bad: 202, both listed.
    mixed = _post(client, url, [CT_SMALL.read_bytes(), b"\x00" * 300])
    assert mixed.status_code == 202
    body = pydicom.Dataset.from_json(mixed.json())
    assert len(body.ReferencedSOPSequence) == 1 and len(body.FailedSOPSequence) == 1
    study_uid = Study.objects.get().study_instance_uid
    assert body.RetrieveURL.endswith(f"/studies/{study_uid}")
    # Same SOP Instance UID, other pixels: a conflict (0111), with the SOP UIDs as sent.
    changed = pydicom.dcmread(CT_SMALL)
    changed.PixelData = bytes(len(changed.PixelData))
    buffer = io.BytesIO()
    changed.save_as(buffer, enforce_file_format=True)
    conflict = _post(client, url, [buffer.getvalue()])
    assert conflict.status_code == 409
    item = pydicom.Dataset.from_json(conflict.json()).FailedSOPSequence[0]
    assert (item.FailureReason, item.ReferencedSOPInstanceUID) == (0x0111, changed.SOPInstanceUID)
    # STOW into a study: parts of another study are refused; the study may be named as sent or de-identified.
    with pytest.raises(requests.HTTPError) as other_study:
        client.store_instances(datasets=[pydicom.dcmread(MR_SMALL)], study_instance_uid=study_uid)
    assert other_study.value.response.status_code == 409
    assert other_study.value.response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC409]
    assert client.store_instances(datasets=[pydicom.dcmread(CT_SMALL)], study_instance_uid=study_uid)
    sent_uid = pydicom.dcmread(CT_SMALL).StudyInstanceUID
    assert client.store_instances(datasets=[pydicom.dcmread(CT_SMALL)], study_instance_uid=sent_uid)
    assert Instance.objects.count() == 1
    # Wrong media type, and a body over the upload cap (refused from Content-Length, before reading).
    wrong = client._session.post(url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=30)
    assert (wrong.status_code, wrong.json()["code"]) == (415, "unsupported_media_type")
    settings.IMAGING_MAX_UPLOAD_BYTES = 1 << 20
    too_big = _post(client, url, [b"x" * (2 << 20)])
    assert (too_big.status_code, too_big.json()["code"]) == (413, "upload_too_large")


def _dicomweb_routes() -> list[str]:
    resolver = next(p for p in get_resolver().url_patterns if str(p.pattern) == "dicomweb/")
    routes = []
    for pattern in resolver.url_patterns:  # type: ignore[union-attr]
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern).replace("<slug:slug>", "liver")
        route = re.sub(r"<framelist:\w+>", "1", route)
        routes.append("/dicomweb/" + re.sub(r"<dicomuid:\w+>", "1.2.3", route))
    return routes


def test_refusals_on_every_route(cast, connect, live_server, make_user) -> None:
    routes = _dicomweb_routes()
    assert len(routes) == 13
    viewer = make_user("viewer")
    ProjectMembership.objects.create(project=cast.project, user=viewer, role=ProjectRole.VIEWER)
    anonymous, outsider = connect(None), connect(cast.outsider)
    for route in routes:
        for method in ("get", "post"):
            for client, expected in ((anonymous, {401}), (outsider, {404})):
                response = getattr(client._session, method)(live_server.url + route, timeout=30)
                if response.status_code == 405:
                    continue
                assert response.status_code in expected, (route, method, response.status_code)
                code = response.json()["code"]
                assert code == ("not_authenticated" if expected == {401} else "project_not_found"), (route, code)
    # Through the client, too: every transaction.
    calls: list[Callable[[DICOMwebClient], object]] = [
        lambda c: c.search_for_studies(),
        lambda c: c.search_for_series(),
        lambda c: c.search_for_series(study_instance_uid="1.2"),
        lambda c: c.search_for_instances(),
        lambda c: c.search_for_instances(study_instance_uid="1.2"),
        lambda c: c.search_for_instances(study_instance_uid="1.2", series_instance_uid="1.3"),
        lambda c: c.retrieve_study("1.2"),
        lambda c: c.retrieve_series("1.2", "1.3"),
        lambda c: c.retrieve_instance("1.2", "1.3", "1.4"),
        lambda c: c.retrieve_study_metadata("1.2"),
        lambda c: c.retrieve_series_metadata("1.2", "1.3"),
        lambda c: c.retrieve_instance_metadata("1.2", "1.3", "1.4"),
        lambda c: c.retrieve_instance_frames("1.2", "1.3", "1.4", frame_numbers=[1]),
        lambda c: c.store_instances(datasets=[pydicom.dcmread(CT_SMALL)]),
        lambda c: c.store_instances(datasets=[pydicom.dcmread(CT_SMALL)], study_instance_uid="1.2"),
    ]
    for call in calls:
        for client, status in ((anonymous, 401), (outsider, 404)):
            with pytest.raises(requests.HTTPError) as refused:
                call(client)
            assert refused.value.response.status_code == status
    # A viewer may search and retrieve, not store.
    reader = connect(viewer)
    assert reader.search_for_studies() == []
    with pytest.raises(requests.HTTPError) as forbidden:
        reader.store_instances(datasets=[pydicom.dcmread(CT_SMALL)])
    assert forbidden.value.response.status_code == 403
    assert forbidden.value.response.json()["code"] == "role_required"
    assert not Instance.objects.exists() and not Series.objects.exists()


@pytest.mark.asyncio
async def test_asgi_streams_files_chunk_by_chunk(cast, async_client) -> None:
    """Under ASGI (daphne) the body is an async iterator: Django would otherwise drain a sync one into a list."""

    def setup() -> tuple[str, Instance]:
        from backend.imaging.services import instance_ingest

        instance_ingest(project=cast.project, user=cast.owner, source=CT_SMALL.read_bytes(), origin="stow")
        _, raw = api_token_create(user=cast.annotator, name="asgi")
        return raw, Instance.objects.select_related("series__study").get()

    raw, instance = await sync_to_async(setup)()
    study = instance.series.study.study_instance_uid
    response = await async_client.get(
        f"/dicomweb/liver/studies/{study}",
        headers={
            "Authorization": f"Token {raw}",
            "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*',
        },
    )
    assert response.status_code == 200 and response.is_async
    body = b"".join([chunk async for chunk in response.streaming_content])
    boundary = re.search(r"boundary=(\w+)", response["Content-Type"]).group(1).encode()
    first, rest = body.split(b"--" + boundary + b"\r\n", 1)[1].split(b"\r\n\r\n", 1)
    assert b"Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1" in first
    content = rest.rsplit(b"\r\n--" + boundary + b"--", 1)[0]
    assert content == await sync_to_async(_read_stored)(instance)
