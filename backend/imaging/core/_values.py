"""Defensive getters for DICOM values.

Real files carry non-conformant values (an IS of "abc", a DS with 7 values where 3 are expected); pydicom
keeps such values as strings with a warning instead of failing. The index and the geometry code must not
fail on them, so every read goes through these helpers, which answer None for anything unusable.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Any

from pydicom.charset import default_encoding
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag


def raw_value(ds: Dataset, keyword: str) -> Any:
    """The element's value, or None when absent or unconvertible.

    A raw element (as read, not yet converted) is converted for this read only and left raw in the
    dataset, so that reading a few values does not make the writer re-encode them; sequences and
    elements whose VR pydicom must resolve against the dataset are converted in place as pydicom does.
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    try:
        # _dict directly: get_item would rebuild the tag on every one of the ~90 reads per ingested file.
        elem = ds._dict.get(tag)  # type: ignore[call-overload]
        if isinstance(elem, RawDataElement) and elem.value is None and elem.length:
            elem = ds.get_item(tag)  # a deferred read: pydicom reads and converts it
        if isinstance(elem, RawDataElement):
            vr = elem.VR
            value = elem.value
            if vr in (None, "SQ", "UN"):
                elem = ds[tag]
            elif elem.length == 0:
                return empty_value_for_VR(vr)  # what pydicom's conversion gives for an empty value
            elif value is not None and (vr in _ASCII_VRS or vr in NUMBER_FORMATS):
                return _decode_raw(value, vr, elem.is_little_endian)
            elif value is not None and vr in _TEXT_VRS and value.isascii() and b"\x1b" not in value:
                # Bytes below 0x80 without an ISO 2022 escape decode alike in every DICOM character set.
                # pydicom strips a person name's padding once, other text's from each value.
                text = value.decode("ascii")
                parts = text.rstrip("\0 ").split("\\") if vr == "PN" else [p.rstrip("\0 ") for p in text.split("\\")]
                return parts[0] if len(parts) == 1 else parts
            else:
                encoding = ds.original_character_set if tag != 0x00080005 else None
                elem = convert_raw_data_element(elem, encoding=encoding or default_encoding, ds=ds)
    except Exception:  # noqa: BLE001 - a value pydicom cannot convert is the same as no value here
        return None
    if elem is None:
        return None
    return elem.value


def peek_value(ds: Dataset, tag: int) -> Any:
    """The value pydicom would give for `tag` (None when absent), converting a raw element for this read
    only: the element stays raw in the dataset, and the writer keeps copying its bytes."""
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if isinstance(elem, RawDataElement) and elem.value is not None and elem.VR not in (None, "SQ", "UN"):
        encoding = ds.original_character_set if tag != 0x00080005 else None
        return convert_raw_data_element(elem, encoding=encoding or default_encoding, ds=ds).value
    return None if elem is None else ds[tag].value


# VRs whose characters are always from the default repertoire: decoded as Latin-1 like pydicom does, and
# kept as strings (DS and IS too: the getters below parse numbers from their text).
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
# Multi-valued VRs of the dataset's character set; a person name reads as its text here (getters want str).
_TEXT_VRS = frozenset({"SH", "LO", "PN", "UC"})
# struct formats of the binary number VRs (AT, a pair of US, is left to pydicom here).
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
# Their item sizes in bytes: standard sizes ("<"), since a native "L" is 8 bytes on 64-bit Linux.
NUMBER_SIZES = {vr: struct.calcsize("<" + fmt) for vr, fmt in NUMBER_FORMATS.items()}


def _decode_raw(value: bytes, vr: str, little_endian: bool) -> Any:
    """A raw value as the getters need it, without building pydicom's value objects: numbers unpacked,
    strings split on the value delimiter after dropping the padding byte (pydicom's conversion)."""
    fmt = NUMBER_FORMATS.get(vr)
    if fmt is not None:
        size = NUMBER_SIZES[vr]
        if len(value) % size:
            return None  # pydicom refuses a value that is not a whole number of items
        numbers = struct.unpack(("<" if little_endian else ">") + fmt * (len(value) // size), value)
        return "" if not numbers else numbers[0] if len(numbers) == 1 else list(numbers)
    parts = split_raw_strings(value)
    return parts[0] if len(parts) == 1 else parts


def split_raw_strings(value: bytes) -> list[str]:
    """The values of a raw default-repertoire string element, as pydicom converts them: decoded as Latin-1,
    one trailing padding byte dropped, split on the value delimiter."""
    text = value.decode("latin-1")
    if text.endswith((" ", "\x00")):
        text = text[:-1]
    return text.split("\\")


def set_ascii(ds: Dataset, tag: int, vr: str, value: str | list[str]) -> None:
    """Set a value we made (never one copied from the input). In a dataset read as explicit VR little
    endian an ASCII value is set as raw bytes, as the writer would encode it, so that it is copied."""
    text = value if isinstance(value, str) else "\\".join(value)
    if ds.original_encoding == (False, True) and text.isascii():
        data = text.encode("ascii")
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        put_raw(ds, RawDataElement(Tag(tag), vr, len(data), data, 0, False, True))
    else:
        ds[tag] = DataElement(tag, vr, value)


def put_raw(ds: Dataset, raw: RawDataElement) -> None:
    """`ds[raw.tag] = raw`, for the dozens of raw elements de-identification sets per file: for a public
    tag outside the pixel data group, Dataset.__setitem__ does nothing but store it, after checks that cost
    more than the storing (private creators and the pixel cache are what it handles)."""
    tag = raw.tag
    if isinstance(tag, BaseTag) and not tag >> 16 & 1 and tag >> 16 != 0x7FE0:
        ds._dict[tag] = raw
    else:
        ds[tag] = raw


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def get_str(ds: Dataset, keyword: str) -> str | None:
    values = _as_list(raw_value(ds, keyword))
    if not values:
        return None
    text = "\\".join(str(v) for v in values).strip().strip("\x00").strip()
    return text or None


def get_strs(ds: Dataset, keyword: str) -> tuple[str, ...]:
    out = []
    for v in _as_list(raw_value(ds, keyword)):
        text = str(v).strip().strip("\x00").strip()
        if text:
            out.append(text)
    return tuple(out)


def _to_float(value: Any) -> float | None:
    try:
        number = float(str(value).strip()) if isinstance(value, (str, bytes)) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def get_float(ds: Dataset, keyword: str) -> float | None:
    values = _as_list(raw_value(ds, keyword))
    if len(values) != 1:
        return None
    return _to_float(values[0])


def get_floats(ds: Dataset, keyword: str, count: int | None = None) -> tuple[float, ...] | None:
    values = _as_list(raw_value(ds, keyword))
    if not values or (count is not None and len(values) != count):
        return None
    numbers = [_to_float(v) for v in values]
    if any(n is None for n in numbers):
        return None
    return tuple(n for n in numbers if n is not None)


def get_int(ds: Dataset, keyword: str) -> int | None:
    value = get_float(ds, keyword)
    if value is None or not value.is_integer():
        return None
    return int(value)


def first_item(ds: Dataset, keyword: str) -> Dataset | None:
    seq = raw_value(ds, keyword)
    try:
        if seq is not None and len(seq) > 0 and isinstance(seq[0], Dataset):
            return seq[0]
    except TypeError:
        return None
    return None


def functional_group_items(ds: Dataset, frame: int | None) -> Iterable[Dataset]:
    """The per-frame functional group item of `frame` first, then the shared one (enhanced multi-frame)."""
    if frame is not None:
        per_frame = raw_value(ds, "PerFrameFunctionalGroupsSequence")
        try:
            if per_frame is not None and 0 <= frame < len(per_frame):
                yield per_frame[frame]
        except TypeError:
            pass
    shared = first_item(ds, "SharedFunctionalGroupsSequence")
    if shared is not None:
        yield shared


def functional_group_dataset(ds: Dataset, macro: str, frame: int | None) -> Dataset | None:
    """The first item of functional group macro `macro` for a frame (per-frame wins over shared)."""
    for group in functional_group_items(ds, frame):
        item = first_item(group, macro)
        if item is not None:
            return item
    return None
