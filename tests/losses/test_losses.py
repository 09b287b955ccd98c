"""TransRank losses against brute-force loops over equations (1), (2) and (3)."""
import math

import pytest
import torch

from vidssl.losses.ranking import (
    AspectRankingLoss,
    TransformRankingLoss,
    label_order_accuracy,
    pairwise_ranking_accuracy,
    transform_cross_entropy,
)


def eq1_loop(scores, targets, margin):
    """Equation (1) written literally, pooled over the batch (sum of terms / number of pairs)."""
    total, pairs = 0.0, 0
    for b in range(scores.shape[0]):
        n = scores.shape[1]
        for i in range(n):
            for j in range(n):
                ti, tj = int(targets[b, i]), int(targets[b, j])
                if ti != tj:
                    total += max(0.0, float(scores[b, j, ti]) - float(scores[b, i, ti]) + margin)
                    pairs += 1
    return total / pairs if pairs else 0.0


def eq2_loop(scores, targets):
    total, count = 0.0, 0
    for b in range(scores.shape[0]):
        for i in range(scores.shape[1]):
            row = [float(v) for v in scores[b, i]]
            lse = math.log(sum(math.exp(v) for v in row))
            total += -(row[int(targets[b, i])] - lse)
            count += 1
    return total / count


@pytest.mark.parametrize("margin", [0.0, 0.5, 1.0, 3.0])
def test_ranking_loss_deterministic_assignment_matches_loop(margin):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(5, 3, 3, generator=g, dtype=torch.float64)
    targets = torch.stack([torch.randperm(3, generator=g) for _ in range(5)])
    got = TransformRankingLoss(margin)(scores, targets).item()
    assert got == pytest.approx(eq1_loop(scores, targets, margin), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("n, m", [(4, 5), (6, 3)])  # fewer clips than transformations, and more (N > M: ties)
def test_ranking_loss_stochastic_assignment_matches_loop(n, m):
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(7, n, m, generator=g, dtype=torch.float64)
    targets = torch.randint(0, m, (7, n), generator=g)
    targets[0] = 2  # a video whose clips all share one transformation contributes no pair
    got = TransformRankingLoss(1.0)(scores, targets).item()
    assert got == pytest.approx(eq1_loop(scores, targets, 1.0), rel=1e-12)


def test_ranking_loss_zero_when_ranked_with_margin_and_positive_otherwise():
    # clip i scores 5 on its own transformation, 0 elsewhere: every pair satisfied by margin 1
    targets = torch.tensor([[2, 0, 1]])
    scores = torch.zeros(1, 3, 3)
    scores[0, torch.arange(3), targets[0]] = 5.0
    assert TransformRankingLoss(1.0)(scores, targets).item() == 0.0
    # swap the roles: every pair violated by 5 + margin
    assert TransformRankingLoss(1.0)(-scores, targets).item() == pytest.approx(6.0)


def test_ranking_loss_without_pairs_is_zero_and_differentiable():
    scores = torch.randn(2, 3, 3, requires_grad=True)
    targets = torch.ones(2, 3, dtype=torch.long)
    loss = TransformRankingLoss(1.0)(scores, targets)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(scores.grad == 0)


def test_ranking_loss_gradient_matches_finite_difference_of_loop():
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[0, 1, 2], [2, 1, 0]])
    TransformRankingLoss(0.7)(scores, targets).backward()
    eps = 1e-6
    for idx in [(0, 0, 0), (0, 1, 0), (1, 2, 1), (1, 0, 2)]:
        plus, minus = scores.detach().clone(), scores.detach().clone()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = (eq1_loop(plus, targets, 0.7) - eq1_loop(minus, targets, 0.7)) / (2 * eps)
        assert scores.grad[idx].item() == pytest.approx(numeric, abs=1e-6)


def test_cross_entropy_matches_eq2_loop():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 5, (4, 3), generator=g)
    assert transform_cross_entropy(scores, targets).item() == pytest.approx(eq2_loop(scores, targets), rel=1e-12)


def test_pairwise_accuracy_matches_loop():
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(6, 3, 4, generator=g)
    targets = torch.randint(0, 4, (6, 3), generator=g)
    got = pairwise_ranking_accuracy(scores, targets, 4)
    for k in range(4):
        hit = tot = 0
        for b in range(6):
            for i in range(3):
                for j in range(3):
                    if targets[b, i] == k and targets[b, j] != k:
                        tot += 1
                        hit += int(scores[b, i, k] > scores[b, j, k])
        if tot == 0:
            assert torch.isnan(got[k])
        else:
            assert got[k].item() == pytest.approx(hit / tot)


def test_bad_shapes_and_margin_rejected():
    with pytest.raises(ValueError):
        TransformRankingLoss(-1.0)
    with pytest.raises(ValueError):
        TransformRankingLoss(1.0)(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))


def eq3_loop(scores, ratios, margin):
    """Equation (3) written literally for each video, then averaged over the batch."""
    losses = []
    for b in range(scores.shape[0]):
        n = scores.shape[1]
        total = 0.0
        for i in range(n):
            for j in range(n):
                if float(ratios[b, i]) < float(ratios[b, j]):
                    total += max(0.0, float(scores[b, i]) - float(scores[b, j]) + margin)
        losses.append(2.0 / (n * (n - 1)) * total)
    return sum(losses) / len(losses)


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("margin", [0.0, 0.3, 1.0])
def test_aspect_ranking_loss_matches_eq3_loop(n, margin):
    g = torch.Generator().manual_seed(n)
    scores = torch.randn(4, n, generator=g)
    ratios = torch.rand(4, n, generator=g) * 1.5 + 0.5
    assert AspectRankingLoss(margin)(scores, ratios).item() == pytest.approx(eq3_loop(scores, ratios, margin), abs=1e-6)


def test_aspect_ranking_loss_ties_add_no_term_but_count_in_the_normaliser():
    # video 0: r = [1, 1, 2] → pairs (0,2), (1,2) contribute; the tie (0,1) does not, normaliser stays 2/(3*2)
    scores = torch.tensor([[0.5, 0.0, 0.2], [0.0, 0.0, 0.0]])
    ratios = torch.tensor([[1.0, 1.0, 2.0], [1.5, 1.5, 1.5]])
    loss = AspectRankingLoss(1.0)(scores, ratios)
    video0 = (1 / 3) * (max(0, 0.5 - 0.2 + 1) + max(0, 0.0 - 0.2 + 1))
    assert loss.item() == pytest.approx((video0 + 0.0) / 2)
    assert loss.item() == pytest.approx(eq3_loop(scores, ratios, 1.0))


def test_aspect_ranking_loss_zero_when_ordered_by_margin_and_graph_for_single_clip():
    ratios = torch.tensor([[0.8, 1.2, 1.0]])
    assert AspectRankingLoss(1.0)(torch.tensor([[0.0, 2.0, 1.0]]), ratios).item() == 0.0
    assert AspectRankingLoss(1.0)(torch.tensor([[2.0, 0.0, 1.0]]), ratios).item() > 0.0
    single = torch.zeros(3, 1, requires_grad=True)
    loss = AspectRankingLoss(1.0)(single, torch.ones(3, 1))
    loss.backward()
    assert loss.item() == 0.0 and single.grad is not None


def test_label_order_accuracy_counts_agreeing_pairs():
    scores = torch.tensor([[0.0, 2.0, 1.0]])
    ratios = torch.tensor([[0.8, 1.2, 1.0]])
    assert label_order_accuracy(scores, ratios).item() == 1.0
    # clip 0 now scores above clip 2 although its ratio is lower: one of the three pairs disagrees
    assert label_order_accuracy(torch.tensor([[1.5, 2.0, 1.0]]), ratios).item() == pytest.approx(2 / 3)
    assert math.isnan(label_order_accuracy(scores, torch.ones(1, 3)).item())
    with pytest.raises(ValueError):
        AspectRankingLoss(1.0)(torch.zeros(2, 3), torch.zeros(2, 4))
