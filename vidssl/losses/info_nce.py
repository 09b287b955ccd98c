"""InfoNCE against a queue of negatives (SRO equation 8; MoCo, He et al. 2020), and the queue itself.

The loss takes similarities already divided by the temperature, so any
similarity can feed it: cosine (``q·k / τ`` of L2-normalised vectors) or the
shuffle similarity of SRO §III-F (``−dis / τ``).

Shapes: ``positive`` (B,) — similarity of each query to its own key;
``negatives`` (B, K) — to each of the K keys in the queue.

Example::

    queue = MemoryQueue(size=4096, dim=128)
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    loss = info_nce(cosine_logits(q, k, temperature=0.07),
                    cosine_queue_logits(q, queue.keys, temperature=0.07))
    queue.enqueue(k)          # after the loss: this batch's keys become negatives
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import ArgumentError, check_int_at_least, is_finite_number
from vidssl.errors import VidsslError

__all__ = ["MemoryQueue", "check_temperature", "cosine_logits", "cosine_queue_logits", "info_nce"]


def check_temperature(temperature: float, name: str = "temperature") -> float:
    """Reject a temperature that is not a finite number > 1e-8 (the logits are divided by it)."""
    if not (is_finite_number(temperature) and temperature > 1e-8):
        raise ArgumentError(name, f"expected a finite number > 1e-8, got {temperature!r}")
    return float(temperature)


def info_nce(positive: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """SRO equation (8): mean over the batch of −log(e^{s⁺} / (e^{s⁺} + Σ_i e^{s⁻_i})).

    ``positive`` (B,) and ``negatives`` (B, K) are temperature-scaled
    similarities; this is cross-entropy with the positive as class 0 of
    K + 1 (log-sum-exp, so large logits do not overflow).
    """
    if positive.ndim != 1 or negatives.ndim != 2 or negatives.shape[0] != positive.shape[0]:
        raise VidsslError(
            f"info_nce: expected positive (B,) and negatives (B, K), got {tuple(positive.shape)} "
            f"and {tuple(negatives.shape)}"
        )
    logits = torch.cat([positive[:, None], negatives], dim=1)
    return F.cross_entropy(logits, logits.new_zeros(len(logits), dtype=torch.long))


def cosine_logits(q: torch.Tensor, k: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """Row-wise q_i · k_i / τ (B,) of L2-normalised (B, d) vectors: the positive logits."""
    return (q * k).sum(dim=1) / check_temperature(temperature)


def cosine_queue_logits(q: torch.Tensor, keys: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """q · keysᵀ / τ (B, K) of L2-normalised queries (B, d) and queue keys (K, d): the negative logits."""
    return q @ keys.T / check_temperature(temperature)


class MemoryQueue(nn.Module):
    """First-in first-out queue of the K most recent keys (MoCo's dictionary), as a buffer.

    Being buffers, ``keys`` and ``pointer`` are saved in checkpoints, so a
    resumed run continues with the same negatives. It starts with random unit
    vectors (as MoCo does). :meth:`enqueue` writes a batch of B keys over the
    oldest ones; K must be a multiple of B (SRO §IV-D: "the length of the queue
    is set to the integer multiple of the batch size"), so a batch never
    straddles the end and the pointer wraps to 0 after K / B batches.
    Under DDP, enqueue the keys gathered from every process (the same on all),
    and the multiple is of the global batch.
    """

    keys: torch.Tensor
    pointer: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        check_int_at_least("size", size, 1)
        check_int_at_least("dim", dim, 1)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest B entries with ``keys`` (B, dim) (detached)."""
        batch = keys.shape[0]
        if keys.ndim != 2 or keys.shape[1] != self.keys.shape[1]:
            raise VidsslError(f"enqueue: expected keys (B, {self.keys.shape[1]}), got {tuple(keys.shape)}")
        if self.size % batch:
            raise VidsslError(
                f"queue size {self.size} is not a multiple of the (global) batch of keys {batch}; "
                f"set the queue size to a multiple of batch_size x processes"
            )
        start = int(self.pointer)
        self.keys[start : start + batch] = keys.detach().to(self.keys.dtype)
        self.pointer.fill_((start + batch) % self.size)
