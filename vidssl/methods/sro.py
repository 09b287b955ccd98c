"""SRO: segment sampling-rate and order prediction with contrastive learning (TCSVT 2021).

Each video gives a query clip of n segments, each sampled at its own rate and
shown in a shuffled order (:class:`vidssl.data.pretext.sro.SROSampler`), and a
key clip re-sampled from the same video. The query encoder Q (the backbone)
turns the query into a feature r; on it (Fig. 2):

- **order** (§III-C, eqs. 1–4): an MLP to n! logits, cross-entropy against the
  permutation index;
- **rate** (§III-D, eqs. 5–7): a linear layer to the n segment rates, mean
  squared error (``rate="regression"``; the targets are the rates themselves,
  or scaled to [0, 1] over the candidate range with ``rate_target="unit"``), or
  one (high − low + 1)-way classification per segment (``"classification"``,
  the Table V alternative);
- **contrast** (§III-E/F, eq. 8, MoCo): a 2-layer projection to 128-d, InfoNCE
  of the query against its key (from the momentum encoder K, eq. 18) and a
  queue of earlier keys; the similarity is cosine (``contrast="cosine"``) or
  the shuffle similarity of Algorithm 1 (``"shuffle"``, −dis/τ on the
  L2-normalised projections, split into n parts).

The key is, per sample, the re-sampled clip or — with a view generator (the
VAE G of §III-G, trained by :class:`vidssl.methods.view_synthesis.ViewSynthesis`,
frozen here) and probability ``view_probability`` — the query's synthesised
view. The total is equation (17): λ₁·order + λ₂·rate + λ₃·contrast, defaults
1, 0.3, 1 (§IV-D). Under DDP, keys are gathered from every process before they
enter the queue, and the key encoder sees a batch shuffled across processes
(shuffled BN) so BatchNorm statistics cannot give the positive away.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import (
    ArgumentError,
    check_choice,
    check_int_range_pair,
    check_non_negative,
    check_number_in,
    check_probability,
    is_integer,
)
from vidssl.contracts import Backbone
from vidssl.data.transforms import check_modality, to_model_input
from vidssl.errors import VidsslError
from vidssl.losses.info_nce import MemoryQueue, check_temperature, cosine_logits, cosine_queue_logits, info_nce
from vidssl.losses.shuffle_similarity import paired_shuffle_similarity, shuffle_similarity
from vidssl.models.heads import MLPHead, make_head
from vidssl.models.momentum import frozen_copy, momentum_update
from vidssl.ops.collectives import all_gather_no_grad, shuffle_across_processes, unshuffle_across_processes

RATE_TASKS = ("none", "regression", "classification")
RATE_TARGETS = ("raw", "unit")
CONTRASTS = ("none", "cosine", "shuffle")


def projection_head(in_dim: int, out_dim: int = 128) -> MLPHead:
    """§IV-D: features "mapped into 128-dimensional feature vectors ... through a non-linear classifier":
    Linear(in, in) + ReLU + Linear(in, out) (512 → 512 → 128 with R3D-18, ALGORITHMS.md)."""
    return MLPHead(in_dim, (in_dim,), out_dim)


class SRO(nn.Module):
    """Query encoder + order / rate / contrastive heads + equation (17).

    Batch keys used by :meth:`training_step`: ``clips`` uint8 (B, V, C, T, H, W)
    (V = 2 — query, key — when contrast is on, else V ≥ 1), ``order_label``
    long (B,), ``rates`` long (B, n).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_segments: int = 3,
        rate_range: tuple[int, int] = (1, 8),
        order: bool = True,
        rate: str = "regression",
        rate_target: str = "raw",
        contrast: str = "shuffle",
        head: str = "mlp",
        head_hidden: int = 512,
        order_weight: float = 1.0,
        rate_weight: float = 0.3,
        contrast_weight: float = 1.0,
        projection_dim: int = 128,
        queue_size: int = 4096,
        key_momentum: float = 0.999,
        temperature: float = 0.07,
        shuffle_bn: bool = True,
        view_generator: nn.Module | None = None,
        view_probability: float = 0.5,
        modality: str = "rgb",
    ):
        super().__init__()
        self.modality = check_modality(modality)
        if not (is_integer(num_segments) and 2 <= num_segments <= 5):
            raise ArgumentError("num_segments", f"expected 2 to 5 (§III-C), got {num_segments!r}")
        self.num_segments = int(num_segments)
        self.rate_range = check_int_range_pair("rate_range", rate_range)
        self.order = bool(order)
        self.rate = check_choice("rate", rate, RATE_TASKS)
        self.rate_target = check_choice("rate_target", rate_target, RATE_TARGETS)
        self.contrast = check_choice("contrast", contrast, CONTRASTS)
        if not self.order and rate == "none" and contrast == "none":
            raise VidsslError("SRO: order, rate and contrast are all off; enable at least one task")
        self.order_weight = check_non_negative("order_weight", order_weight)
        self.rate_weight = check_non_negative("rate_weight", rate_weight)
        self.contrast_weight = check_non_negative("contrast_weight", contrast_weight)
        self.backbone = backbone
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        if self.order:
            self.order_head = make_head(head, dim, math.factorial(num_segments), hidden=head_hidden)
        if self.rate == "regression":
            self.rate_head = nn.Linear(dim, num_segments)  # eq. (6): α = W r + b
        elif self.rate == "classification":
            self.rate_head = nn.Linear(dim, num_segments * self.num_rate_classes)
        if self.contrast != "none":
            self.temperature = check_temperature(temperature)
            self.key_momentum = check_number_in("key_momentum", key_momentum, 0, 1)
            self.shuffle_bn = bool(shuffle_bn)
            self.projection = projection_head(dim, projection_dim)
            self.key_backbone = frozen_copy(backbone)
            self.key_projection = frozen_copy(self.projection)
            self.queue = MemoryQueue(queue_size, projection_dim)
        elif view_generator is not None:
            raise ArgumentError("view_generator", "the synthesised view is a contrastive key; set contrast")
        self.view_probability = check_probability("view_probability", view_probability)
        self.view_generator = None
        if view_generator is not None:
            self.view_generator = frozen_copy(view_generator).eval()

    @property
    def num_rate_classes(self) -> int:
        low, high = self.rate_range
        return high - low + 1

    def train(self, mode: bool = True) -> SRO:
        """As nn.Module.train, but the frozen view generator stays in inference mode (§III-G)."""
        super().train(mode)
        if self.view_generator is not None:
            self.view_generator.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips (B, C, T, H, W): the query encoder's ``pool`` tap."""
        return self.backbone(x)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Equation (17) over the enabled tasks, with per-task logs."""
        clips = batch["clips"]
        query = to_model_input(clips[:, 0], self.modality)
        features = self.backbone(query)
        total = features.new_zeros(())
        logs: dict[str, float] = {}
        if self.order:
            loss, task_logs = self.order_loss(self.order_head(features), batch["order_label"])
            total = total + self.order_weight * loss
            logs.update(task_logs)
        if self.rate != "none":
            loss, task_logs = self.rate_loss(self.rate_head(features), batch["rates"])
            total = total + self.rate_weight * loss
            logs.update(task_logs)
        if self.contrast != "none":
            if clips.shape[1] < 2:
                raise VidsslError(f"contrast={self.contrast!r} needs a key clip per video (the sampler's key_clip)")
            key_input = self.choose_keys(query, to_model_input(clips[:, 1], self.modality))
            loss, task_logs = self.contrastive_loss(features, key_input)
            total = total + self.contrast_weight * loss
            logs.update(task_logs)
        return total, logs

    def order_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Equations (3)–(4): cross-entropy over the n! permutations; logs its top-1 accuracy."""
        loss = F.cross_entropy(logits.float(), labels)
        accuracy = (logits.detach().argmax(1) == labels).float().mean().item()
        return loss, {"loss/order": loss.item(), "acc_order": accuracy}

    def rate_targets(self, rates: torch.Tensor) -> torch.Tensor:
        """The regression target of each segment: its rate, or (rate − low) / (high − low) with ``unit``."""
        low, high = self.rate_range
        if self.rate_target == "raw":
            return rates.float()
        return (rates.float() - low) / max(high - low, 1)

    def rate_loss(self, outputs: torch.Tensor, rates: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Equation (7), the MSE of the n predicted rates, or per-segment cross-entropy (Table V).

        Logs ``rate_mae``: the mean absolute error of the predicted rates in
        frames (the expected rate under the classifier for classification), so
        the two variants compare on one scale.
        """
        low, high = self.rate_range
        outputs = outputs.float()
        if self.rate == "regression":
            loss = F.mse_loss(outputs, self.rate_targets(rates))
            predicted = outputs.detach() if self.rate_target == "raw" else low + outputs.detach() * max(high - low, 1)
            logs = {"loss/rate": loss.item()}
        else:
            logits = outputs.view(len(outputs), self.num_segments, self.num_rate_classes)
            loss = F.cross_entropy(logits.flatten(0, 1), (rates - low).flatten())
            probs = logits.detach().softmax(-1)
            predicted = (probs * torch.arange(low, high + 1, device=probs.device, dtype=probs.dtype)).sum(-1)
            accuracy = (logits.detach().argmax(-1) + low == rates).float().mean().item()
            logs = {"loss/rate": loss.item(), "acc_rate": accuracy}
        logs["rate_mae"] = (predicted - rates.float()).abs().mean().item()
        return loss, logs

    @torch.no_grad()
    def choose_keys(self, query: torch.Tensor, resampled: torch.Tensor) -> torch.Tensor:
        """Per sample, the re-sampled clip or (with probability ``view_probability``) the query's synthesised view."""
        if self.view_generator is None or self.view_probability == 0:
            return resampled
        use_view = torch.rand(len(query), device=query.device) < self.view_probability
        if not use_view.any():
            return resampled
        views = self.view_generator(query)[0]
        return torch.where(use_view.view(-1, 1, 1, 1, 1), views.to(resampled.dtype), resampled)

    @torch.no_grad()
    def encode_keys(self, key_input: torch.Tensor) -> torch.Tensor:
        """Equation (18) momentum step, then the key encoder K's L2-normalised projections (B, d).

        With ``shuffle_bn`` under DDP the keys pass K in a batch shuffled
        across processes and come back in their own order. In eval mode
        (held-out metrics, run by one process) K neither moves nor shuffles:
        its BatchNorm uses running statistics, so nothing can leak.
        """
        shuffle = self.shuffle_bn and self.training
        if self.training:
            momentum_update(self.key_backbone, self.backbone, self.key_momentum)
            momentum_update(self.key_projection, self.projection, self.key_momentum)
        if shuffle:
            key_input, permutation = shuffle_across_processes(key_input)
        keys = F.normalize(self.key_projection(self.key_backbone(key_input)).float(), dim=1)
        if shuffle:
            keys = unshuffle_across_processes(keys, permutation)
        return keys

    def similarities(self, queries: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Temperature-scaled similarity of each query to its key (B,) and to the queue (B, K)."""
        negatives = self.queue.keys.clone()  # the queue is overwritten in place after the loss
        if self.contrast == "cosine":
            return (
                cosine_logits(queries, keys, temperature=self.temperature),
                cosine_queue_logits(queries, negatives, temperature=self.temperature),
            )
        k = self.num_segments
        return (
            paired_shuffle_similarity(queries, keys, k, self.temperature),
            shuffle_similarity(queries, negatives, k, self.temperature),
        )

    def contrastive_loss(self, features: torch.Tensor, key_input: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Equation (8) of the projected query against its key and the queue; then, in training, the keys
        join the queue (eval mode leaves the queue as it was)."""
        queries = F.normalize(self.projection(features).float(), dim=1)
        keys = self.encode_keys(key_input)
        positive, negatives = self.similarities(queries, keys)
        loss = info_nce(positive, negatives)
        accuracy = (positive.detach() > negatives.detach().max(dim=1).values).float().mean().item()
        if self.training:
            self.queue.enqueue(all_gather_no_grad(keys))
        return loss, {"loss/contrast": loss.item(), "acc_contrast": accuracy}

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]:
        """What a model that learnt nothing scores: the order among n! orders, drawn uniformly, 1/n!; the
        positive key among itself and the queue's K keys, 1/(K + 1). The rates are not uniform (they are
        drawn so the clip fits the video), so with ``batch`` the rate levels are those of the best constant
        guess on its rates: ``acc_rate`` the commonest rate's share, ``rate_mae`` (an error: lower is
        better) the mean distance to their median. Over a small batch these flatter a constant guess a
        little, never the model."""
        chance: dict[str, float] = {}
        if self.order:
            chance["acc_order"] = 1.0 / math.factorial(self.num_segments)
        if self.contrast != "none":
            chance["acc_contrast"] = 1.0 / (self.queue.size + 1)
        if self.rate != "none" and batch is not None:
            rates = batch["rates"].flatten().cpu()
            if self.rate == "classification":
                chance["acc_rate"] = torch.bincount(rates).max().item() / len(rates)
            chance["rate_mae"] = (rates.float() - rates.float().median()).abs().mean().item()
        return chance
