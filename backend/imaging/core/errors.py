"""The one exception type of the imaging core, with machine-readable codes.

The API layer turns an ImagingError into a 4xx with the body {"code", "message", "extra"}; anything
else escaping this package is a bug (the fuzz script treats it as a crash).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Code(StrEnum):
    """Every code the core raises. StrEnum so `code == "not_dicom"` holds for callers using plain strings."""

    # parsing.py
    NOT_DICOM = "not_dicom"
    MALFORMED_DICOM = "malformed_dicom"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported_transfer_syntax"
    PIXEL_DATA_TOO_LARGE = "pixel_data_too_large"
    DATASET_TOO_LARGE = "dataset_too_large"
    NO_PIXEL_DATA = "no_pixel_data"
    PIXEL_DECODE_FAILED = "pixel_decode_failed"
    FRAME_OUT_OF_RANGE = "frame_out_of_range"
    # archives.py
    ZIP_UNSAFE_PATH = "zip_unsafe_path"
    ZIP_SYMLINK = "zip_symlink"
    ZIP_TOO_MANY_MEMBERS = "zip_too_many_members"
    ZIP_TOO_LARGE = "zip_too_large"
    ZIP_INVALID = "zip_invalid"
    # raster.py
    NOT_AN_IMAGE = "not_an_image"
    IMAGE_TOO_LARGE = "image_too_large"
    # nifti.py
    NOT_NIFTI = "not_nifti"
    NIFTI_UNSUPPORTED = "nifti_unsupported"
    VOLUME_TOO_LARGE = "volume_too_large"
    # deid.py
    DEID_FAILED = "deid_failed"


class ImagingError(Exception):
    """A refusal of the input that the client can act on."""

    def __init__(self, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})

    def __repr__(self) -> str:
        return f"ImagingError({self.code!r}, {self.message!r}, {self.extra!r})"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}
