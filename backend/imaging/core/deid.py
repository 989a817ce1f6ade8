"""De-identification: DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile + two options.

Options applied (both on by default, each switchable in DeidPolicy):
- Retain Longitudinal Temporal Information with Modified Dates (DCM 113107): every date and time moves
  into the past by one offset per (project secret, patient): D days + S seconds, D in [365, 3652],
  S in [1, 86399]. A Date with its sibling Time (StudyDate/StudyTime, ...) moves as one datetime, so
  intervals between events survive exactly; a DateTime moves by the full offset; an unpaired Time moves by
  S modulo a day; an unpaired Date by D days. Patient's Birth Date/Time are never retained.
- Retain Patient Characteristics (DCM 113108): sex, age, size, weight, pregnancy, smoking status and
  neutered status are kept, each only with a value valid for its VR/defined terms. Ethnic Group (SH/UC
  free text) is not kept.

The action table (Annex E Table E.1-1, basic profile column) comes from the `dicom-anonymizer` package
(Kitware), which regenerates it from the standard for each release; we use its newest table module and
apply the actions ourselves, because its own engine makes random (not project-consistent) UIDs.

Conservative policy on top of the profile. Any element the profile would keep is still checked by VR:
- UI: registered DICOM UIDs (SOP classes, transfer syntaxes, ...) are kept, every other UID is replaced by
  "2.25." + HMAC-SHA256(project secret, uid) (keyed_uid): same input -> same output within a project, so
  references inside sequences and across files stay intact; different projects get unrelated UIDs.
- DA/DT/TM: shifted (option on) or removed; a value that does not parse is removed.
- PN, AE, UR, UN, and private tags (all of them, creators included): removed. Overlay (60xx) and curve
  (50xx) groups are removed whole: overlay bitmaps can carry burned-in text.
- LO, SH, ST, LT, UT, UC: removed unless on the allow list below, where the kept value is rebuilt from a
  vocabulary, never copied through:
    Manufacturer -> canonical vendor name from _VENDORS (prefix match), else removed;
    WindowCenterWidthExplanation, LUTExplanation -> only known preset phrases ("SOFT TISSUE", "WINDOW2");
    RescaleType -> defined terms (HU, US, ...);
    DimensionDescriptionLabel -> only if it is a DICOM keyword;
    code items (CodeValue/CodingSchemeDesignator/CodeMeaning) -> kept only if pydicom's code dictionary
      knows the (scheme, value); the meaning is replaced by the dictionary's; unknown codes become the
      placeholder (REDACTED, 99RRDEID, "Redacted code") so Type 1 code sequences stay present;
    SegmentLabel -> the meaning of its Segmented Property Type code if known, else "Segment <n>";
    SegmentAlgorithmName -> "REDACTED";
    ContentDescription, PositionReferenceIndicator -> emptied (Type 2).
- OB/OW/OF/OD/OL/OV: only pixel data, palette/LUT data and extended offset tables survive.
- Numeric and code-string VRs (CS, IS, DS, US, SS, UL, SL, FL, FD, AT, UV, SV) pass: they cannot hold
  free text beyond 16 upper-case characters (CS) and the profile names the identifying ones.
Patient ID and Patient's Name become a pseudonym ("RR" + 16 base32 characters of an HMAC of the patient
key), the same for all files of one patient within a project.

Raw elements (as pydicom read them, not yet converted) are decided from their tag and VR first: an element
to be removed is removed unparsed, and one kept unchanged (numbers, code strings, pixel data) stays raw
once its bytes are checked to convert cleanly, so the writer copies it. Only what is rebuilt or may hold
text (UIDs, dates, sequences, allow-listed text, profile actions other than X) is converted; a value that
does not convert refuses the file as malformed, as `read_dicom` would have.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import importlib
import pkgutil
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from types import ModuleType
from typing import Any, Final, cast

from pydicom._uid_dict import UID_dictionary
from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID
from pydicom.valuerep import STANDARD_VR

from ._values import NUMBER_SIZES, get_str, get_strs, peek_value, put_raw, set_ascii, split_raw_strings
from .errors import Code, ImagingError
from .parsing import check_raw_length, sequence_value_bytes
from .uids import keyed_uid

# --------------------------------------------------------------------------------------------------
# The Annex E table

_CATEGORY_ACTIONS: Final = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


@dataclass(frozen=True)
class ProfileTable:
    source: str
    exact: dict[int, str]
    # (group, element, group mask, element mask, action) for repeating groups such as 60xx,3000.
    masked: tuple[tuple[int, int, int, int, str], ...]

    def action(self, tag: int) -> str | None:
        found = self.exact.get(tag)
        if found is not None:
            return found
        group, element = tag >> 16, tag & 0xFFFF
        for g, e, gmask, emask, act in self.masked:
            if group & gmask == g and element & emask == e:
                return act
        return None


@cache
def profile_table() -> ProfileTable:
    package = importlib.import_module("dicomanonymizer.dicom_anonymization_databases")
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("dicomfields_"))
    if not names:
        raise RuntimeError("dicom-anonymizer ships no dicomfields_* table")
    module: ModuleType = importlib.import_module(f"{package.__name__}.{names[-1]}")
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, action in _CATEGORY_ACTIONS.items():
        for entry in getattr(module, category):
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            elif len(entry) == 4:
                masked.append((entry[0], entry[1], entry[2], entry[3], action))
    return ProfileTable(source=f"dicom-anonymizer {names[-1]}", exact=exact, masked=tuple(masked))


def _is_number(value: Any) -> bool:
    try:
        return float(str(value)) >= 0
    except ValueError:
        return False


# Retain Patient Characteristics Option: the K entries of Table E.1-1, each with a value check.
_PATIENT_CHARACTERISTICS: Final[dict[str, Callable[[Any], bool]]] = {
    "PatientSex": lambda v: str(v).strip().upper() in {"M", "F", "O"},
    "PatientAge": lambda v: re.fullmatch(r"\d{3}[DWMY]", str(v).strip()) is not None,
    "PatientSize": _is_number,
    "PatientWeight": _is_number,
    "PregnancyStatus": lambda v: str(v).strip() in {"1", "2", "3", "4"},
    "SmokingStatus": lambda v: str(v).strip().upper() in {"YES", "NO", "UNKNOWN"},
    "PatientSexNeutered": lambda v: str(v).strip().upper() in {"ALTERED", "UNALTERED"},
}
# Dates the temporal option never retains (the standard keeps them out of that option too).
_NEVER_SHIFT: Final = frozenset({"PatientBirthDate", "PatientBirthTime", "LastMenstrualDate"})

_TEXT_VRS: Final = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
_DATE_VRS: Final = frozenset({"DA", "DT", "TM"})
_BINARY_VRS: Final = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "OB or OW", "US or OW"})
_BINARY_ALLOWED: Final = frozenset(
    {
        "PixelData",
        "FloatPixelData",
        "DoubleFloatPixelData",
        "ExtendedOffsetTable",
        "ExtendedOffsetTableLengths",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
        "AlphaPaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData",
        "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData",
        "LUTData",
    }
)
_BLANK_INSTEAD_OF_REMOVE: Final = frozenset({"ContentDescription", "PositionReferenceIndicator"})
_CODE_KEYWORDS: Final = frozenset(
    {"CodeValue", "CodingSchemeDesignator", "CodeMeaning", "CodingSchemeVersion", "LongCodeValue", "URNCodeValue"}
)
_CODE_TAGS: Final = frozenset(int(tag_for_keyword(keyword) or 0) for keyword in _CODE_KEYWORDS)
# CodingSchemeDesignator, CodeValue, LongCodeValue, URNCodeValue: any of them makes an item a code item.
_CODE_ITEM_MARKERS: Final = (0x00080102, 0x00080100, 0x00080119, 0x00080120)
REDACTED_CODE: Final = ("REDACTED", "99RRDEID", "Redacted code")

_VENDORS: Final = (
    ("SIEMENS", "SIEMENS"),
    ("GE MEDICAL", "GE MEDICAL SYSTEMS"),
    ("GE HEALTHCARE", "GE HEALTHCARE"),
    ("GEMS", "GE MEDICAL SYSTEMS"),
    ("PHILIPS", "Philips"),
    ("TOSHIBA", "TOSHIBA"),
    ("CANON", "Canon Medical Systems"),
    ("HITACHI", "Hitachi"),
    ("FUJIFILM", "FUJIFILM"),
    ("FUJI", "FUJIFILM"),
    ("AGFA", "Agfa"),
    ("CARESTREAM", "Carestream Health"),
    ("KODAK", "Kodak"),
    ("HOLOGIC", "Hologic"),
    ("KONICA", "Konica Minolta"),
    ("SAMSUNG", "Samsung"),
    ("UNITED IMAGING", "United Imaging Healthcare"),
    ("UIH", "United Imaging Healthcare"),
    ("NEUSOFT", "Neusoft"),
    ("ESAOTE", "Esaote"),
    ("MINDRAY", "Mindray"),
    ("BRUKER", "Bruker"),
    ("VARIAN", "Varian"),
    ("ELEKTA", "Elekta"),
    ("ACCURAY", "Accuray"),
    ("PLANMECA", "Planmeca"),
    ("SIRONA", "Sirona"),
    ("CARESTREAM", "Carestream Health"),
    ("IMATRON", "Imatron"),
    ("MEDRAD", "Medrad"),
    ("LEICA", "Leica"),
    ("HAMAMATSU", "Hamamatsu"),
    ("APERIO", "Aperio"),
    ("3DHISTECH", "3DHISTECH"),
    ("QIICR", "QIICR"),
    ("HIGHDICOM", "highdicom"),
    ("READINGROOM", "ReadingRoom"),
)
_WINDOW_PHRASES: Final = frozenset(
    {
        "",
        "SOFT TISSUE",
        "SOFTTISSUE",
        "TISSUE",
        "LUNG",
        "LUNGS",
        "BONE",
        "BRAIN",
        "LIVER",
        "MEDIASTINUM",
        "MEDIASTINAL",
        "ABDOMEN",
        "ABDOMINAL",
        "ABD",
        "ANGIO",
        "STROKE",
        "SUBDURAL",
        "HEAD",
        "NECK",
        "SPINE",
        "CHEST",
        "THORAX",
        "PELVIS",
        "SKULL",
        "SINUS",
        "BREAST",
        "NORMAL",
        "DEFAULT",
        "STANDARD",
        "FULL",
        "FULL DYNAMIC",
        "FULL RANGE",
        "HARDER",
        "SOFTER",
        "HARD",
        "SOFT",
        "SHARP",
        "SMOOTH",
        "AUTO",
        "AUTOMATIC",
        "USER",
        "CUSTOM",
        "MIN MAX",
        "MINMAX",
        "HISTOGRAM",
        "LINEAR",
        "SIGMOID",
        "ORIGINAL",
        "VOI LUT",
        "LEVEL",
    }
)
_WINDOW_AFFIXES: Final = re.compile(r"^(WINDOW|PRESET|WL|W L|W)?\s*(.*?)\s*(WINDOW|PRESET)?\s*\d{0,2}$")
_RESCALE_TYPES: Final = frozenset({"HU", "US", "OD", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT"})

DEID_METHOD_CODES: Final = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
}


@cache
def _known_codes() -> dict[tuple[str, str], str]:
    """(scheme, value) -> meaning from pydicom's bundled code dictionary; SNOMED RT codes via their SCT twin."""
    from pydicom.sr._concepts_dict import concepts
    from pydicom.sr._snomed_dict import mapping

    typed = cast(dict[str, dict[str, dict[str, tuple[str, list[int]]]]], concepts)
    out: dict[tuple[str, str], str] = {}
    for scheme, keywords in typed.items():
        for entries in keywords.values():
            for value, (meaning, _cids) in entries.items():
                key = (scheme, value)
                # Several keywords can share a code; the shortest meaning is the plain name ("Liver").
                if key not in out or len(meaning) < len(out[key]):
                    out[key] = meaning
    for srt_value, sct_value in mapping.get("SRT", {}).items():
        twin = out.get(("SCT", sct_value))
        if twin is not None:
            out[("SRT", srt_value)] = twin
    return out


def known_code_meaning(scheme: str, value: str) -> str | None:
    return _known_codes().get((scheme.strip(), value.strip()))


# --------------------------------------------------------------------------------------------------
# Policy and result


@dataclass(frozen=True)
class DeidPolicy:
    project_secret: bytes
    retain_longitudinal_modified_dates: bool = True
    retain_patient_characteristics: bool = True

    def __post_init__(self) -> None:
        if len(self.project_secret) < 16:
            raise ValueError("project_secret must be at least 16 bytes")


@dataclass(frozen=True)
class DeidResult:
    dataset: Dataset
    patient_pseudonym: str
    # How many elements each action touched, e.g. {"removed": 40, "uid_replaced": 12, "date_shifted": 9}.
    actions: dict[str, int] = field(default_factory=dict)
    profile_source: str = ""


@dataclass(frozen=True)
class QuarantineDecision:
    quarantine: bool
    reason: str | None = None


class _Context:
    def __init__(self, policy: DeidPolicy, patient_key: str, *, memoize: bool = False) -> None:
        self.policy = policy
        # What, besides an element's own bytes, decides how it is cleaned: the options, the project's
        # key (UIDs) and the patient (date offset). None: this dataset's sequences are not memoized.
        self.memo_key: tuple[DeidPolicy, str] | None = (policy, patient_key) if memoize else None
        self.table = profile_table()
        self.counts: Counter[str] = Counter()
        digest = hmac.new(policy.project_secret, b"date-offset\x00" + patient_key.encode(), hashlib.sha256).digest()
        days = 365 + int.from_bytes(digest[:4], "big") % (3652 - 365 + 1)
        seconds = 1 + int.from_bytes(digest[4:8], "big") % 86399
        self.offset = timedelta(days=days, seconds=seconds)
        self.offset_days = timedelta(days=days)
        self.offset_seconds = seconds

    def uid(self, value: str) -> str:
        text = value.strip().rstrip("\x00")
        if not text or text in UID_dictionary:
            return text
        self.counts["uid_replaced"] += 1
        return keyed_uid(self.policy.project_secret, text)


# --------------------------------------------------------------------------------------------------
# Entry points


def patient_key(ds: Dataset) -> str:
    """What identifies the patient for pseudonym and date offset: ID (+ issuer), else name, else study UID.

    The TotalSegmentator files have neither ID nor name; falling back to the study keeps at least one study
    internally consistent.
    """
    pid = get_str(ds, "PatientID")
    if pid:
        return "id:" + pid + "|" + (get_str(ds, "IssuerOfPatientID") or "")
    name = get_str(ds, "PatientName")
    if name:
        return "name:" + name + "|" + (get_str(ds, "PatientBirthDate") or "")
    return "study:" + (get_str(ds, "StudyInstanceUID") or "")


def patient_pseudonym(key: str, *, secret: bytes) -> str:
    mac = hmac.new(secret, b"patient\x00" + key.encode(), hashlib.sha256).digest()
    return "RR" + base64.b32encode(mac[:10]).decode("ascii")


def deidentify(ds: Dataset, *, policy: DeidPolicy, inplace: bool = False) -> DeidResult:
    """Apply the profile and the conservative policy; the input is left alone unless `inplace`."""
    try:
        return _deidentify(ds, policy=policy, inplace=inplace)
    except ImagingError:
        raise
    except Exception as exc:  # a malformed value must refuse the file, not leak it
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise ImagingError(Code.DEID_FAILED, "The file could not be de-identified.", {"detail": detail}) from exc


def _deidentify(ds: Dataset, *, policy: DeidPolicy, inplace: bool) -> DeidResult:
    out = ds if inplace else copy.deepcopy(ds)
    key = patient_key(out)
    pseudonym = patient_pseudonym(key, secret=policy.project_secret)
    ctx = _Context(policy, key, memoize=out.original_encoding == (False, True))
    transfer_syntax = _transfer_syntax(out)
    _clean_dataset(out, ctx, depth=0)

    set_ascii(out, 0x00100020, "LO", pseudonym)  # Patient ID
    set_ascii(out, 0x00100010, "PN", pseudonym)  # Patient's Name
    set_ascii(out, 0x00120062, "CS", "YES")  # Patient Identity Removed
    methods = ["ReadingRoom deid v1", "PS3.15 E.1 Basic Profile"]
    codes = [DEID_METHOD_CODES["basic"]]
    if policy.retain_longitudinal_modified_dates:
        methods.append("Retain Long. Modified Dates")
        codes.append(DEID_METHOD_CODES["modified_dates"])
    if policy.retain_patient_characteristics:
        methods.append("Retain Patient Characteristics")
        codes.append(DEID_METHOD_CODES["patient_characteristics"])
    set_ascii(out, 0x00120063, "LO", methods)  # De-identification Method
    if out.original_encoding == (False, True):
        # The same few bytes for every file of a project: encoded once, copied by the writer.
        data = _method_codes_bytes(tuple(codes))
        out[0x00120064] = RawDataElement(Tag(0x00120064), "SQ", len(data), data, 0, False, True)
    else:
        out.DeidentificationMethodCodeSequence = _method_codes(codes)
    set_ascii(  # Longitudinal Temporal Information Modified
        out, 0x00280303, "CS", "MODIFIED" if policy.retain_longitudinal_modified_dates else "REMOVED"
    )
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not get_str(out, keyword):
            raise ImagingError(Code.DEID_FAILED, f"The dataset has no {keyword}.", {"keyword": keyword})

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(str(peek_value(out, 0x00080016)))  # SOP Class UID
    meta.MediaStorageSOPInstanceUID = UID(str(peek_value(out, 0x00080018)))  # SOP Instance UID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out.file_meta = meta
    out.preamble = b"\x00" * 128
    return DeidResult(
        dataset=out, patient_pseudonym=pseudonym, actions=dict(ctx.counts), profile_source=ctx.table.source
    )


def _method_codes(codes: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> Sequence:
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    return Sequence(items)


@lru_cache(maxsize=8)
def _method_codes_bytes(codes: tuple[tuple[str, str], ...]) -> bytes:
    """The value of DeidentificationMethodCodeSequence as pydicom writes it in explicit VR little endian."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    holder = Dataset()
    holder.DeidentificationMethodCodeSequence = _method_codes(codes)
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    write_dataset(fp, holder)
    return fp.getvalue()[12:]  # after tag, VR, reserved bytes and the 4-byte length


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = get_str(meta, "TransferSyntaxUID") if meta is not None else None
    if not ts:
        raise ImagingError(Code.DEID_FAILED, "The dataset has no transfer syntax.", {"keyword": "TransferSyntaxUID"})
    return ts


# --------------------------------------------------------------------------------------------------
# The walk

_MAX_DEPTH: Final = 64


def _is_code_item(ds: Dataset) -> bool:
    elements = ds._dict
    return any(tag in elements for tag in _CODE_ITEM_MARKERS)


def _clean_code_item(ds: Dataset, ctx: _Context) -> None:
    scheme = get_str(ds, "CodingSchemeDesignator") or ""
    value = get_str(ds, "CodeValue") or ""
    meaning = known_code_meaning(scheme, value) if scheme and value else None
    for tag in _CODE_TAGS & ds._dict.keys():
        del ds[tag]
    if meaning is None:
        value, scheme, meaning = REDACTED_CODE
        ctx.counts["code_redacted"] += 1
    set_ascii(ds, 0x00080100, "SH", value)  # Code Value
    set_ascii(ds, 0x00080102, "SH", scheme)  # Coding Scheme Designator
    set_ascii(ds, 0x00080104, "LO", meaning[:64])  # Code Meaning


def _clean_dataset(ds: Dataset, ctx: _Context, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ImagingError(Code.DEID_FAILED, "Sequences are nested too deeply.")
    code_item = _is_code_item(ds)
    if code_item:
        _clean_code_item(ds, ctx)
    pairs = _date_time_pairs(ds, ctx)
    handled: set[int] = set()
    # values(): the elements as stored, raw ones unconverted (keys() + get_item would rebuild each tag).
    for raw in list(ds.values()):
        tag = raw.tag
        if tag in handled:
            continue
        if tag in pairs:
            time_tag = pairs[tag]
            _shift_pair(ds, tag, time_tag, ctx)
            handled.add(time_tag)
            continue
        if isinstance(raw, RawDataElement):
            if code_item and tag in _CODE_TAGS:
                continue  # already rebuilt from the dictionary (as raw values, see set_ascii)
            if _clean_raw(ds, raw, ctx):
                continue
            if depth == 0 and ctx.memo_key is not None and _clean_sequence_memoized(ds, raw, ctx):
                continue
            elem = _convert(ds, tag)
        else:
            elem = raw
        if code_item and elem.keyword in _CODE_KEYWORDS:
            continue  # already rebuilt from the dictionary
        _clean_element(ds, elem, ctx, depth)
    if "SegmentNumber" in ds and "SegmentLabel" in ds:
        ds.SegmentLabel = _segment_label(ds)


# Sequences cleaned before, by their raw bytes and what else decides the outcome (see _Context): the
# files of a series mostly repeat theirs (procedure codes, phantom types, referenced images), and
# parsing, cleaning and re-encoding one costs more than the rest of its dataset.
_SEQUENCE_MEMO: dict[tuple[BaseTag, bytes, tuple[DeidPolicy, str], str], tuple[bytes | None, Counter[str]]] = {}
_SEQUENCE_MEMO_ENTRIES: Final = 256
_SEQUENCE_MEMO_MAX_BYTES: Final = 8192
_SPECIFIC_CHARACTER_SET: Final = Tag(0x00080005)
_sequence_memo_lock = threading.Lock()


def _clean_sequence_memoized(ds: Dataset, raw: RawDataElement, ctx: _Context) -> bool:
    """Clean a small top-level sequence of an explicit VR little endian dataset, or replay how the same
    bytes were cleaned before; False leaves it to the full path.

    The cleaned sequence is set back raw, encoded as the writer encodes it, so a file's bytes are the
    same whether its sequences came from the memo or not.
    """
    value = raw.value
    if raw.VR != "SQ" or not isinstance(value, bytes) or len(value) > _SEQUENCE_MEMO_MAX_BYTES:
        return False
    assert ctx.memo_key is not None
    tag = raw.tag
    charset = ds._dict.get(_SPECIFIC_CHARACTER_SET)
    key = (tag, value, ctx.memo_key, repr(charset.value) if charset is not None else "")
    with _sequence_memo_lock:
        known = _SEQUENCE_MEMO.get(key)
    if known is None:
        before = ctx.counts.copy()
        _clean_element(ds, _convert(ds, tag), ctx, 0)
        cleaned = ds._dict.get(tag)
        data = None
        if cleaned is not None:
            data = sequence_value_bytes(cast(DataElement, cleaned), ds.get("SpecificCharacterSet", default_encoding))
            if data is None:
                return True  # cleaned, but written by pydicom: not memoized
        known = (data, ctx.counts - before)
        with _sequence_memo_lock:
            if len(_SEQUENCE_MEMO) >= _SEQUENCE_MEMO_ENTRIES:
                _SEQUENCE_MEMO.pop(next(iter(_SEQUENCE_MEMO)))
            _SEQUENCE_MEMO[key] = known
    else:
        ctx.counts.update(known[1])
    data = known[0]
    if data is None:
        if tag in ds._dict:
            del ds[tag]
    else:
        put_raw(ds, RawDataElement(tag, "SQ", len(data), data, 0, False, True))
    return True


_NUMBER_SIZES: Final = {**NUMBER_SIZES, "AT": 4}
# Values that pydicom's DS and IS conversion accepts and writes back unchanged (a subset: anything else,
# spaces around a value included, is converted to find out).
_DS_VALUE: Final = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IS_VALUE: Final = re.compile(rb"[+-]?\d+")
# Text the policy rebuilds (see _allow_listed_text); all other text is removed.
_REBUILT_TEXT: Final = frozenset(
    {
        "Manufacturer",
        "WindowCenterWidthExplanation",
        "LUTExplanation",
        "RescaleType",
        "DimensionDescriptionLabel",
        "SegmentLabel",
        "SegmentAlgorithmName",
        *_BLANK_INSTEAD_OF_REMOVE,
    }
)


def _raw_vr(vr: str | None, tag: int) -> str | None:
    """A raw element's VR as the file states it (`vr`), else the dictionary's; None where pydicom resolves
    it on conversion (unknown tags, ambiguous VRs such as 'US or SS', UN that the dictionary knows better)
    or refuses it (VRs that do not exist)."""
    if vr == "UN":
        return None
    if vr is None:
        vr = _dictionary_vr(tag)
        if vr is None:
            return None
    # A VR that does not exist (found by make test-fuzz: a flipped bit made a Time 'TL') must fail
    # conversion, as on the converting path, rather than be kept or emptied under its unknown name.
    return vr if vr in STANDARD_VR else None


@lru_cache(maxsize=8192)
def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


@lru_cache(maxsize=8192)
def _keyword(tag: int) -> str:
    return keyword_for_tag(tag)


_EMPTYING_ACTIONS: Final = frozenset({"Z", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})


def _clean_raw(ds: Dataset, raw: RawDataElement, ctx: _Context) -> bool:
    """Settle a raw element from its tag and VR without converting it; False leaves it to the full path.

    Mirrors _clean_element/_policy_by_vr for every outcome it takes: removal, or keeping a value that the
    policy would keep unchanged (numbers, code strings, allowed binary data), whose bytes are checked to
    convert cleanly first. What to do with a tag depends only on the tag, the VR the file states and the
    options, so it is decided once per combination (_raw_plan).
    """
    value = raw.value
    if value is None:
        return False  # a deferred read: pydicom fetches it on conversion
    check_raw_length(raw)
    tag = raw.tag
    policy = ctx.policy
    plan, arg = _raw_plan(
        int(tag), raw.VR, policy.retain_longitudinal_modified_dates, policy.retain_patient_characteristics
    )
    if plan == _KEEP:
        return True
    if plan == _REMOVE:
        _remove(ds, tag, ctx)
        return True
    if plan == _NUMBERS:
        return bool(len(value) % arg == 0)
    if plan == _DECIMALS:
        text = value.rstrip(b" \x00")
        return not text or all(arg.fullmatch(part) for part in text.split(b"\\"))
    if plan == _UIDS:
        _put_strings(ds, tag, [ctx.uid(v) for v in _strings_of(ds, tag)])
        return True
    if plan == _SHIFT:
        _shift_single(ds, tag, arg, ctx)
        return True
    if plan == _EMPTY:
        # What _empty does, without parsing the value first: a zero-length value. A raw sequence has a
        # defined length (pydicom reads undefined-length ones as it meets them), written as 0 like a
        # converted empty sequence of defined length.
        put_raw(ds, raw._replace(value=b"", length=0))
        ctx.counts["emptied"] += 1
        return True
    if plan == _TEXT:
        if not value.strip(b" \x00"):
            return False  # empty, kept as it is: the full path does that
        _remove(ds, tag, ctx)
        return True
    return False


# _raw_plan outcomes; the second item of a plan is what the outcome needs.
_FULL, _KEEP, _REMOVE, _NUMBERS, _DECIMALS, _UIDS, _SHIFT, _EMPTY, _TEXT = range(9)


@lru_cache(maxsize=16384)
def _raw_plan(tag: int, file_vr: str | None, retain_dates: bool, retain_characteristics: bool) -> tuple[int, Any]:
    group = tag >> 16
    if group & 1 or (group & 0xFF00) in (0x5000, 0x6000) or tag & 0xFFFF == 0 or group in (0x0000, 0x0002):
        return _REMOVE, None
    vr = _raw_vr(file_vr, tag)
    if vr is None:
        return _FULL, None
    keyword = _keyword(tag)
    action = _action_with_options(tag, keyword, vr, retain_dates, retain_characteristics)
    if action == "X" or (action in ("X/D", "D") and vr == "SQ"):
        return _REMOVE, None
    if vr == "UI" and action in (None, "U", "D"):
        return _UIDS, None
    if vr in _DATE_VRS and action in (None, "C"):
        return (_SHIFT, vr) if retain_dates and keyword not in _NEVER_SHIFT else (_REMOVE, None)
    if action in _EMPTYING_ACTIONS and (vr != "SQ" or action != "X/Z/U*"):
        return _EMPTY, None
    if action is not None:
        return _FULL, None
    if vr in ("PN", "AE", "UR", "UN"):
        return _REMOVE, None
    if vr in _BINARY_VRS:
        return (_KEEP, None) if keyword in _BINARY_ALLOWED else (_REMOVE, None)
    if vr in _TEXT_VRS:
        return (_FULL, None) if keyword in _REBUILT_TEXT else (_TEXT, None)  # rebuilt by the full path
    size = _NUMBER_SIZES.get(vr)
    if size is not None:
        return _NUMBERS, size
    if vr == "CS":
        return _KEEP, None  # any byte string converts; the profile names the identifying code strings
    if vr in ("DS", "IS"):
        return _DECIMALS, _DS_VALUE if vr == "DS" else _IS_VALUE
    return _FULL, None  # SQ, AS: converted and cleaned


def _convert(ds: Dataset, tag: BaseTag) -> DataElement:
    try:
        return ds[tag]
    except Exception as exc:  # conversion errors of untrusted values come in many types
        raise ImagingError(
            Code.MALFORMED_DICOM,
            "An element of the DICOM file could not be parsed.",
            {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
        ) from exc


def _remove(ds: Dataset, tag: BaseTag, ctx: _Context, reason: str = "removed") -> None:
    del ds[tag]
    ctx.counts[reason] += 1


def _profile_action(tag: int, keyword: str, vr: str, ctx: _Context) -> str | None:
    policy = ctx.policy
    return _action_with_options(
        tag, keyword, vr, policy.retain_longitudinal_modified_dates, policy.retain_patient_characteristics
    )


def _action_with_options(
    tag: int, keyword: str, vr: str, retain_dates: bool, retain_characteristics: bool
) -> str | None:
    action = profile_table().action(int(tag))
    if action is None:
        return None
    if retain_characteristics and keyword in _PATIENT_CHARACTERISTICS:
        return "K"
    if retain_dates and vr in _DATE_VRS and keyword not in _NEVER_SHIFT:
        return "C"
    return action


def _clean_element(ds: Dataset, elem: DataElement, ctx: _Context, depth: int) -> None:
    tag = elem.tag
    group = tag.group
    if tag.is_private or (group & 0xFF00) in (0x5000, 0x6000) or tag.element == 0 or group in (0x0000, 0x0002):
        # Private data, overlays/curves (bitmaps that may hold burned-in text) and group lengths go.
        _remove(ds, tag, ctx)
        return
    vr = elem.VR
    action = _profile_action(tag, elem.keyword, vr, ctx)
    if action in ("X", "X/D", "D") and vr == "SQ":
        _remove(ds, tag, ctx)
        return
    if action == "X":
        _remove(ds, tag, ctx)
        return
    if action in ("Z", "Z/D", "X/Z", "X/D", "X/Z/D") or (action == "X/Z/U*" and vr != "SQ"):
        _empty(ds, elem, ctx)
        return
    if action == "D":
        _dummy(ds, elem, ctx)
        return
    if action == "K":
        check = _PATIENT_CHARACTERISTICS.get(elem.keyword)
        if elem.value in (None, "") or (check is not None and check(elem.value)):
            ctx.counts["kept_patient_characteristic"] += 1
        else:
            _empty(ds, elem, ctx)
        return
    # "U", "C", "X/Z/U*" on sequences, and everything the profile does not name: the policy by VR.
    _policy_by_vr(ds, elem, ctx, depth)


_EMPTY_STRING_VRS: Final = _TEXT_VRS | {"PN", "AE", "CS", "UI", "DA", "DT", "TM", "AS", "UR"}


def _empty(ds: Dataset, elem: DataElement, ctx: _Context) -> None:
    if elem.VR == "SQ":
        elem.value = Sequence()
    elif elem.VR in _EMPTY_STRING_VRS:
        elem.value = ""
    else:
        elem.value = None
    ctx.counts["emptied"] += 1


_DUMMIES: Final = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "PN": "ANONYMOUS",
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "IS": "0",
    "DS": "0",
}


def _dummy(ds: Dataset, elem: DataElement, ctx: _Context) -> None:
    vr = elem.VR
    if vr == "UI":
        _policy_by_vr(ds, elem, ctx, 0)
        return
    if vr in _TEXT_VRS:
        elem.value = "ANONYMIZED"
    elif vr in _DUMMIES:
        elem.value = _DUMMIES[vr]
    else:
        _remove(ds, elem.tag, ctx)
        return
    ctx.counts["dummied"] += 1


def _policy_by_vr(ds: Dataset, elem: DataElement, ctx: _Context, depth: int) -> None:
    vr = elem.VR
    tag = elem.tag
    keyword = elem.keyword
    if vr == "SQ":
        for item in elem.value:
            _clean_dataset(item, ctx, depth + 1)
        return
    if vr == "UI":
        elem.value = _map_values(elem.value, ctx.uid)
        return
    if vr in _DATE_VRS:
        if ctx.policy.retain_longitudinal_modified_dates and keyword not in _NEVER_SHIFT:
            _shift_single(ds, tag, vr, ctx)
        else:
            _remove(ds, tag, ctx)
        return
    if vr in ("PN", "AE", "UR", "UN"):
        _remove(ds, tag, ctx)
        return
    if vr in _BINARY_VRS:
        if keyword not in _BINARY_ALLOWED:
            _remove(ds, tag, ctx)
        return
    if vr in _TEXT_VRS:
        _allow_listed_text(ds, elem, ctx)
        return
    if vr == "AS" and not _all_values(elem.value, lambda v: re.fullmatch(r"\d{3}[DWMY]", v) is not None):
        _remove(ds, tag, ctx)


def _all_values(value: Any, check: Callable[[str], bool]) -> bool:
    values = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
    return all(check(str(v).strip()) for v in values if v not in (None, ""))


def _map_values(value: Any, fn: Callable[[str], str]) -> Any:
    if value is None:
        return value
    if isinstance(value, (MultiValue, list, tuple)):
        return [fn(str(v)) for v in value]
    return fn(str(value))


def _allow_listed_text(ds: Dataset, elem: DataElement, ctx: _Context) -> None:
    keyword = elem.keyword
    if elem.value in (None, ""):
        return
    new: str | list[str] | None = None
    if keyword == "Manufacturer":
        new = canonical_vendor(str(elem.value))
    elif keyword in ("WindowCenterWidthExplanation", "LUTExplanation"):
        values = [str(v) for v in elem.value] if isinstance(elem.value, MultiValue) else [str(elem.value)]
        if all(is_known_window_phrase(v) for v in values):
            new = [_normalize_phrase(v) for v in values] if len(values) > 1 else _normalize_phrase(values[0])
    elif keyword == "RescaleType":
        text = str(elem.value).strip().upper()
        new = text if text in _RESCALE_TYPES else None
    elif keyword == "DimensionDescriptionLabel":
        text = str(elem.value).strip()
        new = text if text and tag_for_keyword(text) is not None else None
    elif keyword == "SegmentLabel" and "SegmentNumber" in ds:
        return  # rebuilt from the segment's code after the walk
    elif keyword == "SegmentAlgorithmName":
        new = "REDACTED"
    elif keyword in _BLANK_INSTEAD_OF_REMOVE:
        new = ""
    if new is None:
        _remove(ds, elem.tag, ctx)
        return
    elem.value = new
    ctx.counts["text_rebuilt"] += 1


def canonical_vendor(value: str) -> str | None:
    normalized = re.sub(r"[^A-Z0-9]+", " ", value.upper()).strip()
    for prefix, canonical in _VENDORS:
        if normalized == prefix or normalized.startswith(prefix + " ") or normalized.startswith(prefix + "_"):
            return canonical
        if prefix.isalpha() and normalized.startswith(prefix) and len(prefix) >= 5:
            return canonical  # "SIEMENSHEALTHINEERS", "TOSHIBA_MEC" (underscore already a space)
    return None


def _normalize_phrase(value: str) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", value.upper()).strip()[:64]


def is_known_window_phrase(value: str) -> bool:
    normalized = _normalize_phrase(value)
    match = _WINDOW_AFFIXES.fullmatch(normalized)
    if match is None:
        return False
    core = match.group(2).strip()
    return core in _WINDOW_PHRASES


def _segment_label(ds: Dataset) -> str:
    seq = ds.get("SegmentedPropertyTypeCodeSequence")
    if seq:
        item = seq[0]
        meaning = get_str(item, "CodeMeaning")
        scheme, value = get_str(item, "CodingSchemeDesignator") or "", get_str(item, "CodeValue") or ""
        if meaning and known_code_meaning(scheme, value) is not None:
            return meaning[:64]
    return f"Segment {get_str(ds, 'SegmentNumber') or ''}".strip()


# --------------------------------------------------------------------------------------------------
# Dates


def _date_time_pairs(ds: Dataset, ctx: _Context) -> dict[BaseTag, BaseTag]:
    """Date tag -> sibling Time tag, for pairs that are both to be shifted (StudyDate/StudyTime, ...)."""
    if not ctx.policy.retain_longitudinal_modified_dates:
        return {}
    pairs: dict[BaseTag, BaseTag] = {}
    for elem in list(ds.values()):
        tag = elem.tag
        if elem.VR not in ("DA", "UN", None):
            continue  # raw elements of implicit VR files have no VR yet, and UN may be a known DA
        vr, keyword = _vr_and_keyword(ds, tag)
        if vr != "DA" or tag.is_private or not keyword or keyword in _NEVER_SHIFT:
            continue
        if (tag.group & 0xFF00) in (0x5000, 0x6000) or tag.group in (0x0000, 0x0002):
            continue  # removed whole by _clean_element
        partner_kw = keyword.replace("Date", "Time")
        partner_tag = tag_for_keyword(partner_kw)
        if partner_tag is None or partner_tag not in ds:
            continue
        partner_vr, _ = _vr_and_keyword(ds, Tag(partner_tag))
        if partner_vr != "TM":
            continue
        if _profile_action(tag, keyword, vr, ctx) in (None, "C") and _profile_action(
            partner_tag, partner_kw, partner_vr, ctx
        ) in (None, "C"):
            pairs[tag] = Tag(partner_tag)
    return pairs


def _vr_and_keyword(ds: Dataset, tag: BaseTag) -> tuple[str | None, str]:
    """VR and keyword without converting a raw element (a raw one of unresolvable VR is converted)."""
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement):
        vr = _raw_vr(elem.VR, tag)
        if vr is not None:
            return vr, _keyword(tag)
        elem = _convert(ds, tag)
    return elem.VR, elem.keyword


def _shift_pair(ds: Dataset, date_tag: BaseTag, time_tag: BaseTag, ctx: _Context) -> None:
    d_values, t_values = _strings_of(ds, date_tag), _strings_of(ds, time_tag)
    parsed_d = _parse_date(d_values[0].strip()) if len(d_values) == 1 else None
    parsed_t = _parse_time(t_values[0].strip()) if len(t_values) == 1 else None
    if parsed_d is None or parsed_t is None:  # multi-valued, empty or unparseable: each on its own
        _shift_single(ds, date_tag, "DA", ctx)
        _shift_single(ds, time_tag, "TM", ctx)
        return
    t, precision = parsed_t
    try:
        moved = datetime.combine(parsed_d, t) - ctx.offset
    except OverflowError:
        _remove(ds, date_tag, ctx)
        _remove(ds, time_tag, ctx)
        return
    _put_strings(ds, date_tag, [moved.strftime("%Y%m%d")])
    _put_strings(ds, time_tag, [_format_time(moved.time(), precision)])
    ctx.counts["date_shifted"] += 2


def _shift_single(ds: Dataset, tag: BaseTag, vr: str, ctx: _Context) -> None:
    shifter = {"DA": _shift_da, "TM": _shift_tm, "DT": _shift_dt}[vr]
    out: list[str] = []
    for value in _strings_of(ds, tag):
        text = value.strip()
        if not text:
            out.append("")
            continue
        shifted = shifter(text, ctx)
        if shifted is None:
            _remove(ds, tag, ctx, "date_unparseable_removed")
            return
        out.append(shifted)
    _put_strings(ds, tag, out)
    ctx.counts["date_shifted"] += 1


def _strings_of(ds: Dataset, tag: BaseTag) -> list[str]:
    """The values of a UI, DA, TM or DT element as strings, as pydicom converts them (a raw one unconverted)."""
    elem = ds._dict.get(tag)
    if isinstance(elem, RawDataElement) and elem.value is not None:
        return split_raw_strings(elem.value)
    value = _convert(ds, tag).value
    if isinstance(value, (MultiValue, list, tuple)):
        return ["" if v is None else str(v) for v in value]
    return ["" if value is None else str(value)]


def _put_strings(ds: Dataset, tag: BaseTag, values: list[str]) -> None:
    """Set new values; a raw element stays raw (the writer copies it), in the encoding it was read with."""
    elem = ds._dict.get(tag)
    assert elem is not None, "callers pass elements of the dataset"
    if isinstance(elem, RawDataElement):
        data = "\\".join(values).encode("ascii")  # rebuilt UIDs and dates are ASCII
        if len(data) % 2:
            data += b"\x00" if _raw_vr(elem.VR, tag) == "UI" else b" "
        put_raw(ds, elem._replace(value=data, length=len(data)))
    else:
        elem.value = values if len(values) > 1 else values[0]


def _parse_date(text: str) -> date | None:
    text = text.replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


_TIME_RE: Final = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$")


def _parse_time(text: str) -> tuple[time, int] | None:
    """(time, precision) where precision is 1..3 components, or 3 + number of fraction digits."""
    match = _TIME_RE.match(text.replace(":", ""))
    if match is None:
        return None
    hh, mm, ss, frac = match.groups()
    try:
        micro = int((frac or "0").ljust(6, "0"))
        value = time(int(hh), int(mm or 0), min(int(ss or 0), 59), micro)
    except ValueError:
        return None
    precision = 1 + (mm is not None) + (ss is not None) + (len(frac) if frac else 0)
    return value, precision


def _format_time(value: time, precision: int) -> str:
    text = value.strftime("%H%M%S")[: 2 * min(precision, 3)]
    if precision > 3:
        text += "." + f"{value.microsecond:06d}"[: precision - 3]
    return text


def _shift_da(text: str, ctx: _Context) -> str | None:
    parsed = _parse_date(text)
    if parsed is None:
        return None
    try:
        return (parsed - ctx.offset_days).strftime("%Y%m%d")
    except OverflowError:
        return None


def _shift_tm(text: str, ctx: _Context) -> str | None:
    parsed = _parse_time(text)
    if parsed is None:
        return None
    value, precision = parsed
    moved = datetime.combine(date(2000, 1, 2), value) - timedelta(seconds=ctx.offset_seconds)
    return _format_time(moved.time(), precision)


_DT_RE: Final = re.compile(r"^(\d{8})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?([+-]\d{4})?$")


def _shift_dt(text: str, ctx: _Context) -> str | None:
    """Shift a DateTime by the full offset; values coarser than a day cannot be shifted exactly: None."""
    match = _DT_RE.match(text)
    if match is None:
        return None
    d_text, t_text, zone = match.groups()
    parsed_d = _parse_date(d_text)
    if parsed_d is None:
        return None
    if not t_text:
        try:
            return (parsed_d - ctx.offset_days).strftime("%Y%m%d") + (zone or "")
        except OverflowError:
            return None
    parsed_t = _parse_time(t_text)
    if parsed_t is None:
        return None
    t, precision = parsed_t
    try:
        moved = datetime.combine(parsed_d, t) - ctx.offset
    except OverflowError:
        return None
    return moved.strftime("%Y%m%d") + _format_time(moved.time(), precision) + (zone or "")


# --------------------------------------------------------------------------------------------------
# Quarantine

_US_SOP_CLASSES: Final = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.6.2",
        "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.6",
        "1.2.840.10008.5.1.4.1.1.3",
    }
)
_SC_SOP_CLASSES: Final = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
# VL photographic/endoscopic/microscopic and video classes: camera pictures may show faces or labels.
_VL_PREFIX: Final = "1.2.840.10008.5.1.4.1.1.77.1."
_WSI_SOP_CLASS: Final = "1.2.840.10008.5.1.4.1.1.77.1.6"
_DOCUMENT_SOP_CLASSES: Final = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.104.1",
        "1.2.840.10008.5.1.4.1.1.104.2",
        "1.2.840.10008.5.1.4.1.1.104.3",
        "1.2.840.10008.5.1.4.1.1.104.4",
        "1.2.840.10008.5.1.4.1.1.104.5",
    }
)


def quarantine_decision(ds: Dataset) -> QuarantineDecision:
    """Whether a file needs a human look at its pixels before anyone reads it, and why.

    Reasons: burned_in_annotation (it says YES), ultrasound_burned_in_unknown / secondary_capture_burned_in_unknown /
    visible_light_burned_in_unknown (classes that usually carry burned-in text and do not say NO),
    slide_label_image (a WSI label/overview image shows the slide label), recognizable_visual_features,
    encapsulated_document.
    """
    burned = (get_str(ds, "BurnedInAnnotation") or "").upper()
    if burned == "YES":
        return QuarantineDecision(True, "burned_in_annotation")
    if (get_str(ds, "RecognizableVisualFeatures") or "").upper() == "YES":
        return QuarantineDecision(True, "recognizable_visual_features")
    sop_class = get_str(ds, "SOPClassUID") or ""
    if not sop_class:
        meta = getattr(ds, "file_meta", None)
        sop_class = (get_str(meta, "MediaStorageSOPClassUID") if meta is not None else None) or ""
    modality = (get_str(ds, "Modality") or "").upper()
    image_type = {s.upper() for s in get_strs(ds, "ImageType")}
    if sop_class in _DOCUMENT_SOP_CLASSES:
        return QuarantineDecision(True, "encapsulated_document")
    if sop_class == _WSI_SOP_CLASS and image_type & {"LABEL", "OVERVIEW"}:
        return QuarantineDecision(True, "slide_label_image")
    if burned == "NO":
        return QuarantineDecision(False)
    if modality in ("US", "IVUS") or sop_class in _US_SOP_CLASSES:
        return QuarantineDecision(True, "ultrasound_burned_in_unknown")
    if sop_class in _SC_SOP_CLASSES or modality == "OT":
        return QuarantineDecision(True, "secondary_capture_burned_in_unknown")
    if sop_class.startswith(_VL_PREFIX) and sop_class != _WSI_SOP_CLASS:
        return QuarantineDecision(True, "visible_light_burned_in_unknown")
    return QuarantineDecision(False)


__all__ = [
    "DEID_METHOD_CODES",
    "REDACTED_CODE",
    "DeidPolicy",
    "DeidResult",
    "QuarantineDecision",
    "canonical_vendor",
    "deidentify",
    "is_known_window_phrase",
    "known_code_meaning",
    "patient_key",
    "patient_pseudonym",
    "profile_table",
    "quarantine_decision",
]
