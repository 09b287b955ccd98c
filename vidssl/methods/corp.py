"""CORP: contrast and order representations (Hu et al., ICCV 2021), CORP_m, CORP_f and SimCLR/CVRL.

Each video gives K clips at least Δ frames apart (equation 3,
:class:`vidssl.data.pretext.corp.CORPSampler`), each with its own
augmentation. The backbone turns every clip into a feature h, a non-linear
projection head (§3.1: ``projection_depth`` linear layers, BatchNorm + ReLU
between them, hidden width ``projection_width``) into z, L2-normalised.

- **CORP_m** (``variant="m"``, §3.2): every ordered pair of clips of every
  pair of videos in the batch is classified 3-way — different videos / same
  video, first earlier / same video, second earlier — by the relation module
  (decoupling attention, §3.4, or mixed attention, eq. 1) and a small MLP
  (:class:`vidssl.models.relation.PairClassifier`: ``pair_classifier="concat"``,
  the paper's plain MLP on the relation, by default; ``"symmetric"``, exactly
  swap-equivariant, as an option); cross-entropy summed over
  the clip pairs of a video pair, averaged over video pairs
  (:class:`vidssl.losses.corp.CorpMLoss`). ``task="order"`` and
  ``"contrast"`` are Table 6a's 2-way ablations.
- **CORP_f** (``variant="f"``, §3.3): K = 2 clips per video; for each clip the
  (4B − 2)-way classification of equation (6) = InfoNCE against every other
  clip (τ = 0.1, eq. 5) + 2-way order classification of its positive pair
  (:class:`vidssl.losses.corp.CorpFLoss`). Under DDP the negatives are the
  clips of every process, gathered, with gradient through the local ones.
  ``order=False`` leaves InfoNCE alone: the SimCLR / CVRL baseline.

z is L2-normalised for both variants (a project choice for CORP_m, where the
paper is silent; CORP_f's eq. 5 needs it).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import ArgumentError, check_choice, check_int_at_least
from vidssl.contracts import Backbone
from vidssl.data.transforms import check_modality, to_model_input
from vidssl.errors import VidsslError
from vidssl.losses.corp import CorpFLoss, CorpMLoss
from vidssl.models.heads import MLPHead
from vidssl.models.relation import CORP_HEADS, PAIR_CLASSIFIERS, PAIR_MLP_HIDDEN, PairClassifier
from vidssl.ops.collectives import all_gather_no_grad, get_rank, is_distributed

VARIANTS = ("m", "f")


def corp_projection(in_dim: int, *, depth: int = 3, width: int | None = None, out_dim: int = 128) -> MLPHead:
    """§3.1's projection: ``depth`` linear layers (3 in the paper), BatchNorm + ReLU between them, hidden width
    ``width`` (2048 with the paper's 2048-d ResNet-50 features; default: the backbone's feature size)."""
    check_int_at_least("depth", depth, 1)
    width = in_dim if width is None else width
    return MLPHead(in_dim, (width,) * (depth - 1), out_dim, bn=True)


class CORP(nn.Module):
    """Backbone + projection + relation classifier + the CORP_m or CORP_f objective.

    Batch keys used by :meth:`training_step`: ``clips`` uint8 (B, K, C, T, H, W)
    and ``starts`` long (B, K) (the clips' first source frames).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        variant: str = "m",
        task: str = "corp",
        order: bool = True,
        projection_depth: int = 3,
        projection_width: int | None = None,
        projection_dim: int = 128,
        attention: str = "decoupling",
        relation_heads: int = CORP_HEADS,
        relation_layers: int = 2,
        relation_hidden: int = PAIR_MLP_HIDDEN,
        pair_classifier: str = "concat",
        temperature: float = 0.1,
        modality: str = "rgb",
    ) -> None:
        super().__init__()
        self.variant = check_choice("variant", variant, VARIANTS)
        self.modality = check_modality(modality)
        self.backbone = backbone
        check_int_at_least("projection_depth", projection_depth, 1)
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        self.projection = corp_projection(dim, depth=projection_depth, width=projection_width, out_dim=projection_dim)
        relation = dict(
            attention=attention,
            heads=relation_heads,
            mlp_layers=relation_layers,
            hidden=relation_hidden,
            pair_classifier=check_choice("pair_classifier", pair_classifier, PAIR_CLASSIFIERS),
        )
        if self.variant == "m":
            if not order:
                raise ArgumentError("order", "CORP_m always classifies pairs; use task='contrast' instead")
            self.objective: CorpMLoss | CorpFLoss = CorpMLoss(task)
            self.classifier: PairClassifier | None = PairClassifier(projection_dim, 3, **relation)
        else:
            if task != "corp":
                raise ArgumentError("task", "the 2-way ablations belong to CORP_m; CORP_f uses order")
            self.objective = CorpFLoss(temperature)
            self.classifier = PairClassifier(projection_dim, 2, **relation) if order else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips (B, C, T, H, W): the backbone's ``pool`` tap."""
        return self.backbone(x)

    def embed(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """(B, K, C, T, H, W) uint8 -> L2-normalised projections z (B, K, d), every clip in one backbone pass."""
        b, k = clips_uint8.shape[:2]
        features = self.backbone(to_model_input(clips_uint8.flatten(0, 1), self.modality))
        return F.normalize(self.projection(features).float(), dim=1).view(b, k, -1)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """CORP_m's pair loss or CORP_f's equation (6) on the batch's clips."""
        clips, starts = batch["clips"], batch["starts"]
        if clips.ndim != 6 or starts.shape != clips.shape[:2]:
            raise VidsslError(
                f"CORP batch: expected clips (B, K, C, T, H, W) and starts (B, K), "
                f"got {tuple(clips.shape)} and {tuple(starts.shape)}"
            )
        z = self.embed(clips)
        # CORP_m pairs videos within the process (§3.2). A step in eval mode without gradients (held-out
        # metrics, run by one process) contrasts the local clips alone: no other process joins a gather.
        held_out = not self.training and not torch.is_grad_enabled()
        if self.variant == "m" or held_out or not is_distributed():
            return self.objective(z, starts, self.classifier)
        negatives = all_gather_no_grad(z.reshape(-1, z.shape[-1]))
        return self.objective(z, starts, self.classifier, negatives=negatives, offset=get_rank() * 2 * len(z))

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The accuracy without the pretext, per logged accuracy, of the local batch's B videos × K clips.

        Order (CORP_m's P2 vs P3, CORP_f's 2-way): 1/2, the two orders are equally often true.
        CORP_m's 3-way ``acc_pair``: the majority class, always "different videos", right on
        (B − 1)K of the BK − 1 partners of a clip (more than 1/3: the classes are unbalanced).
        CORP_f's ``acc_contrast``: the positive among the 2B − 1 other clips of a held-out
        step, 1/(2B − 1) (in training under DDP the candidates are every process's).
        Without ``batch`` only the keys that do not depend on its size.
        """
        chance = {"acc_order": 0.5} if self.variant == "m" or self.classifier is not None else {}
        if batch is None:
            return chance
        videos, clips = batch["clips"].shape[:2]
        if self.variant == "m":
            chance["acc_pair"] = (videos - 1) * clips / (videos * clips - 1)
        else:
            chance["acc_contrast"] = 1.0 / (2 * videos - 1)
        return chance
