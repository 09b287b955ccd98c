"""Optimisers (SGD, AdamW, LARS) with per-parameter weight decay, and a per-iteration learning-rate schedule.

Biases and normalisation parameters get no weight decay (the usual practice
for ResNets: decaying BN scale/shift or biases only fights the
normalisation); under LARS (:mod:`vidssl.engine.lars`, CORP §4.1) they also
skip the layer-wise trust ratio, as in SimCLR/CVRL.

The base lr is ``train.lr``, or with ``train.lr_scaling: linear`` the linear
scaling rule ``train.lr × global batch / 256``, the global batch being
``train.batch_size × world size`` (CORP: lr = batch_size / 256, i.e.
``lr: 1.0`` with linear scaling).

Schedules are multiplicative factors of the base lr, stepped once per
iteration:

- ``"cosine"``: ``0.5 * (1 + cos(pi * t))`` with ``t`` running from 0 at the end
  of warm-up to 1 after the last step;
- ``"multistep"``: times ``gamma`` at each milestone, given as fractions of the
  run (TransRank App. C.1: x0.1 at 3/5 and 4/5 of the epochs);
- ``"constant"``.

Optional linear warm-up multiplies any of them by ``(step + 1) / warmup_steps``
during the first ``warmup_steps`` iterations.

The names accepted for ``train.optimizer``, ``train.lr_scaling`` and
``train.schedule``, and the checks of their values, are in
:mod:`vidssl.engine.train_config`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vidssl.checks import config_keys
from vidssl.engine.lars import LARS
from vidssl.engine.train_config import (
    LR_SCALINGS,
    SCHEDULES,
    TrainConfig,
    check_optimizer_config,
    check_schedule_config,
)
from vidssl.errors import VidsslError

__all__ = [
    "split_decay_parameters",
    "scaled_lr",
    "build_optimizer",
    "lr_factor",
    "build_scheduler",
]

_NORM_TYPES = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)


def _no_decay_parameter_ids(module: nn.Module) -> set[int]:
    """``id`` of every bias and every parameter of a normalisation layer in ``module``."""
    no_decay_ids: set[int] = set()
    for submodule in module.modules():
        for name, param in submodule.named_parameters(recurse=False):
            if isinstance(submodule, _NORM_TYPES) or name == "bias":
                no_decay_ids.add(id(param))
    return no_decay_ids


def split_decay_parameters(module: nn.Module, *, weight_decay: float) -> list[dict[str, Any]]:
    """Two SGD parameter groups: weights with ``weight_decay``; biases and norm parameters with none.

    Frozen parameters (``requires_grad=False``, e.g. a momentum encoder) are left out.
    """
    no_decay_ids = _no_decay_parameter_ids(module)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in module.parameters():
        if not param.requires_grad:
            continue
        (no_decay if id(param) in no_decay_ids else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def scaled_lr(cfg: TrainConfig, *, world_size: int = 1) -> float:
    """The base lr: ``cfg.lr``, or ``cfg.lr × cfg.batch_size × world_size / 256`` with ``lr_scaling="linear"``."""
    if cfg.lr_scaling not in LR_SCALINGS:
        raise VidsslError(f"train.lr_scaling={cfg.lr_scaling!r}: expected one of {', '.join(LR_SCALINGS)}")
    if cfg.lr_scaling == "linear":
        return cfg.lr * cfg.batch_size * world_size / 256
    return cfg.lr


def build_optimizer(method: nn.Module, cfg: TrainConfig, *, world_size: int = 1) -> torch.optim.Optimizer:
    """SGD (momentum, optional Nesterov), AdamW or LARS over ``method``'s trainable parameters.

    Biases/norms get no weight decay (and, under LARS, no trust ratio). AdamW
    takes ``cfg.momentum`` as β1 (β2 = 0.999); SGD is what most papers use,
    AdamW converges in fewer steps, which matters for short CPU runs; LARS
    (trust coefficient ``cfg.lars_trust``) is CORP's large-batch optimiser.
    ``world_size`` (number of processes) only enters the lr through
    :func:`scaled_lr`.
    """
    check_optimizer_config(cfg)
    lr = scaled_lr(cfg, world_size=world_size)
    groups = split_decay_parameters(method, weight_decay=cfg.weight_decay)
    if not groups:
        raise VidsslError(f"{type(method).__name__} has no trainable parameters")
    if cfg.optimizer == "adamw":
        if cfg.momentum >= 1:
            raise VidsslError(f"train.momentum={cfg.momentum}: AdamW's beta1 must be < 1")
        return torch.optim.AdamW(groups, lr=lr, betas=(cfg.momentum, 0.999))
    if cfg.optimizer == "lars":
        if cfg.nesterov:
            raise VidsslError("train.nesterov=true: not supported with train.optimizer=lars")
        no_decay_ids = _no_decay_parameter_ids(method)
        for group in groups:  # weights get the trust ratio; biases/norms do not (SimCLR/CVRL)
            group["lars_adapt"] = id(group["params"][0]) not in no_decay_ids
        with config_keys("train", {"trust_coefficient": "lars_trust"}):
            return LARS(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                        trust_coefficient=cfg.lars_trust)
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def lr_factor(
    step: int,
    *,
    total_steps: int,
    schedule: str,
    warmup_steps: int = 0,
    milestones: tuple[float, ...] = (),
    gamma: float = 0.1,
) -> float:
    """Multiplier of the base lr for iteration ``step`` (0-based) of a ``total_steps`` run."""
    if schedule == "constant":
        factor = 1.0
    elif schedule == "multistep":
        milestone_steps = [round(fraction * total_steps) for fraction in milestones]
        factor = gamma ** sum(step >= m for m in milestone_steps)
    elif schedule == "cosine":
        decay_steps = max(total_steps - warmup_steps, 1)
        progress = min(max(step - warmup_steps, 0) / decay_steps, 1.0)
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise VidsslError(f"train.schedule={schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor


def warmup_steps_of(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """Warm-up length in steps: ``warmup_epochs`` epochs, or ``warmup_fraction`` of all ``epochs`` (so a preset
    whose paper says "the first 5 % epochs" keeps 5 % when its epochs are changed)."""
    if cfg.warmup_fraction > 0:
        return round(cfg.warmup_fraction * cfg.epochs * steps_per_epoch)
    return round(cfg.warmup_epochs * steps_per_epoch)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` to be stepped after every optimiser step (see :func:`lr_factor`)."""
    check_schedule_config(cfg)
    if steps_per_epoch < 1:
        raise VidsslError(f"steps_per_epoch={steps_per_epoch}: expected at least one step per epoch")
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = warmup_steps_of(cfg, steps_per_epoch)
    schedule, milestones, gamma = cfg.schedule, tuple(cfg.milestones), cfg.gamma

    # A closure, not a callable object: LambdaLR then keeps it out of state_dict,
    # so the scheduler state holds only numbers (weights_only-loadable).
    def factor_at(step: int) -> float:
        return lr_factor(
            step,
            total_steps=total_steps,
            schedule=schedule,
            warmup_steps=warmup_steps,
            milestones=milestones,
            gamma=gamma,
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor_at)
