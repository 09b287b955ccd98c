"""Shuffle similarity of SRO §III-F (Algorithm 1): compare two features part by part, parts matched greedily.

A feature of a clip whose segments were shuffled carries the segments'
information in a shuffled layout, so SRO splits each vector into k parts
(k = number of segments), measures the Euclidean distance between every part
of one and every part of the other (eq. 9, a k × k matrix D), and sums a
greedy minimum matching (eqs. 10–12): k times, take the smallest entry left,
then drop its row and its column. The similarity fed to InfoNCE is −dis / τ
(ALGORITHMS.md "SRO").

When d is not a multiple of k, both vectors are zero-padded at the end to the
next multiple (the paper assumes d divisible by k; the pad adds nothing to a
distance between two padded parts).

Example::

    sim = shuffle_similarity(queries, queue_keys, k=3, temperature=0.07)   # (B, d) × (Q, d) → (B, Q)
    pos = paired_shuffle_similarity(queries, keys, k=3, temperature=0.07)  # (B, d) × (B, d) → (B,)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidssl.checks import ArgumentError, is_integer
from vidssl.errors import VidsslError
from vidssl.losses.info_nce import check_temperature

__all__ = [
    "split_parts",
    "part_distances",
    "paired_part_distances",
    "greedy_matching_distance",
    "shuffle_distance",
    "paired_shuffle_distance",
    "shuffle_similarity",
    "paired_shuffle_similarity",
    "algorithm1_distance",
]

_EPS = 1e-12  # keeps sqrt differentiable where two parts coincide


def _check_k(k: int, dim: int) -> int:
    if not (is_integer(k) and 1 <= k <= dim):
        raise ArgumentError("k", f"expected a number of segments (an integer) in [1, {dim}], got {k!r}")
    return int(k)


def split_parts(x: torch.Tensor, k: int) -> torch.Tensor:
    """(..., d) → (..., k, ⌈d/k⌉): the k parts z⁽¹⁾…z⁽ᵏ⁾ of Algorithm 1 line 1, zero-padded if k ∤ d."""
    dim = x.shape[-1]
    k = _check_k(k, dim)
    padded = math.ceil(dim / k) * k
    if padded != dim:
        x = F.pad(x, (0, padded - dim))
    return x.reshape(*x.shape[:-1], k, padded // k)


def _euclidean(squared: torch.Tensor) -> torch.Tensor:
    return squared.clamp_min(_EPS).sqrt()


def part_distances(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. (9) for every pair: D[i, j, m, n] = ‖a_i⁽ᵐ⁾ − b_j⁽ⁿ⁾‖₂, a (B, d), b (Q, d) → (B, Q, k, k).

    One batched matmul per call (‖x‖² + ‖y‖² − 2x·y over all parts at once);
    no loop over B or Q.
    """
    pa, pb = split_parts(a, k), split_parts(b, k)  # (B, k, p), (Q, k, p)
    cross = torch.einsum("bmp,qnp->bqmn", pa, pb)
    squared = pa.pow(2).sum(-1)[:, None, :, None] + pb.pow(2).sum(-1)[None, :, None, :] - 2 * cross
    return _euclidean(squared)


def paired_part_distances(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. (9) for row i of a against row i of b: (B, d) × (B, d) → (B, k, k)."""
    pa, pb = split_parts(a, k), split_parts(b, k)
    return _euclidean((pa[:, :, None, :] - pb[:, None, :, :]).pow(2).sum(-1))


def greedy_matching_distance(distances: torch.Tensor) -> torch.Tensor:
    """Eqs. (10)–(12): (..., k, k) → (...,), the greedy minimum matching, vectorised over the leading dims.

    k rounds: the smallest entry still available (first in row-major order on
    ties, as a loop over rows then columns finds it) is added, and its row and
    column are closed. Gradients reach exactly the selected entries.
    """
    k = distances.shape[-1]
    if distances.shape[-2] != k:
        raise VidsslError(f"greedy matching needs square (..., k, k) distances, got {tuple(distances.shape)}")
    flat = distances.reshape(-1, k * k)
    available = torch.zeros_like(flat, dtype=torch.bool).logical_not_()
    rows = torch.arange(k * k, device=flat.device) // k
    cols = torch.arange(k * k, device=flat.device) % k
    total = flat.new_zeros(flat.shape[0])
    for _ in range(k):
        masked = flat.detach().masked_fill(~available, math.inf)
        chosen = masked.argmin(dim=1, keepdim=True)  # (N, 1)
        total = total + flat.gather(1, chosen).squeeze(1)
        closed = (rows[None, :] == rows[chosen]) | (cols[None, :] == cols[chosen])
        available &= ~closed
    return total.reshape(distances.shape[:-2])


def shuffle_distance(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """dis of Algorithm 1 for every query × key pair: a (B, d), b (Q, d) → (B, Q)."""
    _check_pair(a, b)
    return greedy_matching_distance(part_distances(a, b, k))


def paired_shuffle_distance(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """dis of Algorithm 1 between row i of a and row i of b (the positive pairs): (B, d) × (B, d) → (B,)."""
    _check_pair(a, b)
    if a.shape[0] != b.shape[0]:
        raise VidsslError(f"paired shuffle distance needs equal batches, got {a.shape[0]} and {b.shape[0]}")
    return greedy_matching_distance(paired_part_distances(a, b, k))


def shuffle_similarity(a: torch.Tensor, b: torch.Tensor, k: int, temperature: float) -> torch.Tensor:
    """−dis / τ for every pair (B, Q): the InfoNCE logits against a queue."""
    return -shuffle_distance(a, b, k) / check_temperature(temperature)


def paired_shuffle_similarity(a: torch.Tensor, b: torch.Tensor, k: int, temperature: float) -> torch.Tensor:
    """−dis / τ of each row pair (B,): the InfoNCE logit of the positive."""
    return -paired_shuffle_distance(a, b, k) / check_temperature(temperature)


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise VidsslError(f"shuffle distance expects (B, d) and (Q, d), got {tuple(a.shape)} and {tuple(b.shape)}")


def algorithm1_distance(a: torch.Tensor, b: torch.Tensor, k: int) -> float:
    """Algorithm 1 read literally, for two 1-D vectors: the reference for tests and the benchmark (slow)."""
    parts_a = split_parts(a.detach().double(), k)
    parts_b = split_parts(b.detach().double(), k)
    distance = [[float(torch.linalg.vector_norm(parts_a[i] - parts_b[j])) for j in range(k)] for i in range(k)]
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    dis = 0.0
    while len(used_rows) < k and len(used_cols) < k:
        best, best_m, best_n = math.inf, -1, -1
        for m in range(k):
            for n in range(k):
                if m not in used_rows and n not in used_cols and distance[m][n] < best:
                    best, best_m, best_n = distance[m][n], m, n
        dis += best
        used_rows.add(best_m)
        used_cols.add(best_n)
    return dis
