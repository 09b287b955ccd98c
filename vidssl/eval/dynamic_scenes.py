"""Dynamic scene recognition: leave-one-out linear SVM on video features (STS §6.3).

Protocol (STS §6.3, following C3D; dataset and evaluation of Derpanis et al.,
"Dynamic scene understanding: the role of orientation features in space and
time in scene classification", CVPR 2012 — YUPENN, 420 videos of 14 scenes):

1. Each video is split into 16-frame clips overlapping by 8 frames
   (:func:`vidssl.data.sampling.sliding_clip_starts`, ``EvalClips(stride=8)``).
2. Each clip goes through the frozen backbone; a pooling layer's output is its
   feature. The video's feature is the average of its clip features.
3. The video features are L2-normalised (:func:`video_level_features`).
4. A linear SVM is trained on all videos but one and predicts the one left
   out, once per video (:func:`leave_one_out_svm`). Accuracy is the fraction
   of videos predicted right.
5. Steps 3-4 run for every pooling layer and the best layer is reported
   (:func:`dynamic_scene_recognition`; STS finds pool4 best for all backbones).

Data layout: the ``folder`` format, ``root/<scene>/<video file or frame
folder>``, read with ``vidssl.data.datasets.load_records("folder", root)``.
The folder lister ignores ``split`` (every video under ``root`` is listed),
which is what YUPENN needs: it has no train/test split.

Solver: scikit-learn's ``SVC`` on a precomputed linear kernel (the Gram matrix
``X Xᵀ``, computed once, sliced per fold). That is libsvm's C-SVC, the standard
linear SVM: hinge loss, unregularised bias, one-vs-one multi-class with
voting. It is deterministic (libsvm draws no random numbers without
``probability=True``) and solved to libsvm's tolerance 1e-3 without an
iteration cap. ``LinearSVC`` (liblinear, squared hinge, one-vs-rest) took
about 75 s for 420 × 512-d on this machine against about 5 s here, because
every fold re-solves 14 full-size problems while one-vs-one solves 91 small
ones on a kernel that is already computed.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.svm import SVC

from vidssl.checks import check_positive
from vidssl.errors import VidsslError
from vidssl.progress import progress_bar


def video_level_features(feats: np.ndarray) -> np.ndarray:
    """Rows of ``feats`` (num_videos, D) scaled to unit L2 norm, as float64; zero rows stay zero.

    Each row should already be the average of the video's clip features (as
    :func:`vidssl.eval.features.extract_features` returns them).
    """
    feats = _check_features(feats)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return feats / np.where(norms > 0, norms, 1.0)


def leave_one_out_svm(features: np.ndarray, labels: np.ndarray, *, C: float = 1.0, progress: bool = False) -> dict:
    """Train a linear SVM on all videos but one, predict that one; once per video.

    Args:
        features: (num_videos, D), used as given (normalise first with
            :func:`video_level_features`).
        labels: (num_videos,) class indices >= 0.
        C: SVM penalty (> 0).
        progress: show a bar over the folds.

    Returns:
        ``{"accuracy", "num_videos", "num_folds", "per_class_accuracy",
        "confusion", "predictions"}``; classes are ``0 .. max(labels)``,
        confusion rows are true classes, columns predicted ones, and a class
        without videos has per-class accuracy None.

    Raises:
        VidsslError: mismatched lengths, bad labels or C, or a fold whose
            training videos hold fewer than 2 classes.
    """
    return _leave_one_out(features, labels, C=C, progress=progress, desc="leave-one-out SVM")


def dynamic_scene_recognition(
    by_layer: Mapping[str, np.ndarray], labels: np.ndarray, *, C: float = 1.0, progress: bool = False
) -> dict:
    """L2-normalise and run :func:`leave_one_out_svm` for every layer; report the best one.

    Returns:
        ``{"layers": {name: result}, "best_layer": name, "accuracy": float}``;
        on a tie the first layer in ``by_layer`` order wins.
    """
    if not by_layer:
        raise VidsslError("by_layer: expected at least one layer of features, got none")
    results = {
        name: _leave_one_out(video_level_features(feats), labels, C=C, progress=progress, desc=f"LOO SVM {name}")
        for name, feats in by_layer.items()
    }
    best_layer = max(results, key=lambda name: results[name]["accuracy"])
    return {"layers": results, "best_layer": best_layer, "accuracy": results[best_layer]["accuracy"]}


def _leave_one_out(features: np.ndarray, labels: np.ndarray, *, C: float, progress: bool, desc: str) -> dict:
    features = _check_features(features)
    labels = _check_labels(labels, len(features))
    C = check_positive("C", C, finite=True)
    _check_every_fold_has_two_classes(labels)
    gram = features @ features.T
    predictions = np.empty(len(labels), dtype=np.int64)
    for left_out in progress_bar(range(len(labels)), enabled=progress, desc=desc, unit="fold"):
        predictions[left_out] = _predict_left_out(gram, labels, left_out, C)
    return _summary(labels, predictions)


def _predict_left_out(gram: np.ndarray, labels: np.ndarray, left_out: int, C: float) -> int:
    """Fit the SVM on every video but ``left_out`` (via the Gram matrix) and predict ``left_out``."""
    train = np.delete(np.arange(len(labels)), left_out)
    svm = SVC(C=C, kernel="precomputed")
    svm.fit(gram[np.ix_(train, train)], labels[train])
    return int(svm.predict(gram[left_out, train][None, :])[0])


def _summary(labels: np.ndarray, predictions: np.ndarray) -> dict:
    num_classes = int(labels.max()) + 1
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class_total = confusion.sum(axis=1)
    per_class_accuracy = [
        float(confusion[c, c] / per_class_total[c]) if per_class_total[c] else None for c in range(num_classes)
    ]
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "num_videos": len(labels),
        "num_folds": len(labels),
        "per_class_accuracy": per_class_accuracy,
        "confusion": confusion.tolist(),
        "predictions": predictions.tolist(),
    }


def _check_features(feats: np.ndarray) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise VidsslError(f"features: expected a non-empty (num_videos, D) array, got shape {feats.shape}")
    if not np.isfinite(feats).all():
        raise VidsslError("features: contain NaN or infinite values")
    return feats


def _check_labels(labels: np.ndarray, num_videos: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (num_videos,):
        raise VidsslError(f"labels: expected shape ({num_videos},) to match the features, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise VidsslError(f"labels: expected class indices >= 0, got dtype {labels.dtype} (min {labels.min()})")
    return labels.astype(np.int64)


def _check_every_fold_has_two_classes(labels: np.ndarray) -> None:
    """Leaving out the only video of a class removes that class from the training set."""
    counts = np.bincount(labels)
    num_classes = int(np.count_nonzero(counts))
    for left_out, label in enumerate(labels):
        training_classes = num_classes - int(counts[label] == 1)
        if training_classes < 2:
            raise VidsslError(
                f"labels: leaving out video {left_out} (class {label}) leaves {training_classes} class(es) "
                f"to train on; leave-one-out needs at least 2"
            )
