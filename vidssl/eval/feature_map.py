"""Feature maps: t-SNE of per-video features coloured by class (SRO §IV-E, Fig. 4).

The maps of a randomly initialised and a pretrained backbone, side by side,
show whether pretraining groups the videos of a class
(:func:`vidssl.eval.plots.plot_feature_maps` draws them). A map is a picture;
:func:`neighbourhood_agreement` puts a number beside it: the fraction of each
point's k nearest neighbours in the map that share its label (1 = classes
fully apart; 1/num_classes for balanced classes mixed at random).

Preprocessing: every feature vector is L2-normalised (no per-dimension
z-score), so the map reflects the cosine geometry that retrieval and kNN use,
then PCA reduces it to ``pca_dim`` dimensions (when it has more), which
removes noise and speeds t-SNE up.

Usage::

    maps = feature_maps({"random init": (f0, labels), "pretrained": (f1, labels)})
    plot_feature_maps({n: (m["embedding"], m["labels"]) for n, m in maps.items()}, class_names, "maps.png",
                      agreement={n: m["neighbour_agreement"] for n, m in maps.items()})
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from vidssl.checks import ArgumentError, check_positive, is_int_at_least
from vidssl.errors import VidsslError

MIN_POINTS = 4  # t-SNE needs a perplexity below N/3, and at least one


def _check_features(features: Any, what: str) -> np.ndarray:
    """``features`` as a finite float64 (N, D) array with N ≥ :data:`MIN_POINTS`, or a one-line error."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise VidsslError(f"{what}: expected features of shape (N, D), got {x.shape}")
    if len(x) < MIN_POINTS:
        raise VidsslError(f"{what}: t-SNE needs at least {MIN_POINTS} points, got {len(x)}")
    if not np.isfinite(x).all():
        raise VidsslError(f"{what}: features contain NaN or infinite values")
    return x


def _check_labels(labels: Any, n: int, what: str) -> np.ndarray:
    """``labels`` as an int64 (n,) array, or a one-line error."""
    y = np.asarray(labels)
    if y.shape != (n,):
        raise VidsslError(f"{what}: expected {n} labels (one per point), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise VidsslError(f"{what}: labels must be integers, got {y.dtype}")
    return y.astype(np.int64)


def _perplexity_for(n: int, perplexity: float) -> float:
    """``perplexity`` if below (N − 1)/3, else (N − 1)/3 with a warning (sklearn needs it below N)."""
    check_positive("perplexity", perplexity)
    limit = (n - 1) / 3.0
    if perplexity <= limit:
        return float(perplexity)
    warnings.warn(f"tsne: perplexity {perplexity:g} is too large for {n} points; using {limit:.3g} = (N - 1)/3",
                  stacklevel=3)
    return limit


def _preprocess(x: np.ndarray, pca_dim: int | None, seed: int) -> np.ndarray:
    """L2-normalised rows (a zero row stays zero), then PCA to ``pca_dim`` when D is larger."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    if pca_dim is None or x.shape[1] <= pca_dim:
        return x
    from sklearn.decomposition import PCA

    components = min(pca_dim, len(x))
    return PCA(n_components=components, svd_solver="full", random_state=seed).fit_transform(x)


def tsne_embedding(
    features: np.ndarray,
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    pca_dim: int | None = 50,
    threads: int | None = None,
) -> np.ndarray:
    """2-D t-SNE map (N, 2) float64 of features (N, D): L2-normalise, PCA to ``pca_dim``, t-SNE.

    sklearn's ``TSNE`` (Barnes-Hut, ``init="pca"``, ``random_state=seed``): the
    same input and seed give the same map (with a PCA start the seed barely
    matters). ``perplexity`` is clipped to (N − 1)/3, with a warning, for small
    N; fewer than 4 points is an error. ``threads`` caps t-SNE's OpenMP threads
    (``None``: all cores; on a busy machine ``1`` can be many times faster).
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = _check_features(features, "tsne")
    if pca_dim is not None and not is_int_at_least(pca_dim, 2):
        raise ArgumentError("pca_dim", f"expected an integer >= 2 (or None), got {pca_dim!r}")
    if threads is not None and not is_int_at_least(threads, 1):
        raise ArgumentError("threads", f"expected an integer >= 1 (or None), got {threads!r}")
    used = _perplexity_for(len(x), perplexity)
    reduced = _preprocess(x, pca_dim, seed)
    tsne = TSNE(n_components=2, perplexity=used, init="pca", learning_rate="auto", random_state=seed)
    with threadpool_limits(limits=threads):
        return np.asarray(tsne.fit_transform(reduced), dtype=np.float64)


def neighbourhood_agreement(embedding: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Mean over points of the fraction of its ``k`` nearest other points (Euclidean) that share its label.

    ``embedding`` (N, d), usually a 2-D map; ``labels`` (N,) ints; ``1 ≤ k < N``.
    A point is never its own neighbour.
    """
    from sklearn.neighbors import NearestNeighbors

    points = np.asarray(embedding, dtype=np.float64)
    if points.ndim != 2 or len(points) < 2 or not np.isfinite(points).all():
        raise VidsslError(f"neighbourhood agreement: expected finite points (N ≥ 2, d), got shape {points.shape}")
    y = _check_labels(labels, len(points), "neighbourhood agreement")
    if not 1 <= k < len(points):
        raise ArgumentError("k", f"expected a number of neighbours in [1, {len(points) - 1}] for {len(points)} points, "
                                 f"got {k}")
    neighbours = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)
    return float((y[neighbours] == y[:, None]).mean())


def silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """sklearn's silhouette score (Euclidean, in [−1, 1]) of features or of a map; needs 2 ≤ classes < N."""
    from sklearn.metrics import silhouette_score

    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise VidsslError(f"silhouette: expected finite points (N, d), got shape {x.shape}")
    y = _check_labels(labels, len(x), "silhouette")
    classes = len(np.unique(y))
    if not 2 <= classes < len(x):
        raise VidsslError(f"silhouette: needs 2 to N - 1 = {len(x) - 1} distinct labels, got {classes}")
    return float(silhouette_score(x, y))


def feature_maps(
    named_features: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    pca_dim: int | None = 50,
    k: int = 5,
    threads: int | None = None,
) -> dict[str, dict[str, Any]]:
    """t-SNE maps of several models' features, e.g. ``{"random init": (feats, labels), "pretrained": ...}``.

    Returns ``{name: {"embedding": (N, 2), "labels": (N,), "neighbour_agreement":
    float}}`` (agreement with ``k`` neighbours, :func:`neighbourhood_agreement`).
    Every model uses the same ``seed`` and settings (see :func:`tsne_embedding`).
    """
    if not named_features:
        raise VidsslError("feature maps: expected the features of at least one model, got none")
    maps: dict[str, dict[str, Any]] = {}
    for name, pair in named_features.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise VidsslError(f"feature maps: {name!r} must be a pair (features, labels)")
        features = _check_features(pair[0], f"feature maps {name!r}")
        labels = _check_labels(pair[1], len(features), f"feature maps {name!r}")
        embedding = tsne_embedding(features, seed=seed, perplexity=perplexity, pca_dim=pca_dim, threads=threads)
        maps[name] = {"embedding": embedding, "labels": labels,
                      "neighbour_agreement": neighbourhood_agreement(embedding, labels, k=k)}
    return maps
