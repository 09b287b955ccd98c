"""VCOP: video clip order prediction (Xu et al., CVPR 2019), a baseline of SRO's Table VIII.

Each video gives a tuple of N clips (16 frames, 8 frames apart) shown in a
shuffled order (:class:`vidssl.data.pretext.vcop.VCOPSampler`). The backbone
turns every clip into a feature; the pairwise head
(:class:`vidssl.models.heads.PairwiseOrderHead`) classifies the order among
the N! permutations with cross-entropy. Pretraining in the paper: SGD lr 1e-3,
momentum 0.9, weight decay 5e-4, batch 8, 300 epochs (see ``vcop_r3d18.yaml``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.contracts import Backbone
from vidssl.data.transforms import check_modality, to_model_input
from vidssl.models.heads import PairwiseOrderHead


class VCOP(nn.Module):
    """Backbone + pairwise order head. Batch keys: ``clips`` uint8 (B, N, C, T, H, W), ``order_label`` long (B,)."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        tuple_len: int = 3,
        head_hidden: int = 512,
        dropout: float = 0.5,
        modality: str = "rgb",
    ) -> None:
        super().__init__()
        self.modality = check_modality(modality)
        self.backbone = backbone
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        self.order_head = PairwiseOrderHead(dim, tuple_len, hidden=head_hidden, dropout=dropout)
        self.tuple_len = self.order_head.num_clips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips (B, C, T, H, W)."""
        return self.backbone(x)

    def clip_features(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """(B, N, C, T, H, W) uint8 -> (B, N, D): every clip of every tuple through the backbone at once."""
        b, n = clips_uint8.shape[:2]
        return self.backbone(to_model_input(clips_uint8.flatten(0, 1), self.modality)).view(b, n, -1)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Cross-entropy of the order logits against the permutation index; logs its top-1 accuracy."""
        logits = self.order_head(self.clip_features(batch["clips"])).float()
        labels = batch["order_label"]
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.detach().argmax(1) == labels).float().mean().item()
        return loss, {"loss/order": loss.item(), "acc_order": accuracy}

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The order accuracy of a uniform guess among the N! orders (the sampler draws them uniformly)."""
        return {"acc_order": 1.0 / math.factorial(self.tuple_len)}
