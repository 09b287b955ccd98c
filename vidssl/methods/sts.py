"""STS: uncovering spatio-temporal statistics (Wang et al., TPAMI 2021; CVPR 2019 as "motion and appearance
statistics").

Each sample is one clip with 14 motion and 13 appearance labels computed from
its flow and colours (:class:`vidssl.data.pretext.sts.STSSampler`). The
backbone's pooled feature feeds two heads, motion and appearance, each one
Linear layer as in the authors' code (ALGORITHMS.md STS §1.8):

- ``target="classification"`` (Table 4's best): one linear classifier per label
  (27 of them, stored as one Linear per group whose output is split by label:
  the same functions and parameters) and eqs. (9)–(10);
- ``"regression_1d"``: 14 + 13 values, eq. (8);
- ``"regression_2d"``: 18 + 17 values with 2D locations for patterns 1 and 3.

λ_m = 1, λ_a = 0.1. Logs the mean per-label accuracy of motion and
appearance ("pretext task" accuracy of Table 4; for regression, rounded
predictions as the paper measures them) and each label's own accuracy
(``acc_motion/<label>``, ``acc_appearance/<label>``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from vidssl.checks import check_choice
from vidssl.contracts import Backbone
from vidssl.data.statistics import APPEARANCE_LABELS, LabelSpec, motion_label_specs
from vidssl.data.transforms import check_modality, to_model_input
from vidssl.losses.sts import (
    STSClassificationLoss,
    STSRegressionLoss,
    classification_predictions,
    regression_predictions,
    regression_size,
)

TARGETS = ("classification", "regression_1d", "regression_2d")


class STS(nn.Module):
    """Backbone + motion and appearance heads. Batch keys: ``clip`` uint8 (B, C, T, H, W),
    ``motion_labels`` long (B, 14), ``appearance_labels`` long (B, 13)."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        target: str = "classification",
        clip_len: int = 16,
        motion_weight: float = 1.0,
        appearance_weight: float = 0.1,
        modality: str = "rgb",
    ) -> None:
        super().__init__()
        self.target = check_choice("target", target, TARGETS)
        self.modality = check_modality(modality)
        self.backbone = backbone
        self.motion_specs = motion_label_specs(clip_len - 1)
        self.appearance_specs = APPEARANCE_LABELS
        self.motion_classes = tuple(spec.num_classes for spec in self.motion_specs)
        self.appearance_classes = tuple(spec.num_classes for spec in self.appearance_specs)
        self.loss: STSClassificationLoss | STSRegressionLoss
        if target == "classification":
            motion_out, appearance_out = sum(self.motion_classes), sum(self.appearance_classes)
            self.loss = STSClassificationLoss(
                motion_classes=self.motion_classes, appearance_classes=self.appearance_classes,
                motion_weight=motion_weight, appearance_weight=appearance_weight,
            )
        else:
            self.design = target[-2:]
            motion_out = regression_size(len(self.motion_classes), self.design)
            appearance_out = regression_size(len(self.appearance_classes), self.design)
            self.loss = STSRegressionLoss(
                design=self.design, motion_weight=motion_weight, appearance_weight=appearance_weight
            )
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        self.motion_head = nn.Linear(dim, motion_out)
        self.appearance_head = nn.Linear(dim, appearance_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips (B, C, T, H, W)."""
        return self.backbone(x)

    def predict(self, clips_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(motion, appearance) head outputs of uint8 clips."""
        features = self.backbone(to_model_input(clips_uint8, self.modality))
        return self.motion_head(features), self.appearance_head(features)

    def predicted_labels(self, motion: torch.Tensor, appearance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """0-based labels (B, 14), (B, 13) the heads predict."""
        if self.target == "classification":
            return (classification_predictions(motion, self.motion_classes),
                    classification_predictions(appearance, self.appearance_classes))
        return (regression_predictions(motion, self.motion_classes, self.design),
                regression_predictions(appearance, self.appearance_classes, self.design))

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        motion, appearance = self.predict(batch["clip"])
        motion_labels, appearance_labels = batch["motion_labels"], batch["appearance_labels"]
        loss, logs = self.loss(motion, appearance, motion_labels, appearance_labels)
        with torch.no_grad():
            motion_pred, appearance_pred = self.predicted_labels(motion, appearance)
            logs.update(label_accuracies(motion_pred == motion_labels, self.motion_specs, "acc_motion"))
            logs.update(label_accuracies(appearance_pred == appearance_labels, self.appearance_specs, "acc_appearance"))
        if "curriculum_stage" in batch:  # 1 while only the easier half is shown (eq. 7), then 2
            logs["curriculum_stage"] = float(torch.as_tensor(batch["curriculum_stage"]).float().mean())
        return loss, logs

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The accuracy of always answering each label's commonest class in ``batch``, per label, and its mean
        over the labels of a group; without ``batch``, nothing.

        Not 1/classes: the labels are far from uniform over their classes (a still scene has one
        orientation, most clips one dominant colour), so a uniform guess would flatter the model. Over a
        small batch the commonest share overstates a constant guess a little, never understates it. The
        regression errors (``loss/motion``, ``loss/appearance``) have no chance level here.
        """
        if batch is None:
            return {}
        motion = label_chance(batch["motion_labels"], self.motion_specs, "acc_motion")
        return {**motion, **label_chance(batch["appearance_labels"], self.appearance_specs, "acc_appearance")}


def label_accuracies(correct: torch.Tensor, specs: Sequence[LabelSpec], prefix: str) -> dict[str, float]:
    """``prefix``: the mean accuracy over the labels of ``correct`` (B, labels); ``prefix/<label>``: each one's."""
    per_label = correct.float().mean(0).tolist()
    logs = {prefix: correct.float().mean().item()}
    logs.update({f"{prefix}/{spec.name}": value for spec, value in zip(specs, per_label)})
    return logs


def label_chance(labels: torch.Tensor, specs: Sequence[LabelSpec], prefix: str) -> dict[str, float]:
    """The chance of the keys :func:`label_accuracies` writes: the commonest class's share of each label's
    column of ``labels`` (B, labels), their mean for ``prefix``."""
    shares = [torch.bincount(column).max().item() / len(column) for column in labels.long().T.cpu()]
    chance = {f"{prefix}/{spec.name}": share for spec, share in zip(specs, shares)}
    return {prefix: sum(shares) / len(shares), **chance}
