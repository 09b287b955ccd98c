"""Shuffle similarity (SRO §III-F, Algorithm 1) against the literal loop, and its properties."""
import pytest
import torch

from vidssl.errors import VidsslError
from vidssl.losses.shuffle_similarity import (
    algorithm1_distance,
    greedy_matching_distance,
    paired_shuffle_distance,
    paired_shuffle_similarity,
    shuffle_distance,
    shuffle_similarity,
    split_parts,
)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dim", [20, 23])
def test_vectorised_distance_equals_the_algorithm_1_loop(k, dim):
    torch.manual_seed(k * 100 + dim)
    a, b = torch.randn(3, dim), torch.randn(7, dim)
    distances = shuffle_distance(a, b, k)
    assert distances.shape == (3, 7)
    for i in range(3):
        for j in range(7):
            assert distances[i, j].item() == pytest.approx(algorithm1_distance(a[i], b[j], k), abs=1e-4)
    paired = paired_shuffle_distance(a, b[:3], k)
    assert torch.allclose(paired, torch.stack([distances[i, i] for i in range(3)]), atol=1e-5)


def test_distance_is_symmetric_and_zero_to_itself():
    torch.manual_seed(0)
    a, b = torch.randn(4, 24), torch.randn(5, 24)
    assert torch.allclose(shuffle_distance(a, b, 3), shuffle_distance(b, a, 3).T, atol=1e-5)
    assert torch.allclose(paired_shuffle_distance(a, a, 3), torch.zeros(4), atol=1e-4)


def test_shuffling_the_parts_leaves_it_unchanged_where_euclidean_changes():
    torch.manual_seed(1)
    a, b = torch.randn(6, 24), torch.randn(6, 24)
    b_shuffled = split_parts(b, 3)[:, [2, 0, 1]].reshape(6, 24)  # the segments shown in another order
    assert torch.allclose(paired_shuffle_distance(a, b, 3), paired_shuffle_distance(a, b_shuffled, 3), atol=1e-5)
    assert not torch.allclose((a - b).norm(dim=1), (a - b_shuffled).norm(dim=1), atol=1e-3)


def test_k_equal_one_is_the_euclidean_distance():
    torch.manual_seed(2)
    a, b = torch.randn(3, 10), torch.randn(4, 10)
    assert torch.allclose(shuffle_distance(a, b, 1), torch.cdist(a, b), atol=1e-5)


def test_greedy_matching_is_greedy_not_optimal():
    # smallest entry 1 (row 0, col 0) is taken first, forcing 10 on the other diagonal: greedy 11,
    # while the optimal assignment (0→1, 1→0) costs 2 + 3 = 5.
    distances = torch.tensor([[1.0, 2.0], [3.0, 10.0]])
    assert greedy_matching_distance(distances).item() == 11.0
    # 3×3: picks 0.5 at (1, 2), then 1 at (0, 0), then 9 at (2, 1) = 10.5
    distances = torch.tensor([[1.0, 4.0, 2.0], [3.0, 6.0, 0.5], [7.0, 9.0, 8.0]])
    assert greedy_matching_distance(distances).item() == pytest.approx(10.5)
    assert greedy_matching_distance(distances.expand(4, 2, 3, 3)).shape == (4, 2)


def test_gradients_are_finite_even_for_identical_parts():
    a = torch.randn(2, 12, requires_grad=True)
    b = torch.cat([a.detach()[:1], torch.randn(1, 12)])  # row 0 of b equals row 0 of a
    loss = shuffle_similarity(a, b, 3, 0.07).sum() + paired_shuffle_similarity(a, b, 3, 0.07).sum()
    loss.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_similarity_is_minus_distance_over_temperature_and_bad_arguments_are_named():
    torch.manual_seed(3)
    a, b = torch.randn(2, 9), torch.randn(3, 9)
    assert torch.allclose(shuffle_similarity(a, b, 3, 0.5), -shuffle_distance(a, b, 3) / 0.5)
    with pytest.raises(VidsslError, match=r"^k: expected a number of segments \(an integer\) in \[1, 9\], got 0$"):
        shuffle_distance(a, b, 0)
    with pytest.raises(VidsslError, match="^k: expected a number of segments"):
        shuffle_distance(a, b, 10)
    with pytest.raises(VidsslError, match="^temperature: "):
        shuffle_similarity(a, b, 3, 0.0)
