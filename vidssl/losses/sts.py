"""The three training targets of STS (Wang et al., TPAMI 2021, §3.5.2, Table 4).

Labels come from :mod:`vidssl.data.statistics` as 0-based classes: motion
(B, 14), appearance (B, 13).

- :class:`STSRegressionLoss`, ``design="1d"``: 27 values regressed, each label
  as the official 1-based integer (no normalisation, ALGORITHMS.md STS §1.8).
  ``design="2d"``: pattern-1 and pattern-3 locations become (row, column)
  pairs — 18 motion and 17 appearance values
  (:func:`vidssl.data.statistics.two_d_targets`). Loss of eq. (8),
  λ_m·err(motion) + λ_a·err(appearance), where err is the mean squared error
  over the values, as the official code (``nn.MSELoss``); the paper writes
  the L2 norm.
- :class:`STSClassificationLoss`: one cross-entropy per label (eqs. 9–10),
  λ_m Σ_i CE_i(motion) + λ_a Σ_j CE_j(appearance).

λ_m = 1 and λ_a = 0.1 (§4.2). The losses own no parameters.

Example::

    loss_fn = STSClassificationLoss(motion_classes=(16, 8, ...), appearance_classes=(16, 8, ...))
    loss, logs = loss_fn(motion_logits, appearance_logits, motion_labels, appearance_labels)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import check_choice, check_non_negative
from vidssl.errors import VidsslError
from vidssl.ops.sts_grid import pattern3_coordinates

DESIGNS = ("1d", "2d")
LOCATION_SLOTS = (0, 2)          # pattern-1 location labels within motion and appearance
TRIANGLE_SLOTS = (8, 10)         # pattern-3 location labels


def regression_targets(labels: torch.Tensor, design: str) -> torch.Tensor:
    """(B, n) 0-based labels → float regression targets: 1-based values, (1d) or with 2D locations (2d).

    The 2D form turns pattern-1 block b into (b // 4 + 1, b % 4 + 1) and
    pattern-3 triangle t into its (row, column) of
    :func:`vidssl.ops.sts_grid.pattern3_coordinates`, in place of the one
    value; 14 → 18 and 13 → 17 values.
    """
    if design == "1d":
        return labels.float() + 1
    triangles = torch.as_tensor(pattern3_coordinates(), dtype=torch.float32, device=labels.device)
    columns = []
    for index in range(labels.shape[1]):
        value = labels[:, index]
        if index in LOCATION_SLOTS:
            columns += [(value // 4 + 1).float(), (value % 4 + 1).float()]
        elif index in TRIANGLE_SLOTS:
            columns += [triangles[value, 0], triangles[value, 1]]
        else:
            columns.append(value.float() + 1)
    return torch.stack(columns, dim=1)


def regression_size(num_labels: int, design: str) -> int:
    """Values regressed for ``num_labels`` labels (14 or 13): the same in 1d, four more in 2d."""
    return num_labels + (len(LOCATION_SLOTS) + len(TRIANGLE_SLOTS) if design == "2d" else 0)


class STSRegressionLoss(nn.Module):
    """Eq. (8) with the official mean squared error: predictions (B, 14|18) and (B, 13|17), labels 0-based."""

    def __init__(self, *, design: str = "1d", motion_weight: float = 1.0, appearance_weight: float = 0.1) -> None:
        super().__init__()
        self.design = check_choice("design", design, DESIGNS)
        self.motion_weight = check_non_negative("motion_weight", motion_weight)
        self.appearance_weight = check_non_negative("appearance_weight", appearance_weight)

    def forward(
        self, motion: torch.Tensor, appearance: torch.Tensor, motion_labels: torch.Tensor,
        appearance_labels: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        motion_loss = F.mse_loss(motion.float(), regression_targets(motion_labels, self.design))
        appearance_loss = F.mse_loss(appearance.float(), regression_targets(appearance_labels, self.design))
        loss = self.motion_weight * motion_loss + self.appearance_weight * appearance_loss
        return loss, {"loss/motion": motion_loss.item(), "loss/appearance": appearance_loss.item()}


class STSClassificationLoss(nn.Module):
    """Eqs. (9)–(10): Σ of one cross-entropy per label; logits (B, Σ classes) split in label order."""

    def __init__(
        self,
        *,
        motion_classes: Sequence[int],
        appearance_classes: Sequence[int],
        motion_weight: float = 1.0,
        appearance_weight: float = 0.1,
    ) -> None:
        super().__init__()
        self.motion_classes = tuple(int(c) for c in motion_classes)
        self.appearance_classes = tuple(int(c) for c in appearance_classes)
        self.motion_weight = check_non_negative("motion_weight", motion_weight)
        self.appearance_weight = check_non_negative("appearance_weight", appearance_weight)

    @staticmethod
    def summed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
        """Σ_i CE(logits of label i, labels[:, i]), each CE averaged over the batch."""
        if logits.shape[1] != sum(classes) or labels.shape[1] != len(classes):
            raise VidsslError(
                f"STS classification: expected logits (B, {sum(classes)}) and labels (B, {len(classes)}), "
                f"got {tuple(logits.shape)} and {tuple(labels.shape)}"
            )
        scores = logits.float()
        pieces = torch.split(scores, list(classes), dim=1)
        # Start from a 0-dim zero tensor rather than sum's int 0: the same value, and a tensor even for no labels.
        return sum((F.cross_entropy(piece, labels[:, i]) for i, piece in enumerate(pieces)), scores.new_zeros(()))

    def forward(
        self, motion: torch.Tensor, appearance: torch.Tensor, motion_labels: torch.Tensor,
        appearance_labels: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        motion_loss = self.summed_cross_entropy(motion, motion_labels, self.motion_classes)
        appearance_loss = self.summed_cross_entropy(appearance, appearance_labels, self.appearance_classes)
        loss = self.motion_weight * motion_loss + self.appearance_weight * appearance_loss
        return loss, {"loss/motion": motion_loss.item(), "loss/appearance": appearance_loss.item()}


def classification_predictions(logits: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """(B, n) predicted 0-based class of every label from concatenated logits."""
    return torch.stack([piece.argmax(1) for piece in torch.split(logits, list(classes), dim=1)], dim=1)


def regression_predictions(values: torch.Tensor, classes: Sequence[int], design: str) -> torch.Tensor:
    """(B, n) 0-based classes from regressed values: rounded to the nearest label, clamped to its range.

    For the 2D design a location is recovered from its rounded (row, column):
    pattern 1 as 4·(row − 1) + (column − 1); pattern 3 as the triangle at that grid cell.
    """
    rounded = torch.round(values.detach()).long()
    labels, column = [], 0
    triangles = torch.as_tensor(pattern3_coordinates(), device=values.device)
    lookup = torch.full((5, 3), -1, dtype=torch.long, device=values.device)
    lookup[triangles[:, 0], triangles[:, 1]] = torch.arange(8, device=values.device)
    for index, count in enumerate(classes):
        if design == "2d" and index in LOCATION_SLOTS:
            row, col = rounded[:, column].clamp(1, 4), rounded[:, column + 1].clamp(1, 4)
            labels.append(4 * (row - 1) + col - 1)
            column += 2
        elif design == "2d" and index in TRIANGLE_SLOTS:
            row, col = rounded[:, column].clamp(1, 4), rounded[:, column + 1].clamp(1, 2)
            labels.append(lookup[row, col])
            column += 2
        else:
            labels.append((rounded[:, column] - 1).clamp(0, count - 1))
            column += 1
    return torch.stack(labels, dim=1)
