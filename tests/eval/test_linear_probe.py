"""Linear evaluation (CORP §4.1): z-score with the training statistics, SGD + half-cosine, on cached features."""
import math

import numpy as np
import pytest

from vidssl.errors import VidsslError
from vidssl.eval.linear_probe import LinearProbeConfig, half_cosine_lr, train_linear_probe, zscore


def clustered(n_per_class, classes, dim, *, seed, shift=0.0, scale=1.0):
    """Gaussian blobs around fixed class centres (the same centres for every seed), optionally shifted/scaled."""
    centres = np.random.default_rng(123).normal(0, 3, (classes, dim))
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    return (x * scale + shift).astype(np.float32), y


def test_zscore_uses_the_training_statistics_for_both_splits():
    train = np.array([[1.0, 10.0], [3.0, 30.0]])
    test = np.array([[2.0, 50.0]])
    train_z, test_z = zscore(train, test, eps=0.0)
    np.testing.assert_allclose(train_z, [[-1, -1], [1, 1]])
    np.testing.assert_allclose(test_z, [[0.0, 3.0]])  # (50 - 20) / 10


def test_half_cosine_runs_from_the_base_lr_towards_zero():
    assert half_cosine_lr(0, 100, 0.16) == pytest.approx(0.16)
    assert half_cosine_lr(50, 100, 0.16) == pytest.approx(0.08)
    assert half_cosine_lr(100, 100, 0.16) == pytest.approx(0.0, abs=1e-12)
    assert half_cosine_lr(25, 100, 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_probe_separates_clusters_and_is_immune_to_a_feature_scale_by_the_zscore():
    train_x, train_y = clustered(20, 4, 6, seed=0)
    test_x, test_y = clustered(10, 4, 6, seed=1)
    cfg = LinearProbeConfig(epochs=30, batch_size=16)
    plain = train_linear_probe(train_x, train_y, test_x, test_y, num_classes=4, cfg=cfg)
    assert plain["accuracy"] == 1.0 and plain["train_accuracy"] == 1.0
    assert (plain["num_train"], plain["num_test"], len(plain["history"])) == (80, 40, 30)
    assert plain["history"][-1]["loss"] < plain["history"][0]["loss"]
    # every feature multiplied by 1000 and shifted: after the z-score the probe sees the same inputs
    scaled = train_linear_probe(train_x * 1000 + 7, train_y, test_x * 1000 + 7, test_y, num_classes=4, cfg=cfg)
    assert scaled["accuracy"] == 1.0
    assert scaled["history"][-1]["loss"] == pytest.approx(plain["history"][-1]["loss"], rel=1e-3)


def test_probe_is_deterministic_for_its_seed_and_chance_on_random_labels():
    train_x, _ = clustered(30, 3, 5, seed=0)
    test_x, _ = clustered(30, 3, 5, seed=1)
    rng = np.random.default_rng(0)
    train_y, test_y = rng.integers(0, 3, len(train_x)), rng.integers(0, 3, len(test_x))
    cfg = LinearProbeConfig(epochs=5, batch_size=32)
    first = train_linear_probe(train_x, train_y, test_x, test_y, num_classes=3, cfg=cfg, seed=4)
    again = train_linear_probe(train_x, train_y, test_x, test_y, num_classes=3, cfg=cfg, seed=4)
    assert first == again
    assert first["accuracy"] < 0.6  # labels independent of the features: near 1/3, far from separable


def test_bad_probe_inputs_raise_with_the_key():
    x, y = clustered(4, 2, 3, seed=0)
    with pytest.raises(VidsslError, match="eval.linear.epochs"):
        train_linear_probe(x, y, x, y, num_classes=2, cfg=LinearProbeConfig(epochs=0))
    with pytest.raises(VidsslError, match="eval.linear.lr"):
        train_linear_probe(x, y, x, y, num_classes=2, cfg=LinearProbeConfig(lr=0.0))
    with pytest.raises(VidsslError, match="labels must lie"):
        train_linear_probe(x, y + 5, x, y, num_classes=2)
    with pytest.raises(VidsslError, match=r"\(N, D\)"):
        train_linear_probe(x, y, x[:, :2], y, num_classes=2)
