"""Inference routes for the image encoder (the expensive part: ~75 GFLOPs per slice).

Routes, all measured against eager fp32 by ``python -m models.bench``:

* ``none``   - the module as loaded: eager, fp32, NCHW weights. The reference.
* ``fp32``   - BatchNorm folded into the convolutions, channels-last weights and,
               on oneDNN builds, GELU / residual adds fused into the conv and
               matmul kernels (:mod:`models.cpu_fusion`). Same maths: embeddings
               differ by ~1e-6 and the masks are identical on the shared data.
* ``bf16``   - BN folding + channels-last + bfloat16 autocast for matmuls and
               convolutions (LayerNorm/softmax stay fp32). About 2x faster than
               ``fp32`` on CPUs with AVX512-BF16/AMX, but masks move: mean Dice
               vs fp32 is ~0.985 on the shared data, below the 0.99 bar, so
               ``auto`` does not pick it on CPU.
* ``int8``   - ``fp32`` minus fusion plus dynamic int8 quantisation of the
               Linear layers (torch.ao). Slower than bf16 here and least accurate.
* ``compile``- BN folding + channels-last under ``torch.compile`` (Inductor does its
               own fusion; needs a C compiler and 30-60 s
               of compilation on 2 cores per process, so never chosen automatically).
* ``fp16`` / ``bf16`` on CUDA - autocast; embeddings are returned as float32.
* ``auto``   - CUDA: ``fp16`` (H100: max Dice drift 0.0042 on the shared data vs
               0.022 for ``bf16`` at about the same rate); CPU: ``fp32``.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Literal, cast

import torch
from torch import nn

from .cpu_fusion import fuse_pointwise_, fusion_available
from .tiny_vit import fuse_conv_bn_

OptimizeMode = Literal["none", "auto", "fp32", "bf16", "fp16", "int8", "compile"]
OPTIMIZE_MODES: tuple[str, ...] = ("none", "auto", "fp32", "bf16", "fp16", "int8", "compile")


def cpu_has_native_bf16() -> bool:
    """True when bf16 matmuls run on dedicated instructions, i.e. faster than fp32."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        if fn is not None:
            try:
                if bool(fn()):
                    return True
            except RuntimeError:
                continue
    return False


def resolve_mode(mode: str, device: torch.device) -> str:
    if mode not in OPTIMIZE_MODES:
        raise ValueError(f"unknown optimize mode {mode!r}; choose one of {', '.join(OPTIMIZE_MODES)}")
    if device.type == "cuda":
        if mode == "auto":
            # fp16 over bf16: on an H100 both encode at about the same rate, but fp16's 10-bit mantissa
            # keeps the CVPR 2024 Dice within 0.0042 of the reference, bf16's 7 bits drift by 0.022.
            return "fp16"
        if mode in ("bf16", "fp16"):
            return mode
        if mode == "int8":
            raise ValueError("int8 dynamic quantisation is a CPU route")
        return mode
    if mode == "fp16":
        raise ValueError("fp16 is a CUDA route; on CPU use 'bf16' or 'fp32'")
    if mode == "auto":
        return "fp32"
    if mode == "bf16" and not cpu_has_native_bf16():
        raise ValueError("this CPU has no native bf16 (AVX512-BF16/AMX); bf16 would be slower than fp32")
    return mode


class EncoderRunner:
    """Callable (B, 3, S, S) float32 -> (B, 256, 64, 64) float32 embeddings for one route."""

    def __init__(self, encoder: nn.Module, mode: str, device: torch.device) -> None:
        self.device = device
        self.mode = resolve_mode(mode, device)
        self.channels_last = False
        self.autocast_dtype: torch.dtype | None = None
        module = encoder
        if self.mode != "none":
            # A private copy: the model's own encoder stays the pristine reference.
            module = copy.deepcopy(encoder).eval()
            fuse_conv_bn_(module)
            if device.type == "cpu":
                module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
                self.channels_last = True
                if self.mode == "fp32" and fusion_available():
                    # Exact fp32 epilogue fusion. Not under autocast (bf16
                    # activations vs fp32 weights) nor under torch.compile,
                    # which fuses on its own and cannot lower these ops.
                    fuse_pointwise_(module)
        if self.mode in ("bf16", "fp16"):
            self.autocast_dtype = torch.bfloat16 if self.mode == "bf16" else torch.float16
        elif self.mode == "int8":
            module = _quantize_linear_int8(module)
        elif self.mode == "compile" and device.type == "cuda":
            self.autocast_dtype = torch.float16  # as "auto" on CUDA, for the same accuracy reason
        self.module = module
        self._fn: Callable[[torch.Tensor], torch.Tensor] = self._eager
        if self.mode == "compile":
            self._fn = cast(Callable[[torch.Tensor], torch.Tensor], torch.compile(self._eager, dynamic=False))

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        if self.autocast_dtype is None:
            yield
        else:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                yield

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        with self._precision():
            out: torch.Tensor = self.module(x)
        return out.float()

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, dtype=torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._fn(x).contiguous()


def _quantize_linear_int8(module: nn.Module) -> nn.Module:
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao eager quantisation is deprecated in favour of torchao, which
        # this project does not depend on; the API still works in torch 2.x.
        warnings.simplefilter("ignore")
        quantized: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
            module, {nn.Linear}, dtype=torch.qint8
        )
        return quantized
