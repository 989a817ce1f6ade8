from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from backend.imaging.core.deid import quarantine_decision
from backend.imaging.core.errors import ImagingError
from backend.imaging.core.parsing import dataset_to_bytes, decode_frame, read_dicom
from backend.imaging.core.raster import raster_to_secondary_capture, read_raster

from ._helpers import PNG_DIR


def _encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def _round_trip(data: bytes, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    raster = read_raster(data)
    ds = raster_to_secondary_capture(raster, **kw)  # type: ignore[arg-type]
    parsed = read_dicom(dataset_to_bytes(ds))
    assert parsed.summary.sop_class_uid == "1.2.840.10008.5.1.4.1.1.7"
    assert parsed.summary.modality == "OT"
    return raster.pixels, decode_frame(parsed.dataset).pixels


@pytest.mark.usefixtures("shared_data")
def test_shared_png_becomes_a_secondary_capture() -> None:
    path = sorted(PNG_DIR.glob("*.png"))[0]
    source, decoded = _round_trip(path.read_bytes(), burned_in_annotation="NO")
    assert source.shape == (512, 512, 3)
    assert np.array_equal(source, decoded)


def test_grayscale_8_and_16_bit_and_color_modes() -> None:
    rng = np.random.default_rng(1)
    gray8 = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    cases = [
        (_encode(Image.fromarray(gray8), "PNG"), gray8),
        (_encode(Image.fromarray(gray16), "PNG"), gray16),
        (_encode(Image.fromarray(gray16), "TIFF"), gray16),
        (_encode(Image.fromarray(rgb), "PNG"), rgb),
        (_encode(Image.fromarray(rgb), "TIFF", compression="tiff_deflate"), rgb),
        (_encode(Image.fromarray(np.dstack([rgb, gray8])), "PNG"), rgb),  # RGBA: alpha dropped
    ]
    for data, expected in cases:
        source, decoded = _round_trip(data)
        assert source.dtype == expected.dtype
        assert np.array_equal(decoded, expected)


def test_palette_and_jpeg() -> None:
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[:8] = (200, 10, 10)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    _, decoded = _round_trip(_encode(palette, "PNG"))
    assert np.array_equal(decoded[0, 0], [200, 10, 10])
    jpeg = _encode(Image.fromarray(rgb), "JPEG", quality=95)
    ds = raster_to_secondary_capture(read_raster(jpeg))
    assert ds.LossyImageCompression == "01"


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(50_000, 50_000), (12_000, 12_000)])
def test_decompression_bomb_is_refused_from_the_header(size: tuple[int, int]) -> None:
    with pytest.raises(ImagingError) as excinfo:
        read_raster(_png_header_only(*size))
    assert excinfo.value.code == "image_too_large"


def test_our_pixel_limit_applies() -> None:
    data = _encode(Image.new("L", (100, 100)), "PNG")
    with pytest.raises(ImagingError) as excinfo:
        read_raster(data, max_pixels=9_999)
    assert excinfo.value.code == "image_too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        _encode(Image.new("RGB", (4, 4)), "GIF"),
        _encode(Image.new("RGB", (4, 4)), "BMP"),
    ],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(ImagingError) as excinfo:
        read_raster(data)
    assert excinfo.value.code == "not_an_image"


def test_truncated_image_is_not_an_image() -> None:
    data = _encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)), "PNG")
    with pytest.raises(ImagingError) as excinfo:
        read_raster(data[: len(data) // 2])
    assert excinfo.value.code == "not_an_image"


def test_float_tiff_is_refused() -> None:
    data = _encode(Image.fromarray(np.ones((4, 4), dtype=np.float32)), "TIFF")
    with pytest.raises(ImagingError) as excinfo:
        read_raster(data)
    assert excinfo.value.extra["reason"] == "unsupported_mode"


def test_metadata_is_not_copied_and_quarantine_depends_on_the_statement() -> None:
    image = Image.new("RGB", (8, 8))
    exif = image.getexif()
    exif[0x010E] = "Patient QX7Z1234 knee"  # ImageDescription
    data = _encode(image, "JPEG", exif=exif.tobytes())
    assert b"QX7Z1234" in data
    ds = raster_to_secondary_capture(read_raster(data))
    assert b"QX7Z1234" not in dataset_to_bytes(ds)
    assert quarantine_decision(ds).reason == "secondary_capture_burned_in_unknown"
    assert not quarantine_decision(raster_to_secondary_capture(read_raster(data), burned_in_annotation="NO")).quarantine
