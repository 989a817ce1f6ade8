"""Plain 2D images (PNG, JPEG, TIFF) in, DICOM Secondary Capture out, so everything downstream is DICOM.

Only the pixels cross over: text chunks, EXIF (GPS, camera serials, comments) and ICC profiles of the
source are not copied into the DICOM. The pixel count is checked from the header before decoding, with
our own limit rather than Pillow's process-wide Image.MAX_IMAGE_PIXELS, which we do not touch.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Final, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from .errors import Code, ImagingError

DEFAULT_MAX_IMAGE_PIXELS: Final = 100_000_000
ALLOWED_FORMATS: Final = ("PNG", "JPEG", "TIFF")
_RGB_MODES: Final = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA"})
_GRAY16_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True)
class RasterImage:
    # (rows, columns) uint8 or uint16 grayscale, or (rows, columns, 3) uint8 RGB.
    pixels: np.ndarray
    source_format: str
    source_mode: str
    # Pages/frames in the source (multi-page TIFF, APNG); only the first is converted.
    source_frames: int = 1

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 3


def read_raster(source: bytes | bytearray | BinaryIO, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> RasterImage:
    fp: BinaryIO = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
    with warnings.catch_warnings():
        # Pillow warns past its own MAX_IMAGE_PIXELS before erroring at twice that; both mean "bomb" here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(fp, formats=list(ALLOWED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImagingError(Code.IMAGE_TOO_LARGE, "The image has too many pixels.", {"limit": max_pixels}) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ImagingError(
                Code.NOT_AN_IMAGE,
                "The file is not a PNG, JPEG or TIFF image.",
                {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
            ) from exc
        with image:
            width, height = image.size
            if width < 1 or height < 1:
                raise ImagingError(Code.NOT_AN_IMAGE, "The image is empty.")
            if width * height > max_pixels:
                raise ImagingError(
                    Code.IMAGE_TOO_LARGE,
                    "The image has too many pixels.",
                    {"width": width, "height": height, "limit": max_pixels},
                )
            frames = int(getattr(image, "n_frames", 1) or 1)
            fmt = str(image.format)
            mode = image.mode
            try:
                image.load()
                pixels = _to_array(ImageOps.exif_transpose(image) or image)
            except ImagingError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImagingError(
                    Code.IMAGE_TOO_LARGE, "The image has too many pixels.", {"limit": max_pixels}
                ) from exc
            except Exception as exc:  # codec errors on untrusted bytes vary by format
                raise ImagingError(
                    Code.NOT_AN_IMAGE,
                    "The image could not be decoded.",
                    {"detail": f"{type(exc).__name__}: {str(exc)[:200]}"},
                ) from exc
    return RasterImage(pixels=pixels, source_format=fmt, source_mode=mode, source_frames=frames)


def _to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode in ("1", "LA", "La"):
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    if mode in _GRAY16_MODES:
        return np.asarray(image).astype("<u2")
    if mode == "I":
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 0xFFFF):
            raise ImagingError(
                Code.NOT_AN_IMAGE,
                "32-bit images outside 0..65535 are not supported.",
                {"reason": "unsupported_mode", "mode": mode},
            )
        return values.astype("<u2")
    if mode in _RGB_MODES:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    raise ImagingError(
        Code.NOT_AN_IMAGE, f"Images of mode {mode} are not supported.", {"reason": "unsupported_mode", "mode": mode}
    )


def raster_to_secondary_capture(
    image: RasterImage,
    *,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 1,
    instance_number: int = 1,
    burned_in_annotation: Literal["YES", "NO"] | None = None,
    series_description: str | None = None,
    patient_id: str = "",
    patient_name: str = "",
    content_datetime: datetime | None = None,
) -> Dataset:
    """A Secondary Capture Image Storage dataset (Explicit VR Little Endian) holding the image's pixels.

    `burned_in_annotation` is the uploader's statement; left None the attribute is absent, and
    deid.quarantine_decision will quarantine the instance (secondary captures must say NO to pass).
    New UIDs are random unless given (e.g. to group several uploaded images into one series).
    """
    pixels = image.pixels
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    stamp = content_datetime or datetime.now(UTC)
    ds.StudyDate = ds.ContentDate = stamp.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = stamp.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.PatientOrientation = ""
    if series_description:
        ds.SeriesDescription = series_description[:64]
    if burned_in_annotation is not None:
        ds.BurnedInAnnotation = burned_in_annotation
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    if image.is_color:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    bits = 16 if pixels.dtype == np.uint16 else 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01" if image.source_format == "JPEG" else "00"
    if image.source_format == "JPEG":
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2" if bits == 16 else np.uint8).tobytes()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = UID(str(ds.SOPInstanceUID))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds


__all__ = ["ALLOWED_FORMATS", "DEFAULT_MAX_IMAGE_PIXELS", "RasterImage", "raster_to_secondary_capture", "read_raster"]
