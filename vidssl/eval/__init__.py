"""Evaluation protocols that rely only on the backbone contract.

- :mod:`vidssl.eval.features`: N clips per video → per-video features at any tap.
- :mod:`vidssl.eval.retrieval`: cosine top-k retrieval recall (R@k), one or two modalities.
- :mod:`vidssl.eval.finetune`: new classifier on a copy of the backbone; clip and video accuracy.
- :mod:`vidssl.eval.plots`: PNG figures of curves, recalls and accuracies.
"""

from vidssl.eval.features import EvalClips, EvalClipSampler, Features, extract_features
from vidssl.eval.finetune import Classifier, TrainClipSampler, evaluate_classifier, finetune, label_subset
from vidssl.eval.plots import plot_accuracy_bars, plot_curves, plot_recall_bars
from vidssl.eval.retrieval import (
    evaluate_retrieval,
    retrieval_recall,
    retrieval_recall_multi,
    similarity_topk,
)

__all__ = [
    "Classifier",
    "EvalClipSampler",
    "EvalClips",
    "Features",
    "TrainClipSampler",
    "evaluate_classifier",
    "evaluate_retrieval",
    "extract_features",
    "finetune",
    "label_subset",
    "plot_accuracy_bars",
    "plot_curves",
    "plot_recall_bars",
    "retrieval_recall",
    "retrieval_recall_multi",
    "similarity_topk",
]
