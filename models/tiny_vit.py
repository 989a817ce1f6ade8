"""TinyViT image encoder as used by LiteMedSAM (the 5M variant, 256x256 input).

Module and parameter names mirror the MedSAM-Lite checkpoint so that its state
dict loads with ``strict=True``. LiteMedSAM differs from MobileSAM's TinyViT in
two ways that matter here: the patch embedding is two 1x1, stride-1 convolutions
(so stage 0 runs at the full 256x256 resolution) and the stage feeding a
320-channel output keeps stride 1, which lands the final map on 64x64.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d


def tokens_to_nchw(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, H*W, C) tokens as an NCHW-shaped view with channels-last strides (no copy).

    Tokens are already NHWC in memory; oneDNN convolutions accept that layout
    directly, which avoids the two full transposes per block of the upstream code.
    """
    b, _, c = x.shape
    return x.view(b, h, w, c).permute(0, 3, 1, 2)


def nchw_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """Inverse of tokens_to_nchw; a view when x is channels-last, a copy otherwise."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


class Conv2dBN(nn.Sequential):
    """Bias-free convolution followed by BatchNorm (children named ``c`` and ``bn``)."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 1,
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_chans))

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        """Return one convolution equal to conv+BN in eval mode.

        Inference never updates the running statistics, so the affine BN can be
        folded into the weights; that removes a full memory pass over tensors
        that reach 64 MiB in stage 0.
        """
        conv = self.get_submodule("c")
        bn = self.get_submodule("bn")
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,  # type: ignore[arg-type]
            stride=conv.stride,  # type: ignore[arg-type]
            padding=conv.padding,  # type: ignore[arg-type]
            groups=conv.groups,
            bias=True,
        )
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        assert fused.bias is not None
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        return fused.to(conv.weight.device)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dBN(in_chans, embed_dim // 2, 1),
            nn.GELU(),
            Conv2dBN(embed_dim // 2, embed_dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.seq(x)
        return out


class MBConv(nn.Module):
    """Inverted residual block (1x1 expand, 3x3 depthwise, 1x1 project)."""

    def __init__(self, chans: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(chans * expand_ratio)
        self.conv1: nn.Module = Conv2dBN(chans, hidden, 1)
        self.act1 = nn.GELU()
        self.conv2: nn.Module = Conv2dBN(hidden, hidden, 3, stride=1, padding=1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3: nn.Module = Conv2dBN(hidden, chans, 1)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.conv1(x))
        x = self.act2(self.conv2(x))
        x = self.conv3(x)
        return self.act3(x + shortcut)  # type: ignore[no-any-return]


class PatchMerging(nn.Module):
    """Downsampling between stages; accepts NCHW or token (B, L, C) input, returns tokens."""

    def __init__(self, input_resolution: tuple[int, int], dim: int, out_dim: int) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.act = nn.GELU()
        self.conv1: nn.Module = Conv2dBN(dim, out_dim, 1)
        # The upstream code keeps full resolution into the widest stage; the
        # checkpoint was trained that way, so the rule is reproduced verbatim.
        stride = 1 if out_dim in (320, 448, 576) else 2
        self.conv2: nn.Module = Conv2dBN(out_dim, out_dim, 3, stride=stride, padding=1, groups=out_dim)
        self.conv3: nn.Module = Conv2dBN(out_dim, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            h, w = self.input_resolution
            x = tokens_to_nchw(x, h, w)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.conv3(x)
        return nchw_to_tokens(x)


class ConvLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        out_dim: int,
        expand_ratio: float,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = PatchMerging(input_resolution, dim=dim, out_dim=out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        out: torch.Tensor = self.downsample(x)
        return out


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.act(self.fc1(self.norm(x))))
        return out


class Attention(nn.Module):
    """Windowed multi-head attention with LeViT-style learned relative position biases."""

    attention_bias_idxs: torch.Tensor

    def __init__(self, dim: int, key_dim: int, num_heads: int, resolution: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.scale = key_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        # attn_ratio is 1 in every TinyViT-SAM block, so q, k and v share key_dim.
        self.qkv = nn.Linear(dim, 3 * key_dim * num_heads)
        self.proj = nn.Linear(key_dim * num_heads, dim)

        points = list(itertools.product(range(resolution[0]), range(resolution[1])))
        offsets: dict[tuple[int, int], int] = {}
        idxs: list[int] = []
        for p1 in points:
            for p2 in points:
                off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                idxs.append(offsets.setdefault(off, len(offsets)))
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        # Derived from the window size, so not saved in (or expected by) the checkpoint.
        self.register_buffer(
            "attention_bias_idxs", torch.tensor(idxs, dtype=torch.long).view(len(points), len(points)), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, 3 * self.key_dim)
        q, k, v = (t.contiguous() for t in qkv.permute(0, 2, 1, 3).split(self.key_dim, dim=3))
        bias = self.attention_biases[:, self.attention_bias_idxs].to(q.dtype).expand(b, -1, -1, -1)
        # SDPA computes softmax(q k^T * scale + bias) v like the original code.
        # Contiguous q/k/v and a batch-expanded mask let it take the fused CPU
        # kernel instead of the generic math path (about 2x faster here).
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        out = out.transpose(1, 2).reshape(b, n, self.num_heads * self.key_dim)
        res: torch.Tensor = self.proj(out)
        return res


class TinyViTBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        *,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int = 3,
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.window_size = window_size
        self.attn = Attention(dim, dim // num_heads, num_heads, (window_size, window_size))
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv: nn.Module = Conv2dBN(
            dim, dim, local_conv_size, stride=1, padding=local_conv_size // 2, groups=dim
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.input_resolution
        b, length, c = x.shape
        ws = self.window_size
        shortcut = x
        if h == ws and w == ws:
            x = self.attn(x)
        else:
            x = x.view(b, h, w, c)
            pad_b = (ws - h % ws) % ws
            pad_r = (ws - w % ws) % ws
            if pad_b or pad_r:
                # Zero tokens join the edge windows as keys (they are not
                # masked); the checkpoint was trained with that behaviour.
                x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
            ph, pw = h + pad_b, w + pad_r
            nh, nw = ph // ws, pw // ws
            x = x.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
            x = self.attn(x)
            x = x.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
            if pad_b or pad_r:
                x = x[:, :h, :w].contiguous()
            x = x.view(b, length, c)
        x = shortcut + x
        x = nchw_to_tokens(self.local_conv(tokens_to_nchw(x, h, w)))
        return x + self.mlp(x)  # type: ignore[no-any-return]


class BasicLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        *,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        out_dim: int | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, input_resolution, num_heads=num_heads, window_size=window_size, mlp_ratio=mlp_ratio)
            for _ in range(depth)
        )
        self.downsample = PatchMerging(input_resolution, dim=dim, out_dim=out_dim) if out_dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class TinyViT(nn.Module):
    """TinyViT backbone plus SAM's neck, mapping (B, 3, 256, 256) to (B, 256, 64, 64)."""

    def __init__(
        self,
        *,
        img_size: int = 256,
        in_chans: int = 3,
        embed_dims: Sequence[int] = (64, 128, 160, 320),
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (2, 4, 5, 10),
        window_sizes: Sequence[int] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        out_chans: int = 256,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_embed = PatchEmbed(in_chans, embed_dims[0])
        n_stages = len(depths)
        self.layers = nn.ModuleList()
        for i in range(n_stages):
            # The last stage keeps the previous stage's resolution (stride-1 merge).
            div = 2 ** (i - 1 if i == n_stages - 1 else i)
            res = (img_size // div, img_size // div)
            out_dim = embed_dims[min(i + 1, n_stages - 1)]
            if i == 0:
                self.layers.append(ConvLayer(embed_dims[0], res, depths[0], out_dim, mbconv_expand_ratio))
            else:
                self.layers.append(
                    BasicLayer(
                        embed_dims[i],
                        res,
                        depth=depths[i],
                        num_heads=num_heads[i],
                        window_size=window_sizes[i],
                        mlp_ratio=mlp_ratio,
                        out_dim=out_dim if i < n_stages - 1 else None,
                    )
                )
        self.out_size = img_size // 2 ** (n_stages - 2)
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        x = tokens_to_nchw(x, self.out_size, self.out_size)
        out: torch.Tensor = self.neck(x)
        return out


def fuse_conv_bn_(module: nn.Module) -> int:
    """Replace every Conv2dBN below ``module`` by its folded convolution, in place.

    Returns the number of replacements so callers can assert the pass did something.
    Only valid in eval mode (uses running statistics).
    """
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, Conv2dBN):
            setattr(module, name, child.fused())
            count += 1
        else:
            count += fuse_conv_bn_(child)
    return count
