"""SRO's view-synthesis stage (TCSVT 2021, §III-G, Fig. 3): train the VAE G and the flow estimator O.

Given a clip x: O estimates the flow between its consecutive frames and
learns from the photometric loss of eq. (13) alone; G synthesises a view x'
and learns from the KL loss (14), info-max (15: O's flow on x' matches O's
flow on x, with O's parameters untouched by this term) and info-min (16,
stop-gradient on x). Total: L_view = w_p·L_photo + w_kl·L_KL + w_max·L_infomax + w_min·L_infomin.

Info-min sign (``infomin``, config ``method.view.infomin``; ALGORITHMS.md "SRO"):
``intent`` (default) minimises the cosine similarity of the feature
extractor's features of x' and x, pushing the view away from the input's
appearance as the text says ("to suppress the appearance dependence");
``printed`` is eq. (16) as printed, −cos, which pulls x' towards x.

"The parameters of the optical flow estimator are optimised by an independent
optimiser": every term here reaches exactly one of the two networks (the
photometric loss only O; KL, info-max and info-min only G), and SGD/AdamW
keep their state per parameter, so the engine's one optimiser over both is
the same as two independent optimisers with the same settings.

The feature extractor f is the run's backbone, frozen at its initialisation:
the paper does not say how f is trained, and a trainable f under a pure
similarity loss could collapse to a constant. Only G is kept for the SRO stage
("only the parameters of the autoencoder are retained for inference").
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from vidssl.checks import check_choice, check_non_negative, check_positive_int
from vidssl.data.transforms import check_modality, to_model_input
from vidssl.data.transforms.functional import KINETICS_MEAN, KINETICS_STD
from vidssl.losses.view_synthesis import INFOMIN_FORMS, infomax_loss, infomin_loss, kl_loss, photometric_loss
from vidssl.models.view_synthesis import ClipVAE, FlowEstimator

__all__ = ["ViewSynthesis", "denormalize_clip"]


def denormalize_clip(x: torch.Tensor) -> torch.Tensor:
    """Normalised RGB clips (..., 3, T, H, W) → values in [0, 1] (Kinetics mean/std undone, clamped)."""
    mean = torch.tensor(KINETICS_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD, dtype=x.dtype, device=x.device).view(3, 1, 1, 1)
    return (x * std + mean).clamp(0.0, 1.0)


class ViewSynthesis(nn.Module):
    """G + O + a frozen feature extractor, and the view-synthesis loss of §III-G.

    Batch keys used by :meth:`training_step`: ``clips`` uint8 (B, C, T, H, W)
    or (B, 1, C, T, H, W) (the SRO sampler's single query clip).
    ``infomin``: ``"intent"`` (minimise the similarity, the default) or
    ``"printed"`` (eq. 16 as printed); see :func:`infomin_loss`.
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        *,
        vae_width: int = 16,
        latent_channels: int = 8,
        flow_width: int = 16,
        kl_weight: float = 1.0,
        infomax_weight: float = 1.0,
        infomin_weight: float = 1.0,
        photometric_weight: float = 1.0,
        infomin: str = "intent",
        modality: str = "rgb",
    ) -> None:
        super().__init__()
        self.modality = check_modality(modality)
        for name, size in (("vae_width", vae_width), ("latent_channels", latent_channels), ("flow_width", flow_width)):
            check_positive_int(name, size)  # named here: the parts built below call two of them `width`
        self.generator = ClipVAE(width=vae_width, latent_channels=latent_channels)
        self.flow_net = FlowEstimator(width=flow_width)
        self.backbone = feature_extractor  # named like every method's, so the run exports it as backbone.pt
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        self.backbone.eval()
        self.weights = {
            "photometric": check_non_negative("photometric_weight", photometric_weight),
            "kl": check_non_negative("kl_weight", kl_weight),
            "infomax": check_non_negative("infomax_weight", infomax_weight),
            "infomin": check_non_negative("infomin_weight", infomin_weight),
        }
        self.infomin = check_choice("infomin", infomin, INFOMIN_FORMS)

    def train(self, mode: bool = True) -> ViewSynthesis:
        """As nn.Module.train, but the frozen feature extractor stays in inference mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of float clips: the (frozen) feature extractor's."""
        return self.backbone(x)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """L_view over the four terms, each logged as ``loss/<term>``."""
        clips = batch["clips"]
        if clips.ndim == 6:
            clips = clips[:, 0]
        x = to_model_input(clips, self.modality)
        flows = self.flow_net.clip_flows(x)
        view, mu, logvar = self.generator(x)
        terms = {
            "photometric": photometric_loss(x, flows),
            "kl": kl_loss(mu, logvar),
            "infomax": infomax_loss(self.flow_net, view, flows),
            "infomin": infomin_loss(self.backbone(x), self.backbone(view), form=self.infomin),
        }
        total = sum(self.weights[name] * value for name, value in terms.items())
        assert isinstance(total, torch.Tensor)  # four terms: a tensor, never sum()'s start value 0
        return total, {f"loss/{name}": value.item() for name, value in terms.items()}

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]:
        """None: the stage logs its four losses and no accuracy (held out, they are read as they are)."""
        return {}

    @torch.no_grad()
    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        """G's view of float clips, decoded from μ (deterministic), G's mode restored afterwards."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(x)[0]
        finally:
            self.generator.train(was_training)
