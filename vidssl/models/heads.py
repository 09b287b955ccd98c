"""Prediction heads: one generic MLP, built from a list of blocks.

TransRank §5.1: "a temporal head is adopted to predict M-d confidence scores
for M temporal transformations ... The temporal and spatial heads can be
instantiated with fully connected layers or multi-layer perceptrons."
§5.2 / Table 6: "We replace the FC head with a 2-layer MLP (128 hidden
channels) ... the simple modification drastically improves the feature
quality."

Example::

    head = make_head("mlp", 512, 3)        # 512 -> 128 -> ReLU -> 3
    scores = head(features)                # (B, 512) -> (B, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vidssl.checks import ArgumentError, check_int_at_least, check_number_in
from vidssl.errors import VidsslError

HEAD_KINDS = ("fc", "mlp")

TRANSRANK_MLP_HIDDEN = 128
"""Hidden width of TransRank's MLP head (§5.2: "a 2-layer MLP (128 hidden channels)")."""


def hidden_block(in_dim: int, out_dim: int, *, bn: bool) -> list[nn.Module]:
    """Linear [+ BatchNorm1d] + ReLU; the Linear has no bias when BN follows (BN's shift replaces it)."""
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm1d(out_dim))
    layers.append(nn.ReLU(inplace=True))
    return layers


class MLPHead(nn.Module):
    """``in_dim -> hidden_dims... -> out_dim`` MLP.

    Each hidden size adds Linear [+ BatchNorm1d if ``bn``] + ReLU; the last
    layer is a plain Linear, preceded by Dropout(``dropout``) (an identity at
    the default 0, kept so that parameter names do not depend on it).
    ``hidden_dims=()`` gives a single fully-connected layer (the "fc head").

    Input ``(..., in_dim)``, output ``(..., out_dim)``: leading dimensions
    (e.g. batch x clips) are flattened for BatchNorm and restored.
    """

    def __init__(
        self, in_dim: int, hidden_dims: Sequence[int], out_dim: int, *, bn: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if isinstance(hidden_dims, (int, str)):
            raise ArgumentError("hidden_dims", f"expected a sequence of integers, got {hidden_dims!r}")
        check_int_at_least("in_dim", in_dim, 1)
        check_int_at_least("out_dim", out_dim, 1)
        for size in hidden_dims:
            check_int_at_least("hidden_dims", size, 1)
        check_number_in("dropout", dropout, 0, 1, high_open=True)
        self.in_dim = in_dim
        self.hidden_dims = tuple(hidden_dims)
        self.out_dim = out_dim
        sizes = (in_dim, *self.hidden_dims)
        layers: list[nn.Module] = []
        for layer_in, layer_out in zip(sizes[:-1], sizes[1:]):
            layers += hidden_block(layer_in, layer_out, bn=bn)
        layers.append(nn.Dropout(dropout))  # always present (identity at p=0) so state-dict keys never shift
        layers.append(nn.Linear(sizes[-1], out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 1 or x.shape[-1] != self.in_dim:
            raise VidsslError(f"head input: expected (..., {self.in_dim}) features, got shape {tuple(x.shape)}")
        leading = x.shape[:-1]
        return self.layers(x.reshape(-1, self.in_dim)).reshape(*leading, self.out_dim)


def make_head(kind: str, in_dim: int, out_dim: int, hidden: int = TRANSRANK_MLP_HIDDEN) -> MLPHead:
    """The two heads of TransRank §5.2 / Table 6.

    - ``"fc"``: one fully-connected layer, "using a single fully-connected (FC)
      layer to predict the confidence for transformations" (the default in the
      ablations: "All heads are instantiated with fully-connected layers unless
      specified").
    - ``"mlp"``: "a 2-layer MLP (128 hidden channels)": Linear(in, hidden),
      ReLU, Linear(hidden, out).
    """
    if kind == "fc":
        return MLPHead(in_dim, (), out_dim)
    if kind == "mlp":
        return MLPHead(in_dim, (hidden,), out_dim)
    raise ArgumentError("kind", f"expected one of {', '.join(HEAD_KINDS)}, got {kind!r}")


class PairwiseOrderHead(nn.Module):
    """VCOP's order head (Xu et al., CVPR 2019, §3.3, "pairwise feature extraction", as in OPN).

    For N clip features f_1..f_N (in the order shown), every pair i < j is
    concatenated and mapped by one shared ``Linear(2·in_dim, hidden)`` + ReLU;
    the N(N−1)/2 pair vectors are concatenated (pairs in (0,1), (0,2), …, (1,2)
    order), passed through Dropout(``dropout``) and one Linear to the N! order
    logits. Input ``(B, N, in_dim)``, output ``(B, N!)``.
    """

    def __init__(self, in_dim: int, num_clips: int, *, hidden: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        check_int_at_least("in_dim", in_dim, 1)
        check_int_at_least("hidden", hidden, 1)
        check_int_at_least("num_clips", num_clips, 2)
        check_number_in("dropout", dropout, 0, 1, high_open=True)
        self.in_dim, self.num_clips = in_dim, num_clips
        self.pairs = [(i, j) for i in range(num_clips) for j in range(i + 1, num_clips)]
        self.pair = nn.Sequential(nn.Linear(2 * in_dim, hidden), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden * len(self.pairs), math.factorial(num_clips))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 3 or features.shape[1:] != (self.num_clips, self.in_dim):
            raise VidsslError(
                f"pairwise order head: expected (B, {self.num_clips}, {self.in_dim}) features, "
                f"got shape {tuple(features.shape)}"
            )
        first = features[:, [i for i, _ in self.pairs]]
        second = features[:, [j for _, j in self.pairs]]
        pair_vectors = self.pair(torch.cat([first, second], dim=2))  # (B, pairs, hidden)
        return self.classifier(self.dropout(pair_vectors.flatten(1)))
