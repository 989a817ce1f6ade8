from __future__ import annotations

import io
from datetime import date, datetime

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from backend.imaging.core.deid import (
    DeidPolicy,
    canonical_vendor,
    deidentify,
    is_known_window_phrase,
    known_code_meaning,
    profile_table,
    quarantine_decision,
)
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.parsing import dataset_to_bytes, load_dicom, read_dicom

from ._helpers import CT2_DIR, CT_SMALL, DICOM_DIR, SM_IMAGE, load, totalseg_files

pytestmark = pytest.mark.usefixtures("shared_data")

SECRET_A = b"project-a-secret-0123456789abcdef"
SECRET_B = b"project-b-secret-0123456789abcdef"
POLICY = DeidPolicy(project_secret=SECRET_A)


def _day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _deid(ds: Dataset, policy: DeidPolicy = POLICY) -> Dataset:
    out = deidentify(ds, policy=policy).dataset
    return pydicom.dcmread(io.BytesIO(dataset_to_bytes(out)))


def test_the_annex_e_table_comes_from_dicom_anonymizer() -> None:
    table = profile_table()
    assert table.source.startswith("dicom-anonymizer dicomfields_")
    assert len(table.exact) > 500
    assert table.action(0x00100010) == "Z"  # Patient's Name
    assert table.action(0x0020000D) == "U"  # Study Instance UID
    assert table.action(0x60043000) == "X"  # Overlay Data in a repeating group


def test_basic_profile_with_both_options() -> None:
    source = load(CT_SMALL)
    original_bytes = dataset_to_bytes(source)
    out = _deid(source)
    assert dataset_to_bytes(source) == original_bytes  # the input is not modified
    assert out.PatientIdentityRemoved == "YES"
    assert out.PatientID == out.PatientName == deidentify(source, policy=POLICY).patient_pseudonym
    assert str(out.PatientID).startswith("RR")
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert not any(elem.tag.is_private for elem in out.iterall())
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert out[keyword].value != source[keyword].value
        assert str(out[keyword].value).startswith("2.25.")
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SOPClassUID == source.SOPClassUID  # registered UIDs are kept
    assert out.PixelData == source.PixelData
    assert out.preamble == b"\x00" * 128
    shift = _day(source.StudyDate) - _day(out.StudyDate)
    assert 365 <= shift.days <= 3653
    # Retained patient characteristics, validated.
    assert out.PatientSex == source.PatientSex
    assert "InstitutionName" not in out or out.InstitutionName == ""


def test_date_time_pairs_keep_their_intervals() -> None:
    source = load(CT_SMALL)
    source.StudyDate, source.StudyTime = "20200101", "235959"
    source.SeriesDate, source.SeriesTime = "20200102", "000010.5"
    out = _deid(source)

    def when(d: str, t: str) -> datetime:
        return datetime.strptime(d + t.split(".", maxsplit=1)[0] + "+0000", "%Y%m%d%H%M%S%z")

    before = when(source.SeriesDate, source.SeriesTime) - when(source.StudyDate, source.StudyTime)
    after = when(out.SeriesDate, out.SeriesTime) - when(out.StudyDate, out.StudyTime)
    assert before == after
    assert str(out.SeriesTime).endswith(".5")  # precision is kept


def test_without_options_dates_and_characteristics_go() -> None:
    source = load(CT_SMALL)
    out = _deid(
        source,
        DeidPolicy(
            project_secret=SECRET_A, retain_longitudinal_modified_dates=False, retain_patient_characteristics=False
        ),
    )
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100"]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert out.get("StudyDate", "") == ""
    assert "AcquisitionDate" not in out or out.AcquisitionDate == ""
    assert out.get("PatientSex", "") == ""


def test_uids_are_consistent_within_a_project_and_differ_across_projects() -> None:
    files = sorted(CT2_DIR.iterdir())[:2]
    a1, a2 = (_deid(load(p)) for p in files)
    b1 = _deid(load(files[0]), DeidPolicy(project_secret=SECRET_B))
    assert a1.StudyInstanceUID == a2.StudyInstanceUID
    assert a1.SeriesInstanceUID == a2.SeriesInstanceUID
    assert a1.FrameOfReferenceUID == a2.FrameOfReferenceUID
    assert a1.SOPInstanceUID != a2.SOPInstanceUID
    assert a1.PatientID == a2.PatientID
    assert b1.StudyInstanceUID != a1.StudyInstanceUID
    assert b1.PatientID != a1.PatientID


def test_references_between_files_stay_intact() -> None:
    """The SEG over ct-3slice references the CT instances; after de-id it references the new CT UIDs."""
    ct_dir = DICOM_DIR / "dcmqi_ct3slice" / "ct-3slice"
    cts = [_deid(load(p)) for p in sorted(ct_dir.glob("*.dcm"))]
    seg = _deid(load(DICOM_DIR / "dcmqi_ct3slice" / "liver.dcm"))
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {ct.SOPInstanceUID for ct in cts}
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == cts[0].SeriesInstanceUID
    assert seg.StudyInstanceUID == cts[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
    segment = seg.SegmentSequence[0]
    assert segment.SegmentLabel == known_code_meaning("SRT", "T-62000")
    assert segment.SegmentAlgorithmName == "REDACTED"
    assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "T-62000"
    assert seg.ContentDescription == ""
    # The SEG still reads as a segmentation.
    assert read_dicom(dataset_to_bytes(seg)).summary.number_of_frames == 3


def test_unknown_codes_are_redacted_not_copied() -> None:
    source = read_dicom(totalseg_files()[0].read_bytes()).dataset  # read_dicom fills in the empty UIDs
    out = _deid(source)
    item = out.ProcedureCodeSequence[0]
    assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == ("REDACTED", "99RRDEID", "Redacted code")
    phantom = out.CTDIPhantomTypeCodeSequence[0]
    assert (phantom.CodeValue, phantom.CodeMeaning) == ("113691", "IEC Body Dosimetry Phantom")
    assert "InstitutionAddress" not in out
    assert out.Manufacturer == "SIEMENS"
    assert list(out.WindowCenterWidthExplanation) == ["WINDOW1", "WINDOW2"]
    assert out.RescaleType == "HU"


def test_overlays_curves_and_unknown_binaries_are_removed() -> None:
    source = load(CT_SMALL)
    source.add_new(0x60000010, "US", 128)
    source.add_new(0x60003000, "OW", b"\x00\x01" * 64)
    source.add_new(0x50000005, "US", 2)
    source.EncapsulatedDocument = b"%PDF-1.4 Jane Doe"
    source.ICCProfile = b"icc with a description"
    out = _deid(source)
    assert not any(elem.tag.group in (0x6000, 0x5000) for elem in out)
    assert "EncapsulatedDocument" not in out and "ICCProfile" not in out


def test_vendor_and_window_vocabularies() -> None:
    assert canonical_vendor("SIEMENS Healthineers - Dr. Smith's clinic") == "SIEMENS"
    assert canonical_vendor("GE MEDICAL SYSTEMS") == "GE MEDICAL SYSTEMS"
    assert canonical_vendor("TOSHIBA_MEC") == "TOSHIBA"
    assert canonical_vendor("Jane Doe Imaging") is None
    assert is_known_window_phrase("WINDOW1") and is_known_window_phrase("Soft Tissue") and is_known_window_phrase("")
    assert is_known_window_phrase("lung window 2")
    assert not is_known_window_phrase("DR SMITH") and not is_known_window_phrase("CT1CT1CT")


def test_nested_sequences_are_cleaned() -> None:
    source = load(CT_SMALL)
    inner = Dataset()
    inner.PatientName = "Doe^Jane"
    inner.ReferencedSOPInstanceUID = "1.2.3.4.5"
    inner.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    inner.StudyComments = "call Jane at 555"
    outer = Dataset()
    outer.ReferencedImageSequence = Sequence([inner])
    source.SourceImageSequence = Sequence([outer])
    out = _deid(source)
    got = out.SourceImageSequence[0].ReferencedImageSequence[0]
    assert got.get("PatientName", "") == "" and "StudyComments" not in got
    assert got.ReferencedSOPInstanceUID.startswith("2.25.")
    assert got.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_unparseable_dates_are_removed_and_birth_date_never_retained() -> None:
    source = load(CT_SMALL)
    source.PatientBirthDate = "19500101"
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        source.AcquisitionDate = "not a date"
    out = _deid(source)
    assert out.get("PatientBirthDate", "") == ""
    assert "AcquisitionDate" not in out


def test_missing_transfer_syntax_fails_closed() -> None:
    source = load(CT_SMALL)
    del source.file_meta.TransferSyntaxUID
    with pytest.raises(ImagingError) as excinfo:
        deidentify(source, policy=POLICY)
    assert excinfo.value.code == "deid_failed"


def test_policy_needs_a_real_secret() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        DeidPolicy(project_secret=b"short")


def test_deid_of_every_parsable_shared_file_rereads(shared_data: object) -> None:
    from ._helpers import all_dicom_files

    for path in all_dicom_files():
        try:
            parsed = read_dicom(path.read_bytes())
        except ImagingError:
            continue
        out = deidentify(parsed.dataset, policy=POLICY).dataset
        again = read_dicom(dataset_to_bytes(out))
        assert again.summary.sop_instance_uid == out.SOPInstanceUID


@pytest.mark.parametrize("options", [(True, True), (False, False)])
def test_deferred_path_writes_the_same_bytes_as_the_converting_path(options: tuple[bool, bool]) -> None:
    """Ingest de-identifies raw elements (load_dicom(convert_values=False)); for every shared file it must
    refuse what the converting path refuses and write exactly what it writes."""
    from ._helpers import all_dicom_files

    policy = DeidPolicy(
        project_secret=SECRET_A,
        retain_longitudinal_modified_dates=options[0],
        retain_patient_characteristics=options[1],
    )
    compared = 0
    for path in all_dicom_files():
        data = path.read_bytes()
        outcomes = []
        for convert in (True, False):
            try:
                loaded = load_dicom(data, uid_context="same", convert_values=convert)
                outcomes.append(dataset_to_bytes(deidentify(loaded.dataset, policy=policy).dataset))
            except ImagingError as error:
                outcomes.append(error.code)
        assert outcomes[0] == outcomes[1], path.name
        compared += isinstance(outcomes[0], bytes)
    assert compared >= 30


def _raw_ct_with(elements: list[tuple[int, str, bytes]]) -> bytes:
    """CT_small with raw values planted as bytes (pydicom would refuse to encode some of them)."""
    ds = load(CT_SMALL)
    for tag, vr, value in elements:
        # Straight into the element dict: pydicom's __setitem__ would convert (and refuse) some of these.
        ds._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    return dataset_to_bytes(ds)


@pytest.mark.parametrize(
    ("tag", "vr", "value", "refused"),
    [
        (0x00280106, "US", b"\x01\x02\x03", True),  # Smallest Image Pixel Value: not a whole number of values
        (0x00181100, "FD", b"1234567", True),  # Reconstruction Diameter, 7 bytes of 8-byte floats
        (0x00200013, "IS", b"1e999 ", True),  # Instance Number that overflows
        (0x00181100, "DS", b"1.0.0 ", False),  # pydicom keeps a malformed number as text, with a warning
        (0x00280030, "DS", b"0.66\\abc ", False),
        (0x00200013, "IS", b"12a ", False),
        (0x00280030, "DS", b" +1.5E-3\\.25 ", False),  # written back without the leading space
        (0x00280030, "DS", b"+1.5E-3\\.25\\7 ", False),
    ],
)
def test_deferred_path_checks_kept_values_as_conversion_would(tag: int, vr: str, value: bytes, refused: bool) -> None:
    data = _raw_ct_with([(tag, vr, value)])
    outcomes = []
    for convert in (True, False):
        try:
            loaded = load_dicom(data, convert_values=convert)
            outcomes.append(dataset_to_bytes(deidentify(loaded.dataset, policy=POLICY).dataset))
        except ImagingError as error:
            outcomes.append(error.code)
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] == "malformed_dicom") is refused


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x00080008, "GS", b"ORIGINAL"),  # Image Type with a VR that does not exist: read by the quarantine check
        (0x7FE00010, "GS", b"\x00\x01"),  # Pixel Data, likewise: read by the pixel checks
        (0x00280010, "US", b"\x01\x02\x03"),  # Rows: read by the pixel checks
        (0x00080013, "TL", b"120000"),  # Instance Creation Time, a VR that does not exist: emptied by the profile
        (0x00280030, "QQ", b"0.5\\0.5 "),  # Pixel Spacing, likewise: kept by the policy
    ],
)
def test_ingest_refuses_values_that_its_checks_cannot_read(tag: int, vr: str, value: bytes) -> None:
    """Found by make test-fuzz: on the ingest path these are the first reads of a raw value."""
    from backend.imaging.prepare import DeidSettings, prepare_instance

    deid = DeidSettings(enabled=True, secret_hex=SECRET_A.hex(), retain_dates=True, retain_patient_characteristics=True)
    with pytest.raises(ImagingError) as refused:
        prepare_instance(_raw_ct_with([(tag, vr, value)]), deid=deid, max_pixel_bytes=1 << 30, uid_context="t")
    assert refused.value.code == "malformed_dicom"


def test_deferred_path_drops_removed_elements_unparsed_and_keeps_the_rest_raw() -> None:
    # A malformed value in an element the profile removes (a person name, private data) is never parsed:
    # the converting path refuses the file for it, the ingest path just removes it.
    bad_private = (0x00091001, "US", b"\x01\x02\x03")
    data = _raw_ct_with([bad_private, (0x00081050, "PN", b"Dr^Who\\\xff\xfe ")])
    with pytest.raises(ImagingError):
        read_dicom(data)
    ds = load_dicom(data, convert_values=False).dataset
    out = deidentify(ds, policy=POLICY).dataset
    assert 0x00091001 not in out and 0x00081050 not in out
    # Numbers and code strings the policy keeps unchanged stay raw, so the writer copies their bytes.
    assert isinstance(out.get_item(0x00280030), RawDataElement)  # Pixel Spacing
    assert isinstance(out.get_item(0x00080008), RawDataElement)  # Image Type
    # UIDs and dates are rebuilt as raw values in the file's encoding.
    study_uid = out.get_item(0x0020000D)
    assert isinstance(study_uid, RawDataElement) and study_uid.value.startswith(b"2.25.")
    reread = pydicom.dcmread(io.BytesIO(dataset_to_bytes(out)))
    for elem in reread.iterall():
        _ = elem.value


@pytest.mark.parametrize("undefined_length", [True, False])
def test_a_sequence_the_profile_empties_is_written_as_the_converting_path_writes_it(undefined_length: bool) -> None:
    # Referenced Study Sequence (X/Z) and Referenced Performed Procedure Step Sequence (X/Z/D): emptied.
    ds = load(CT_SMALL)
    for keyword in ("ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence"):
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        item.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
        setattr(ds, keyword, Sequence([item]))
        ds[keyword].is_undefined_length = undefined_length
    data = dataset_to_bytes(ds)
    outcomes = [
        dataset_to_bytes(deidentify(load_dicom(data, convert_values=convert).dataset, policy=POLICY).dataset)
        for convert in (True, False)
    ]
    assert outcomes[0] == outcomes[1]
    out = pydicom.dcmread(io.BytesIO(outcomes[1]))
    assert len(out.ReferencedStudySequence) == 0 and len(out.ReferencedPerformedProcedureStepSequence) == 0
    assert b"1.2.3.4.5.6" not in outcomes[1]


def _ct_with_reference(patient_id: str, referenced: str = "1.2.826.0.1.3680043.2.1125.1.42") -> bytes:
    """CT_small for a patient, referencing an image in a sequence whose item holds a UID and a date."""
    ds = load(CT_SMALL)
    ds.PatientID = patient_id
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = referenced
    item.ExpiryDate = "20200102"
    ds.ReferencedImageSequence = Sequence([item])
    return dataset_to_bytes(ds)


@pytest.mark.parametrize("options", [(True, True), (False, False)])
def test_sequences_from_the_memo_are_cleaned_exactly_as_afresh(monkeypatch, options: tuple[bool, bool]) -> None:
    """The files of a series repeat their sequences, so cleaned ones are memoized by their bytes. Replayed
    for a later file, of the same or another patient or project, the file's bytes and action counts must
    be exactly what cleaning it afresh gives."""
    from backend.imaging.core import deid as deid_module

    inputs = [p.read_bytes() for p in totalseg_files()[:4]]
    inputs += [_ct_with_reference(patient) for patient in ("patient-a", "patient-b", "patient-a")]
    inputs.append(_ct_with_reference("patient-a", referenced="1.2.826.0.1.3680043.2.1125.1.43"))

    def run(secret: bytes) -> list[tuple[bytes, dict[str, int]]]:
        policy = DeidPolicy(
            secret, retain_longitudinal_modified_dates=options[0], retain_patient_characteristics=options[1]
        )
        out = []
        for data in inputs:
            result = deidentify(load_dicom(data, uid_context="same", convert_values=False).dataset, policy=policy)
            out.append((dataset_to_bytes(result.dataset), result.actions))
        return out

    monkeypatch.setattr(deid_module, "_SEQUENCE_MEMO", {})
    memoized = [run(SECRET_A), run(SECRET_B), run(SECRET_A)]
    assert len(deid_module._SEQUENCE_MEMO) >= 4  # in use: the series' sequences, the reference per patient
    monkeypatch.setattr(deid_module, "_SEQUENCE_MEMO_MAX_BYTES", -1)
    fresh = [run(SECRET_A), run(SECRET_B), run(SECRET_A)]
    assert memoized == fresh
    # What the memo must tell apart: the reference's UID per project, its date per patient.
    a, b = (pydicom.dcmread(io.BytesIO(memoized[0][i][0])).ReferencedImageSequence[0] for i in (4, 5))
    b_other_project = pydicom.dcmread(io.BytesIO(memoized[1][5][0])).ReferencedImageSequence[0]
    assert a.ReferencedSOPInstanceUID == b.ReferencedSOPInstanceUID != b_other_project.ReferencedSOPInstanceUID
    other_reference = pydicom.dcmread(io.BytesIO(memoized[0][7][0])).ReferencedImageSequence[0]
    assert other_reference.ReferencedSOPInstanceUID != a.ReferencedSOPInstanceUID
    if options[0]:
        assert a.ExpiryDate != b.ExpiryDate
    else:
        assert "ExpiryDate" not in a and "ExpiryDate" not in b


def test_deferred_path_refuses_a_short_element_inside_a_kept_sequence() -> None:
    ds = load(CT_SMALL)
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    ds.ReferencedImageSequence = Sequence([item])
    data = bytearray(dataset_to_bytes(ds))
    # Declare the nested SOP Instance UID one byte longer than written, inside the sequence's own length.
    at = data.index(b"\x08\x00\x55\x11UI")
    data[at + 6 : at + 8] = (int.from_bytes(data[at + 6 : at + 8], "little") + 2).to_bytes(2, "little")
    with pytest.raises(ImagingError) as deferred:
        deidentify(load_dicom(bytes(data), convert_values=False).dataset, policy=POLICY)
    assert deferred.value.code == "malformed_dicom"


# --------------------------------------------------------------------------------------------------
# Quarantine


def _with(**attrs: object) -> Dataset:
    ds = load(CT_SMALL)
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


@pytest.mark.parametrize(
    ("attrs", "quarantine", "reason"),
    [
        ({}, False, None),
        ({"BurnedInAnnotation": "YES"}, True, "burned_in_annotation"),
        ({"Modality": "US", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.6.1"}, True, "ultrasound_burned_in_unknown"),
        ({"Modality": "US", "BurnedInAnnotation": "NO"}, False, None),
        ({"Modality": "US", "BurnedInAnnotation": "YES"}, True, "burned_in_annotation"),
        ({"Modality": "OT", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, True, "secondary_capture_burned_in_unknown"),
        ({"Modality": "OT", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7", "BurnedInAnnotation": "NO"}, False, None),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7.2"}, True, "secondary_capture_burned_in_unknown"),
        ({"RecognizableVisualFeatures": "YES"}, True, "recognizable_visual_features"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.77.1.4"}, True, "visible_light_burned_in_unknown"),
    ],
)
def test_quarantine_decision(attrs: dict[str, object], quarantine: bool, reason: str | None) -> None:
    decision = quarantine_decision(_with(**attrs))
    assert (decision.quarantine, decision.reason) == (quarantine, reason)


def test_slide_label_images_are_quarantined() -> None:
    ds = load(SM_IMAGE)
    assert not quarantine_decision(ds).quarantine
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LABEL", "NONE"]
    assert quarantine_decision(ds).reason == "slide_label_image"


def test_date_shift_is_per_patient() -> None:
    dates = set()
    for patient in ("p1", "p2", "p3", "p4"):
        ds = load(CT_SMALL)
        ds.PatientID = patient
        dates.add(_deid(ds).StudyDate)
    assert len(dates) > 1
    assert _deid(load(CT_SMALL)).StudyDate == _deid(load(CT_SMALL)).StudyDate
