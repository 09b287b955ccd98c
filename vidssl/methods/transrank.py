"""TransRank / TransCls: recognise temporal (and spatial) transformations of clips (Duan et al., CVPR 2022).

Each video gives N clips (sampled by
:class:`vidssl.data.pretext.transrank.TransRankSampler`), clip i transformed by
T_{t_i} from a set of M temporal transformations (1×, 2×, rev, …). The
backbone turns every clip into a feature; each task has its own head on it:

- temporal (``loss``): M scores per clip, the N×M matrix of each video trained
  with the margin ranking loss of equation (1) (``"rank"``, TransRank) or the
  cross-entropy of equation (2) (``"ce"``, TransCls); ``"none"`` drops the task
  (3D-RotNet is rotation alone);
- aspect ratio (``aspect="rank"``, §4.3): one score per clip ranked by the
  original aspect ratio of the clip's RandomResizedCrop, equation (3);
- rotation (``rotation="cls"`` or ``"rank"``, §4.3): 4 scores per clip for the
  clip's k·90° rotation, cross-entropy (2) or ranking (1) over the N×4 matrix.

The total is equation (4): L = L_T + Σ λ_i L_S_i, λ_i = ``aspect_weight`` /
``rotation_weight`` (0.5 in the paper, §5.2). TransRank-ST = temporal + both
spatial tasks. The network sees RGB frames or RGBDiff (``modality``; §5.3,
Table 7). Heads are an fc layer or a 2-layer MLP with 128 hidden units (§5.2,
Table 6).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from vidssl.checks import ArgumentError, check_choice, check_non_negative
from vidssl.contracts import Backbone
from vidssl.data.sampling import check_transform_name
from vidssl.data.transforms import check_modality, to_model_input
from vidssl.errors import VidsslError
from vidssl.losses.ranking import (
    AspectRankingLoss,
    TransformRankingLoss,
    label_order_accuracy,
    pairwise_ranking_accuracy,
    transform_cross_entropy,
)
from vidssl.models.heads import make_head

LOSSES = ("rank", "ce", "none")
ASPECT_TASKS = ("none", "rank")
ROTATION_TASKS = ("none", "cls", "rank")
NUM_ROTATIONS = 4


class TransRank(nn.Module):
    """Backbone + one head per task + equation (4) over the enabled tasks.

    Batch keys used by :meth:`training_step`: ``clips`` uint8 (B, N, C, T, H, W),
    ``transform_ids`` long (B, N), and for the spatial tasks ``aspect_ratios``
    float (B, N) and ``rotations`` long (B, N).
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
        aspect: str = "none",
        aspect_margin: float = 1.0,
        aspect_weight: float = 0.5,
        rotation: str = "none",
        rotation_weight: float = 0.5,
    ):
        super().__init__()
        self.modality = check_modality(modality)
        self.loss_kind = check_choice("loss", loss, LOSSES)
        self.aspect = check_choice("aspect", aspect, ASPECT_TASKS)
        self.rotation = check_choice("rotation", rotation, ROTATION_TASKS)
        if loss != "none" and len(transforms) < 2:
            raise ArgumentError("transforms", f"need at least 2 transformations, got {list(transforms)}")
        if loss == "none" and aspect == "none" and rotation == "none":
            raise VidsslError("TransRank: every task is none (loss, aspect, rotation); enable at least one")
        for name in transforms:
            check_transform_name(name, "transforms")
        self.backbone = backbone
        self.transforms = tuple(transforms)
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        if loss != "none":
            self.temporal_head = make_head(head, dim, len(self.transforms), hidden=head_hidden)
        if aspect != "none":
            self.aspect_head = make_head(head, dim, 1, hidden=head_hidden)
        if rotation != "none":
            self.rotation_head = make_head(head, dim, NUM_ROTATIONS, hidden=head_hidden)
        self.ranking_loss = TransformRankingLoss(margin)
        self.aspect_loss = AspectRankingLoss(check_non_negative("aspect_margin", aspect_margin))
        self.aspect_weight = check_non_negative("aspect_weight", aspect_weight)
        self.rotation_weight = check_non_negative("rotation_weight", rotation_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips (B, C, T, H, W): the backbone's ``pool`` tap."""
        return self.backbone(x)

    def clip_features(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, N, D) of uint8 clips (B, N, C, T, H, W) (T + 1 frames for RGBDiff)."""
        b, n = clips_uint8.shape[:2]
        x = to_model_input(clips_uint8.flatten(0, 1), self.modality)
        return self.backbone(x).view(b, n, -1)

    def scores(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """Temporal score matrix S (B, N, M) for uint8 clips (B, N, C, T, H, W)."""
        if self.loss_kind == "none":
            raise VidsslError("this model has no temporal head (loss='none')")
        return self.temporal_head(self.clip_features(clips_uint8))

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Equation (4): the temporal loss plus λ-weighted spatial losses, with per-task logs."""
        if self.loss_kind != "none":
            self.check_transform_ids(batch["transform_ids"])
        feats = self.clip_features(batch["clips"])
        total = feats.new_zeros(())
        logs: dict[str, float] = {}
        if self.loss_kind != "none":
            loss, task_logs = self.temporal_loss(self.temporal_head(feats), batch["transform_ids"])
            total = total + loss
            logs.update(task_logs)
        if self.aspect != "none":
            loss, task_logs = self.aspect_ratio_loss(self.aspect_head(feats).squeeze(-1), batch["aspect_ratios"])
            total = total + self.aspect_weight * loss
            logs.update(task_logs)
        if self.rotation != "none":
            loss, task_logs = self.rotation_loss(self.rotation_head(feats), batch["rotations"])
            total = total + self.rotation_weight * loss
            logs.update(task_logs)
        return total, logs

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The accuracy of guessing at random, per logged accuracy: top-1 among M transformations (or the 4
        rotations) 1/M, a pairwise ranking or the aspect-ratio order of two clips 1/2."""
        chance: dict[str, float] = {}
        if self.loss_kind != "none":
            chance.update(self._class_chance(self.transforms, prefix="acc"))
        if self.aspect != "none":
            chance["acc_aspect"] = 0.5
        if self.rotation != "none":
            names = tuple(f"{90 * k}deg" for k in range(NUM_ROTATIONS))
            chance.update(self._class_chance(names, prefix="acc_rot"))
        return chance

    @staticmethod
    def _class_chance(names: Sequence[str], *, prefix: str) -> dict[str, float]:
        """Chance of the keys :meth:`_accuracy_logs` writes for ``names``."""
        top1 = "top1" + prefix[len("acc"):]
        chance = {prefix: 1.0 / len(names)}
        for name in names:
            chance[f"{prefix}/{name}"] = 0.5
            chance[f"{top1}/{name}"] = 1.0 / len(names)
        return chance

    def check_transform_ids(self, ids: torch.Tensor) -> None:
        """Every id must index ``self.transforms``: a sampler with other transformations is an error, not a crash."""
        if ids.numel() == 0:
            return
        low, high = int(ids.min()), int(ids.max())
        bad = high if high >= len(self.transforms) else low if low < 0 else None
        if bad is not None:
            raise VidsslError(
                f"batch has transform id {bad} but the method knows {len(self.transforms)} transformations "
                f"({', '.join(self.transforms)}): the sampler and the method must share their transforms"
            )

    def temporal_loss(self, scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Equation (1) or (2) on the (B, N, M) temporal scores, with per-transformation accuracy."""
        loss = (
            self.ranking_loss(scores, targets) if self.loss_kind == "rank" else transform_cross_entropy(scores, targets)
        )
        logs = self._accuracy_logs(scores.detach().float(), targets, self.transforms, prefix="acc")
        if self.aspect != "none" or self.rotation != "none":
            logs["loss/temporal"] = loss.item()
        return loss, logs

    def aspect_ratio_loss(self, scores: torch.Tensor, ratios: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Equation (3) on one score per clip; logs the loss and the fraction of correctly ordered pairs."""
        loss = self.aspect_loss(scores, ratios.to(scores.dtype))
        logs = {"loss/aspect": loss.item()}
        accuracy = label_order_accuracy(scores.detach().float(), ratios).item()
        if accuracy == accuracy:  # NaN: every pair tied in this batch
            logs["acc_aspect"] = accuracy
        return loss, logs

    def rotation_loss(self, scores: torch.Tensor, rotations: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Rotation as classification (eq. 2) or ranking (eq. 1) over the (B, N, 4) scores."""
        loss = (
            self.ranking_loss(scores, rotations) if self.rotation == "rank"
            else transform_cross_entropy(scores, rotations)
        )
        names = tuple(f"{90 * k}deg" for k in range(NUM_ROTATIONS))
        logs = {"loss/rotation": loss.item()}
        logs.update(self._accuracy_logs(scores.detach().float(), rotations, names, prefix="acc_rot"))
        return loss, logs

    @staticmethod
    def _accuracy_logs(scores: torch.Tensor, targets: torch.Tensor, names: Sequence[str], *, prefix: str) -> dict:
        """Overall argmax accuracy ``prefix``; per class, the pairwise ranking accuracy ``prefix/<name>``
        (what eq. 1 trains) and the argmax recall ``top1<suffix>/<name>`` (what eq. 2 trains).

        Logged every epoch so a shortcut transformation (palindrome, shuffle: > 99.5 % in §5.2) shows up.
        """
        per_class = pairwise_ranking_accuracy(scores, targets, len(names))
        predicted = scores.argmax(-1)
        logs = {prefix: (predicted == targets).float().mean().item()}
        top1 = "top1" + prefix[len("acc"):]
        for k, (name, value) in enumerate(zip(names, per_class.tolist())):
            if value == value:  # skip NaN: no pair for this class in the batch
                logs[f"{prefix}/{name}"] = value
            of_class = targets == k
            if of_class.any():
                logs[f"{top1}/{name}"] = (predicted[of_class] == k).float().mean().item()
        return logs
