"""Safe reading of one DICOM Part 10 file, pixel decoding, and the summary the index needs.

Reading is strict on purpose: this is the door through which untrusted uploads enter. The rules:
- As `dcmread` without `force`: a file without the 128-byte preamble + "DICM" + file meta is refused
  (`not_dicom`), including raw datasets such as the shared RTSTRUCT phantom. Accepting them would mean
  guessing the transfer syntax of arbitrary bytes; every conformant sender (STOW-RS, C-STORE to file,
  scanners' media export) writes Part 10 files.
- Only transfer syntaxes we can decode with the installed plugins are accepted (SUPPORTED_TRANSFER_SYNTAXES).
- The decoded pixel size is checked from the header before anything is decoded (decompression bombs), and
  a deflated dataset is inflated once with a bound before pydicom inflates it without one.
- Every element is converted once at read time, so lazy-parsing errors surface here as `malformed_dicom`
  instead of later in a viewer request. Ingest with de-identification defers this (`convert_values=False`)
  to the de-identifier, which checks what it keeps and never parses what it removes (see deid.py).
- An executable (PE, ELF, Mach-O) in the preamble is zeroed and reported: DICOM files double as
  executables in known polyglot attacks, and we never need the preamble.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, BinaryIO, Final, cast

import numpy as np
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset, validate_file_meta
from pydicom.encaps import generate_fragments, get_frame
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_command_set_elements, _read_file_meta_info, read_dataset, read_preamble
from pydicom.filewriter import write_data_element
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import pixel_array
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from ._values import (
    functional_group_dataset,
    get_float,
    get_floats,
    get_int,
    get_str,
    get_strs,
    peek_value,
    raw_value,
    set_ascii,
)
from .errors import Code, ImagingError
from .uids import derived_uid, is_valid_uid

DEFAULT_MAX_PIXEL_BYTES: Final = 1 << 30
# Headroom for the non-pixel part of a deflated dataset on top of the pixel cap.
_DEFLATE_HEADROOM: Final = 64 << 20

# Transfer syntax -> the plugin that decodes it here (pydicom tries the others if the first fails).
# JPEG-LS is decoded by pyjpegls (a highdicom dependency) or pylibjpeg-libjpeg, so python-gdcm is not needed.
SUPPORTED_TRANSFER_SYNTAXES: Final[dict[str, str]] = {
    ImplicitVRLittleEndian: "native (numpy)",
    ExplicitVRLittleEndian: "native (numpy)",
    DeflatedExplicitVRLittleEndian: "native (numpy) after zlib inflate",
    ExplicitVRBigEndian: "native (numpy)",
    JPEGBaseline8Bit: "pylibjpeg-libjpeg, fallback pillow",
    JPEGExtended12Bit: "pylibjpeg-libjpeg, fallback pillow (8-bit only)",
    JPEGLossless: "pylibjpeg-libjpeg",
    JPEGLosslessSV1: "pylibjpeg-libjpeg",
    JPEGLSLossless: "pyjpegls, fallback pylibjpeg-libjpeg",
    JPEGLSNearLossless: "pyjpegls, fallback pylibjpeg-libjpeg",
    JPEG2000Lossless: "pylibjpeg-openjpeg, fallback pillow",
    JPEG2000: "pylibjpeg-openjpeg, fallback pillow",
    HTJ2KLossless: "pylibjpeg-openjpeg",
    HTJ2KLosslessRPCL: "pylibjpeg-openjpeg",
    HTJ2K: "pylibjpeg-openjpeg",
    RLELossless: "pylibjpeg-rle, fallback pydicom (numpy)",
}
_PREFERRED_PLUGIN: Final[dict[str, str]] = {
    JPEGBaseline8Bit: "pylibjpeg",
    JPEGExtended12Bit: "pylibjpeg",
    JPEGLossless: "pylibjpeg",
    JPEGLosslessSV1: "pylibjpeg",
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
    # Pillow's JPEG 2000 path mishandles signed and >8-bit precision corner cases; openjpeg does not.
    JPEG2000Lossless: "pylibjpeg",
    JPEG2000: "pylibjpeg",
    HTJ2KLossless: "pylibjpeg",
    HTJ2KLosslessRPCL: "pylibjpeg",
    HTJ2K: "pylibjpeg",
    RLELossless: "pylibjpeg",
}
_NATIVE_SYNTAXES: Final = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian}
)
_PIXEL_KEYWORDS: Final = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIXEL_TAGS: Final = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_SUPPORTED_PHOTOMETRIC: Final = frozenset(
    {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "YBR_RCT", "YBR_ICT"}
)
_UNDEFINED_LENGTH: Final = 0xFFFFFFFF
# Magic numbers of executables that have been used in DICOM preamble polyglots.
_EXECUTABLE_MAGIC: Final = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
_MAX_RECORDED_WARNINGS: Final = 20
_ILLEGAL_GROUPS: Final = frozenset({0x0000, 0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})


@dataclass(frozen=True)
class WindowPreset:
    center: float
    width: float
    explanation: str | None = None
    function: str = "LINEAR"


# Common CT presets for the viewer's menu; the soft-tissue one is the model's default preprocessing window.
CT_WINDOW_PRESETS: Final = (
    WindowPreset(40.0, 400.0, "Soft tissue"),
    WindowPreset(-600.0, 1500.0, "Lung"),
    WindowPreset(400.0, 1800.0, "Bone"),
    WindowPreset(40.0, 80.0, "Brain"),
    WindowPreset(60.0, 160.0, "Liver"),
)


@dataclass(frozen=True)
class InstanceSummary:
    """Everything the index stores about one instance. Built by `summarize`; JSON-ready via `to_dict`."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str | None = None
    transfer_syntax_uid: str | None = None
    modality: str | None = None
    body_part_examined: str | None = None
    manufacturer: str | None = None
    patient_id: str | None = None
    study_date: date | None = None
    series_date: date | None = None
    acquisition_date: date | None = None
    content_date: date | None = None
    study_description: str | None = None
    series_description: str | None = None
    series_number: int | None = None
    instance_number: int | None = None
    acquisition_number: int | None = None
    echo_number: int | None = None
    temporal_position_identifier: int | None = None
    has_pixel_data: bool = False
    rows: int | None = None
    columns: int | None = None
    number_of_frames: int = 0
    samples_per_pixel: int | None = None
    photometric_interpretation: str | None = None
    bits_allocated: int | None = None
    bits_stored: int | None = None
    pixel_representation: int | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    image_position_patient: tuple[float, float, float] | None = None
    image_orientation_patient: tuple[float, float, float, float, float, float] | None = None
    # Enhanced multi-frame objects carry one position per frame (functional groups); None otherwise.
    frame_positions: tuple[tuple[float, float, float], ...] | None = None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str | None = None
    window_presets: tuple[WindowPreset, ...] = ()
    burned_in_annotation: bool | None = None
    recognizable_visual_features: bool | None = None
    lossy_image_compression: bool | None = None
    image_type: tuple[str, ...] = ()
    # MONOCHROME1: low values are bright. The values are left as stored; the viewer inverts.
    invert_for_display: bool = False

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in self.image_type

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
        return out


@dataclass(frozen=True)
class LoadedDicom:
    dataset: Dataset
    transfer_syntax_uid: str
    # True when an executable header was found in the preamble; the preamble has been zeroed.
    executable_preamble: bool = False
    # What read_dicom filled in, e.g. "sop_instance_uid_from_file_meta", "study_instance_uid_derived".
    repairs: tuple[str, ...] = ()
    # Distinct warnings pydicom emitted while reading (capped), for the ingest log.
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ParsedDicom(LoadedDicom):
    summary: InstanceSummary = field(kw_only=True)


@dataclass(frozen=True)
class DecodedFrame:
    # (rows, columns) for grayscale, (rows, columns, 3) RGB for color; rescale already applied to grayscale.
    pixels: np.ndarray
    # After color conversion: "MONOCHROME1", "MONOCHROME2" or "RGB".
    photometric_interpretation: str
    invert_for_display: bool
    rescale_slope: float
    rescale_intercept: float


# --------------------------------------------------------------------------------------------------
# Reading


def read_dicom(
    source: bytes | bytearray | memoryview | BinaryIO,
    *,
    max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES,
    max_dataset_bytes: int | None = None,
    uid_context: str = "",
) -> ParsedDicom:
    """Read and validate one Part 10 file, every element converted; raise ImagingError for anything we refuse.

    `uid_context` scopes the Study/Series UIDs derived for files that lack them (pass the upload batch
    or folder id): two unrelated uploads with equally sparse metadata then do not merge into one study.
    `max_dataset_bytes` bounds the inflated size of a deflated dataset (default: the pixel cap + 64 MiB).
    """
    loaded = load_dicom(
        source, max_pixel_bytes=max_pixel_bytes, max_dataset_bytes=max_dataset_bytes, uid_context=uid_context
    )
    return ParsedDicom(
        dataset=loaded.dataset,
        transfer_syntax_uid=loaded.transfer_syntax_uid,
        executable_preamble=loaded.executable_preamble,
        repairs=loaded.repairs,
        warnings=loaded.warnings,
        summary=summarize_or_refuse(loaded.dataset),
    )


def load_dicom(
    source: bytes | bytearray | memoryview | BinaryIO,
    *,
    max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES,
    max_dataset_bytes: int | None = None,
    uid_context: str = "",
    convert_values: bool = True,
) -> LoadedDicom:
    """`read_dicom` without the summary. With `convert_values=False` only the top-level elements' lengths
    are checked, and the elements the pixel checks and UID repair read are converted: the caller
    (de-identification) must check every element it keeps (`check_raw_length`, conversion) and may drop
    the others unparsed. Unconverted elements stay raw, so writing the dataset copies their bytes."""
    fp = _as_seekable(source)
    recorded: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preamble, file_meta = _read_header(fp)
        tsyntax = _check_transfer_syntax(file_meta)
        if tsyntax == DeflatedExplicitVRLittleEndian:
            limit = max_dataset_bytes if max_dataset_bytes is not None else max_pixel_bytes + _DEFLATE_HEADROOM
            _check_inflated_size(fp, limit)
        try:
            ds = _read_body(fp, preamble, file_meta, tsyntax)
        except Exception as exc:  # any reader failure on untrusted bytes is a malformed file
            raise _malformed("The DICOM file could not be read.", exc) from exc
        if convert_values:
            _force_read(ds)
        else:
            for raw in ds._dict.values():
                if isinstance(raw, RawDataElement):
                    check_raw_length(raw)
        for w in caught:
            text = str(w.message)[:200]
            if text not in recorded and len(recorded) < _MAX_RECORDED_WARNINGS:
                recorded.append(text)

    repairs: list[str] = []
    command_tags = [tag for tag in list(ds.keys()) if tag.group in _ILLEGAL_GROUPS]
    if command_tags:
        # A C-STORE command set (group 0000) saved into the file by a careless SCP, or groups that may
        # never appear in a dataset (1, 3, 5, 7, FFFF): dropped, since pydicom refuses to write them.
        for tag in command_tags:
            del ds[tag]
        repairs.append("illegal_group_elements_removed")
    executable = preamble is not None and preamble.startswith(_EXECUTABLE_MAGIC)
    if executable or preamble is None:
        ds.preamble = b"\x00" * 128
    try:
        check_pixel_header(ds, max_pixel_bytes=max_pixel_bytes)
        repairs += _repair_uids(ds, fp, uid_context)
    except ImagingError:
        raise
    except Exception as exc:  # with convert_values=False these are the first reads of those values
        raise _malformed("An element of the DICOM file could not be parsed.", exc) from exc
    return LoadedDicom(
        dataset=ds,
        transfer_syntax_uid=str(tsyntax),
        executable_preamble=executable,
        repairs=tuple(repairs),
        warnings=tuple(recorded),
    )


def _as_seekable(source: bytes | bytearray | memoryview | BinaryIO) -> BinaryIO:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    try:
        if source.seekable():
            source.seek(0)
            return source
    except (AttributeError, OSError, ValueError):
        pass
    return io.BytesIO(source.read())


def _malformed(message: str, exc: BaseException | None = None, **extra: Any) -> ImagingError:
    if exc is not None:
        extra.setdefault("detail", f"{type(exc).__name__}: {str(exc)[:200]}")
    return ImagingError(Code.MALFORMED_DICOM, message, extra)


def _read_header(fp: BinaryIO) -> tuple[bytes | None, FileMetaDataset]:
    head = fp.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        raise ImagingError(
            Code.NOT_DICOM,
            "The file is not a DICOM Part 10 file (no 128-byte preamble followed by 'DICM').",
            {"reason": "missing_part10_header"},
        )
    fp.seek(0)
    try:
        preamble = read_preamble(fp, False)
        file_meta = _read_file_meta_info(fp)
    except InvalidDicomError as exc:
        raise ImagingError(Code.NOT_DICOM, "The file is not a DICOM Part 10 file.", {"detail": str(exc)[:200]}) from exc
    except Exception as exc:  # corrupt file meta fails in many ways inside pydicom
        raise _malformed("The DICOM file meta information is corrupt.", exc) from exc
    return preamble, file_meta


def _read_body(fp: BinaryIO, preamble: bytes | None, file_meta: FileMetaDataset, tsyntax: UID) -> FileDataset:
    """What `pydicom.dcmread(fp)` returns, read on from the file meta that `_read_header` has read and
    checked: pydicom's read_partial less the header (parsing it again cost 4 % of ingest's per-file work)
    and less its guesses for syntaxes that were refused already."""
    command_set = _read_command_set_elements(fp)
    implicit, little = tsyntax.is_implicit_VR, tsyntax.is_little_endian
    if not fp.read(1):
        implicit, little = True, True  # no dataset: pydicom's defaults, as read_partial sets them
    else:
        fp.seek(-1, os.SEEK_CUR)
    if tsyntax == DeflatedExplicitVRLittleEndian:
        inflated = DicomBytesIO(zlib.decompress(fp.read(), -zlib.MAX_WBITS))  # size checked before
        if isinstance(name := getattr(fp, "name", None), str):
            inflated.name = name
        fp = cast(BinaryIO, inflated)
    dataset = read_dataset(fp, implicit, little)
    if command_set:
        dataset.update(command_set)
    ds = FileDataset(fp, dataset, preamble, file_meta, implicit, little)
    ds.set_original_encoding(implicit, little, dataset._character_set)
    return ds


def _check_transfer_syntax(file_meta: FileMetaDataset) -> UID:
    try:
        raw = file_meta.get("TransferSyntaxUID")
    except Exception as exc:  # a corrupt element value
        raise _malformed("The transfer syntax UID is unreadable.", exc) from exc
    text = str(raw or "").strip().rstrip("\x00").strip()
    if not text:
        raise _malformed("The file meta information has no Transfer Syntax UID.", reason="missing_transfer_syntax")
    if text not in SUPPORTED_TRANSFER_SYNTAXES:
        name = UID(text).name if is_valid_uid(text) else text[:64]
        raise ImagingError(
            Code.UNSUPPORTED_TRANSFER_SYNTAX,
            f"Transfer syntax {name} is not supported.",
            {"transfer_syntax_uid": text[:64], "supported": sorted(SUPPORTED_TRANSFER_SYNTAXES)},
        )
    return UID(text)


def _check_inflated_size(fp: BinaryIO, limit: int) -> None:
    """Inflate the deflated dataset once, counting bytes, so a zip bomb is refused before pydicom inflates it."""
    pos = fp.tell()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        while chunk := fp.read(1 << 20):
            data = inflater.decompress(chunk, 1 << 22)
            total += len(data)
            while inflater.unconsumed_tail and total <= limit:
                data = inflater.decompress(inflater.unconsumed_tail, 1 << 22)
                total += len(data)
            if total > limit:
                raise ImagingError(
                    Code.DATASET_TOO_LARGE,
                    "The deflated dataset inflates to more than the allowed size.",
                    {"limit": limit},
                )
            if inflater.eof:
                break
    except zlib.error as exc:
        raise _malformed("The deflated dataset is corrupt.", exc) from exc
    finally:
        fp.seek(pos)


def _force_read(ds: Dataset) -> None:
    """Convert every element now (pydicom converts lazily) and check declared lengths against the bytes read."""
    try:
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            _force_read_level(meta, depth=0)
        _force_read_level(ds, depth=0)
    except ImagingError:
        raise
    except Exception as exc:  # conversion errors of untrusted values come in many types
        raise _malformed("An element of the DICOM file could not be parsed.", exc) from exc


_MAX_SEQUENCE_DEPTH: Final = 64


def _force_read_level(ds: Dataset, depth: int) -> None:
    if depth > _MAX_SEQUENCE_DEPTH:
        raise _malformed("Sequences are nested too deeply.", reason="sequence_depth")
    for tag in list(ds.keys()):
        raw = ds._dict.get(tag)
        if isinstance(raw, RawDataElement):
            check_raw_length(raw)
        elem = ds[tag]
        if elem.VR == "SQ":
            items = elem.value
            if not isinstance(items, Sequence):
                raise _malformed("A sequence could not be parsed.", tag=str(BaseTag(tag)))
            for item in items:
                _force_read_level(item, depth + 1)
        elif tag not in _PIXEL_TAGS:
            _ = elem.value


def check_raw_length(raw: RawDataElement) -> None:
    length = raw.length
    value = raw.value
    if length != _UNDEFINED_LENGTH and value is not None and len(value) != length:
        raise _malformed(
            "An element is shorter than its declared length (truncated file?).",
            tag=str(BaseTag(raw.tag)),
            declared=length,
            actual=len(value),
        )


def has_pixel_data(ds: Dataset) -> bool:
    return _has_pixels(ds) is not None


def _has_pixels(ds: Dataset) -> str | None:
    for keyword in _PIXEL_KEYWORDS:
        if keyword in ds:
            return keyword
    return None


def check_pixel_header(ds: Dataset, *, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> int:
    """Validate the Image Pixel attributes and the decoded size cap without decoding; return the decoded bytes."""
    keyword = _has_pixels(ds)
    if keyword is None:
        if _is_image_class(ds):
            raise _malformed("The image has no pixel data (truncated file?).", reason="missing_pixel_data")
        return 0
    rows, columns = get_int(ds, "Rows"), get_int(ds, "Columns")
    bits = get_int(ds, "BitsAllocated")
    spp = get_int(ds, "SamplesPerPixel") or 1
    frames = number_of_frames(ds)
    if rows is None or columns is None or rows < 1 or columns < 1:
        raise _malformed("Rows and Columns must be positive integers.", reason="bad_dimensions")
    if keyword == "FloatPixelData":
        bits = 32
    elif keyword == "DoubleFloatPixelData":
        bits = 64
    if bits not in (1, 8, 16, 32, 64):
        raise _malformed("Bits Allocated must be 1, 8, 16, 32 or 64.", reason="bad_bits_allocated", bits=bits)
    if spp not in (1, 3):
        raise _malformed("Samples per Pixel must be 1 or 3.", reason="bad_samples_per_pixel", samples=spp)
    if frames is None or frames < 1:
        raise _malformed("Number of Frames must be a positive integer.", reason="bad_number_of_frames")
    # Rows x Columns x Samples x Frames x Bits Allocated / 8, except that 1-bit data (SEG) is unpacked to
    # one byte per pixel when decoded, so it counts as 8 bits: a 450 MB packed mask is 3.6 GB in memory.
    decoded = math.ceil(rows * columns * spp * frames * max(bits, 8) / 8)
    if decoded > max_pixel_bytes:
        raise ImagingError(
            Code.PIXEL_DATA_TOO_LARGE,
            "The decoded pixel data would exceed the size limit.",
            {"decoded_bytes": decoded, "limit": max_pixel_bytes, "rows": rows, "columns": columns, "frames": frames},
        )
    if keyword == "PixelData":
        stored = get_int(ds, "BitsStored")
        if stored is not None and not 1 <= stored <= bits:
            raise _malformed("Bits Stored must be between 1 and Bits Allocated.", reason="bad_bits_stored")
        photometric = get_str(ds, "PhotometricInterpretation")
        if photometric not in _SUPPORTED_PHOTOMETRIC:
            raise _malformed(
                "Unsupported Photometric Interpretation.",
                reason="bad_photometric_interpretation",
                photometric=(photometric or "")[:32],
            )
        if (spp == 3) != (photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")):
            raise _malformed("Samples per Pixel does not match the Photometric Interpretation.", reason="bad_samples")
    value = ds[keyword].value
    if not isinstance(value, (bytes, bytearray)):
        raise _malformed("The pixel data element has no value.", reason="empty_pixel_data")
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsyntax is None or tsyntax in _NATIVE_SYNTAXES:
        expected = math.ceil(rows * columns * spp * frames * bits / 8)
        if len(value) < expected:
            raise _malformed(
                "The pixel data is shorter than Rows x Columns x Frames require.",
                reason="short_pixel_data",
                expected=expected,
                actual=len(value),
            )
    else:
        _check_encapsulation(value)
    return decoded


def _check_encapsulation(value: bytes | bytearray) -> None:
    try:
        fragments = 0
        consumed = 0
        for fragment in generate_fragments(value):
            fragments += 1
            consumed += 8 + len(fragment)
    except Exception as exc:  # a corrupt fragment table
        raise _malformed("The encapsulated pixel data is corrupt.", exc, reason="bad_encapsulation") from exc
    if fragments == 0:
        raise _malformed("The encapsulated pixel data has no fragments.", reason="bad_encapsulation")
    if consumed != len(value):
        # Bytes outside any item: pydicom stops at them when reading, but writing pads the value to an
        # even length and the next reader then parses the junk as an item tag.
        raise _malformed(
            "The encapsulated pixel data has bytes outside its items.",
            reason="bad_encapsulation",
            trailing=len(value) - consumed,
        )


_PIXEL_STORAGE_NAMES: Final = frozenset({"Segmentation Storage", "Parametric Map Storage"})


def _is_image_class(ds: Dataset) -> bool:
    """Whether the SOP class requires Pixel Data (Type 1), so its absence means a damaged file.

    A file cut exactly between two elements parses cleanly; for image classes the missing pixel data gives
    it away. Non-image classes (SR, RT Structure Set, presentation states, RT Dose with only DVHs) pass.
    """
    meta = getattr(ds, "file_meta", None)
    sop_class = get_str(ds, "SOPClassUID") or (get_str(meta, "MediaStorageSOPClassUID") if meta is not None else None)
    if not sop_class or not is_valid_uid(sop_class):
        return "Rows" in ds and "Columns" in ds
    name = UID(sop_class).name
    return name.endswith("Image Storage") or "Image Storage -" in name or name in _PIXEL_STORAGE_NAMES


def number_of_frames(ds: Dataset) -> int | None:
    if "NumberOfFrames" not in ds:
        return 1
    raw = raw_value(ds, "NumberOfFrames")
    if raw is None or str(raw).strip() == "":
        return 1  # Type 1 but often empty in single-frame files written by careless converters
    return get_int(ds, "NumberOfFrames")


# --------------------------------------------------------------------------------------------------
# UID repair


def _repair_uids(ds: Dataset, fp: BinaryIO, uid_context: str) -> list[str]:
    """Fill in empty Study/Series/SOP UIDs (the TotalSegmentator series has only the file meta ones).

    - SOP Class/Instance UID: from the file meta (Media Storage SOP Class/Instance UID) when the dataset's
      are empty; if both are empty the instance UID is derived from the SHA-256 of the file, so
      re-uploading the same file deduplicates.
    - Study Instance UID: derived (derived_uid) from `uid_context` + patient ID/name/birth date + study
      date/time + accession number + study ID. Files of one study share these, so they land in one study.
    - Series Instance UID: derived from the study UID + modality + series number/date/time/description +
      frame of reference UID.
    A UID that is present but syntactically invalid is refused, since the index keys on it.
    """
    repairs: list[str] = []
    meta = getattr(ds, "file_meta", None)

    def meta_str(keyword: str) -> str:
        return (get_str(meta, keyword) or "") if meta is not None else ""

    sop_class = get_str(ds, "SOPClassUID") or ""
    if not sop_class and meta_str("MediaStorageSOPClassUID"):
        sop_class = meta_str("MediaStorageSOPClassUID")
        repairs.append("sop_class_uid_from_file_meta")
    sop_instance = get_str(ds, "SOPInstanceUID") or ""
    if not sop_instance:
        sop_instance = meta_str("MediaStorageSOPInstanceUID")
        if sop_instance:
            repairs.append("sop_instance_uid_from_file_meta")
        else:
            sop_instance = derived_uid("sop", _sha256_of(fp))
            repairs.append("sop_instance_uid_derived")
    if not sop_class:
        raise _malformed("The file has no SOP Class UID.", reason="missing_sop_class_uid")
    for keyword, value in (("SOPClassUID", sop_class), ("SOPInstanceUID", sop_instance)):
        if not is_valid_uid(value):
            raise _malformed(f"{keyword} is not a valid UID.", reason="invalid_uid", keyword=keyword)
        _set_if_changed(ds, keyword, value)

    study = get_str(ds, "StudyInstanceUID") or ""
    if not study:
        study = derived_uid(
            "study",
            uid_context,
            *(
                get_str(ds, k) or ""
                for k in (
                    "PatientID",
                    "PatientName",
                    "PatientBirthDate",
                    "StudyDate",
                    "StudyTime",
                    "AccessionNumber",
                    "StudyID",
                )
            ),
        )
        repairs.append("study_instance_uid_derived")
    series = get_str(ds, "SeriesInstanceUID") or ""
    if not series:
        series = derived_uid(
            "series",
            study,
            *(
                get_str(ds, k) or ""
                for k in (
                    "Modality",
                    "SeriesNumber",
                    "SeriesDate",
                    "SeriesTime",
                    "SeriesDescription",
                    "FrameOfReferenceUID",
                )
            ),
        )
        repairs.append("series_instance_uid_derived")
    for keyword, value in (("StudyInstanceUID", study), ("SeriesInstanceUID", series)):
        if not is_valid_uid(value):
            raise _malformed(f"{keyword} is not a valid UID.", reason="invalid_uid", keyword=keyword)
        _set_if_changed(ds, keyword, value)

    if meta is not None:
        if meta_str("MediaStorageSOPInstanceUID") not in ("", sop_instance):
            repairs.append("file_meta_sop_instance_uid_mismatch")
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_instance
    return repairs


def _set_if_changed(ds: Dataset, keyword: str, value: str) -> None:
    # One left raw, or set raw, is copied by the writer (and kept raw by de-identification).
    if get_str(ds, keyword) != value:
        set_ascii(ds, int(Tag(keyword)), "UI", value)


def _sha256_of(fp: BinaryIO) -> str:
    pos = fp.tell()
    fp.seek(0)
    h = hashlib.sha256()
    while chunk := fp.read(1 << 20):
        h.update(chunk)
    fp.seek(pos)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Summary


def _date(ds: Dataset, keyword: str) -> date | None:
    text = get_str(ds, keyword)
    return parse_da(text) if text else None


def parse_da(text: str) -> date | None:
    text = text.strip().replace(".", "")  # ACR-NEMA style "1999.01.31" still shows up
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _flag(ds: Dataset, keyword: str) -> bool | None:
    text = (get_str(ds, keyword) or "").upper()
    return {"YES": True, "NO": False}.get(text)


def _lossy(ds: Dataset) -> bool | None:
    text = get_str(ds, "LossyImageCompression")
    return None if text is None else text == "01"


def _vec3(values: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    if values is None or len(values) != 3:
        return None
    return (values[0], values[1], values[2])


def window_presets(ds: Dataset, frame: int | None = None) -> tuple[WindowPreset, ...]:
    """WindowCenter/WindowWidth (multi-valued) with their explanations, top level or Frame VOI LUT macro."""
    source: Dataset | None = ds if "WindowCenter" in ds else functional_group_dataset(ds, "FrameVOILUTSequence", frame)
    if source is None:
        return ()
    centers = get_floats(source, "WindowCenter") or ()
    widths = get_floats(source, "WindowWidth") or ()
    explanations = get_strs(source, "WindowCenterWidthExplanation")
    function = (get_str(source, "VOILUTFunction") or "LINEAR").upper()
    presets = []
    for i, (center, width) in enumerate(zip(centers, widths, strict=False)):
        if width <= 0:
            continue  # PS3.3 C.11.2.1.2: width must be > 0 (>= 1 for LINEAR); a zero would divide by zero
        explanation = explanations[i] if i < len(explanations) else None
        presets.append(WindowPreset(center, width, explanation, function))
    return tuple(presets)


def rescale_for_frame(ds: Dataset, frame: int | None = None) -> tuple[float, float, str | None]:
    """(slope, intercept, type) from the top level or the Pixel Value Transformation macro of a frame."""
    source: Dataset | None = ds if "RescaleSlope" in ds or "RescaleIntercept" in ds else None
    if source is None:
        source = functional_group_dataset(ds, "PixelValueTransformationSequence", frame)
    if source is None:
        return 1.0, 0.0, None
    slope = get_float(source, "RescaleSlope")
    intercept = get_float(source, "RescaleIntercept")
    return (
        1.0 if slope is None or slope == 0 else slope,
        0.0 if intercept is None else intercept,
        get_str(source, "RescaleType"),
    )


def _geometry(
    ds: Dataset,
) -> tuple[
    tuple[float, float] | None,
    tuple[float, float, float] | None,
    tuple[float, float, float, float, float, float] | None,
    float | None,
    float | None,
    tuple[tuple[float, float, float], ...] | None,
]:
    spacing = get_floats(ds, "PixelSpacing", 2)
    position = _vec3(get_floats(ds, "ImagePositionPatient", 3))
    orientation = get_floats(ds, "ImageOrientationPatient", 6)
    thickness = get_float(ds, "SliceThickness")
    between = get_float(ds, "SpacingBetweenSlices")
    frame_positions: tuple[tuple[float, float, float], ...] | None = None
    if "SharedFunctionalGroupsSequence" in ds or "PerFrameFunctionalGroupsSequence" in ds:
        measures = functional_group_dataset(ds, "PixelMeasuresSequence", 0)
        if measures is not None:
            spacing = spacing or get_floats(measures, "PixelSpacing", 2)
            thickness = thickness if thickness is not None else get_float(measures, "SliceThickness")
            between = between if between is not None else get_float(measures, "SpacingBetweenSlices")
        plane = functional_group_dataset(ds, "PlaneOrientationSequence", 0)
        if plane is not None and orientation is None:
            orientation = get_floats(plane, "ImageOrientationPatient", 6)
        positions: list[tuple[float, float, float]] = []
        for frame in range(number_of_frames(ds) or 0):
            item = functional_group_dataset(ds, "PlanePositionSequence", frame)
            vec = _vec3(get_floats(item, "ImagePositionPatient", 3)) if item is not None else None
            if vec is None:
                positions = []
                break
            positions.append(vec)
        if positions:
            frame_positions = tuple(positions)
            position = position or positions[0]
    spacing_pair = (spacing[0], spacing[1]) if spacing is not None else None
    iop = tuple(orientation) if orientation is not None else None
    return (
        spacing_pair,
        position,
        iop,  # type: ignore[return-value]  # length checked by get_floats(count=6)
        thickness,
        between,
        frame_positions,
    )


def summarize_or_refuse(ds: Dataset) -> InstanceSummary:
    try:
        return summarize(ds)
    except Exception as exc:  # summarize is defensive; a failure here is still bad input
        raise _malformed("The DICOM header could not be summarized.", exc) from exc


def summarize(ds: Dataset) -> InstanceSummary:
    """The index record of a dataset. Never raises on odd values: unusable ones become None."""
    meta = getattr(ds, "file_meta", None)
    has_pixels = _has_pixels(ds) is not None
    spacing, position, orientation, thickness, between, frame_positions = _geometry(ds)
    slope, intercept, rescale_type = rescale_for_frame(ds, 0)
    photometric = get_str(ds, "PhotometricInterpretation")
    return InstanceSummary(
        sop_instance_uid=get_str(ds, "SOPInstanceUID") or "",
        sop_class_uid=get_str(ds, "SOPClassUID") or "",
        study_instance_uid=get_str(ds, "StudyInstanceUID") or "",
        series_instance_uid=get_str(ds, "SeriesInstanceUID") or "",
        frame_of_reference_uid=get_str(ds, "FrameOfReferenceUID"),
        transfer_syntax_uid=get_str(meta, "TransferSyntaxUID") if meta is not None else None,
        modality=get_str(ds, "Modality"),
        body_part_examined=get_str(ds, "BodyPartExamined"),
        manufacturer=get_str(ds, "Manufacturer"),
        patient_id=get_str(ds, "PatientID"),
        study_date=_date(ds, "StudyDate"),
        series_date=_date(ds, "SeriesDate"),
        acquisition_date=_date(ds, "AcquisitionDate"),
        content_date=_date(ds, "ContentDate"),
        study_description=get_str(ds, "StudyDescription"),
        series_description=get_str(ds, "SeriesDescription"),
        series_number=get_int(ds, "SeriesNumber"),
        instance_number=get_int(ds, "InstanceNumber"),
        acquisition_number=get_int(ds, "AcquisitionNumber"),
        echo_number=get_int(ds, "EchoNumbers"),
        temporal_position_identifier=get_int(ds, "TemporalPositionIdentifier"),
        has_pixel_data=has_pixels,
        rows=get_int(ds, "Rows"),
        columns=get_int(ds, "Columns"),
        number_of_frames=(number_of_frames(ds) or 0) if has_pixels else 0,
        samples_per_pixel=get_int(ds, "SamplesPerPixel"),
        photometric_interpretation=photometric,
        bits_allocated=get_int(ds, "BitsAllocated"),
        bits_stored=get_int(ds, "BitsStored"),
        pixel_representation=get_int(ds, "PixelRepresentation"),
        pixel_spacing=spacing,
        slice_thickness=thickness,
        spacing_between_slices=between,
        image_position_patient=position,
        image_orientation_patient=orientation,
        frame_positions=frame_positions,
        rescale_slope=slope,
        rescale_intercept=intercept,
        rescale_type=rescale_type,
        window_presets=window_presets(ds, 0),
        burned_in_annotation=_flag(ds, "BurnedInAnnotation"),
        recognizable_visual_features=_flag(ds, "RecognizableVisualFeatures"),
        lossy_image_compression=_lossy(ds),
        image_type=tuple(s.upper() for s in get_strs(ds, "ImageType")),
        invert_for_display=photometric == "MONOCHROME1",
    )


# --------------------------------------------------------------------------------------------------
# Pixel decoding


def decode_frame(ds: Dataset, index: int = 0, *, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> DecodedFrame:
    """Decode one frame: grayscale with the modality rescale applied, color converted to RGB.

    Grayscale dtype: the stored dtype when there is no rescale; int16/int32 when slope and intercept are
    integers and the rescaled range fits (exact); float32 otherwise. MONOCHROME1 values are not inverted.
    """
    check_pixel_header(ds, max_pixel_bytes=max_pixel_bytes)
    keyword = _has_pixels(ds)
    if keyword is None:
        raise ImagingError(Code.NO_PIXEL_DATA, "The instance has no pixel data.")
    frames = number_of_frames(ds) or 1
    if not 0 <= index < frames:
        raise ImagingError(Code.FRAME_OUT_OF_RANGE, "No such frame.", {"index": index, "frames": frames})
    tsyntax = str(ds.file_meta.TransferSyntaxUID)
    photometric = get_str(ds, "PhotometricInterpretation") or "MONOCHROME2"
    try:
        _check_codestream_size(ds, index, tsyntax, frames)
        raw = _decode_raw(ds, index, tsyntax)
        if photometric == "PALETTE COLOR":
            pixels = np.asarray(apply_color_lut(raw, ds))
            photometric_out = "RGB"
        elif raw.ndim == 3:
            pixels = raw
            photometric_out = "RGB"  # pydicom's as_rgb converts YBR_FULL(_422)/RCT/ICT to RGB
        else:
            pixels, slope, intercept = _rescale(ds, raw, index)
            return DecodedFrame(pixels, photometric, photometric == "MONOCHROME1", slope, intercept)
    except ImagingError:
        raise
    except BaseException as exc:  # decoder plugins raise anything from ValueError to Rust panics
        _reraise_if_fatal(exc)
        raise ImagingError(
            Code.PIXEL_DECODE_FAILED,
            "The pixel data could not be decoded.",
            {"detail": f"{type(exc).__name__}: {str(exc)[:200]}", "transfer_syntax_uid": tsyntax, "frame": index},
        ) from exc
    return DecodedFrame(pixels, photometric_out, False, 1.0, 0.0)


def iter_frames(ds: Dataset, *, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> Iterator[DecodedFrame]:
    check_pixel_header(ds, max_pixel_bytes=max_pixel_bytes)
    for index in range(number_of_frames(ds) or 1):
        yield decode_frame(ds, index, max_pixel_bytes=max_pixel_bytes)


def decode_frames(ds: Dataset, *, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES) -> np.ndarray:
    """All frames stacked: (frames, rows, columns[, 3]), one common dtype."""
    frames = [f.pixels for f in iter_frames(ds, max_pixel_bytes=max_pixel_bytes)]
    dtype = np.result_type(*frames)
    return np.stack([f.astype(dtype, copy=False) for f in frames])


def _reraise_if_fatal(exc: BaseException) -> None:
    """Let interpreter-level exceptions through; a Rust plugin's panic (pyo3 PanicException derives from
    BaseException, seen from pylibjpeg-rle on corrupt segments) is just a failed decode."""
    if isinstance(exc, Exception) or type(exc).__name__ == "PanicException":
        return
    raise exc


def _decode_raw(ds: Dataset, index: int, tsyntax: str) -> np.ndarray:
    plugin = _PREFERRED_PLUGIN.get(tsyntax, "")
    if plugin:
        try:
            return np.asarray(pixel_array(ds, index=index, decoding_plugin=plugin))
        except BaseException as exc:  # noqa: BLE001 - fall through to pydicom trying every available plugin
            _reraise_if_fatal(exc)
    return np.asarray(pixel_array(ds, index=index))


_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})


def codestream_size(frame: bytes) -> tuple[int, int] | None:
    """(columns, rows) from a JPEG / JPEG-LS SOF or a JPEG 2000 SIZ marker; None when not found."""
    siz = frame.find(b"\xff\x4f\xff\x51", 0, 4096)  # SOC + SIZ, possibly after JP2 boxes
    if siz != -1:
        if len(frame) < siz + 24:
            return None
        x, y, x0, y0 = struct.unpack(">IIII", frame[siz + 8 : siz + 24])
        return (x - x0, y - y0)
    if frame[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 <= len(frame):
        if frame[at] != 0xFF:
            return None
        marker = frame[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = int.from_bytes(frame[at + 2 : at + 4], "big")
        if marker in _SOF_MARKERS:
            rows = int.from_bytes(frame[at + 5 : at + 7], "big")
            columns = int.from_bytes(frame[at + 7 : at + 9], "big")
            return (columns, rows) if rows else None  # rows 0: height comes later in a DNL marker
        if length < 2:
            return None
        at += 2 + length
    return None


def _check_codestream_size(ds: Dataset, index: int, tsyntax: str, frames: int) -> None:
    """Refuse a compressed frame whose own header disagrees with Rows/Columns before the decoder allocates
    for the codestream's size: a few changed bytes in a SIZ marker otherwise ask openjpeg for gigabytes."""
    if tsyntax in _NATIVE_SYNTAXES or tsyntax == RLELossless:
        return
    value = ds[_has_pixels(ds) or "PixelData"].value
    try:
        frame = get_frame(value, index, number_of_frames=frames)
    except Exception:  # noqa: BLE001 - an unsplittable buffer is left for the decoder to refuse
        return
    size = codestream_size(frame)
    rows, columns = get_int(ds, "Rows"), get_int(ds, "Columns")
    if size is not None and size != (columns, rows):
        raise ImagingError(
            Code.PIXEL_DECODE_FAILED,
            "The compressed frame's own size does not match Rows and Columns.",
            {"reason": "codestream_size_mismatch", "codestream": list(size), "rows": rows, "columns": columns},
        )


def _rescale(ds: Dataset, raw: np.ndarray, index: int) -> tuple[np.ndarray, float, float]:
    if "ModalityLUTSequence" in ds:
        # A lookup table, not a line: pydicom applies it (rare: some XA/US); results are integers.
        return np.asarray(apply_modality_lut(raw, ds)), 1.0, 0.0
    slope, intercept, _ = rescale_for_frame(ds, index)
    if raw.dtype.kind == "f" or (slope == 1.0 and intercept == 0.0):
        return raw, slope, intercept
    if slope.is_integer() and intercept.is_integer():
        lo, hi = _stored_range(ds, raw)
        ends = (lo * slope + intercept, hi * slope + intercept)
        out_lo, out_hi = min(ends), max(ends)
        for dtype in (np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= out_lo and out_hi <= info.max:
                out = raw.astype(dtype)
                if slope != 1.0:
                    np.multiply(out, int(slope), out=out)
                np.add(out, int(intercept), out=out)
                return out, slope, intercept
    out_f = raw.astype(np.float32)
    out_f *= np.float32(slope)
    out_f += np.float32(intercept)
    return out_f, slope, intercept


def _stored_range(ds: Dataset, raw: np.ndarray) -> tuple[int, int]:
    """Range of stored values: from Bits Stored, widened to the data when a file violates its own header."""
    stored = get_int(ds, "BitsStored") or raw.dtype.itemsize * 8
    signed = (get_int(ds, "PixelRepresentation") or 0) == 1
    lo, hi = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
    if raw.size:
        lo, hi = min(lo, int(raw.min())), max(hi, int(raw.max()))
    return lo, hi


def dataset_to_bytes(ds: Dataset) -> bytes:
    """Serialize as a Part 10 file (keeps the dataset's transfer syntax and file meta)."""
    try:
        fast = _explicit_le_bytes(ds)
        if fast is not None:
            return fast
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # pydicom's writer refuses values it cannot encode; that is the input's fault
        raise _malformed("The dataset cannot be written back as DICOM.", exc, reason="unwritable") from exc
    return buffer.getvalue()


_LONG_LENGTH_VRS: Final = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)


def _explicit_le_bytes(ds: Dataset) -> bytes | None:
    """What `save_as(enforce_file_format=True)` writes, for explicit VR little endian datasets read from
    such a file: top-level raw elements of defined length are copied with one struct.pack for their header
    instead of pydicom's per-element buffers; everything else goes through pydicom's own element writer.
    None where pydicom's writer must decide (other encodings, deflate, elements it would move or refuse).
    Tests hold the output byte-identical to pydicom's on every shared file."""
    meta: FileMetaDataset | None = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if (
        meta is None
        or tsyntax is None
        or tsyntax not in SUPPORTED_TRANSFER_SYNTAXES
        or tsyntax in (ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)
        or ds.original_encoding != (False, True)
        or ds.original_character_set != ds._character_set
        or any(tag >> 16 in (0, 2) for tag in ds._dict)
        or (ds.preamble is not None and len(ds.preamble) != 128)
    ):
        return None
    group_length = meta.get_item(0x00020000)
    if group_length is not None and group_length.VR != "UL":
        return None  # pydicom rewrites it in place assuming a 12-byte element; let it decide
    # Shallow copies: validate_file_meta and the UID updates below assign values, and must not change the
    # caller's file meta (a deep copy cost more than writing the rest of the file meta).
    file_meta = FileMetaDataset({tag: copy.copy(elem) for tag, elem in meta._dict.items() if tag != 0x00020000})
    for meta_keyword, tag in (("MediaStorageSOPClassUID", 0x00080016), ("MediaStorageSOPInstanceUID", 0x00080018)):
        in_meta, in_dataset = file_meta.get(meta_keyword), peek_value(ds, tag)
        if in_meta is None or (in_dataset and in_dataset != in_meta):
            setattr(file_meta, meta_keyword, in_dataset)
    validate_file_meta(file_meta, enforce_standard=True)
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = UID(tsyntax).is_compressed
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    fp.write(ds.preamble or b"\x00" * 128)
    fp.write(b"DICM")
    fp.write(_file_meta_bytes(file_meta))
    _write_explicit_le(fp, ds, default_encoding)
    return fp.getvalue()


def _file_meta_bytes(file_meta: FileMetaDataset) -> bytes:
    """write_file_meta_info(enforce_standard=True) for a validated file meta without a group length: the
    group length element (computed), then each element; values of the few kinds file meta holds are
    encoded here, anything else by pydicom's element writer."""
    body = DicomBytesIO()
    body.is_implicit_VR, body.is_little_endian = False, True
    for tag in sorted(file_meta._dict):
        elem = file_meta._dict[tag]
        data = _simple_value_bytes(elem)
        if data is None or len(data) > 0xFFFF:
            write_data_element(body, file_meta.get_item(tag))
            continue
        vr = str(elem.VR)
        if vr in _LONG_LENGTH_VRS:
            body.write(struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(data)))
        else:
            body.write(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(data)))
        body.write(data)
    rest = body.getvalue()
    return struct.pack("<HH2sHL", 2, 0, b"UL", 4, len(rest)) + rest


_META_PADDING: Final = {"UI": b"\x00", "OB": b"\x00", "SH": b" ", "AE": b" "}


def _simple_value_bytes(elem: DataElement | RawDataElement) -> bytes | None:
    """The encoded value of a short-length file meta element as pydicom writes it, or None to let pydicom
    write it: converted single ASCII strings (UI, SH, AE) and bytes (OB), raw values of defined length."""
    vr = elem.VR
    padding = _META_PADDING.get(str(vr))
    if padding is None:
        return None
    value = elem.value
    if isinstance(elem, RawDataElement):
        return value if isinstance(value, bytes) and elem.length == len(value) else None
    if isinstance(value, str) and vr != "OB" and value.isascii() and "\\" not in value:
        data = value.encode()
    elif isinstance(value, bytes) and vr == "OB":
        data = value
    else:
        return None
    return data + padding if len(data) % 2 else data


def _write_explicit_le(fp: DicomBytesIO, ds: Dataset, parent_encoding: str | list[str]) -> None:
    """pydicom's write_dataset for a dataset it would write without re-encoding (see the caller)."""
    encoding = ds.get("SpecificCharacterSet", parent_encoding)
    elements = ds._dict
    for tag in sorted(elements):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        elem = elements[tag]
        value = elem.value
        if (
            isinstance(elem, RawDataElement)
            and isinstance(value, bytes)
            and elem.length != _UNDEFINED_LENGTH
            and not elem.is_buffered
            and elem.VR is not None
            and len(elem.VR) == 2
        ):
            vr = elem.VR
            if vr in _LONG_LENGTH_VRS:
                fp.write(struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)))
                fp.write(value)
                continue
            if len(value) <= 0xFFFF:
                fp.write(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)))
                fp.write(value)
                continue
        elif (
            isinstance(elem, DataElement)
            and elem.VR == "SQ"
            and isinstance(value, Sequence)
            and value
            and all(map(_writes_as_read, value))
        ):
            _write_sequence(fp, tag, elem.is_undefined_length, value, convert_encodings(encoding))
            continue
        write_data_element(fp, ds.get_item(tag), encoding)


def sequence_value_bytes(elem: DataElement, encoding: str | list[str]) -> bytes | None:
    """The value of a converted, defined-length sequence element exactly as `dataset_to_bytes` writes it
    in explicit VR little endian, under the character set `encoding` of its dataset; None where the
    writer would hand it to pydicom instead. Set back as a RawDataElement, it is written by copying."""
    value = elem.value
    if (
        elem.VR != "SQ"
        or elem.is_undefined_length
        or not isinstance(value, Sequence)
        or not value
        or not all(map(_writes_as_read, value))
    ):
        return None
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    _write_sequence(fp, int(elem.tag), False, value, convert_encodings(encoding))
    return fp.getvalue()[12:]  # after tag, VR, the reserved bytes and the 4-byte length


def _writes_as_read(item: Dataset) -> bool:
    """Whether pydicom's write_dataset would write this item's elements as they are: it was read as
    explicit VR little endian with its character set unchanged, or (a dataset built in memory) it holds
    only converted elements of unambiguous VR and no sequences, which pydicom's VR correction leaves alone."""
    if item.original_encoding == (False, True) and item.original_character_set == item._character_set:
        return True
    return all(
        not isinstance(elem, RawDataElement) and elem.VR is not None and len(elem.VR) == 2 and elem.VR != "SQ"
        for elem in item._dict.values()
    )


def _write_sequence(fp: DicomBytesIO, tag: int, undefined_length: bool, items: Sequence, encodings: list[str]) -> None:
    """write_data_element + write_sequence + write_sequence_item for an explicit VR little endian SQ."""
    fp.write(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, b"SQ", 0))
    length_at = fp.tell()
    fp.write(b"\xff\xff\xff\xff")
    start = fp.tell()
    for item in items:
        fp.write(b"\xfe\xff\x00\xe0")  # Item (FFFE,E000)
        item_length_at = fp.tell()
        fp.write(b"\xff\xff\xff\xff")
        _write_explicit_le(fp, item, encodings)
        if getattr(item, "is_undefined_length_sequence_item", False):
            fp.write(b"\xfe\xff\x0d\xe0\x00\x00\x00\x00")  # Item Delimitation (FFFE,E00D)
        else:
            _patch_length(fp, item_length_at)
    if undefined_length:
        fp.write(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")  # Sequence Delimitation (FFFE,E0DD)
    else:
        end = fp.tell()
        fp.seek(length_at)
        fp.write(struct.pack("<L", end - start))
        fp.seek(end)


def _patch_length(fp: DicomBytesIO, at: int) -> None:
    end = fp.tell()
    fp.seek(at)
    fp.write(struct.pack("<L", end - at - 4))
    fp.seek(end)


__all__ = [
    "CT_WINDOW_PRESETS",
    "DEFAULT_MAX_PIXEL_BYTES",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "DecodedFrame",
    "InstanceSummary",
    "LoadedDicom",
    "ParsedDicom",
    "WindowPreset",
    "check_pixel_header",
    "check_raw_length",
    "dataset_to_bytes",
    "decode_frame",
    "decode_frames",
    "has_pixel_data",
    "iter_frames",
    "load_dicom",
    "number_of_frames",
    "parse_da",
    "read_dicom",
    "rescale_for_frame",
    "sequence_value_bytes",
    "summarize",
    "window_presets",
]
