"""Action similarity labelling on ASLAN (STS §6.4, after Kliper-Gross, Hassner & Wolf, TPAMI 2012 [76]).

STS §6.4: every video's clip features (16-frame clips, 8 frames overlapped)
are averaged per layer (pool3, pool4, pool5) and L2-normalised; each pair of
videos then gets "12 different distances for each feature as described in
[76]", the per-layer blocks are concatenated (36-d for three layers), every
column is normalised to zero mean and unit variance, and a linear SVM is
scored by "10-fold leave-one-out cross validation" (ASLAN View-2: train on 9
splits, test on the held-out one, mean ± std accuracy over the 10 folds).
Extracting the features is the caller's job; this module starts from
per-video features (:func:`action_similarity`).

This is the project's reading; the ASLAN distribution and its devkit could not
be checked, so none of the choices below is verified against them.

**The 12 (dis)similarities** (:func:`pair_measures`, columns in
:data:`MEASURE_NAMES` order): six measures on the vectors ``a``, ``b``, then the
same six on their signed square roots ``sign(x)·sqrt(|x|)`` (the Hellinger
mapping ASLAN's baselines use on histogram-like descriptors; for non-negative
ReLU features it is the plain square root):

- ``dot``: Σ a·b
- ``l1``: Σ |a − b|
- ``euclidean``: sqrt(Σ (a − b)²)
- ``chi2``: Σ (a − b)² / (|a| + |b|), a term 0/0 counted as 0
- ``intersection``: Σ min(a, b)
- ``cosine``: a·b / (‖a‖‖b‖), 0 when either vector is zero

On L2-normalised vectors ``dot`` equals ``cosine``; the redundant column is
kept so there are 12 per layer as in STS (a linear SVM is unaffected).

**Files**: the View-2 split files are read by :func:`vidssl.data.aslan.read_aslan_pairs`;
:func:`pairs_from_labels` draws pairs of the same form from any labelled dataset.

**Protocol** (:func:`ten_fold_svm`): for each fold, columns are z-scored with
the mean and std of the other folds' pairs only (a column constant there is
only centred), ``sklearn.svm.LinearSVC(C, loss="squared_hinge",
dual=False, tol=1e-4, max_iter=10_000, random_state=0)`` is trained on them
(the primal solver has no random step, so results depend only on the data)
and predicts the held-out fold. ``std`` is the sample std (ddof 1) of the fold
accuracies and ``stderr`` = std/√folds, the estimates of the LFW protocol that
ASLAN follows (from memory, not checked). ROC AUC and the ROC curve come from
the SVM decision values pooled over the held-out folds.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.checks import check_int_at_least
from vidssl.data.aslan import (
    NUM_SPLITS,
    AslanPairs,
    read_aslan_pairs,  # noqa: F401  (kept for recipes.protocols.runners, which calls it here)
)
from vidssl.errors import VidsslError

BASE_MEASURES = ("dot", "l1", "euclidean", "chi2", "intersection", "cosine")
MEASURE_NAMES = BASE_MEASURES + tuple(f"sqrt_{name}" for name in BASE_MEASURES)
"""The 12 columns of :func:`pair_measures`: six measures on the vectors, then on their signed square roots."""
ROC_POINTS = 200
_NAMES_SHOWN = 3


# ---------------------------------------------------------------------------
# The 12 (dis)similarities
# ---------------------------------------------------------------------------


def signed_sqrt(x: np.ndarray) -> np.ndarray:
    """sign(x)·sqrt(|x|), element-wise (the Hellinger mapping)."""
    return np.sign(x) * np.sqrt(np.abs(x))


def _six_measures(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P, 6) dot, l1, euclidean, chi2, intersection, cosine of the rows of a and b (P, D)."""
    diff = a - b
    dot = np.einsum("pd,pd->p", a, b)
    mass = np.abs(a) + np.abs(b)
    chi2_terms = np.divide(diff**2, mass, out=np.zeros_like(diff), where=mass > 0)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)
    return np.stack(
        [dot, np.abs(diff).sum(1), np.sqrt((diff**2).sum(1)), chi2_terms.sum(1), np.minimum(a, b).sum(1), cosine],
        axis=1,
    )


def pair_measures(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 12 (dis)similarities (P, 12) of each row pair of ``a``, ``b`` (P, D), columns as :data:`MEASURE_NAMES`.

    Example: ``pair_measures(np.eye(3)[:1], np.array([[0.6, 0.8, 0.0]]))[0, 0]`` is the dot product 0.6.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise VidsslError(f"pair_measures: expected two (P, D) arrays of one shape, got {a.shape} and {b.shape}")
    return np.concatenate([_six_measures(a, b), _six_measures(signed_sqrt(a), signed_sqrt(b))], axis=1)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


# ---------------------------------------------------------------------------
# Pair features and the 10-fold SVM
# ---------------------------------------------------------------------------


def _check_features(by_layer: dict[str, np.ndarray], pairs: np.ndarray) -> None:
    if not by_layer:
        raise VidsslError("action similarity: expected features of at least one layer, got none")
    counts = {name: np.shape(feats) for name, feats in by_layer.items()}
    for name, shape in counts.items():
        if len(shape) != 2:
            raise VidsslError(f"action similarity: layer {name!r} features must be (videos, D), got shape {shape}")
        if not np.isfinite(by_layer[name]).all():
            raise VidsslError(f"action similarity: layer {name!r} features hold NaN or infinite values")
    if len({shape[0] for shape in counts.values()}) > 1:
        raise VidsslError(f"action similarity: layers disagree on the number of videos: {counts}")
    num_videos = next(iter(counts.values()))[0]
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise VidsslError(f"action similarity: pairs must be (P, 2) video indices, got shape {pairs.shape}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_videos):
        raise VidsslError(f"action similarity: pair indices must lie in 0..{num_videos - 1}")


def similarity_features(by_layer: dict[str, np.ndarray], pairs: AslanPairs | np.ndarray) -> np.ndarray:
    """(P, 12·layers) pair features: per layer (in dict order) L2-normalise the (V, D) video features, then
    :func:`pair_measures` of each pair; ``pairs`` is an :class:`AslanPairs` or (P, 2) video indices."""
    index = np.asarray(pairs.pairs if isinstance(pairs, AslanPairs) else pairs)
    _check_features(by_layer, index)
    blocks = []
    for feats in by_layer.values():
        unit = l2_normalise(feats)
        blocks.append(pair_measures(unit[index[:, 0]], unit[index[:, 1]]))
    return np.concatenate(blocks, axis=1)


def leave_one_fold_out(fold: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(fold id, training rows, test rows) for each distinct fold id in increasing order."""
    fold = np.asarray(fold)
    for k in np.unique(fold):
        yield int(k), np.flatnonzero(fold != k), np.flatnonzero(fold == k)


def zscore_by_training(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both splits standardised with the training split's column mean/std; a constant column is only centred."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return (train - mean) / scale, (test - mean) / scale


def linear_svm(C: float) -> Any:
    """The deterministic ``sklearn.svm.LinearSVC`` of the protocol (module docstring)."""
    from sklearn.svm import LinearSVC  # sklearn takes ~1.5 s to import; only this protocol needs it

    return LinearSVC(C=C, loss="squared_hinge", dual=False, tol=1e-4, max_iter=10_000, random_state=0)


def _check_protocol_inputs(x: np.ndarray, same: np.ndarray, fold: np.ndarray, C: float) -> None:
    if x.ndim != 2 or len(same) != len(x) or len(fold) != len(x):
        raise VidsslError(f"ten-fold SVM: expected x (P, F), same (P,), fold (P,), got {x.shape}, {same.shape}, "
                          f"{fold.shape}")
    if not np.isfinite(x).all():
        raise VidsslError("ten-fold SVM: pair features hold NaN or infinite values")
    if not C > 0:
        raise VidsslError(f"ten-fold SVM: C must be positive, got {C!r}")
    if len(np.unique(fold)) < 2:
        raise VidsslError(f"ten-fold SVM: need at least 2 folds, got {len(np.unique(fold))}")


def _downsampled(fpr: np.ndarray, tpr: np.ndarray, points: int = ROC_POINTS) -> dict[str, list[float]]:
    """At most ``points`` evenly spaced points of the ROC curve, both ends kept."""
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(points, len(fpr))).round().astype(int))
    return {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}


def ten_fold_svm(x: np.ndarray, same: np.ndarray, fold: np.ndarray, *, C: float = 1.0) -> dict[str, Any]:
    """Leave-one-fold-out linear SVM on pair features ``x`` (P, F) with labels ``same`` (P,) (module docstring).

    Returns ``accuracy`` (mean over folds), ``std``, ``stderr``,
    ``fold_accuracies``, pooled ``auc`` and ``roc`` {"fpr", "tpr"},
    ``num_pairs`` and ``num_folds``.
    """
    x = np.asarray(x, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    fold = np.asarray(fold)
    _check_protocol_inputs(x, same, fold, C)
    scores = np.zeros(len(x))
    accuracies = []
    for k, train, test in leave_one_fold_out(fold):
        if same[train].all() or not same[train].any():
            raise VidsslError(f"ten-fold SVM: the training folds of fold {k} hold only one label")
        train_x, test_x = zscore_by_training(x[train], x[test])
        svm = linear_svm(C).fit(train_x, same[train].astype(np.int64))
        scores[test] = svm.decision_function(test_x)
        accuracies.append(float(np.mean((scores[test] > 0) == same[test])))
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(same, scores)
    std = float(np.std(accuracies, ddof=1))
    return {
        "accuracy": float(np.mean(accuracies)),
        "std": std,
        "stderr": std / np.sqrt(len(accuracies)),
        "fold_accuracies": accuracies,
        "auc": float(roc_auc_score(same, scores)),
        "roc": _downsampled(fpr, tpr),
        "num_pairs": int(len(x)),
        "num_folds": len(accuracies),
    }


def action_similarity(by_layer: dict[str, np.ndarray], pairs: AslanPairs, *, C: float = 1.0) -> dict[str, Any]:
    """The STS §6.4 protocol on per-video features ``by_layer[name]`` (V, D), rows in ``pairs.videos`` order.

    All layers' 12 measures together (36-d for three layers), plus each layer
    alone under ``"layers"`` for comparison.
    """
    for name, feats in by_layer.items():
        if len(feats) != len(pairs.videos):
            raise VidsslError(f"action similarity: layer {name!r} has {len(feats)} videos, the pairs list "
                              f"{len(pairs.videos)}")
    x = similarity_features(by_layer, pairs)
    result = ten_fold_svm(x, pairs.same, pairs.fold, C=C)
    result["feature_names"] = [f"{layer}/{measure}" for layer in by_layer for measure in MEASURE_NAMES]
    result["layers"] = {}
    for column, name in enumerate(by_layer):
        alone = ten_fold_svm(x[:, 12 * column: 12 * (column + 1)], pairs.same, pairs.fold, C=C)
        result["layers"][name] = {"accuracy": alone["accuracy"], "std": alone["std"], "auc": alone["auc"]}
    return result


# ---------------------------------------------------------------------------
# Pairs drawn from any labelled dataset (when ASLAN itself is not at hand)
# ---------------------------------------------------------------------------


def _fold_members(labels: np.ndarray, folds: int, rng: np.random.Generator) -> tuple[list[np.ndarray], str]:
    """Video indices of each fold: disjoint class groups when there are ≥ 2 classes per fold, else disjoint videos."""
    classes = np.unique(labels)
    if classes.size >= 2 * folds:
        groups = np.array_split(rng.permutation(classes), folds)
        return [np.flatnonzero(np.isin(labels, group)) for group in groups], "classes"
    assignment = np.empty(len(labels), dtype=np.int64)
    for offset, c in enumerate(classes):  # each class dealt round-robin over the folds, from a shifted start
        members = rng.permutation(np.flatnonzero(labels == c))
        assignment[members] = (offset + np.arange(members.size)) % folds
    return [np.flatnonzero(assignment == k) for k in range(folds)], "videos"


def _draw_pairs(members: np.ndarray, labels: np.ndarray, half: int, rng: np.random.Generator, fold: int):
    """Up to ``half`` same-class and ``half`` different-class pairs of ``members``, without repeats."""
    i, j = np.triu_indices(members.size, k=1)
    a, b = members[i], members[j]
    same = labels[a] == labels[b]
    picked = []
    for wanted in (True, False):
        candidates = np.flatnonzero(same == wanted)
        if candidates.size == 0:
            kind = "same-class" if wanted else "different-class"
            raise VidsslError(
                f"action similarity: fold {fold} has no {kind} pair of videos (too few videos or classes)"
            )
        picked.append(rng.choice(candidates, min(half, candidates.size), replace=False))
    chosen = np.concatenate(picked)
    return np.stack([a[chosen], b[chosen]], axis=1), same[chosen]


def pairs_from_labels(
    labels: np.ndarray, paths: list[str], *, pairs_per_fold: int = 60, seed: int = 0, folds: int = NUM_SPLITS
) -> tuple[AslanPairs, str]:
    """ASLAN-style View-2 pairs over any labelled videos: ``folds`` splits of half same, half not-same pairs.

    With at least two classes per fold, each fold's pairs come from its own
    group of classes (ASLAN's never-before-seen actions); otherwise from its
    own videos, every class spread over all folds (unseen videos, seen
    classes). Returns the pairs (``videos = paths``) and which of
    ``"classes"`` / ``"videos"`` the folds keep apart. Deterministic for ``seed``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(paths):
        raise VidsslError(f"action similarity: {len(labels)} labels for {len(paths)} videos")
    if (labels < 0).any():
        raise VidsslError("action similarity: every video must be labelled, found label -1")
    check_int_at_least("pairs_per_fold", pairs_per_fold, 2)
    rng = np.random.default_rng(seed)
    members, kept_apart = _fold_members(labels, folds, rng)
    pairs, same, fold = [], [], []
    for k, fold_members in enumerate(members):
        fold_pairs, fold_same = _draw_pairs(fold_members, labels, pairs_per_fold // 2, rng, k)
        pairs.append(fold_pairs)
        same.append(fold_same)
        fold.append(np.full(len(fold_pairs), k, dtype=np.int64))
    return AslanPairs(videos=list(paths), pairs=np.concatenate(pairs), same=np.concatenate(same),
                      fold=np.concatenate(fold)), kept_apart


def probe_pair_videos(videos: list[str], *, frame_template: str = "img_{:05d}.jpg") -> list[Any]:
    """Unlabelled :class:`VideoRecord` s of ``videos`` in that order (row i of the features = video i).

    Probed through the dataset index (cached next to the first video's folder
    unless ``$VIDSSL_CACHE`` says otherwise); a video that cannot be probed is
    an error, since dropping it would silently drop its pairs.
    """
    from vidssl.data.datasets import VideoRecord, index_path_for, probe_all

    if not videos:
        raise VidsslError("action similarity: no videos to probe")
    root = Path(os.path.commonpath([str(Path(v).parent) for v in videos]))
    metas, failures = probe_all(videos, index_path_for(None, root), frame_template, True)
    if failures:
        first = ", ".join(list(failures)[:_NAMES_SHOWN])
        raise VidsslError(f"action similarity: {len(failures)} pair videos could not be read ({first})")
    return [VideoRecord(v, -1, metas[v].num_frames, metas[v].fps, metas[v].height, metas[v].width) for v in videos]
