"""TransRank / TransCls: recognise temporal transformations of clips (Duan et al., CVPR 2022).

Each video gives N clips (sampled by
:class:`vidssl.data.pretext.transrank.TransRankSampler`), clip i transformed by
T_{t_i} from a set of M temporal transformations (1×, 2×, rev, …). The
backbone turns every clip into a feature, a temporal head maps it to M
scores, and the N×M score matrix of each video is trained with

- the margin ranking loss of equation (1) (``loss="rank"``, TransRank), or
- the cross-entropy of equation (2) (``loss="ce"``, TransCls).

The network sees RGB frames or RGBDiff (``modality``; §5.3, Table 7).
Heads are an fc layer or a 2-layer MLP with 128 hidden units (§5.2, Table 6).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vidssl.data.transforms import check_modality, to_model_input
from vidssl.errors import VidsslError
from vidssl.losses.ranking import (
    TransformRankingLoss,
    pairwise_ranking_accuracy,
    transform_cross_entropy,
)
from vidssl.models.heads import make_head

LOSSES = ("rank", "ce")


class TransRank(nn.Module):
    """Backbone + temporal head + ranking (eq. 1) or classification (eq. 2) loss.

    Batch keys used by :meth:`training_step`: ``clips`` uint8 (B, N, C, T, H, W)
    and ``transform_ids`` long (B, N).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        transforms: Sequence[str],
        head: str = "mlp",
        head_hidden: int = 128,
        loss: str = "rank",
        margin: float = 1.0,
        modality: str = "rgb",
    ):
        super().__init__()
        self.modality = check_modality(modality)
        if loss not in LOSSES:
            raise VidsslError(f"method.loss: expected one of {LOSSES}, got {loss!r}")
        if len(transforms) < 2:
            raise VidsslError(f"method.transforms: need at least 2 transformations, got {list(transforms)}")
        self.backbone = backbone
        self.transforms = tuple(transforms)
        self.temporal_head = make_head(head, backbone.num_features, len(self.transforms), hidden=head_hidden)
        self.loss_kind = loss
        self.ranking_loss = TransformRankingLoss(margin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips (B, C, T, H, W): the backbone's ``pool`` tap."""
        return self.backbone(x)

    def scores(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """Score matrix S (B, N, M) for uint8 clips (B, N, C, T, H, W) (T + 1 frames for RGBDiff)."""
        b, n = clips_uint8.shape[:2]
        x = to_model_input(clips_uint8.flatten(0, 1), self.modality)
        return self.temporal_head(self.backbone(x)).view(b, n, -1)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        scores = self.scores(batch["clips"])
        targets = batch["transform_ids"]
        if self.loss_kind == "rank":
            loss = self.ranking_loss(scores, targets)
        else:
            loss = transform_cross_entropy(scores, targets)
        return loss, self._accuracy_logs(scores.detach().float(), targets)

    def _accuracy_logs(self, scores: torch.Tensor, targets: torch.Tensor) -> dict:
        """Pretext accuracy per transformation (pairwise ranking) and overall argmax accuracy.

        Logged every epoch so a shortcut transformation (palindrome, shuffle) shows up.
        """
        per_transform = pairwise_ranking_accuracy(scores, targets, len(self.transforms))
        logs = {"acc": (scores.argmax(-1) == targets).float().mean().item()}
        for name, value in zip(self.transforms, per_transform.tolist()):
            if value == value:  # skip NaN: no pair for this transformation in the batch
                logs[f"acc/{name}"] = value
        return logs
