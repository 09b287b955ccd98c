"""The two objectives of CORP (Hu et al., ICCV 2021, "Contrast and Order Representations for Video SSL").

- :class:`CorpMLoss` (§3.2, CORP_m): B videos × K clips; every ordered clip
  pair of every video pair is classified 3-way (P1 different videos,
  P2 same video and the first clip earlier, P3 same video and the second
  clip earlier) with cross-entropy.
- :class:`CorpFLoss` (§3.3, CORP_f): B videos × 2 clips; the (4B − 2)-way
  classification of equation (6), computed as its decomposition
  InfoNCE (eq. 5) + 2-way order cross-entropy.
  :func:`corp_f_joint_logits` builds the (4B − 2)-way logits explicitly.

The pair classifier is any callable ``(z_i, z_j) -> logits (..., C)`` on
features (..., d) — e.g. ``vidssl.models.relation.PairClassifier``; the losses
own no parameters.

Example::

    corp_m = CorpMLoss()
    loss, logs = corp_m(z, starts, classifier_3way)        # z (B, K, d), starts (B, K)
    corp_f = CorpFLoss(temperature=0.1)
    loss, logs = corp_f(F.normalize(z, dim=-1), starts, classifier_2way)   # z (B, 2, d)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import check_choice
from vidssl.errors import VidsslError
from vidssl.losses.info_nce import check_temperature

__all__ = [
    "DIFFERENT_VIDEOS",
    "FIRST_EARLIER",
    "SECOND_EARLIER",
    "ClipPairs",
    "CORP_M_TASKS",
    "CorpFLoss",
    "CorpMLoss",
    "corp_f_joint_logits",
    "corp_f_joint_loss",
    "corp_f_order_targets",
    "pair_labels",
    "pair_task_terms",
    "video_pair_weights",
]

PairClassifierFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

DIFFERENT_VIDEOS, FIRST_EARLIER, SECOND_EARLIER = 0, 1, 2
"""The 3 classes of CORP_m: P1, P2, P3 (§3.2 "Clip-level pairs")."""


class ClipPairs(NamedTuple):
    """All ordered pairs (first[p], second[p]), first ≠ second, of N clips, and their 3-way labels (N(N−1),)."""

    first: torch.Tensor
    second: torch.Tensor
    labels: torch.Tensor


def pair_labels(starts: torch.Tensor, video_ids: torch.Tensor) -> ClipPairs:
    """The ordered clip pairs of N clips with labels 0 (P1), 1 (P2) or 2 (P3).

    ``starts`` (N,) start frames, ``video_ids`` (N,) which video each clip comes
    from. Label 0 if the clips come from different videos, 1 if from the same
    video and start_first < start_second, 2 if start_second < start_first.
    Pairs are in row-major order of (first, second). Two clips of one video
    with equal starts raise (the sampler guarantees distinct starts).
    """
    if starts.ndim != 1 or video_ids.shape != starts.shape or len(starts) < 2:
        raise VidsslError(
            f"pair_labels: expected starts and video_ids of one shape (N,) with N >= 2, "
            f"got {tuple(starts.shape)} and {tuple(video_ids.shape)}"
        )
    n = len(starts)
    first, second = (~torch.eye(n, dtype=torch.bool, device=starts.device)).nonzero(as_tuple=True)
    same_video = video_ids[first] == video_ids[second]
    if (same_video & (starts[first] == starts[second])).any():
        raise VidsslError("pair_labels starts: two clips of one video start at one frame; expected distinct starts")
    labels = torch.full_like(first, DIFFERENT_VIDEOS)
    labels[same_video & (starts[first] < starts[second])] = FIRST_EARLIER
    labels[same_video & (starts[second] < starts[first])] = SECOND_EARLIER
    return ClipPairs(first, second, labels)


def video_pair_weights(labels: torch.Tensor, num_videos: int) -> torch.Tensor:
    """How many video pairs {x_i, x_j}_{i<j} of a batch of B videos contain each clip pair (§3.2).

    A different-video clip pair (label 0) lies in exactly one video pair; a
    same-video clip pair in the B − 1 pairs of its video with any other video.
    """
    return torch.where(labels == DIFFERENT_VIDEOS, 1.0, float(num_videos - 1))


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits (under autocast) in float32 for the softmax; float32/float64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def check_logits(name: str, logits: torch.Tensor, rows: int, classes: int) -> None:
    """The classifier must return (rows, classes) logits."""
    if logits.shape != (rows, classes):
        raise VidsslError(
            f"{name} classifier output: expected logits of shape ({rows}, {classes}), got {tuple(logits.shape)}"
        )


def check_clips(name: str, z: torch.Tensor, starts: torch.Tensor, *, min_videos: int) -> None:
    """``z`` (B, K, d) with B >= min_videos, K >= 2, and ``starts`` (B, K)."""
    if z.ndim != 3 or z.shape[0] < min_videos or z.shape[1] < 2:
        raise VidsslError(
            f"{name} z: expected clip features (B, K, d) with B >= {min_videos} videos and K >= 2 clips, "
            f"got {tuple(z.shape)}"
        )
    if starts.shape != z.shape[:2]:
        raise VidsslError(f"{name} starts: expected shape {tuple(z.shape[:2])} (B, K), got {tuple(starts.shape)}")


CORP_M_TASKS = ("corp", "order", "contrast")
"""CORP_m's 3-way task and the two 2-way ablations of Table 6a."""


def pair_task_terms(logits: torch.Tensor, labels: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of each clip pair (P,) and which pairs count (P,) bool, for one task of Table 6a.

    - ``"corp"``: the 3-way classification P1 / P2 / P3 (eq. 2), every pair;
    - ``"order"`` (order only): same-video pairs, 2-way P2 vs P3 on those two logits;
    - ``"contrast"`` (contrast only): every pair, 2-way "different videos" vs
      "same video", the latter's logit log(e^{P2} + e^{P3}) (the order marginalised out).
    """
    if task == "corp":
        return F.cross_entropy(logits, labels, reduction="none"), torch.ones_like(labels, dtype=torch.bool)
    same_video = labels != DIFFERENT_VIDEOS
    if task == "order":
        terms = F.cross_entropy(logits[:, 1:], (labels - 1).clamp(min=0), reduction="none")
        return terms, same_video
    two_way = torch.stack([logits[:, DIFFERENT_VIDEOS], logits[:, 1:].logsumexp(dim=1)], dim=1)
    return F.cross_entropy(two_way, same_video.long(), reduction="none"), torch.ones_like(same_video)


class CorpMLoss(nn.Module):
    """CORP_m objective, §3.2: 3-way cross-entropy over the clip pairs of all video pairs.

    ``z`` (B, K, d) projected features of B videos × K clips, ``starts`` (B, K)
    their start frames, ``classifier(z_i, z_j)`` -> (P, 3) logits (classes of
    :func:`pair_labels`). The paper's loss of one video pair {x_i, x_j} sums
    the cross-entropy of its 4K² − 2K ordered clip pairs; the loss is the mean
    over the (B² − B)/2 video pairs of the batch. Computed here by classifying
    each ordered pair of the B·K clips once, weighted by the number of video
    pairs containing it (:func:`video_pair_weights`), divided by the number of
    video pairs. Video pairs are formed within the local batch (the paper
    counts them "within each GPU"); needs B >= 2.

    ``task`` (Table 6a): ``"corp"`` the 3-way task, or the 2-way ablations
    ``"order"`` (same-video pairs only, P2 vs P3) and ``"contrast"`` (same vs
    different video), each weighted and averaged the same way
    (:func:`pair_task_terms`).

    Returns ``(loss, logs)``: ``acc_pair`` — 3-way top-1 accuracy over the
    batch's B·K(B·K − 1) ordered clip pairs (unweighted); ``acc_order`` — over
    same-video pairs, how often the true order's logit (P2 vs P3) is the larger.
    """

    def __init__(self, task: str = "corp") -> None:
        super().__init__()
        self.task = check_choice("task", task, CORP_M_TASKS)

    def forward(
        self, z: torch.Tensor, starts: torch.Tensor, classifier: PairClassifierFn
    ) -> tuple[torch.Tensor, dict[str, float]]:
        check_clips("CORP_m", z, starts, min_videos=2)
        videos, clips, dim = z.shape
        features = z.reshape(videos * clips, dim)
        video_ids = torch.arange(videos, device=z.device).repeat_interleave(clips)
        pairs = pair_labels(starts.reshape(-1), video_ids)
        logits = classifier(features[pairs.first], features[pairs.second])
        check_logits("CORP_m", logits, len(pairs.labels), 3)
        terms, counted = pair_task_terms(at_least_float32(logits), pairs.labels, self.task)
        weights = video_pair_weights(pairs.labels, videos).to(terms) * counted
        loss = (weights * terms).sum() / (videos * (videos - 1) / 2)
        return loss, corp_m_logs(logits.detach(), pairs.labels)


def corp_m_logs(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """3-way accuracy over all pairs and P2-vs-P3 accuracy over same-video pairs."""
    same_video = labels != DIFFERENT_VIDEOS
    predicted_order = torch.where(logits[:, FIRST_EARLIER] > logits[:, SECOND_EARLIER], FIRST_EARLIER, SECOND_EARLIER)
    return {
        "acc_pair": (logits.argmax(dim=1) == labels).float().mean().item(),
        "acc_order": (predicted_order[same_video] == labels[same_video]).float().mean().item(),
    }


def check_clip_pairs(z: torch.Tensor, starts: torch.Tensor) -> None:
    """CORP_f's input: ``z`` (B, 2, d), two clips per video, and ``starts`` (B, 2)."""
    check_clips("CORP_f", z, starts, min_videos=1)
    if z.shape[1] != 2:
        raise VidsslError(f"CORP_f z: expected 2 clips per video (B, 2, d), got {tuple(z.shape)}")


def corp_f_order_targets(starts: torch.Tensor) -> torch.Tensor:
    """2-way order target of each anchor (2B,): 0 if clip (b, c) starts before its partner (b, 1 − c), else 1.

    Anchor 2b + c is clip c of video b; ``starts`` (B, 2) must differ within a video.
    """
    if (starts[:, 0] == starts[:, 1]).any():
        raise VidsslError("CORP_f starts: the two clips of a video start at the same frame; expected distinct starts")
    partner_starts = starts.flip(1)
    return (partner_starts < starts).long().reshape(-1)


def keys_and_rows(
    z: torch.Tensor, negatives: torch.Tensor | None, offset: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anchors (2B, d), all clips' keys (N_all, d), and each anchor's own and partner's row in the keys (2B,).

    With ``negatives`` (N_all, d) (every process's clips) and ``offset`` (the row
    of this process's first clip), rows offset … offset + 2B − 1 are replaced by
    the local ``z`` itself, so gradient flows through both sides of every local
    similarity (gathered tensors carry none). Without, the keys are the anchors.
    """
    batch, _, dim = z.shape
    anchors = z.reshape(2 * batch, dim)
    if negatives is None:
        if offset != 0:
            raise VidsslError(f"CORP_f offset: expected 0 without negatives, got {offset!r}")
        keys = anchors
    else:
        if negatives.ndim != 2 or negatives.shape[1] != dim:
            raise VidsslError(f"CORP_f negatives: expected (N_all, {dim}), got {tuple(negatives.shape)}")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= len(negatives) - 2 * batch:
            raise VidsslError(
                f"CORP_f offset: expected an integer in [0, {len(negatives) - 2 * batch}] "
                f"(N_all = {len(negatives)}, 2B = {2 * batch} local clips), got {offset!r}"
            )
        keys = torch.cat([negatives[:offset].to(anchors), anchors, negatives[offset + 2 * batch :].to(anchors)])
    local = torch.arange(2 * batch, device=z.device)
    return anchors, keys, offset + local, offset + (local ^ 1)  # partner of clip 2b + c is 2b + 1 − c


def masked_similarities(
    anchors: torch.Tensor, keys: torch.Tensor, own: torch.Tensor, temperature: float
) -> torch.Tensor:
    """z_i·z_k / τ (2B, N_all), −inf at k = i: the logits of equation (5)."""
    similarities = anchors @ keys.T / temperature
    rows = torch.arange(len(own), device=own.device)
    return similarities.index_put((rows, own), similarities.new_tensor(float("-inf")))


class CorpFLoss(nn.Module):
    """CORP_f objective, §3.3 equation (6): L_total = (1/B) Σ_i (L_NCE + L_2-way order).

    ``z`` (B, 2, d) L2-normalised projections (not normalised here) of B
    videos × 2 clips, ``starts`` (B, 2), ``classifier(z_i, z_j)`` -> (2B, 2)
    logits (0 = z_i earlier, 1 = z_j earlier). Each of the 2B clips is an
    anchor i with partner p (the other clip of its video):

    - InfoNCE, eq. (5): −log(exp(z_i·z_p/τ) / Σ_{k≠i} exp(z_i·z_k/τ)) over all
      2B_all clips k ≠ i (the other 2B_all − 1);
    - order: cross-entropy of classifier(z_i, z_p) with target 0 if i is earlier.

    Summed over the 2B anchors and divided by B, this equals the (4B − 2)-way
    cross-entropy of :func:`corp_f_joint_logits`. Under DDP pass ``negatives``
    (N_all, d), the gathered clips of all processes, and ``offset``, the row of
    this process's clip (0, 0) (local clip (b, c) is row offset + 2b + c).

    ``classifier=None`` drops the order term: InfoNCE alone, the SimCLR / CVRL
    baseline (positive: the other clip of the video; negatives: every other clip).

    Returns ``(loss, logs)``: ``loss/nce``, ``loss/order`` (their sum is the
    loss), ``acc_contrast`` (the partner is the most similar other clip),
    ``acc_order`` (2-way top-1).
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self,
        z: torch.Tensor,
        starts: torch.Tensor,
        classifier: PairClassifierFn | None,
        *,
        negatives: torch.Tensor | None = None,
        offset: int = 0,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        check_clip_pairs(z, starts)
        batch = z.shape[0]
        order_targets = corp_f_order_targets(starts)
        anchors, keys, own, partner = keys_and_rows(z, negatives, offset)
        similarities = masked_similarities(at_least_float32(anchors), at_least_float32(keys), own, self.temperature)
        nce = F.cross_entropy(similarities, partner, reduction="sum") / batch
        logs = {
            "loss/nce": nce.item(),
            "acc_contrast": (similarities.detach().argmax(dim=1) == partner).float().mean().item(),
        }
        if classifier is None:  # contrast only: SimCLR / CVRL
            return nce, logs
        order_logits = classifier(anchors, keys[partner])
        check_logits("CORP_f", order_logits, 2 * batch, 2)
        order = F.cross_entropy(at_least_float32(order_logits), order_targets, reduction="sum") / batch
        logs["loss/order"] = order.item()
        logs["acc_order"] = (order_logits.detach().argmax(dim=1) == order_targets).float().mean().item()
        return nce + order, logs


def corp_f_joint_logits(
    z: torch.Tensor,
    starts: torch.Tensor,
    classifier: PairClassifierFn,
    *,
    temperature: float = 0.1,
    negatives: torch.Tensor | None = None,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The explicit (4B − 2)-way classification of equation (6): logits (2B, 2(N_all − 1)) and targets (2B,).

    For anchor i, class 2k' + o is (other clip k, order o ∈ {0 = i earlier,
    1 = k earlier}), k' = k's position among the N_all − 1 clips other than i,
    with logit z_i·z_k/τ + log_softmax(classifier(z_i, z_k))[o]; the target is
    (partner, true order). Calls the classifier on all 2B × N_all pairs, so it
    is meant for checking :class:`CorpFLoss`, which equals its cross-entropy.
    Arguments as in :meth:`CorpFLoss.forward`.
    """
    check_clip_pairs(z, starts)
    temperature = check_temperature(temperature)
    order_targets = corp_f_order_targets(starts)
    anchors, keys, own, partner = keys_and_rows(z, negatives, offset)
    num_anchors, num_keys = len(anchors), len(keys)
    similarities = anchors @ keys.T / temperature
    order_logits = classifier(anchors[:, None].expand(-1, num_keys, -1), keys[None].expand(num_anchors, -1, -1))
    joint = similarities[..., None] + order_logits.log_softmax(dim=-1)  # (2B, N_all, 2)
    others = torch.ones(num_anchors, num_keys, dtype=torch.bool, device=z.device)
    others[torch.arange(num_anchors), own] = False
    joint = joint[others].reshape(num_anchors, 2 * (num_keys - 1))
    partner_among_others = partner - (partner > own).long()
    return joint, 2 * partner_among_others + order_targets


def corp_f_joint_loss(
    z: torch.Tensor,
    starts: torch.Tensor,
    classifier: PairClassifierFn,
    *,
    temperature: float = 0.1,
    negatives: torch.Tensor | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """(1/B) Σ over the 2B anchors of the (4B − 2)-way cross-entropy of :func:`corp_f_joint_logits`."""
    logits, targets = corp_f_joint_logits(
        z, starts, classifier, temperature=temperature, negatives=negatives, offset=offset
    )
    return F.cross_entropy(logits, targets, reduction="sum") / z.shape[0]
