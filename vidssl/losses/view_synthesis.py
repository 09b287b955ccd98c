"""The losses of SRO's view synthesis (§III-G, equations 13–16).

Shapes: clips (B, C, T, H, W); flows (B, 2, T − 1, H, W); latent maps μ and
log σ² of any shape; features (B, D).

Example::

    flows = flow_net.clip_flows(clip)
    photometric = photometric_loss(clip, flows)            # trains O only (the clip is data)
    view, mu, logvar = vae(clip)
    kl = kl_loss(mu, logvar)
    infomax = infomax_loss(flow_net, view, flows)          # reaches G, never O's parameters
    infomin = infomin_loss(f(clip), f(view))               # stop-gradient on the input side; pushes f(view) away

Info-min sign (eq. 16; ALGORITHMS.md "SRO"): printed as −D(f(x), f(x')) with D
the cosine similarity, which would pull the synthesised view towards the input,
while the text minimises their mutual information "to suppress the appearance
dependence". ``form="intent"`` (the default) follows the text and minimises
the similarity; ``form="printed"`` is the equation as printed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from vidssl.checks import check_choice
from vidssl.ops.warp import frame_pairs, pair_flows_to_clip, warp_next_to_current

__all__ = [
    "CHARBONNIER_EPS", "INFOMIN_FORMS", "charbonnier", "photometric_loss", "kl_loss", "infomax_loss", "infomin_loss",
]

CHARBONNIER_EPS = 1e-3
"""ε of the Charbonnier penalty (§III-G: "we set ε = 1e−3")."""

INFOMIN_FORMS: tuple[str, ...] = ("intent", "printed")
"""Signs of the info-min term (eq. 16): ``intent`` minimises cos(f(x), f(x')), ``printed`` minimises −cos."""


def charbonnier(x: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """ρ(x) = √(x² + ε²), element-wise: a differentiable L1 (eq. 13)."""
    return torch.sqrt(x * x + eps * eps)


def photometric_loss(x: torch.Tensor, flows: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """Equation (13): mean ρ(warp(x_{t+1}, o_t) − x_t) over batch, channels, frame pairs and pixels.

    ``x`` is the raw clip; only the flow estimator that produced ``flows`` learns from it.
    """
    return charbonnier(warp_next_to_current(x, flows) - x[:, :, :-1], eps).mean()


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Equation (14): ½ (μ² + σ² − log σ² − 1) with log σ² = ``logvar``.

    The paper sums over the C latent dimensions; here it is the mean over
    latent elements and batch, so its scale does not depend on the latent size.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean()


def infomax_loss(
    flow_net: nn.Module, view: torch.Tensor, input_flows: torch.Tensor, eps: float = CHARBONNIER_EPS
) -> torch.Tensor:
    """Equation (15): mean ρ(o_x − o'_x), o'_x = O(view), so the view keeps the input's motion.

    "o_x is separated from the dynamic graph" (``input_flows`` detached) and O's
    parameters are left unchanged: O runs here with detached copies of its
    parameters, so the gradient reaches the view (the generator G) only.
    """
    frozen = {name: param.detach() for name, param in flow_net.named_parameters()}
    view_flows = pair_flows_to_clip(functional_call(flow_net, frozen, (frame_pairs(view),)), view.shape[0])
    return charbonnier(input_flows.detach() - view_flows, eps).mean()


def infomin_loss(features_input: torch.Tensor, features_view: torch.Tensor, *, form: str = "intent") -> torch.Tensor:
    """Equation (16), info-min: ±cos(f(x), f(x')) averaged over the batch, with stop-gradient on f(x).

    ``form="intent"``: +cos, so minimising it pushes the view's features away
    from the input's, as §III-G states ("we minimize the mutual information
    between the embedding of the synthesized view and the original video clip
    to suppress the appearance dependence"). ``form="printed"``: −cos, eq. (16)
    as printed, L = −D(f(x), f(x')), which pulls them together.
    """
    check_choice("form", form, INFOMIN_FORMS)
    similarity = F.cosine_similarity(features_input.detach(), features_view, dim=1).mean()
    return similarity if form == "intent" else -similarity
