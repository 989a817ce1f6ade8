"""Encoder routes: BN folding and fused/strip-tiled fp32 kernels must not change the maths."""

from __future__ import annotations

import pytest
import torch

from models import cpu_fusion
from models.optimize import EncoderRunner, resolve_mode
from models.tiny_vit import MBConv, PatchMerging, fuse_conv_bn_

pytestmark = pytest.mark.skipif(not cpu_fusion.fusion_available(), reason="needs a oneDNN build of torch")


def _randomise_bn(module: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)  # type: ignore[union-attr]
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)  # type: ignore[union-attr]
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen))
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen))


@pytest.mark.parametrize(("height", "width"), [(37, 29), (64, 16), (9, 9)])
def test_strip_tiled_mbconv_equals_plain(monkeypatch: pytest.MonkeyPatch, height: int, width: int) -> None:
    block = MBConv(8, 4.0).eval()
    _randomise_bn(block)
    x = torch.randn(2, 8, height, width).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = block(x)
        fuse_conv_bn_(block)
        # A tiny strip budget forces many strips (4 rows each) including a short last one.
        monkeypatch.setattr(cpu_fusion, "_STRIP_BYTES", 1)
        got = cpu_fusion.FusedMBConv(block)(x)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


@pytest.mark.parametrize("size", [32, 18, 12])
def test_strip_tiled_patch_merging_equals_plain(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    merge = PatchMerging((size, size), dim=8, out_dim=16).eval()
    _randomise_bn(merge)
    x = torch.randn(1, 8, size, size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = merge(x)
        fuse_conv_bn_(merge)
        monkeypatch.setattr(cpu_fusion, "_STRIP_BYTES", 1)
        got = cpu_fusion.FusedPatchMerging(merge)(x)
    assert got.shape == expected.shape == (1, (size // 2) ** 2, 16)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_route_names() -> None:
    cpu = torch.device("cpu")
    assert resolve_mode("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="unknown optimize mode"):
        resolve_mode("turbo", cpu)
    with pytest.raises(ValueError, match="CUDA route"):
        resolve_mode("fp16", cpu)
    cuda = torch.device("cuda")  # resolution needs only the device type, no GPU
    assert resolve_mode("auto", cuda) == "fp16"  # bf16 drifts past the Dice tolerance on an H100
    assert resolve_mode("bf16", cuda) == "bf16"
    with pytest.raises(ValueError, match="CPU route"):
        resolve_mode("int8", cuda)


def test_reference_route_keeps_the_model_untouched() -> None:
    from models.registry import load_model

    model = load_model("litemedsam")
    before = {k: v.clone() for k, v in model.image_encoder.state_dict().items()}
    runner = EncoderRunner(model.image_encoder, "fp32", torch.device("cpu"))
    assert runner.module is not model.image_encoder
    after = model.image_encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
