"""Predictor behaviour: embeddings, prompt validation codes, points/mask prompts, propagation controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.optimize import EncoderRunner, resolve_mode
from models.predictor import Embedding, Predictor, PromptError, PropagationCancelled, dice


@pytest.fixture(scope="module")
def amos(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.load(shared_data / "npz" / "imgs" / "2DBox_CT_SAMMed2D_amos_0004_75.npz")
    gts = np.load(shared_data / "npz" / "gts" / "2DBox_CT_SAMMed2D_amos_0004_75.npz")["gts"]
    return data["imgs"], data["boxes"], gts


@pytest.fixture(scope="module")
def amos_embedding(predictor: Predictor, amos: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Embedding:
    return predictor.embed(amos[0])


def test_embedding_shape_and_metadata(predictor: Predictor, amos_embedding: Embedding) -> None:
    assert amos_embedding.tensor.shape == (256, 64, 64)
    assert amos_embedding.tensor.dtype == torch.float32
    assert amos_embedding.original_size == (512, 512)
    assert amos_embedding.resized_size == (256, 256)
    assert amos_embedding.model == "litemedsam"
    assert amos_embedding.preprocessing.startswith("pp1-")
    assert predictor.cache_namespace == "litemedsam:fp32"


def test_fused_fp32_route_matches_reference_route(predictor: Predictor, amos: tuple[np.ndarray, ...]) -> None:
    from models.preprocess import PreprocessConfig, prepare_slice

    tensor, _ = prepare_slice(amos[0], PreprocessConfig())
    reference = EncoderRunner(predictor.model.image_encoder, "none", torch.device("cpu"))
    assert resolve_mode("auto", torch.device("cpu")) == "fp32"
    diff = (predictor.encoder(tensor[None]) - reference(tensor[None])).abs().max().item()
    assert diff < 1e-4


def test_batch_embedding_equals_single(predictor: Predictor, amos: tuple[np.ndarray, ...]) -> None:
    img = amos[0]
    small = img[:300, :200]
    batch = predictor.embed_batch([img, small])
    assert batch[1].original_size == (300, 200) and batch[1].resized_size == (256, 171)
    assert torch.allclose(batch[0].tensor, predictor.embed(img).tensor, atol=1e-5)


def test_box_decode_returns_masks_iou_and_logits(
    predictor: Predictor, amos_embedding: Embedding, amos: tuple[np.ndarray, ...]
) -> None:
    _, boxes, gts = amos
    res = predictor.decode(amos_embedding, box=boxes[1])
    assert res.masks.shape == (1, 512, 512) and res.masks.dtype == bool
    assert res.iou.shape == (1,)
    assert res.low_res_logits.shape == (1, 256, 256)
    assert dice(res.mask, gts == 2) > 0.9
    multi = predictor.decode(amos_embedding, box=boxes[1], multimask=True)
    assert multi.masks.shape == (3, 512, 512) and multi.iou.shape == (3,)
    assert multi.mask is multi.masks[multi.best_index] or np.array_equal(multi.mask, multi.masks[multi.best_index])


def test_points_and_mask_prompts_run(
    predictor: Predictor, amos_embedding: Embedding, amos: tuple[np.ndarray, ...]
) -> None:
    _, boxes, gts = amos
    ys, xs = np.nonzero(gts == 2)
    click = [[float(xs.mean()), float(ys.mean())]]
    # LiteMedSAM was trained with boxes only: a lone click decodes (shapes are
    # right) but yields next to nothing; see models.prompt_study for numbers.
    only_click = predictor.decode(amos_embedding, points=click, point_labels=[1], multimask=True)
    assert only_click.masks.shape == (3, 512, 512)
    assert float(only_click.iou.max()) < 0.5
    first = predictor.decode(amos_embedding, box=boxes[1])
    with_click = predictor.decode(amos_embedding, box=boxes[1], points=click, point_labels=[1])
    assert dice(with_click.mask, gts == 2) > 0.9
    refined = predictor.decode(amos_embedding, box=boxes[1], mask_logits=first.low_res_logits)
    assert refined.masks.shape == (1, 512, 512) and refined.mask.any()
    chained = predictor.decode(amos_embedding, box=boxes[1], mask_logits=first.low_res_logits.numpy()[0])
    assert np.array_equal(chained.mask, refined.mask)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "prompt_missing"),
        ({"box": [10, 10, 600, 100]}, "box_out_of_bounds"),
        ({"box": [-1, 10, 50, 100]}, "box_out_of_bounds"),
        ({"box": [10, 100, 10, 100]}, "box_empty"),
        ({"box": [50, 10, 10, 100]}, "box_inverted"),
        ({"box": [10, 10, 50]}, "box_shape"),
        ({"box": [10, float("nan"), 50, 60]}, "prompt_not_finite"),
        ({"points": [[513, 10]]}, "point_out_of_bounds"),
        ({"points": [[10, -2]], "point_labels": [1]}, "point_out_of_bounds"),
        ({"points": [[10, 10], [20, 20]], "point_labels": [1]}, "point_labels_mismatch"),
        ({"points": [[10, 10]], "point_labels": [2]}, "point_label_invalid"),
        ({"points": [[10, 10, 3]]}, "point_shape"),
        ({"point_labels": [1]}, "point_labels_mismatch"),
        ({"mask_logits": np.zeros((64, 64))}, "mask_shape"),
    ],
)
def test_bad_prompts_raise_prompt_error(
    predictor: Predictor, amos_embedding: Embedding, kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(PromptError) as err:
        predictor.decode(amos_embedding, **kwargs)  # type: ignore[arg-type]
    assert err.value.code == code
    assert isinstance(err.value, ValueError)


def test_one_pixel_wide_box_is_valid(predictor: Predictor, amos_embedding: Embedding) -> None:
    # Inclusive pixel coordinates: x0 == x1 is a one-pixel-wide box (thin vessels), not an empty one.
    res = predictor.decode(amos_embedding, box=[200, 100, 200, 300])
    assert res.masks.shape == (1, 512, 512)
    edge = predictor.decode(amos_embedding, box=[0, 0, 512, 512])  # the far edge itself is allowed
    assert edge.masks.shape == (1, 512, 512)


@pytest.fixture(scope="module")
def ct3(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.load(shared_data / "npz" / "imgs" / "3DBox_CT_dcmqi_ct3slice.npz")
    gts = np.load(shared_data / "npz" / "gts" / "3DBox_CT_dcmqi_ct3slice.npz")["gts"]
    return data["imgs"], data["boxes"], gts


def test_propagate_from_volume_with_progress(predictor: Predictor, ct3: tuple[np.ndarray, ...]) -> None:
    imgs, boxes, gts = ct3
    seen: list[tuple[int, int]] = []
    res = predictor.propagate(imgs, boxes[0], on_progress=lambda d, t: seen.append((d, t)))
    assert (res.z0, res.z1, res.start_slice) == (0, 2, 1)
    assert res.masks.shape == (3, 512, 512) and res.iou.shape == (3,)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert dice(res.to_volume(3), gts == 1) > 0.85


def test_propagate_uses_the_embedding_getter_once_per_slice(predictor: Predictor, ct3: tuple[np.ndarray, ...]) -> None:
    imgs, boxes, _ = ct3
    calls: list[int] = []
    store = {z: predictor.embed(imgs[z]) for z in range(3)}

    def get_embedding(z: int) -> Embedding:
        calls.append(z)
        return store[z]

    a = predictor.propagate(get_embedding, boxes[1], num_slices=3)
    assert calls == [1, 2, 0]  # z_mid, up to z1, then down to z0
    b = predictor.propagate(imgs, boxes[1])
    assert np.array_equal(a.masks, b.masks)


def test_propagate_cancel_and_bad_boxes(predictor: Predictor, ct3: tuple[np.ndarray, ...]) -> None:
    imgs, boxes, _ = ct3
    with pytest.raises(PropagationCancelled) as err:
        predictor.propagate(imgs, boxes[0], should_cancel=lambda: True)
    assert err.value.done == 0 and err.value.total == 3
    for box, code in [
        ([80, 146, 2, 349, 365, 0], "box_inverted"),
        ([80, 146, 0, 349, 365, 3], "box_out_of_bounds"),
        ([80, 146, 0, 349, 365, 2.5], "box_shape"),
        ([80, 146, 0, 600, 365, 2], "box_out_of_bounds"),
    ]:
        with pytest.raises(PromptError) as perr:
            predictor.propagate(imgs, box)
        assert perr.value.code == code
    with pytest.raises(PromptError) as perr:
        predictor.propagate(imgs, boxes[0], start_slice=5)
    assert perr.value.code == "start_slice_out_of_range"


def test_preprocessing_hash_names_the_transform_actually_applied(predictor: Predictor, shared_data: Path) -> None:
    from dataclasses import replace

    from models.imageio import load_image
    from models.preprocess import preprocessing_hash

    ct = load_image(shared_data / "dicom" / "pydicom" / "CT_small.dcm")
    as_ct, as_mr = predictor.embed_batch([ct.pixels], modality="CT")[0], predictor.embed(ct.pixels, modality="MR")
    assert as_ct.preprocessing == preprocessing_hash(replace(predictor.preprocess, intensity="ct_window"))
    assert as_mr.preprocessing == preprocessing_hash(replace(predictor.preprocess, intensity="percentile"))
    assert not torch.allclose(as_ct.tensor, as_mr.tensor)
    windowed = predictor.embed(ct.pixels, config=predictor.preprocess.with_window(400, 1500), modality="CT")
    assert windowed.preprocessing not in (as_ct.preprocessing, as_mr.preprocessing)
