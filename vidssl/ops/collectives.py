"""Tensor collectives across the processes of a DDP run, for losses that need the whole global batch
(MoCo keys into every queue, shuffled BatchNorm, CORP_f / SimCLR negatives).

Every function is the identity in a single process, so the same method code runs with and
without ``torchrun``; the process group itself is set up by :mod:`vidssl.engine.distributed`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = [
    "is_distributed",
    "get_rank",
    "get_world_size",
    "all_gather_with_grad",
    "all_gather_no_grad",
    "shuffle_across_processes",
    "unshuffle_across_processes",
]


def is_distributed() -> bool:
    """True when a process group with more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sends every rank's gradient back to the tensor's owner.

    Forward: ``(B, ...)`` on each of W ranks -> ``(W * B, ...)``, ordered by rank.
    Backward: each rank's loss depends on every slice, so the gradient of the
    summed losses w.r.t. this rank's slice is the sum over ranks of the incoming
    gradient at that slice: all-reduce (sum) the gradient, keep our slice.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world_size = dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(world_size)]
        dist.all_gather(parts, x.contiguous())
        ctx.batch = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.batch
        return grad[start : start + ctx.batch]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (B, ...) from all processes along dim 0, keeping the gradient path to the local part.

    Every process must pass the same batch size B (the engine drops the last
    incomplete batch, so it holds in training). Identity for a single process.
    Used by contrastive losses that need negatives from the whole global batch.
    """
    if not is_distributed():
        return x
    return _AllGatherWithGrad.apply(x)


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (B, ...) from all processes along dim 0, in rank order, without a gradient path.

    For tensors that never need one, such as MoCo keys before they enter the
    queue (every process must then enqueue the same global batch). Every
    process passes the same B. Identity (detached) for a single process.
    """
    if not is_distributed():
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts, dim=0)


@torch.no_grad()
def shuffle_across_processes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled BN's first half (MoCo §3.3): deal the global batch out to the processes in random order.

    Returns this process's share of the shuffled global batch and the
    permutation that :func:`unshuffle_across_processes` needs. The key
    encoder's BatchNorm then normalises each key with statistics of other
    processes' samples than its query's, so BN cannot leak which key is the
    positive. Rank 0 draws the permutation and broadcasts it; single process:
    identity (with an identity permutation).
    """
    if not is_distributed():
        return x, torch.arange(x.shape[0], device=x.device)
    gathered = all_gather_no_grad(x)
    permutation = torch.randperm(gathered.shape[0], device=x.device)
    dist.broadcast(permutation, src=0)
    batch, rank = x.shape[0], dist.get_rank()
    return gathered[permutation[rank * batch : (rank + 1) * batch]], permutation


@torch.no_grad()
def unshuffle_across_processes(x: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Shuffled BN's second half: give every process back the outputs of its own samples, in order."""
    if not is_distributed():
        return x
    gathered = all_gather_no_grad(x)
    restored = torch.empty_like(gathered)
    restored[permutation] = gathered
    batch, rank = x.shape[0], dist.get_rank()
    return restored[rank * batch : (rank + 1) * batch]
