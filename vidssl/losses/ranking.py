"""Transformation-recognition objectives of TransRank (Duan et al., CVPR 2022).

Equations (1) and (2) take the score tensor ``S`` of shape (B, N, M): B videos,
N clips per video, M transformations; ``S[b, i, k]`` is the confidence that
clip i of video b was transformed by T_k. ``targets`` (B, N) holds each clip's
transformation index t_i. The same two serve the rotation task (M = 4
rotations). Equation (3) ranks one score per clip by a real-valued label (the
crop's original aspect ratio).

Example::

    loss_fn = TransformRankingLoss(margin=1.0)
    loss = loss_fn(scores, transform_ids)   # scores (B, N, M), ids (B, N)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import check_non_negative


class TransformRankingLoss(nn.Module):
    """Margin ranking loss over the N×M score matrix, TransRank equation (1).

    For every ordered pair of clips (i, j) of one video with t_i ≠ t_j, clip i
    must score higher than clip j on clip i's own transformation, by a margin:
    ``max(0, s_{j,t_i} − s_{i,t_i} + m)``. The sum is divided by the number of
    such pairs. Over a batch, pairs of all videos are pooled (sum of terms ÷
    total pair count): with deterministic assignment every video has
    N(N−1) pairs, so this equals the mean of the per-video losses of eq. (1).
    A batch with no pair (possible in stochastic mode) gives a zero loss that
    still carries a graph.
    """

    def __init__(self, margin: float = 1.0):
        super().__init__()
        self.margin = check_non_negative("margin", margin)

    def forward(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        terms, pairs = ranking_terms(scores, targets, self.margin)
        count = pairs.sum()
        if count == 0:
            return scores.sum() * 0.0
        return (terms * pairs).sum() / count


def ranking_terms(scores: torch.Tensor, targets: torch.Tensor, margin: float):
    """Hinge terms h[b, i, j] = max(0, S[b, j, t_i] − S[b, i, t_i] + m) and the pair mask t_i ≠ t_j."""
    own, others, pairs = _own_and_others(scores, targets)
    return F.relu(others - own.unsqueeze(-1) + margin), pairs


def _own_and_others(scores: torch.Tensor, targets: torch.Tensor):
    """own[b, i] = S[b, i, t_i]; others[b, i, j] = S[b, j, t_i]; pairs[b, i, j] = 1 if t_i ≠ t_j."""
    _check_shapes(scores, targets)
    b, n, _ = scores.shape
    own = scores.gather(2, targets.unsqueeze(-1)).squeeze(-1)
    others = scores.gather(2, targets.unsqueeze(1).expand(b, n, n)).transpose(1, 2)
    pairs = (targets.unsqueeze(2) != targets.unsqueeze(1)).to(scores.dtype)
    return own, others, pairs


def transform_cross_entropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over each clip's M scores, TransRank equation (2) (TransCls)."""
    _check_shapes(scores, targets)
    return F.cross_entropy(scores.flatten(0, 1), targets.flatten())


class AspectRankingLoss(nn.Module):
    """Margin ranking of one score per clip by a real-valued label, TransRank equation (3).

    For clips i, j of one video with r_i < r_j (original aspect ratios), the
    score r'_i must be lower than r'_j by the margin:
    ``max(0, r'_i − r'_j + m)``. Per video the sum is multiplied by
    ``2 / (N (N − 1))`` — one over the number of unordered clip pairs, tied
    pairs (r_i = r_j) included in that count though they add no term, exactly
    as equation (3) is written. Over a batch the per-video losses are averaged.
    N = 1 gives a zero loss that still carries a graph.
    """

    def __init__(self, margin: float = 1.0):
        super().__init__()
        self.margin = check_non_negative("margin", margin)

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_label_shapes(scores, labels)
        b, n = scores.shape
        if n < 2:
            return scores.sum() * 0.0
        below = (labels.unsqueeze(2) < labels.unsqueeze(1)).to(scores.dtype)  # [b, i, j] = r_i < r_j
        hinge = F.relu(scores.unsqueeze(2) - scores.unsqueeze(1) + self.margin)  # r'_i − r'_j + m
        per_video = (hinge * below).sum(dim=(1, 2)) * (2.0 / (n * (n - 1)))
        return per_video.mean()


def label_order_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of clip pairs with r_i < r_j whose scores agree, r'_i < r'_j (what eq. 3 trains); NaN if none."""
    _check_label_shapes(scores, labels)
    below = labels.unsqueeze(2) < labels.unsqueeze(1)
    agree = scores.unsqueeze(2) < scores.unsqueeze(1)
    count = below.sum()
    if count == 0:
        return torch.tensor(float("nan"))
    return (agree & below).sum().to(torch.float32) / count


def pairwise_ranking_accuracy(scores: torch.Tensor, targets: torch.Tensor, num_transforms: int) -> torch.Tensor:
    """Per transformation k: the fraction of pairs (i, j), t_i = k ≠ t_j, with S[i, k] > S[j, k].

    This is what ranking trains, and it is meaningful for the classification
    twin too. Returns a (num_transforms,) tensor; NaN where no pair exists.
    """
    own, others, pairs = _own_and_others(scores, targets)
    correct = (own.unsqueeze(-1) > others).to(scores.dtype) * pairs  # (B, N, N)
    by_clip_correct = correct.sum(2).flatten()
    by_clip_pairs = pairs.sum(2).flatten()
    flat_targets = targets.flatten()
    hits = torch.zeros(num_transforms, dtype=scores.dtype, device=scores.device)
    total = torch.zeros_like(hits)
    hits.index_add_(0, flat_targets, by_clip_correct)
    total.index_add_(0, flat_targets, by_clip_pairs)
    return hits / total


def _check_label_shapes(scores: torch.Tensor, labels: torch.Tensor) -> None:
    if scores.dim() != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"expected scores (B, N) and labels (B, N), got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )


def _check_shapes(scores: torch.Tensor, targets: torch.Tensor) -> None:
    if scores.dim() != 3 or targets.shape != scores.shape[:2]:
        raise ValueError(
            f"expected scores (B, N, M) and targets (B, N), got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
