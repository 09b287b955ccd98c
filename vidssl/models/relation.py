"""The relation module of CORP (Hu et al., ICCV 2021, "Contrast and Order Representations for Video SSL").

Two projected clip features z_i, z_j (..., d) become a relation vector
(..., h), and an MLP turns it into pair-class logits:

- :class:`MixedAttention`, equation (1): h heads of ⟨U_k z_i, V_k z_j⟩ (the baseline);
- :class:`DecouplingAttention`, equation (8) with the summation removed:
  n symmetric features G z_i * G z_j and l anti-symmetric features
  P z_i * Q z_j − Q z_i * P z_j (the attention CORP uses, §3.4);
- :class:`PairClassifier`, equations (2) and (4): relation + MLP -> 3-way
  (CORP_m) or 2-way (CORP_f) logits. By default (``pair_classifier="concat"``)
  the paper's plain MLP on the relation vector, so Table 6c/6d's ablations
  (mixed vs decoupling attention, 1 vs 2 layers) compare what the paper
  compares; ``"symmetric"`` makes the logits exactly swap-equivariant for
  either attention (before this option existed, decoupling attention was
  always symmetric and mixed attention never).

Leading dimensions of z_i and z_j broadcast against each other, so
``r(z[:, None], z[None, :])`` gives the relation of every pair of clips.

Example::

    classifier = PairClassifier(128, 3)          # decoupling attention, h = 128, plain MLP (eq. 2)
    logits = classifier(z_i, z_j)                # (P, 128) x (P, 128) -> (P, 3)
    PairClassifier(128, 3, pair_classifier="symmetric")(z_j, z_i)   # = logits[:, [0, 2, 1]]
"""

from __future__ import annotations

import torch
from torch import nn

from vidssl.checks import ArgumentError, check_choice, check_int_at_least
from vidssl.errors import VidsslError
from vidssl.models.heads import MLPHead

__all__ = ["ATTENTION_KINDS", "PAIR_CLASSIFIERS", "DecouplingAttention", "MixedAttention", "PairClassifier"]

ATTENTION_KINDS = ("decoupling", "mixed")

PAIR_CLASSIFIERS = ("concat", "symmetric")
"""``concat``: the paper's plain MLP on the relation (eqs. 2, 4); ``symmetric``: swap-equivariant (project option)."""

CORP_HEADS = 128
"""Number of attention heads h (§3.2: "we set h = 128")."""

PAIR_MLP_HIDDEN = 128
"""Hidden width of the two-layer MLP of eq. (2); the paper does not give it (project choice)."""


def unit_scale_init(*layers: nn.Linear) -> None:
    """Rows drawn from N(0, 1): on a unit-norm input z each projected coordinate is then N(0, 1)-scaled.

    CORP's z is L2-normalised, so PyTorch's default ±1/√d init would make every
    relation feature a product of two ~1/√d numbers: logits that barely depend
    on the pair. On a fixed SynthMotion batch, this init took the CORP_m loss
    from 54.9 (the class prior) to 17 in 30 AdamW steps; the default had
    reached 49 (project choice; the paper gives no init).
    """
    for layer in layers:
        nn.init.normal_(layer.weight, mean=0.0, std=1.0)


def check_features(module: str, z_i: torch.Tensor, z_j: torch.Tensor, dim: int) -> None:
    """Both inputs must be (..., dim)."""
    if z_i.ndim < 1 or z_j.ndim < 1 or z_i.shape[-1] != dim or z_j.shape[-1] != dim:
        raise VidsslError(
            f"{module} input: expected z_i and z_j of shape (..., {dim}), got {tuple(z_i.shape)} and {tuple(z_j.shape)}"
        )


class MixedAttention(nn.Module):
    """Multi-head attention relation, CORP equation (1).

    r(z_i, z_j) = [⟨U_1 z_i, V_1 z_j⟩, …, ⟨U_h z_i, V_h z_j⟩] with
    U_k, V_k ∈ R^{(d/h) × d}; head_dim = max(d // h, 1). U_k is rows
    k·head_dim … (k+1)·head_dim − 1 of ``u.weight`` (likewise V_k of ``v``).
    Input z_i, z_j (..., d) -> (..., h). Symmetric and anti-symmetric patterns
    are mixed in every head (§3.4). U, V start from :func:`unit_scale_init`.
    """

    def __init__(self, dim: int, heads: int = CORP_HEADS) -> None:
        super().__init__()
        self.dim = check_int_at_least("dim", dim, 1)
        self.heads = check_int_at_least("heads", heads, 1)
        self.head_dim = max(dim // heads, 1)
        self.u = nn.Linear(dim, heads * self.head_dim, bias=False)
        self.v = nn.Linear(dim, heads * self.head_dim, bias=False)
        unit_scale_init(self.u, self.v)

    @property
    def out_dim(self) -> int:
        return self.heads

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(..., h·head_dim) -> (..., h, head_dim)."""
        return x.reshape(*x.shape[:-1], self.heads, self.head_dim)

    def forward(self, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
        check_features("mixed attention", z_i, z_j, self.dim)
        return (self.split_heads(self.u(z_i)) * self.split_heads(self.v(z_j))).sum(dim=-1)


class DecouplingAttention(nn.Module):
    """Decoupling attention, CORP equation (8) with the summation removed (§3.4).

    symmetric = G z_i * G z_j (n features; unchanged when z_i, z_j swap),
    antisymmetric = P z_i * Q z_j − Q z_i * P z_j (l features; negated when
    they swap), with G ∈ R^{n×d}, P, Q ∈ R^{l×d}. Summing both parts gives
    z_iᵀ M z_j with M = GᵀG + PᵀQ − QᵀP (eq. 7). Project decision:
    n = l = h / 2, so h must be even. Input (..., d) -> (..., h), the
    symmetric features first. G, P, Q start from :func:`unit_scale_init`.
    """

    def __init__(self, dim: int, heads: int = CORP_HEADS) -> None:
        super().__init__()
        self.dim = check_int_at_least("dim", dim, 1)
        check_int_at_least("heads", heads, 1)
        if heads % 2:
            raise ArgumentError("heads", f"decoupling attention needs an even h (n = l = h / 2), got {heads}")
        self.heads = heads
        half = heads // 2
        self.g = nn.Linear(dim, half, bias=False)
        self.p = nn.Linear(dim, half, bias=False)
        self.q = nn.Linear(dim, half, bias=False)
        unit_scale_init(self.g, self.p, self.q)

    @property
    def out_dim(self) -> int:
        return self.heads

    def parts(self, z_i: torch.Tensor, z_j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(symmetric (..., h/2), antisymmetric (..., h/2)) of z_i, z_j (..., d)."""
        check_features("decoupling attention", z_i, z_j, self.dim)
        symmetric = self.g(z_i) * self.g(z_j)
        antisymmetric = self.p(z_i) * self.q(z_j) - self.q(z_i) * self.p(z_j)
        return symmetric, antisymmetric

    def forward(self, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
        symmetric, antisymmetric = self.parts(z_i, z_j)
        return torch.cat(torch.broadcast_tensors(symmetric, antisymmetric), dim=-1)


class PairClassifier(nn.Module):
    """Relation + MLP -> pair-class logits, CORP equations (2) (3-way) and (4) (2-way).

    Classes: 3-way (CORP_m) 0 = P1 different videos, 1 = P2 same video and
    z_i earlier, 2 = P3 same video and z_j earlier; 2-way (CORP_f)
    0 = z_i earlier, 1 = z_j earlier. The MLP has ``mlp_layers`` linear layers
    (2, the paper's "simple two-layer perceptron": Linear, ReLU, Linear with
    ``hidden`` units — the paper gives no width, ``PAIR_MLP_HIDDEN``; no BatchNorm,
    whose batch statistics would break the symmetry below).

    ``pair_classifier`` (ALGORITHMS.md "CORP"):

    - ``"concat"`` (default, the paper): φ(z_i, z_j) = mlp(r(z_i, z_j)), one
      plain MLP on the relation vector — for decoupling attention the
      concatenation [s, a] of its symmetric and anti-symmetric parts. Nothing
      ties φ(z_j, z_i) to φ(z_i, z_j); the classifier has to learn it.
    - ``"symmetric"`` (a project option): exactly swap-equivariant. With
      (α, β) = mlp(r) for 3 classes and β = mlp(r) for 2 classes,

      - 3 classes: logits = [(α(r_ij) + α(r_ji)) / 2, β(r_ij), β(r_ji)];
      - 2 classes: logits = [β(r_ij), β(r_ji)],

      where r_ij = r(z_i, z_j), r_ji = r(z_j, z_i) (for decoupling attention
      r_ji = [s, −a], no second relation pass). Swapping z_i and z_j keeps the
      P1 logit and exchanges the earlier/later logits exactly, for either attention.

    Input z_i, z_j (..., d) (leading dimensions broadcast) -> (..., num_classes).
    """

    def __init__(
        self,
        dim: int,
        num_classes: int,
        *,
        attention: str = "decoupling",
        heads: int = CORP_HEADS,
        mlp_layers: int = 2,
        hidden: int = PAIR_MLP_HIDDEN,
        pair_classifier: str = "concat",
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or num_classes not in (2, 3):
            raise ArgumentError("num_classes", f"expected 2 (CORP_f) or 3 (CORP_m), got {num_classes!r}")
        check_choice("attention", attention, ATTENTION_KINDS)
        check_choice("pair_classifier", pair_classifier, PAIR_CLASSIFIERS)
        if isinstance(mlp_layers, bool) or mlp_layers not in (1, 2):
            raise ArgumentError("mlp_layers", f"expected 1 or 2, got {mlp_layers!r}")
        check_int_at_least("hidden", hidden, 1)
        self.num_classes = num_classes
        self.attention = attention
        self.pair_classifier = pair_classifier
        self.relation: MixedAttention | DecouplingAttention
        self.relation = DecouplingAttention(dim, heads) if attention == "decoupling" else MixedAttention(dim, heads)
        # symmetric: (α, β) or β; the order logits come from evaluating β on r_ij and r_ji
        mlp_out = num_classes if pair_classifier == "concat" else num_classes - 1
        hidden_dims = (hidden,) if mlp_layers == 2 else ()
        self.mlp = MLPHead(self.relation.out_dim, hidden_dims, mlp_out)

    def forward(self, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
        if self.pair_classifier == "concat":
            return self.mlp(self.relation(z_i, z_j))
        return self.equivariant_logits(*self.relations_both_ways(z_i, z_j))

    def relations_both_ways(self, z_i: torch.Tensor, z_j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r(z_i, z_j) and r(z_j, z_i); for decoupling attention the second is [s, −a] of the first (eq. 8)."""
        if isinstance(self.relation, MixedAttention):
            return self.relation(z_i, z_j), self.relation(z_j, z_i)
        symmetric, antisymmetric = torch.broadcast_tensors(*self.relation.parts(z_i, z_j))
        return torch.cat([symmetric, antisymmetric], dim=-1), torch.cat([symmetric, -antisymmetric], dim=-1)

    def equivariant_logits(self, forward_relation: torch.Tensor, swapped_relation: torch.Tensor) -> torch.Tensor:
        """Logits from mlp(r_ij) and mlp(r_ji) (one MLP call on both), as in the class docstring."""
        forward_relation, swapped_relation = torch.broadcast_tensors(forward_relation, swapped_relation)
        forward_pair, swapped_pair = self.mlp(torch.stack([forward_relation, swapped_relation])).unbind(0)
        if self.num_classes == 2:
            return torch.cat([forward_pair, swapped_pair], dim=-1)
        different = (forward_pair[..., :1] + swapped_pair[..., :1]) / 2
        return torch.cat([different, forward_pair[..., 1:], swapped_pair[..., 1:]], dim=-1)
