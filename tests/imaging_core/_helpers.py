"""Test helpers: shared file lists, building variants of real files, a tiny lossless JPEG encoder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import ExplicitVRBigEndian

from .conftest import SHARED_DATA

DICOM_DIR = SHARED_DATA / "dicom"
TOTALSEG_DIR = DICOM_DIR / "totalseg_ct_series"
CT_SMALL = DICOM_DIR / "pydicom" / "CT_small.dcm"
MR_SMALL = DICOM_DIR / "pydicom" / "MR_small.dcm"
RTSTRUCT = DICOM_DIR / "pydicom" / "rtstruct.dcm"
DX_IMAGE = DICOM_DIR / "highdicom" / "dx_image.dcm"
SM_IMAGE = DICOM_DIR / "highdicom" / "sm_image_control.dcm"
CT2_DIR = DICOM_DIR / "pydicom" / "dicomdirtests_77654033_CT2"
NIFTI_CT = SHARED_DATA / "nifti" / "totalseg_ct_sm" / "example_ct_sm.nii.gz"
PNG_DIR = SHARED_DATA / "png" / "sam_med2d_ct" / "images"

_NOT_DICOM_SUFFIXES = (".json", ".nrrd", ".txt", ".md", ".gz")


def all_dicom_files() -> list[Path]:
    """Every file under dicom/ that is meant to be DICOM (licences, masks and maps excluded)."""
    if not DICOM_DIR.is_dir():
        return []
    out = []
    for dirpath, _dirs, files in os.walk(DICOM_DIR):
        for name in files:
            if name.endswith(_NOT_DICOM_SUFFIXES) or name.upper().startswith("LICENSE") or name == "README.txt":
                continue
            out.append(Path(dirpath) / name)
    return sorted(out)


def totalseg_files() -> list[Path]:
    return sorted(TOTALSEG_DIR.glob("*.dcm")) if TOTALSEG_DIR.is_dir() else []


def to_bytes(ds: Dataset, *, little_endian: bool | None = None, implicit_vr: bool | None = None) -> bytes:
    buffer = io.BytesIO()
    if little_endian is None:
        ds.save_as(buffer, enforce_file_format=True)
    else:
        ds.save_as(buffer, enforce_file_format=True, little_endian=little_endian, implicit_vr=implicit_vr)
    return buffer.getvalue()


def load(path: Path) -> Dataset:
    return pydicom.dcmread(path)


def rewrite_file_meta(data: bytes, **changes: str) -> bytes:
    """Replace file meta values of a Part 10 file without pydicom's writer checks (it refuses to write
    what we want to test: an empty SOP Instance UID, a transfer syntax the pixel data does not match)."""
    meta_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL value, right after "DICM"
    body = data[132 + 12 + meta_length :]
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    for keyword, value in changes.items():
        setattr(meta, keyword, value)
    buffer = io.BytesIO()
    buffer.write(data[:132])
    write_file_meta_info(buffer, meta, enforce_standard=False)
    buffer.write(body)
    return buffer.getvalue()


def big_endian_bytes(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    # pydicom writes OW values as they are, so the 16-bit pixels are swapped by hand first.
    ds.PixelData = np.frombuffer(ds.PixelData, "<u2").byteswap().tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, little_endian=False, implicit_vr=False, force_encoding=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# A minimal lossless JPEG (ITU T.81 process 14, selection value 1) encoder: pydicom has no encoder for
# it and the shared data has no such file, so the decode path is tested with frames we encode here.


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)  # byte stuffing
                self.acc = 0
                self.n = 0

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1 bits
        return bytes(self.out)


def encode_jpeg_lossless(image: np.ndarray, precision: int) -> bytes:
    """Grayscale, predictor 1 (left), point transform 0; every category gets a 5-bit Huffman code."""
    rows, cols = image.shape
    values = image.astype(np.int64) & ((1 << precision) - 1)
    bits = [0] * 16
    bits[4] = 17  # 17 codes of length 5: symbols 0..16
    dht = bytes([0x00]) + bytes(bits) + bytes(range(17))
    sof = bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    sos = bytes([1, 1, 0x00, 1, 0, 0])  # Ss=1 (predictor 1), Se=0, Ah/Al=0
    writer = _BitWriter()
    modulo = 1 << 16
    for r in range(rows):
        for c in range(cols):
            if r == 0 and c == 0:
                prediction = 1 << (precision - 1)
            elif r == 0 or c > 0:
                prediction = int(values[r, c - 1]) if c > 0 else int(values[r - 1, c])
            else:
                prediction = int(values[r - 1, c])
            diff = (int(values[r, c]) - prediction) % modulo
            if diff >= modulo // 2:
                diff -= modulo
            size = 0 if diff == 0 else abs(diff).bit_length()
            writer.write(size, 5)
            if size and size < 16:
                writer.write(diff if diff > 0 else diff + (1 << size) - 1, size)
    scan = writer.flush()
    return b"\xff\xd8" + _segment(0xC4, dht) + _segment(0xC3, sof) + _segment(0xDA, sos) + scan + b"\xff\xd9"


def as_encapsulated(ds: Dataset, frames: list[bytes], transfer_syntax: str) -> Dataset:
    out = ds.copy()
    out.file_meta = ds.file_meta.copy()
    out.file_meta.TransferSyntaxUID = transfer_syntax
    out.PixelData = encapsulate(frames)
    out["PixelData"].VR = "OB"
    return out
