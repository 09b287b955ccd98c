"""Evaluation protocols that rely only on the backbone contract.

- :mod:`vidssl.eval.features`: N clips per video → per-video features at any tap.
- :mod:`vidssl.eval.retrieval`: cosine top-k retrieval recall (R@k), one or two modalities.
- :mod:`vidssl.eval.finetune`: new classifier on a copy of the backbone; clip and video accuracy; stream fusion.

The other protocols (linear probe, temporal tasks, action similarity, dynamic
scenes, speediness, feature maps) are imported from their modules, and so are
the figures: :mod:`vidssl.eval.plots` needs matplotlib, which importing this
package never loads.
"""

from vidssl.eval.features import EvalClips, EvalClipSampler, Features, extract_features
from vidssl.eval.finetune import (
    Classifier,
    TrainClipSampler,
    VideoProbs,
    evaluate_classifier,
    finetune,
    fused_video_accuracy,
    label_subset,
)
from vidssl.eval.retrieval import (
    evaluate_retrieval,
    evaluate_retrieval_streams,
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
    "VideoProbs",
    "evaluate_classifier",
    "evaluate_retrieval",
    "evaluate_retrieval_streams",
    "extract_features",
    "finetune",
    "fused_video_accuracy",
    "label_subset",
    "retrieval_recall",
    "retrieval_recall_multi",
    "similarity_topk",
]
