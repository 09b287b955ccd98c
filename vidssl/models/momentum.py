"""Momentum (EMA) encoders: the key encoder of MoCo (He et al. 2020; SRO eq. 18).

Example::

    key_encoder = frozen_copy(query_encoder)           # same weights, no gradients
    momentum_update(key_encoder, query_encoder, 0.999)  # θ_k ← m·θ_k + (1 − m)·θ_q
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from vidssl.checks import check_number_in
from vidssl.errors import VidsslError

__all__ = ["frozen_copy", "momentum_update"]


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose parameters take no gradient (the optimiser leaves them out)."""
    twin = copy.deepcopy(module)
    for param in twin.parameters():
        param.requires_grad_(False)
    return twin


@torch.no_grad()
def momentum_update(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """SRO equation (18): θ_k ← m·θ_k + (1 − m)·θ_q for every parameter, in place.

    Only parameters move; buffers (BatchNorm running statistics) stay the
    target's own, accumulated on what the target itself sees, as in MoCo.
    The two modules must have the same parameter names and shapes.
    """
    momentum = check_number_in("momentum", momentum, 0, 1)
    source_params = dict(source.named_parameters())
    for name, param in target.named_parameters():
        if name not in source_params or source_params[name].shape != param.shape:
            raise VidsslError(f"momentum_update: parameter {name!r} has no twin of shape {tuple(param.shape)}")
        param.mul_(momentum).add_(source_params[name].detach(), alpha=1.0 - momentum)
