"""The promptable segmentation model: image encoder + prompt encoder + mask decoder."""

from __future__ import annotations

import torch
from torch import nn

from .sam_decoder import MaskDecoder, PromptEncoder, TwoWayTransformer
from .tiny_vit import TinyViT


class SamModel(nn.Module):
    """Container with SAM's attribute names (``image_encoder``, ``prompt_encoder``, ``mask_decoder``).

    Any encoder that maps (B, 3, S, S) to (B, 256, S/4... ) embeddings the
    decoder understands can be plugged in; LiteMedSAM uses TinyViT at S=256.
    """

    def __init__(self, image_encoder: nn.Module, prompt_encoder: PromptEncoder, mask_decoder: MaskDecoder) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.image_encoder(images)
        return out

    def decode(
        self,
        embeddings: torch.Tensor,
        boxes: torch.Tensor | None = None,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        masks: torch.Tensor | None = None,
        multimask_output: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode prompts in model-input coordinates; returns (low-res logits, IoU)."""
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes, masks=masks)
        logits, iou = self.mask_decoder(
            image_embeddings=embeddings,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
        return logits, iou


def build_sam_decoder(
    image_size: int = 256, embedding_size: int = 64, embed_dim: int = 256
) -> tuple[PromptEncoder, MaskDecoder]:
    """SAM's standard prompt encoder and mask decoder (shared by every SAM-family model)."""
    prompt_encoder = PromptEncoder(
        embed_dim=embed_dim,
        image_embedding_size=(embedding_size, embedding_size),
        input_image_size=(image_size, image_size),
        mask_in_chans=16,
    )
    mask_decoder = MaskDecoder(
        transformer_dim=embed_dim,
        transformer=TwoWayTransformer(depth=2, embedding_dim=embed_dim, mlp_dim=2048, num_heads=8),
        num_multimask_outputs=3,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
    )
    return prompt_encoder, mask_decoder


def build_litemedsam() -> SamModel:
    """LiteMedSAM with random weights (load the checkpoint afterwards)."""
    encoder = TinyViT(
        img_size=256,
        embed_dims=(64, 128, 160, 320),
        depths=(2, 2, 6, 2),
        num_heads=(2, 4, 5, 10),
        window_sizes=(7, 7, 14, 7),
        mlp_ratio=4.0,
    )
    prompt_encoder, mask_decoder = build_sam_decoder(image_size=256, embedding_size=64)
    return SamModel(encoder, prompt_encoder, mask_decoder)
