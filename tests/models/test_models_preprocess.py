"""Preprocessing: intensity mapping, OpenCV-exact resize, normalisation, padding, prompt scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.cv_resize import resize_area_u8
from models.preprocess import (
    PreprocessConfig,
    SliceGeometry,
    mask_to_box256,
    percentile_bounds,
    percentile_to_uint8,
    postprocess_logits,
    prepare_uint8,
    preprocessing_hash,
    resize_longest_side,
    resized_shape,
    resolve_bounds,
    scale_box,
    scale_points,
    to_uint8,
    window_to_uint8,
)


def test_ct_window_default_soft_tissue() -> None:
    hu = np.array([[-1000, -160, 40, 240, 3000]], dtype=np.int16)
    out = to_uint8(hu, PreprocessConfig(), modality="CT")
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 0, 128, 255, 255]]  # 127.5 rounds half to even -> 128
    # A custom window: level 400 width 1000 (bone) maps -100..900 to 0..255.
    assert window_to_uint8(np.array([-100.0, 400.0, 900.0]), 400, 1000).tolist() == [0, 128, 255]


def test_percentile_mapping_keeps_background_zero() -> None:
    rng = np.random.default_rng(0)
    mr = rng.integers(100, 2000, size=(64, 64)).astype(np.float64)
    mr[:8] = 0
    mr[10, 10] = 1e6  # an outlier above the 99.5th percentile
    lo, hi = percentile_bounds(mr)
    nz = mr[mr != 0]
    assert lo == pytest.approx(np.percentile(nz, 0.5)) and hi == pytest.approx(np.percentile(nz, 99.5))
    out = percentile_to_uint8(mr)
    assert out[:8].max() == 0
    assert out[10, 10] == 255
    assert out[8:].min() == 0 and out[8:].max() == 255
    assert to_uint8(mr, PreprocessConfig(), modality="MR").tolist() == out.tolist()


def test_volume_bounds_are_pinned_into_the_config() -> None:
    vol = np.arange(1, 1001, dtype=np.float64).reshape(10, 10, 10)
    cfg = resolve_bounds(PreprocessConfig(), vol, modality="MR")
    assert cfg.intensity == "percentile" and cfg.lower is not None and cfg.upper is not None
    assert preprocessing_hash(cfg) != preprocessing_hash(PreprocessConfig())
    # Every slice uses the volume's bounds, not its own.
    assert to_uint8(vol[0], cfg).max() < 255


def test_8bit_images_are_used_as_is() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    # Even when tagged CT: an 8-bit export is already windowed.
    assert np.array_equal(to_uint8(rgb, PreprocessConfig(), modality="CT"), rgb)
    tensor, _ = prepare_uint8(rgb)
    assert not torch.equal(tensor[0], tensor[1])  # RGB channels are kept, not greyed


def test_resize_shapes_follow_the_authors_rounding() -> None:
    assert resized_shape(512, 512) == (256, 256)
    assert resized_shape(101, 122) == (212, 256)  # int(101 * 256/122 + 0.5)
    assert resized_shape(480, 640) == (192, 256)
    assert resized_shape(1000, 37) == (256, 9)
    img = np.zeros((101, 122, 3), dtype=np.uint8)
    assert resize_longest_side(img).shape == (212, 256, 3)


def test_inter_area_rounding_matches_opencv() -> None:
    # 2x2 integer downscale: OpenCV rounds (sum + 2) >> 2, i.e. half up.
    img = np.array([[0, 1, 1, 1], [1, 0, 2, 2]], dtype=np.uint8)
    assert resize_area_u8(img, 1, 2).tolist() == [[1, 2]]  # 2/4 = 0.5 -> 1, 6/4 = 1.5 -> 2
    # Non-integer downscale: exact pixel-area weights (3 -> 2: 1.5 pixels per cell).
    row = np.array([[0, 100, 200]], dtype=np.uint8)
    assert resize_area_u8(row, 1, 2).tolist() == [[33, 167]]
    # Upscale keeps constant images constant.
    assert np.all(resize_area_u8(np.full((5, 7), 77, np.uint8), 11, 16) == 77)


def test_prepare_normalises_and_pads_bottom_right() -> None:
    img = np.full((100, 200), 50, dtype=np.uint8)
    img[10:20, 10:20] = 250
    tensor, geom = prepare_uint8(img)
    assert tensor.shape == (3, 256, 256) and tensor.dtype == torch.float32
    assert geom == SliceGeometry(original_size=(100, 200), resized_size=(128, 256))
    assert float(tensor[:, :128].min()) == 0.0 and float(tensor[:, :128].max()) == 1.0
    assert float(tensor[:, 128:].abs().max()) == 0.0  # zero padding below the image
    assert torch.equal(tensor[0], tensor[1]) and torch.equal(tensor[1], tensor[2])


def test_flat_image_does_not_divide_by_zero() -> None:
    tensor, _ = prepare_uint8(np.full((64, 64), 9, np.uint8))
    assert torch.isfinite(tensor).all() and float(tensor.max()) == 0.0


def test_box_and_point_scaling() -> None:
    # int(v * 256 / max(H, W)) per coordinate, as the reference does.
    assert scale_box([10, 21, 300, 511], (512, 512)).tolist() == [5, 10, 150, 255]
    assert scale_box([11, 23, 27, 54], (101, 122)).tolist() == [23, 48, 56, 113]
    assert scale_points(np.array([[61.0, 50.5]]), (101, 122)).tolist() == [[128.0, 105.9672131147541]]


def test_mask_to_box256_widens_by_three_and_clips() -> None:
    mask = np.zeros((512, 512), np.uint8)
    mask[100:200, 0:50] = 1
    assert mask_to_box256(mask, (512, 512)).tolist() == [0, 47, 27, 102]
    assert mask_to_box256(np.zeros((512, 512), np.uint8), (512, 512)) is None
    # A single pixel in a 2x downscale averages to 0.25 -> rounds away: no box.
    one = np.zeros((512, 512), np.uint8)
    one[5, 5] = 1
    assert mask_to_box256(one, (512, 512)) is None


def test_postprocess_crops_resizes_and_thresholds() -> None:
    logits = torch.full((1, 256, 256), -5.0)
    logits[0, :128, :64] = 5.0  # left quarter of the valid (top half) region
    logits[0, 128:, :] = 5.0  # padding must be cropped away
    masks = postprocess_logits(logits, SliceGeometry((100, 200), (128, 256)))
    assert masks.shape == (1, 100, 200) and masks.dtype == torch.bool
    assert bool(masks[0, :, :45].all()) and not bool(masks[0, :, 55:].any())


def test_preprocessing_hash_is_stable_and_sensitive() -> None:
    base = PreprocessConfig()
    assert preprocessing_hash(base) == preprocessing_hash(PreprocessConfig())
    # Pinned: a change here invalidates every cached embedding; bump the algorithm version on purpose.
    assert preprocessing_hash(base) == "pp1-9c67c1a63b8c9e20"
    variants = {
        preprocessing_hash(base),
        preprocessing_hash(base.with_window(40, 400)),
        preprocessing_hash(base.with_window(400, 1500)),
        preprocessing_hash(PreprocessConfig(intensity="percentile")),
        preprocessing_hash(PreprocessConfig(image_size=1024)),
    }
    assert len(variants) == 5
    with pytest.raises(ValueError):
        base.with_window(40, 0)


@pytest.mark.parametrize(
    ("shape", "fast"),
    [((512, 512), True), ((1024, 512), True), ((1024, 1024), True), ((768, 768), True), ((300, 200), False)],
)
def test_batched_tensor_preprocessing_matches_the_per_slice_path_bit_for_bit(shape, fast) -> None:
    # The GPU route resizes and normalises whole batches with tensor ops; it must give exactly the values of
    # the OpenCV-exact numpy path, or embeddings (and their cache keys) would depend on the device.
    from models.preprocess import prepare_uint8, prepare_uint8_batch

    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)]
    images.append(np.full(shape, 9, np.uint8))  # flat slice: the 1e-8 guard, not a division by zero
    images.append((rng.random(shape) < 0.5).astype(np.uint8) * 255)  # many exact .5 averages
    result = prepare_uint8_batch(images, 256, torch.device("cpu"))
    if not fast:
        assert result is None
        return
    assert result is not None
    batch, geometries = result
    for index, image in enumerate(images):
        expected, geometry = prepare_uint8(image, 256)
        assert geometries[index] == geometry
        assert torch.equal(batch[index], expected)


def test_batched_tensor_preprocessing_declines_mixed_or_colour_batches() -> None:
    from models.preprocess import prepare_uint8_batch

    grey = np.zeros((512, 512), np.uint8)
    assert prepare_uint8_batch([grey, np.zeros((256, 512), np.uint8)], 256, torch.device("cpu")) is None
    assert prepare_uint8_batch([np.zeros((512, 512, 3), np.uint8)], 256, torch.device("cpu")) is None
    assert prepare_uint8_batch([grey.astype(np.uint16)], 256, torch.device("cpu")) is None  # type: ignore[list-item]
