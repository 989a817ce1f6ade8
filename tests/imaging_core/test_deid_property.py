"""Property: whatever identifying text a file carries, none of it survives de-identification.

Real shared files get a random marker planted into every text (LO, SH, ST, LT, UT, UC, UR, AE), person
name (PN), date/time (DA, DT, TM) and UID (UI) element, nested sequences and file meta included, plus
random extra public and private elements of those VRs and a nested sequence of them. The de-identified
file is written to bytes, and no marker may appear anywhere in those bytes. Markers are valid for their VR
(a date for DA, a UID for UI) so that nothing is dropped merely for being malformed.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom._dicom_dict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from backend.imaging.core.deid import REDACTED_CODE, DeidPolicy, deidentify
from backend.imaging.core.parsing import dataset_to_bytes, read_dicom
from backend.imaging.prepare import DeidSettings, prepare_instance

from ._helpers import CT2_DIR, CT_SMALL, DICOM_DIR, DX_IMAGE, MR_SMALL, totalseg_files

pytestmark = pytest.mark.usefixtures("shared_data")

TEXT_VRS = ("LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE", "PN")
DATE_VRS = ("DA", "DT", "TM")
PLANTED_VRS = frozenset((*TEXT_VRS, *DATE_VRS, "UI"))
POLICY = DeidPolicy(project_secret=b"property-test-secret-0123456789")
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _sources() -> list[Path]:
    paths = [
        CT_SMALL,
        MR_SMALL,
        DX_IMAGE,
        DICOM_DIR / "pydicom" / "liver_1frame.dcm",
        DICOM_DIR / "highdicom" / "seg_image_ct_binary.dcm",
        DICOM_DIR / "highdicom" / "sm_image_control.dcm",
    ]
    paths += totalseg_files()[:1] + sorted(CT2_DIR.iterdir())[:1]
    return [p for p in paths if p.is_file()]


@cache
def _source_bytes(path: Path) -> bytes:
    return path.read_bytes()


@cache
def _public_tags() -> list[tuple[int, str]]:
    """Public dictionary tags of the planted VRs, outside command/meta groups."""
    out = []
    for tag, entry in DicomDictionary.items():
        vr = entry[0]
        if vr in PLANTED_VRS and (tag >> 16) not in (0x0000, 0x0002, 0x0004, 0xFFFE):
            out.append((tag, vr))
    return sorted(out)


@dataclass(frozen=True)
class Markers:
    text: str
    date: str
    time: str
    uid: str

    def value_for(self, vr: str) -> str:
        if vr == "DA":
            return self.date
        if vr == "TM":
            return self.time
        if vr == "DT":
            return self.date + self.time
        if vr == "UI":
            return self.uid
        if vr == "PN":
            return f"{self.text}^{self.text}"
        if vr in ("LT", "ST", "UT"):
            return f"Patient {self.text} seen by Dr {self.text}"
        if vr == "UR":
            return f"http://example.org/{self.text}"
        return self.text

    def all(self) -> list[str]:
        return [self.text, self.date, self.time, self.uid]


# Hypothesis also tries string constants of the code under test: the de-identifier's own placeholder
# for a code it does not know ("99RRDEID") is written whenever a planted code item is redacted, so it is
# not a marker that could prove a leak.
_OWN_TEXT = " ".join(REDACTED_CODE)
text_markers = st.text(ALNUM, min_size=8, max_size=8).filter(
    lambda s: any(c.isalpha() for c in s) and any(c.isdigit() for c in s) and s not in _OWN_TEXT
)
markers = st.builds(
    Markers,
    text=text_markers,
    date=st.dates(min_value=date(1901, 1, 1), max_value=date(1939, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
    time=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(100000, 999999)).map(
        lambda t: f"{t[0]:02d}{t[1]:02d}{t[2]:02d}.{t[3]:06d}"
    ),
    uid=st.integers(10**9, 10**12).map(lambda n: f"1.2.3.999{n}"),
)


@cache
def _baseline(source: Path, options: tuple[bool, bool]) -> bytes:
    policy = DeidPolicy(
        project_secret=POLICY.project_secret,
        retain_longitudinal_modified_dates=options[0],
        retain_patient_characteristics=options[1],
    )
    return dataset_to_bytes(deidentify(read_dicom(_source_bytes(source)).dataset, policy=policy).dataset)


def _plant(ds: Dataset, m: Markers) -> None:
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                _plant(item, m)
        elif elem.VR in PLANTED_VRS and elem.tag != 0x00020010:
            elem.value = m.value_for(elem.VR)


def _extras(ds: Dataset, m: Markers, tags: list[tuple[int, str]], private_vrs: list[str]) -> None:
    for tag, vr in tags:
        if tag not in ds:
            ds.add(DataElement(tag, vr, m.value_for(vr)))
    block = ds.private_block(0x0011, "MARKER TEST CREATOR", create=True)
    for offset, vr in enumerate(private_vrs):
        block.add_new(offset, vr, m.value_for(vr))
    nested = Dataset()
    for tag, vr in tags[:5]:
        nested.add(DataElement(tag, vr, m.value_for(vr)))
    nested.add(DataElement(0x00100010, "PN", m.value_for("PN")))
    nested.add(DataElement(0x00081155, "UI", m.value_for("UI")))
    deeper = Dataset()
    deeper.add(DataElement(0x0040A160, "UT", m.value_for("UT")))  # Text Value
    nested.add(DataElement(0x0040A730, "SQ", Sequence([deeper])))  # Content Sequence inside another sequence
    ds.add(DataElement(0x00081140, "SQ", Sequence([nested])))  # Referenced Image Sequence (X/Z/U*: kept, cleaned)
    private_seq = Dataset()
    private_seq.add(DataElement(0x00100020, "LO", m.value_for("LO")))
    block.add_new(0x50, "SQ", Sequence([private_seq]))


def _planted(source: Path, m: Markers, extra_tags: list[tuple[int, str]], private_vrs: list[str]) -> Dataset:
    parsed = read_dicom(_source_bytes(source))
    ds = parsed.dataset
    _plant(ds, m)
    _plant(ds.file_meta, m)
    ds.file_meta.TransferSyntaxUID = parsed.transfer_syntax_uid
    _extras(ds, m, extra_tags, private_vrs)
    return ds


# DEID_PROPERTY_EXAMPLES=5000 for a long hunt; 60 keeps the suite fast.
_examples = settings(
    max_examples=int(os.environ.get("DEID_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_planted_inputs = given(
    source=st.sampled_from(_sources()),
    m=markers,
    extra_tags=st.lists(st.sampled_from(_public_tags()), max_size=25, unique=True),
    private_vrs=st.lists(st.sampled_from(sorted(PLANTED_VRS)), min_size=1, max_size=8),
    options=st.tuples(st.booleans(), st.booleans()),
)


@_examples
@_planted_inputs
def test_no_planted_marker_survives(
    source: Path, m: Markers, extra_tags: list[tuple[int, str]], private_vrs: list[str], options: tuple[bool, bool]
) -> None:
    policy = DeidPolicy(
        project_secret=POLICY.project_secret,
        retain_longitudinal_modified_dates=options[0],
        retain_patient_characteristics=options[1],
    )
    # A marker that the de-identified *unmodified* file already contains (our own placeholders such as
    # "99RRDEID", a digit run inside a 2.25 UID) proves nothing either way.
    baseline = _baseline(source, options)
    assume(all(marker.encode() not in baseline for marker in m.all()))
    ds = _planted(source, m, extra_tags, private_vrs)
    pixels_before = ds.get("PixelData")

    out = deidentify(ds, policy=policy).dataset
    written = dataset_to_bytes(out)
    for marker in m.all():
        assert marker.encode() not in written, f"marker {marker!r} survived in {source.name}"

    again = pydicom.dcmread(io.BytesIO(written))
    for elem in again.iterall():
        _ = elem.value  # every element converts
    pixels_after = again.get("PixelData")
    if pixels_before is not None and len(pixels_before) % 2:
        pixels_before += b"\x00"  # odd-length values are padded to even length when written
    assert pixels_after == pixels_before
    assert again.PatientIdentityRemoved == "YES"


@_examples
@_planted_inputs
def test_no_planted_marker_survives_in_the_stored_file(
    source: Path, m: Markers, extra_tags: list[tuple[int, str]], private_vrs: list[str], options: tuple[bool, bool]
) -> None:
    """The same, through what ingest runs on an upload: the planted file is bytes, so every element reaches
    the de-identifier raw and most are decided without being parsed (deid.py, _clean_raw)."""
    baseline = _baseline(source, options)
    assume(all(marker.encode() not in baseline for marker in m.all()))
    upload = dataset_to_bytes(_planted(source, m, extra_tags, private_vrs))
    deid = DeidSettings(
        enabled=True,
        secret_hex=POLICY.project_secret.hex(),
        retain_dates=options[0],
        retain_patient_characteristics=options[1],
    )
    stored = prepare_instance(upload, deid=deid, max_pixel_bytes=1 << 30, uid_context="property").content
    for marker in m.all():
        assert marker.encode() not in stored, f"marker {marker!r} survived in {source.name}"
    again = pydicom.dcmread(io.BytesIO(stored))
    for elem in again.iterall():
        _ = elem.value  # every element converts
    assert again.PatientIdentityRemoved == "YES"


def test_same_series_shares_uids_and_projects_do_not() -> None:
    files = sorted(CT2_DIR.iterdir())[:2]
    m = Markers("AB12CD34", "19310417", "101112.123456", "1.2.3.999123456789")

    def run(path: Path, secret: bytes) -> Dataset:
        ds = read_dicom(path.read_bytes()).dataset
        ds.IssuerOfPatientID = m.text  # planted, but the same in both files
        return deidentify(ds, policy=DeidPolicy(project_secret=secret)).dataset

    a1, a2 = run(files[0], b"a" * 32), run(files[1], b"a" * 32)
    b1 = run(files[0], b"b" * 32)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "PatientID", "StudyDate"):
        assert a1[keyword].value == a2[keyword].value
    assert a1.SOPInstanceUID != a2.SOPInstanceUID
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID"):
        assert a1[keyword].value != b1[keyword].value
