"""t-SNE feature maps (vidssl.eval.feature_map): separation of clear clusters, chance for noise, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from vidssl.errors import VidsslError
from vidssl.eval.feature_map import feature_maps, neighbourhood_agreement, silhouette, tsne_embedding

CLASSES, PER_CLASS, DIM = 3, 40, 64


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight Gaussian clusters in 64-d around random centres far apart (N = 120)."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(CLASSES, DIM))
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    return centres[labels] + 0.5 * rng.normal(size=(len(labels), DIM)), labels


@pytest.fixture(scope="module")
def maps() -> dict:
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(CLASSES * PER_CLASS, DIM))
    random_labels = rng.integers(0, CLASSES, size=len(noise))
    return feature_maps({"clusters": _clusters(), "noise": (noise, random_labels)}, seed=0, threads=1)


def test_agreement_counts_the_neighbours_by_hand():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    labels = np.array([0, 0, 1])
    # k=1: 0 -> 1 (same), 1 -> 0 (same), 3 -> 1 (other); a point is never its own neighbour
    assert neighbourhood_agreement(points, labels, k=1) == pytest.approx(2 / 3)
    assert neighbourhood_agreement(points, labels, k=2) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)


def test_separated_clusters_stay_apart_in_the_map(maps):
    result = maps["clusters"]
    embedding, labels = result["embedding"], result["labels"]
    assert embedding.shape == (CLASSES * PER_CLASS, 2) and np.isfinite(embedding).all()
    np.testing.assert_array_equal(labels, _clusters()[1])
    assert result["neighbour_agreement"] >= 0.98
    centroids = np.stack([embedding[labels == c].mean(axis=0) for c in range(CLASSES)])
    radius = max(np.linalg.norm(embedding[labels == c] - centroids[c], axis=1).max() for c in range(CLASSES))
    gaps = [np.linalg.norm(centroids[a] - centroids[b]) for a in range(CLASSES) for b in range(a + 1, CLASSES)]
    assert min(gaps) > 3 * radius  # every cluster is a compact island
    assert silhouette(embedding, labels) > 0.7


def test_noise_with_random_labels_agrees_at_chance(maps):
    chance = 1.0 / CLASSES
    assert abs(maps["noise"]["neighbour_agreement"] - chance) < 0.1
    assert abs(silhouette(maps["noise"]["embedding"], maps["noise"]["labels"])) < 0.1


def test_the_map_is_deterministic_for_a_seed(maps):
    features, _ = _clusters()
    again = tsne_embedding(features, seed=0, threads=1)
    np.testing.assert_array_equal(again, maps["clusters"]["embedding"])


def test_rows_are_l2_normalised_so_their_scale_does_not_matter():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(30, 80))  # 80 > pca_dim: the PCA step runs too
    scales = rng.uniform(0.5, 20.0, size=(30, 1))
    plain = tsne_embedding(features, perplexity=5, threads=1)
    np.testing.assert_allclose(tsne_embedding(features * scales, perplexity=5, threads=1), plain, atol=1e-6)


def test_small_sets_clip_the_perplexity_with_a_warning():
    features = np.random.default_rng(2).normal(size=(7, 5))
    with pytest.warns(UserWarning, match=r"perplexity 30 is too large for 7 points; using 2 = \(N - 1\)/3"):
        embedding = tsne_embedding(features, threads=1)
    assert embedding.shape == (7, 2) and np.isfinite(embedding).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tsne_embedding(np.zeros((3, 8))), "at least 4 points, got 3"),
        (lambda: tsne_embedding(np.zeros(10)), r"shape \(N, D\)"),
        (lambda: tsne_embedding(np.full((6, 2), np.nan)), "NaN"),
        (lambda: tsne_embedding(np.ones((6, 2)), perplexity=0), "^perplexity: expected a number > 0, got 0$"),
        (lambda: tsne_embedding(np.ones((6, 80)), pca_dim=1),
         r"^pca_dim: expected an integer >= 2 \(or None\), got 1$"),
        (lambda: tsne_embedding(np.ones((6, 2)), threads=0), r"^threads: expected an integer >= 1 \(or None\), got 0$"),
        (lambda: neighbourhood_agreement(np.zeros((5, 2)), np.zeros(4, dtype=int)), "expected 5 labels"),
        (lambda: neighbourhood_agreement(np.zeros((5, 2)), np.zeros(5)), "labels must be integers"),
        (lambda: neighbourhood_agreement(np.zeros((5, 2)), np.zeros(5, dtype=int), k=5),
         r"^k: expected a number of neighbours in \[1, 4\] for 5 points, got 5$"),
        (lambda: silhouette(np.zeros((5, 2)), np.zeros(5, dtype=int)), "distinct labels, got 1"),
        (lambda: feature_maps({}), "at least one model"),
        (lambda: feature_maps({"m": np.zeros((6, 2))}), "'m' must be a pair"),
        (lambda: feature_maps({"m": (np.zeros((6, 2)), np.zeros(5, dtype=int))}), "'m': expected 6 labels"),
    ],
)
def test_bad_input_is_a_one_line_error(call, match):
    with pytest.raises(VidsslError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
