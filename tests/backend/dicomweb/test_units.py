"""DICOMweb building blocks without a server: the multipart reader, Accept handling, query parsing, transcoding."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.http import QueryDict
from pydicom.data import get_testdata_file

from backend.common.errors import ApplicationError
from backend.imaging import dicomweb
from backend.imaging.core.errors import ImagingError
from tests.conftest import SHARED_DATA

CT_3SLICE = SHARED_DATA / "dicom" / "dcmqi_ct3slice" / "ct-3slice" / "01.dcm"


class _Trickle(io.BytesIO):
    """A stream that hands out a few bytes per read, so boundaries straddle reads."""

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(7)


def _read(body: bytes, boundary: str = "XyZ", **limits: int) -> list[tuple[dict[str, str], bytes, bool, bool]]:
    reader = dicomweb.MultipartReader(
        _Trickle(body),
        boundary,
        max_bytes=limits.get("max_bytes", 1 << 20),
        max_part_bytes=limits.get("max_part_bytes", 1 << 20),
    )
    parts = []
    for part in reader.parts():
        with part.body:
            parts.append((part.headers, part.body.read(), part.complete, part.too_large))
    return parts


def test_multipart_reader_parts_preamble_and_straddled_boundaries() -> None:
    body = (
        b"preamble to ignore\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--XyZ-not-a-boundary\r\n"
        b"--XyZ  \r\n\r\nsecond, no headers\r\n--XyZ--\r\nepilogue"
    )
    parts = _read(body)
    assert [(h, b) for h, b, _, _ in parts] == [
        ({"content-type": "application/dicom"}, b"first\r\n--XyZ-not-a-boundary"),
        ({}, b"second, no headers"),
    ]
    assert all(complete and not too_large for _, _, complete, too_large in parts)
    # dicomweb-client's framing: a CRLF before the first boundary.
    assert _read(b"\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--XyZ--")[0][1] == b"abc"


def test_multipart_reader_truncation_caps_and_garbage() -> None:
    _headers, content, complete, _ = _read(b"--XyZ\r\n\r\nno closing boundary")[0]
    assert (content, complete) == (b"no closing boundary", False)
    assert _read(b"--XyZ\r\n\r\n" + b"x" * 100 + b"\r\n--XyZ--", max_part_bytes=10)[0][3] is True
    with pytest.raises(ImagingError) as too_big:
        _read(b"--XyZ\r\n\r\n" + b"x" * 100 + b"\r\n--XyZ--", max_bytes=50)
    assert too_big.value.code == "upload_too_large"
    for garbage in (b"", b"no boundary at all", b"--XyZ\r\nheader without colon\r\n\r\nx\r\n--XyZ--"):
        with pytest.raises(ApplicationError) as bad:
            _read(garbage)
        assert bad.value.code == "multipart_malformed"


def test_stow_content_type() -> None:
    assert dicomweb.stow_content_type('multipart/related; type="application/dicom"; boundary="a b"') == "a b"
    for refused, status in (
        ("application/dicom", 415),
        ('multipart/related; type="application/dicom+json"; boundary=x', 415),
        ('multipart/related; type="application/dicom"', 400),
    ):
        with pytest.raises(ApplicationError) as error:
            dicomweb.stow_content_type(refused)
        assert error.value.status_code == status


def test_accept_headers() -> None:
    accepted = dicomweb.dicom_syntaxes_accepted
    assert accepted("") == [dicomweb.EXPLICIT_LE]
    assert accepted('multipart/related; type="application/dicom"') == [dicomweb.EXPLICIT_LE]
    assert accepted('multipart/related; type="application/dicom"; transfer-syntax=*') == ["*"]
    assert accepted(
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50; q=0.5, '
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'
    ) == ["1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50"]
    with pytest.raises(ApplicationError) as error:
        accepted("application/dicom+json")
    assert error.value.status_code == 406
    dicomweb._check_frames_accepted('multipart/related; type="*/*"')
    dicomweb._check_frames_accepted('multipart/related; type="application/octet-stream"; transfer-syntax=*')
    with pytest.raises(ApplicationError):
        dicomweb._check_frames_accepted('multipart/related; type="image/jpeg"')
    with pytest.raises(ApplicationError):
        dicomweb._check_json_accepted("application/dicom+xml")


def _query(text: str, level: str = "study") -> dicomweb.QidoQuery:
    return dicomweb.qido_query_parse(params=QueryDict(text), level=level)


def test_query_parsing() -> None:
    query = _query("StudyDate=20200101-20200131&0020000D=1.2,1.3&limit=10&offset=5&includefield=all")
    assert (query.limit, query.offset, query.include_all) == (10, 5, True)
    text = str(query.q)
    assert "study_date__gte" in text and "study_date__lte" in text and "'1.2', '1.3'" in text
    assert "study_date', datetime.date(2020, 1, 1)" in str(_query("StudyDate=20200101").q)
    assert "study_date__lte" in str(_query("StudyDate=-20200101").q)
    assert "regex" in str(_query("PatientID=AB*").q)
    assert _query("limit=999999").limit == dicomweb.MAX_RESULTS
    # Relational keys reach up; keys of a deeper level are ignored with a warning.
    assert "study__modalities__contains" in str(_query("ModalitiesInStudy=CT", "series").q)
    assert _query("SOPInstanceUID=1.2", "series").ignored == ["SOPInstanceUID"]
    assert _query("PatientName=DOE*").ignored == ["PatientName"]
    assert _query("includefield=00081030,Modality").include == {"00081030", "00080060"}
    for bad in ("StudyDate=2020", "StudyDate=20201340", "limit=-1", "NotAnAttribute=1", "includefield=Nope"):
        with pytest.raises(ApplicationError) as error:
            _query(bad)
        assert error.value.code == "invalid_query", bad


@pytest.mark.parametrize(
    "path",
    [CT_3SLICE, Path(get_testdata_file("MR_small_bigendian.dcm")), Path(get_testdata_file("JPEG2000.dcm"))],
    ids=["implicit", "big-endian", "jpeg2000"],
)
def test_transcode_to_explicit_little_endian_keeps_uids_and_pixels(path: Path) -> None:
    original = pydicom.dcmread(path)
    out = pydicom.dcmread(io.BytesIO(dicomweb.transcode_explicit_le(io.BytesIO(path.read_bytes()))))
    assert out.file_meta.TransferSyntaxUID == dicomweb.EXPLICIT_LE
    assert out.SOPInstanceUID == original.SOPInstanceUID
    assert np.array_equal(out.pixel_array, original.pixel_array)
    assert out.Rows == original.Rows and out.get("PatientName") == original.get("PatientName")
