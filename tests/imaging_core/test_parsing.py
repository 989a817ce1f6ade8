from __future__ import annotations

import io
import json
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.multival import MultiValue
from pydicom.pixels.processing import convert_color_space
from pydicom.pixels.utils import pixel_array
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    RTStructureSetStorage,
)

from backend.imaging.core._values import get_str, get_strs, put_raw
from backend.imaging.core.deid import DeidPolicy, deidentify, patient_key, quarantine_decision
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.geometry import sort_summaries
from backend.imaging.core.parsing import (
    SUPPORTED_TRANSFER_SYNTAXES,
    _check_transfer_syntax,
    _read_body,
    _read_header,
    codestream_size,
    dataset_to_bytes,
    decode_frame,
    decode_frames,
    load_dicom,
    read_dicom,
    summarize,
)

from ._helpers import (
    CT_SMALL,
    DICOM_DIR,
    DX_IMAGE,
    MR_SMALL,
    RTSTRUCT,
    SM_IMAGE,
    all_dicom_files,
    as_encapsulated,
    big_endian_bytes,
    encode_jpeg_lossless,
    load,
    rewrite_file_meta,
    to_bytes,
    totalseg_files,
)

pytestmark = pytest.mark.usefixtures("shared_data")
_POLICY = DeidPolicy(project_secret=b"parsing-test-secret-0123456789")


def _code(excinfo: pytest.ExceptionInfo[ImagingError]) -> str:
    return excinfo.value.code


# --------------------------------------------------------------------------------------------------
# Every shared file


@pytest.mark.parametrize("path", all_dicom_files(), ids=lambda p: f"{p.parent.name}/{p.name}"[-60:])
def test_raw_reads_and_the_fast_writer_match_pydicom(path: Path) -> None:
    """Two shortcuts ingest takes must not change a thing: the getters decode raw values themselves
    (summary, quarantine decision, patient key), and dataset_to_bytes copies raw elements itself."""
    try:
        raw = pydicom.dcmread(path)
        converted = pydicom.dcmread(path)
        for elem in converted.iterall():
            _ = elem.value
    except Exception:  # noqa: BLE001 - files pydicom cannot read are covered by the test below
        return
    for elem in converted:
        if elem.keyword and elem.VR != "SQ":
            assert (get_str(raw, elem.keyword), get_strs(raw, elem.keyword)) == (
                get_str(converted, elem.keyword),
                get_strs(converted, elem.keyword),
            ), elem.keyword
    assert summarize(raw) == summarize(converted)
    assert quarantine_decision(raw) == quarantine_decision(converted)
    assert patient_key(raw) == patient_key(converted)
    for ds in (raw, deidentify(load_dicom(path.read_bytes(), convert_values=False).dataset, policy=_POLICY).dataset):
        expected = io.BytesIO()
        ds.save_as(expected, enforce_file_format=True)
        assert dataset_to_bytes(ds) == expected.getvalue()


def _assert_read_as_dcmread(data: bytes) -> None:
    expected = pydicom.dcmread(io.BytesIO(data))
    fp = io.BytesIO(data)
    preamble, meta = _read_header(fp)
    actual = _read_body(fp, preamble, meta, _check_transfer_syntax(meta))
    assert (actual.preamble, actual.file_meta, actual.original_encoding, actual.original_character_set) == (
        expected.preamble,
        expected.file_meta,
        expected.original_encoding,
        expected.original_character_set,
    )
    assert list(actual.values()) == list(expected.values())  # as read: raw elements, offsets and all
    assert actual == expected  # converted values, sequences included


@pytest.mark.parametrize("path", all_dicom_files(), ids=lambda p: f"{p.parent.name}/{p.name}"[-60:])
def test_reading_on_from_the_checked_header_gives_what_dcmread_gives(path: Path) -> None:
    data = path.read_bytes()
    try:
        pydicom.dcmread(io.BytesIO(data))
        _check_transfer_syntax(_read_header(io.BytesIO(data))[1])
    except Exception:  # noqa: BLE001 - files refused before or by pydicom are covered elsewhere
        return
    _assert_read_as_dcmread(data)


def _variant(kind: str) -> bytes:
    ds = load(CT_SMALL)
    if kind == "big_endian":
        return big_endian_bytes(CT_SMALL)
    if kind == "implicit":
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        return to_bytes(ds)
    if kind == "deflated":
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        return to_bytes(ds)
    data = to_bytes(ds)
    end_of_meta = 132 + 12 + int.from_bytes(data[140:144], "little")
    if kind == "meta_only":
        return data[:end_of_meta]
    # A command set (group 0000, always implicit VR) between file meta and dataset, as careless SCPs save.
    command = b"\x00\x00\x00\x01" + (2).to_bytes(4, "little") + (1).to_bytes(2, "little")  # (0000,0100) = 1
    return data[:end_of_meta] + command + data[end_of_meta:]


@pytest.mark.parametrize("kind", ["big_endian", "implicit", "deflated", "meta_only", "command_set"])
def test_reading_on_from_the_checked_header_handles_every_layout(kind: str) -> None:
    _assert_read_as_dcmread(_variant(kind))


def test_getters_read_deferred_values() -> None:
    deferred, read = pydicom.dcmread(CT_SMALL, defer_size=8), pydicom.dcmread(CT_SMALL)
    assert deferred.get_item(0x00100010, keep_deferred=True).value is None  # PatientName is deferred
    for keyword in ("PatientName", "StudyInstanceUID", "ImagePositionPatient", "Rows"):
        assert (get_str(deferred, keyword), get_strs(deferred, keyword)) == (
            get_str(read, keyword),
            get_strs(read, keyword),
        )


@pytest.mark.parametrize(
    "tag",
    [0x00100010, 0x00091001, 0x7FE00010],
    ids=["public", "private", "pixel-data"],
)
def test_put_raw_stores_as_setitem_does(tag: int) -> None:
    def dataset() -> Dataset:
        ds = load(CT_SMALL)
        ds.private_block(0x0009, "ACME", create=True)
        ds.pixel_array  # noqa: B018 - fills the pixel cache that setting pixel data must reset
        return ds

    raw = RawDataElement(Tag(tag), "OB" if tag == 0x7FE00010 else "LO", 4, b"ABCD", 0, False, True)
    expected, actual = dataset(), dataset()
    expected[tag] = raw
    put_raw(actual, raw)
    assert actual.get_item(tag) == expected.get_item(tag)
    assert (actual._pixel_array is None, not actual._pixel_id) == (
        expected._pixel_array is None,
        not expected._pixel_id,
    )
    assert actual == expected


@pytest.mark.parametrize(
    ("charset", "value"),
    [
        ("", b"DOE^JOHN  "),
        ("", b"A\\B \\ C\x00"),
        ("", b""),
        ("ISO_IR 100", "M\xfcller^J\xf6rg".encode("latin-1")),
        ("ISO_IR 192", "\u5c71\u7530^\u592a\u90ce".encode()),
        (["", "ISO 2022 IR 87"], b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"),
    ],
    ids=["ascii", "multi", "empty", "latin1", "utf8", "iso2022"],
)
@pytest.mark.parametrize("vr", ["PN", "LO", "SH"])
def test_text_getters_decode_raw_values_like_pydicom(charset: str | list[str], value: bytes, vr: str) -> None:
    """The getters decode plain ASCII text themselves; anything else must still go through the character
    set, as pydicom's conversion does."""

    def dataset() -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = charset
        ds.set_original_encoding(False, True, convert_encodings(charset))
        ds[0x00100010] = RawDataElement(Tag(0x00100010), vr, len(value), value, 0, False, True)
        return ds

    converted, raw = dataset(), dataset()
    expected = converted[0x00100010].value  # converted in place by pydicom
    values = expected if isinstance(expected, MultiValue) else [expected]
    texts = [str(v).strip().strip("\x00").strip() for v in values]
    assert get_strs(raw, "PatientName") == tuple(t for t in texts if t)
    assert get_str(raw, "PatientName") == get_str(converted, "PatientName")
    assert isinstance(raw.get_item(0x00100010), RawDataElement)  # read for the getter, not converted in place


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"FileMetaInformationGroupLength": 7},  # a wrong stored length is recomputed
        {"FileMetaInformationVersion": b""},  # empty: pydicom fills in 00\01
        {"ImplementationClassUID": None, "ImplementationVersionName": None},
        {"ImplementationVersionName": "ODD"},
        {"SourceApplicationEntityTitle": "SCANNER1", "SendingApplicationEntityTitle": "ABC"},
        {"PrivateInformationCreatorUID": "1.2.3", "PrivateInformation": b"\x01\x02\x03"},
        {"MediaStorageSOPInstanceUID": "1.2.3.4"},  # the dataset's own UID wins, as in save_as
    ],
    ids=lambda change: ",".join(change) or "as-read",
)
def test_the_fast_writer_writes_file_meta_as_pydicom_does(change: dict[str, object]) -> None:
    def variant() -> Dataset:
        ds = pydicom.dcmread(io.BytesIO(CT_SMALL.read_bytes()))
        for keyword, value in change.items():
            if value is None:
                del ds.file_meta[keyword]
            else:
                setattr(ds.file_meta, keyword, value)
        return ds

    expected = io.BytesIO()
    variant().save_as(expected, enforce_file_format=True)
    ours = variant()
    before = [(elem.tag, elem.VR, elem.value) for elem in ours.file_meta]
    assert dataset_to_bytes(ours) == expected.getvalue()
    assert [(elem.tag, elem.VR, elem.value) for elem in ours.file_meta] == before  # the caller's meta untouched


@pytest.mark.parametrize("path", all_dicom_files(), ids=lambda p: f"{p.parent.name}/{p.name}"[-60:])
def test_every_shared_dicom_file_parses_or_is_refused_with_the_right_code(path: Path) -> None:
    data = path.read_bytes()
    if path == RTSTRUCT:
        # A raw dataset without preamble/"DICM"/file meta: refused, see the parsing module docstring.
        with pytest.raises(ImagingError) as excinfo:
            read_dicom(data)
        assert _code(excinfo) == "not_dicom"
        assert excinfo.value.extra["reason"] == "missing_part10_header"
        return
    parsed = read_dicom(data)
    summary = parsed.summary
    assert summary.sop_instance_uid and summary.study_instance_uid and summary.series_instance_uid
    assert summary.sop_class_uid
    json.dumps(summary.to_dict())  # the index stores it as JSON
    if summary.has_pixel_data:
        frame = decode_frame(parsed.dataset, summary.number_of_frames - 1)
        assert frame.pixels.shape[:2] == (summary.rows, summary.columns)


def test_totalsegmentator_series_decodes_sorts_and_gets_consistent_uids() -> None:
    files = totalseg_files()
    assert len(files) == 20
    parsed = [read_dicom(p.read_bytes(), uid_context="batch-1") for p in files]
    for p, path in zip(parsed, files, strict=True):
        # The datasets carry empty UIDs; the SOP Instance UID comes from the file meta (and the file name).
        assert p.summary.sop_instance_uid in path.name
        assert "sop_instance_uid_from_file_meta" in p.repairs
        assert "study_instance_uid_derived" in p.repairs
        assert p.summary.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert len({p.summary.study_instance_uid for p in parsed}) == 1
    assert len({p.summary.series_instance_uid for p in parsed}) == 1
    other = read_dicom(files[0].read_bytes(), uid_context="batch-2")
    assert other.summary.study_instance_uid != parsed[0].summary.study_instance_uid

    for p in parsed:
        frame = decode_frame(p.dataset)
        hu = frame.pixels
        assert hu.dtype == np.int16  # slope 1, intercept -1024, 12 bits stored: exact in int16
        assert int(hu.min()) >= -1100 and int(hu.max()) <= 3100
        assert -1100 <= float(np.median(hu)) <= 200  # air around an abdomen, soft tissue inside
    ordered = sort_summaries([p.summary for p in parsed])
    z = [s.position[2] for s in ordered.slices if s.position is not None]
    assert z == sorted(z) and len(z) == 20
    assert ordered.spacing == pytest.approx(2.0)
    assert ordered.spacing_consistent


def test_window_presets_and_explanations_are_read() -> None:
    summary = read_dicom(totalseg_files()[0].read_bytes()).summary
    assert [(w.center, w.width, w.explanation) for w in summary.window_presets] == [
        (40.0, 300.0, "WINDOW1"),
        (300.0, 1500.0, "WINDOW2"),
    ]


# --------------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, b"\x00" * 132])
def test_non_dicom_is_refused(data: bytes) -> None:
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(data)
    assert _code(excinfo) == "not_dicom"


def test_truncated_file_is_malformed() -> None:
    data = CT_SMALL.read_bytes()
    for cut in (len(data) - 1, len(data) - 5000, 1000, 600):
        with pytest.raises(ImagingError) as excinfo:
            read_dicom(data[:cut])
        assert _code(excinfo) == "malformed_dicom", cut


def test_truncated_encapsulated_file_is_malformed() -> None:
    data = totalseg_files()[0].read_bytes()
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(data[: len(data) - 100])
    assert _code(excinfo) == "malformed_dicom"
    assert excinfo.value.extra["reason"] == "missing_pixel_data"


def test_wrong_element_length_is_malformed() -> None:
    data = bytearray(CT_SMALL.read_bytes())
    # Patient's Name (0010,0010) explicit VR LE: tag, "PN", 2-byte length. Claim far more than is there.
    at = bytes(data).index(b"\x10\x00\x10\x00PN")
    data[at + 6 : at + 8] = (0xFFF0).to_bytes(2, "little")
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(bytes(data))
    assert _code(excinfo) == "malformed_dicom"


def test_short_uncompressed_pixel_data_is_malformed() -> None:
    ds = load(CT_SMALL)
    ds.PixelData = ds.PixelData[:1000]
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(to_bytes(ds))
    assert _code(excinfo) == "malformed_dicom"
    assert excinfo.value.extra["reason"] == "short_pixel_data"


@pytest.mark.parametrize("uid", ["1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.94", "1.2.3.4.5"])
def test_unsupported_transfer_syntax_is_refused(uid: str) -> None:
    data = rewrite_file_meta(CT_SMALL.read_bytes(), TransferSyntaxUID=uid)
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(data)
    assert _code(excinfo) == "unsupported_transfer_syntax"
    assert excinfo.value.extra["transfer_syntax_uid"] == uid


@pytest.mark.parametrize("magic", [b"MZ\x90\x00", b"\x7fELF\x02\x01"])
def test_executable_preamble_is_zeroed_and_flagged(magic: bytes) -> None:
    data = bytearray(CT_SMALL.read_bytes())
    data[: len(magic)] = magic
    parsed = read_dicom(bytes(data))
    assert parsed.executable_preamble
    assert parsed.dataset.preamble == b"\x00" * 128
    assert read_dicom(CT_SMALL.read_bytes()).executable_preamble is False  # a TIFF header is not an executable


def test_pixel_size_cap_is_checked_before_decoding() -> None:
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(CT_SMALL.read_bytes(), max_pixel_bytes=128 * 128 * 2 - 1)
    assert _code(excinfo) == "pixel_data_too_large"
    # A tiny compressed frame that claims 60000 x 60000 x 500 frames: refused from the header alone.
    ds = load(totalseg_files()[0])
    ds.Rows = ds.Columns = 60000
    ds.NumberOfFrames = 500
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(to_bytes(ds))
    assert _code(excinfo) == "pixel_data_too_large"
    assert excinfo.value.extra["decoded_bytes"] == 60000 * 60000 * 500 * 2
    with pytest.raises(ImagingError) as excinfo:
        decode_frame(ds)
    assert _code(excinfo) == "pixel_data_too_large"


def test_deflate_bomb_is_refused_before_pydicom_inflates_it() -> None:
    ds = load(CT_SMALL)
    ds.EncapsulatedDocument = b"\x00" * (8 << 20)  # 8 MiB of zeros deflates to a few KB
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    data = to_bytes(ds)
    assert len(data) < 200_000
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(data, max_pixel_bytes=1 << 20, max_dataset_bytes=4 << 20)
    assert _code(excinfo) == "dataset_too_large"


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("Rows", 0),
        ("BitsAllocated", 12),
        ("SamplesPerPixel", 4),
        ("PhotometricInterpretation", "CMYK"),
        ("NumberOfFrames", "-3"),
    ],
)
def test_bad_image_pixel_attributes_are_malformed(keyword: str, value: object) -> None:
    ds = load(CT_SMALL)
    setattr(ds, keyword, value)
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(to_bytes(ds))
    assert _code(excinfo) == "malformed_dicom"


def test_image_without_pixel_data_is_malformed_but_non_images_are_fine() -> None:
    ds = load(CT_SMALL)
    del ds.PixelData
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(to_bytes(ds))
    assert excinfo.value.extra["reason"] == "missing_pixel_data"


def test_invalid_uid_is_malformed() -> None:
    ds = load(CT_SMALL)
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):
        ds.StudyInstanceUID = "1.2.abc.4"
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(to_bytes(ds))
    assert excinfo.value.extra["reason"] == "invalid_uid"


def test_missing_uids_everywhere_are_derived_from_the_content() -> None:
    ds = load(CT_SMALL)
    ds.SOPInstanceUID = ""
    data = rewrite_file_meta(to_bytes(ds), MediaStorageSOPInstanceUID="")
    first, second = read_dicom(data), read_dicom(data)
    assert "sop_instance_uid_derived" in first.repairs
    assert first.summary.sop_instance_uid == second.summary.sop_instance_uid
    assert first.summary.sop_instance_uid.startswith("2.25.")


def test_reads_from_a_file_object() -> None:
    with CT_SMALL.open("rb") as fp:
        assert read_dicom(fp).summary.modality == "CT"


# --------------------------------------------------------------------------------------------------
# Transfer syntaxes and photometric interpretations


def _reference(path: Path = CT_SMALL) -> np.ndarray:
    return decode_frame(read_dicom(path.read_bytes()).dataset).pixels


def test_big_endian_and_implicit_and_deflated_decode_identically() -> None:
    reference = _reference()
    ds = load(CT_SMALL)
    variants = [big_endian_bytes(CT_SMALL)]
    deflated = ds.copy()
    deflated.file_meta = ds.file_meta.copy()
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    variants.append(to_bytes(deflated))
    for data in variants:
        assert np.array_equal(decode_frame(read_dicom(data).dataset).pixels, reference)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless])
def test_lossless_codecs_round_trip(syntax: str) -> None:
    reference = _reference(MR_SMALL)
    ds = load(MR_SMALL)
    ds.compress(syntax)
    parsed = read_dicom(to_bytes(ds))
    assert parsed.transfer_syntax_uid == syntax
    assert np.array_equal(decode_frame(parsed.dataset).pixels, reference)


@pytest.mark.parametrize("syntax", [JPEGLossless, JPEGLosslessSV1])
def test_jpeg_lossless_process_14_decodes(syntax: str) -> None:
    ds = load(CT_SMALL)
    stored = pixel_array(ds, raw=True)
    frame = encode_jpeg_lossless(stored.view(np.uint16), precision=16)
    parsed = read_dicom(to_bytes(as_encapsulated(ds, [frame], syntax)))
    assert np.array_equal(decode_frame(parsed.dataset).pixels, _reference())


def test_jpeg_baseline_grayscale_and_ybr_full_422_color() -> None:
    ds = load(SM_IMAGE)
    rgb = pixel_array(ds, index=0)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=95, subsampling=1)  # 4:2:2
    color = as_encapsulated(ds, [buffer.getvalue()] * int(ds.NumberOfFrames), JPEGBaseline8Bit)
    color.PhotometricInterpretation = "YBR_FULL_422"
    frame = decode_frame(read_dicom(to_bytes(color)).dataset, 3)
    assert frame.photometric_interpretation == "RGB"
    assert frame.pixels.shape == rgb.shape
    assert np.abs(frame.pixels.astype(int) - rgb.astype(int)).mean() < 12

    gray_ds = load(DX_IMAGE)
    gray = pixel_array(gray_ds)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", quality=95)
    gray_jpeg = as_encapsulated(gray_ds, [buffer.getvalue()], JPEGBaseline8Bit)
    out = decode_frame(read_dicom(to_bytes(gray_jpeg)).dataset)
    assert out.pixels.shape == gray.shape
    assert np.abs(out.pixels.astype(int) - gray.astype(int)).mean() < 4


def test_uncompressed_ybr_full_is_converted_to_rgb() -> None:
    ds = load(SM_IMAGE)
    rgb = pixel_array(ds)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds.PixelData = ybr.astype(np.uint8).tobytes()
    ds.PhotometricInterpretation = "YBR_FULL"
    frames = decode_frames(read_dicom(to_bytes(ds)).dataset)
    assert frames.shape == rgb.shape
    assert np.abs(frames.astype(int) - rgb.astype(int)).max() <= 2


def test_monochrome1_is_reported_not_inverted() -> None:
    parsed = read_dicom(DX_IMAGE.read_bytes())
    assert parsed.summary.invert_for_display
    frame = decode_frame(parsed.dataset)
    assert frame.invert_for_display and frame.photometric_interpretation == "MONOCHROME1"
    assert np.array_equal(frame.pixels, pixel_array(parsed.dataset))


def test_multiframe_decodes_every_frame() -> None:
    parsed = read_dicom(SM_IMAGE.read_bytes())
    frames = decode_frames(parsed.dataset)
    assert frames.shape == (25, 10, 10, 3)
    with pytest.raises(ImagingError) as excinfo:
        decode_frame(parsed.dataset, 25)
    assert _code(excinfo) == "frame_out_of_range"


def test_rescale_dtype_is_exact_integer_or_float32() -> None:
    ds = load(CT_SMALL)
    raw = pixel_array(ds).astype(np.float64)
    exact = decode_frame(ds)
    assert exact.pixels.dtype.kind == "i"
    assert np.array_equal(exact.pixels, raw * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    ds.RescaleSlope = "0.5"
    ds.RescaleIntercept = "-10.25"
    fractional = decode_frame(ds)
    assert fractional.pixels.dtype == np.float32
    assert np.allclose(fractional.pixels, raw * 0.5 - 10.25)


def test_no_pixel_data_decode_is_refused() -> None:
    ds = Dataset()
    ds.file_meta = load(CT_SMALL).file_meta
    ds.SOPClassUID = RTStructureSetStorage
    with pytest.raises(ImagingError) as excinfo:
        decode_frame(ds)
    assert _code(excinfo) == "no_pixel_data"


def test_supported_syntaxes_match_the_brief() -> None:
    for uid in (
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
        JPEGBaseline8Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEG2000Lossless,
        RLELossless,
    ):
        assert uid in SUPPORTED_TRANSFER_SYNTAXES


def test_summarize_tolerates_garbage_values() -> None:
    ds = load(CT_SMALL)
    for tag, value in ((0x00180050, b"abc "), (0x00200032, b"1\\2 "), (0x00281050, b"40\\x ")):
        ds._dict[Tag(tag)] = RawDataElement(Tag(tag), "DS", len(value), value, 0, False, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarize(ds)
    assert summary.slice_thickness is None and summary.image_position_patient is None
    assert summary.window_presets == ()


def test_deflated_data_inflate_check_handles_corrupt_stream() -> None:
    ds = load(CT_SMALL)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    data = bytearray(to_bytes(ds))
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    data[meta_end + 10 : meta_end + 400] = zlib.compress(b"x")[:2] * 195
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(bytes(data))
    assert _code(excinfo) == "malformed_dicom"


def test_dcmread_compatibility() -> None:
    # What read_dicom accepts, pydicom itself reads back unchanged.
    parsed = read_dicom(CT_SMALL.read_bytes())
    again = pydicom.dcmread(io.BytesIO(to_bytes(parsed.dataset)))
    assert again.SOPInstanceUID == parsed.summary.sop_instance_uid


def test_a_panicking_rust_decoder_is_a_decode_failure(capfd: pytest.CaptureFixture[str]) -> None:
    """Found by fuzz_parser: pylibjpeg-rle panics on misaligned segments (pyo3 PanicException is a
    BaseException, so a plain `except Exception` let it through)."""
    ds = load(MR_SMALL)
    ds.compress(RLELossless)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    broken = frame[:300] + frame[509:]
    ds.PixelData = encapsulate([broken + b"\x00" * (len(broken) % 2)])
    with pytest.raises(ImagingError) as excinfo:
        decode_frame(ds)
    assert _code(excinfo) == "pixel_decode_failed"
    capfd.readouterr()  # the panic message Rust printed


def test_codestream_size_must_match_rows_and_columns() -> None:
    ds = load(MR_SMALL)
    ds.compress(JPEG2000Lossless)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert codestream_size(frame) == (64, 64)
    ds.Rows = 32
    with pytest.raises(ImagingError) as excinfo:
        decode_frame(ds)
    assert excinfo.value.extra["reason"] == "codestream_size_mismatch"
    jpeg = io.BytesIO()
    Image.new("L", (30, 20)).save(jpeg, format="JPEG")
    assert codestream_size(jpeg.getvalue()) == (30, 20)
    assert codestream_size(encode_jpeg_lossless(np.zeros((5, 7), np.uint16), 16)) == (7, 5)
    assert codestream_size(b"not a codestream") is None


def test_one_bit_segmentations_count_unpacked() -> None:
    path = DICOM_DIR / "dcmqi_ct3slice" / "liver.dcm"  # 3 frames of 512 x 512, 1 bit
    assert read_dicom(path.read_bytes(), max_pixel_bytes=3 * 512 * 512).summary.number_of_frames == 3
    with pytest.raises(ImagingError) as excinfo:
        read_dicom(path.read_bytes(), max_pixel_bytes=3 * 512 * 512 - 1)
    assert _code(excinfo) == "pixel_data_too_large"
