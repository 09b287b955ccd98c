"""LARS: SGD with momentum and a layer-wise trust ratio (You et al. 2017, "Large Batch Training of
Convolutional Networks"), as SimCLR, CVRL and CORP (ICCV 2021, §4.1: momentum 0.9, weight decay 1e-6,
lr = batch_size / 256) pre-train with it.

For each parameter tensor ``w`` with gradient ``g``, in a group with learning
rate ``lr``, momentum ``m``, weight decay ``wd``, trust coefficient ``η`` and
``eps`` (all norms are L2 over the whole tensor)::

    u     = g + wd · w
    trust = η · ‖w‖ / (‖u‖ + eps)   if the group adapts and ‖w‖ > 0 and ‖u‖ > 0
          = 1                       otherwise
    v     ← m · v + lr · trust · u  (v starts at 0)
    w     ← w − v

Momentum is applied after the trust scaling (the trust-scaled step is what
accumulates in ``v``), as in SimCLR's implementation; ``eps`` defaults to 0,
which is SimCLR's rule exactly. Biases and normalisation parameters go in a
group with ``lars_adapt=False`` and ``weight_decay=0``, so for them
``u = g``, ``trust = 1``: plain SGD with momentum (what
``vidssl.engine.optim.build_optimizer`` sets up with ``train.optimizer: lars``).

Example::

    groups = [{"params": weights, "weight_decay": 1e-6, "lars_adapt": True},
              {"params": biases_and_norms, "weight_decay": 0.0, "lars_adapt": False}]
    optimizer = LARS(groups, lr=batch_size / 256, momentum=0.9)

The state is one ``momentum_buffer`` tensor per parameter and the groups hold
only numbers and booleans, so ``state_dict()`` loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, overload

import torch

from vidssl.checks import ArgumentError, check_non_negative, check_number_in, check_positive
from vidssl.errors import VidsslError

__all__ = ["LARS"]


def _check_group_values(group: dict[str, Any]) -> None:
    """Reject hyper-parameters LARS cannot step with, naming the keyword argument (or group key) they come from."""
    check_positive("lr", group["lr"], finite=True)
    check_number_in("momentum", group["momentum"], 0, 1, high_open=True)
    check_non_negative("weight_decay", group["weight_decay"], finite=True)
    check_positive("trust_coefficient", group["trust_coefficient"], finite=True)
    check_non_negative("eps", group["eps"], finite=True)
    if not isinstance(group["lars_adapt"], bool):
        raise ArgumentError("lars_adapt", f"expected true/false per parameter group, got {group['lars_adapt']!r}")


class LARS(torch.optim.Optimizer):
    """LARS with momentum; per group ``weight_decay`` and ``lars_adapt`` (see the module docstring for the rule).

    Args:
        params: tensors or parameter groups; a group may set any of the keyword arguments below.
        lr: learning rate (> 0).
        momentum: ``m`` in [0, 1).
        weight_decay: ``wd`` >= 0, added to the gradient before the trust ratio.
        trust_coefficient: ``η`` > 0.
        eps: >= 0, added to ‖u‖ in the trust ratio's denominator.
        lars_adapt: whether the group's parameters get the trust ratio (False: trust = 1).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        trust_coefficient: float = 0.001,
        eps: float = 0.0,
        lars_adapt: bool = True,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            eps=eps,
            lars_adapt=lars_adapt,
        )
        _check_group_values(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_group_values(group)

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One LARS update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise VidsslError("LARS does not support sparse gradients")
                update = param.grad.add(param, alpha=weight_decay) if weight_decay != 0 else param.grad.clone()
                if group["lars_adapt"]:
                    # torch.where, not an `if` on .item(): no host sync on GPU; the 0/0 branch is discarded
                    param_norm = torch.linalg.vector_norm(param)
                    update_norm = torch.linalg.vector_norm(update)
                    ratio = group["trust_coefficient"] * param_norm / (update_norm + group["eps"])
                    trust = torch.where((param_norm > 0) & (update_norm > 0), ratio, torch.ones_like(ratio))
                    update.mul_(trust)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                buffer = state["momentum_buffer"]
                buffer.mul_(momentum).add_(update, alpha=lr)
                param.sub_(buffer)
        return loss
