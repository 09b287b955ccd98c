"""Action recognition by finetuning a pretrained backbone (TransRank §5, appendix C.1).

A new fully-connected classifier (after dropout) goes on top of a copy of the
backbone; the whole network is trained on random augmented clips with
:func:`vidssl.engine.fit` (SGD, multi-step schedule: TransRank decays the
learning rate by 1/10 after 3/5 and 4/5 of the epochs; set it in ``cfg``).

Test protocol: ``clips.num_clips`` clips per test video placed as for retrieval
(:class:`vidssl.eval.features.EvalClipSampler`, centre crop).

- video accuracy: the softmax scores of the clips are averaged, then argmax
  (TransRank / mmaction2). VCOP's ``train_classify.py`` averages the logits
  instead; the two can differ when clips disagree.
- clip accuracy: every clip on its own.

``label_fraction < 1`` trains on a class-balanced subset of the training
videos (:func:`label_subset`), for label-efficiency curves.

Two streams (TransRank §5.3 "R + RD" rows, Table 7): each stream's backbone is
finetuned on its own; the per-video probabilities of both
(:class:`VideoProbs`, returned by :func:`finetune` as ``"video_probs"``) are
averaged, then argmax: :func:`fused_video_accuracy`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidssl.contracts import Backbone
from vidssl.data.datasets import VideoDataset, VideoRecord
from vidssl.data.sampling import clip_span, fit_to_video
from vidssl.data.transforms import ClipAugment, check_modality, frames_for_modality, to_model_input
from vidssl.engine import TrainConfig, fit
from vidssl.errors import VidsslError
from vidssl.eval.features import EvalClips, eval_loader, iterate_eval_batches, warn_invalid


class Classifier(nn.Module):
    """Backbone → dropout(p) → new ``nn.Linear(num_features, num_classes)``.

    :meth:`training_step` takes ``clips`` uint8 (B, C, T, H, W) (one clip per
    video, as :class:`TrainClipSampler` gives) and ``label`` long (B,).
    """

    def __init__(self, backbone: nn.Module, *, num_classes: int, dropout: float = 0.5, modality: str = "rgb"):
        super().__init__()
        self.modality = check_modality(modality)
        if num_classes < 2:
            raise VidsslError(f"finetune: num_classes must be at least 2, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise VidsslError(f"finetune.dropout: expected a probability in [0, 1), got {dropout}")
        self.backbone = backbone
        self.dropout = nn.Dropout(p=dropout)
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of float clips (B, C, T, H, W)."""
        return self.fc(self.dropout(self.backbone(x)))

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        return classification_step(self, batch)


class ClipClassifier(Protocol):
    """What :func:`classification_step` uses of a model (:class:`Classifier`, ``FrozenLinear``): its logits of
    float clips, and the modality it takes them in."""

    modality: str

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def classification_step(model: ClipClassifier, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy of ``model`` on ``batch["clips"]`` (uint8, in ``model.modality``) and ``batch["label"]``,
    with the batch accuracy as ``"acc"``."""
    logits = model(to_model_input(batch["clips"], model.modality))
    labels = batch["label"]
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.detach().argmax(dim=1) == labels).float().mean().item()
    return loss, {"acc": accuracy}


class TrainClipSampler:
    """One random augmented clip per video: ``{"clips": uint8 (C, T, H, W)}``.

    Start uniform on ``[0, num_frames − span]`` with ``span = (clip_len − 1)·interval + 1``,
    every ``interval``-th frame; a video shorter than the span starts at 0 and loops.
    """

    def __init__(self, *, clip_len: int = 16, interval: int = 1, augment: ClipAugment):
        self.span = clip_span(clip_len, interval)  # validates both
        self.clip_len = int(clip_len)
        self.interval = int(interval)
        self.augment = augment

    def clip_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Frame indices (clip_len,) of one random clip."""
        last_start = max(num_frames - self.span, 0)
        start = int(rng.integers(0, last_start + 1))
        indices = start + np.arange(self.clip_len, dtype=np.int64) * self.interval
        return fit_to_video(indices, num_frames, rule="loop")

    def __call__(self, record: VideoRecord, reader: Any, rng: np.random.Generator) -> dict:
        frames = reader.read(record.path, self.clip_indices(record.num_frames, rng))
        clip, _ = self.augment(frames, rng)
        return {"clips": clip}


def label_subset(records: Sequence[VideoRecord], fraction: float, seed: int) -> list[VideoRecord]:
    """A class-balanced subset: ``max(1, round(fraction · n_c))`` random videos of each class c.

    Rounding is half-up. Deterministic for a given ``seed``; the chosen records
    keep their original order. ``fraction = 1`` returns every record.
    """
    if not 0.0 < fraction <= 1.0:
        raise VidsslError(f"finetune.label_fraction: expected a number in (0, 1], got {fraction}")
    labels = np.array([r.label for r in records], dtype=np.int64)
    if (labels < 0).any():
        raise VidsslError("finetune: training videos must be labelled, found label -1")
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = max(1, int(np.floor(fraction * members.size + 0.5)))
        keep.extend(rng.permutation(members)[:count].tolist())
    return [records[i] for i in sorted(keep)]


def default_finetune_augment(
    size: int, *, scale: tuple[float, float] = (0.25, 1.0), flip_p: float = 0.5
) -> ClipAugment:
    """Finetuning augmentation: random resized crop (area 25–100 %) + horizontal flip, no colour changes.

    Milder than pretraining's (TransRank §4.4); pass ``augment=`` to change it.
    Set ``flip_p=0`` where a flip changes the class (left/right actions in
    Something-Something and SynthMotion).
    """
    return ClipAugment(size, scale=scale, flip_p=flip_p, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)


@dataclass(frozen=True)
class VideoProbs:
    """Class probabilities of test videos, one row per record, in order (softmax averaged over the clips).

    ``probs``: float32 (num_videos, num_classes), zeros where the video failed
    to decode; ``labels``: int64 (num_videos,); ``valid``: bool (num_videos,).
    Holds arrays: leave it out of JSON files.
    """

    probs: np.ndarray
    labels: np.ndarray
    valid: np.ndarray


def evaluate_classifier(
    model: nn.Module,
    records: Sequence[VideoRecord],
    reader: Any,
    clips: EvalClips = EvalClips(),
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
    return_probs: bool = False,
) -> dict[str, Any]:
    """Video accuracy (softmax averaged over ``clips.num_clips`` clips, then argmax) and clip accuracy.

    Videos that fail to decode are left out and counted in ``"skipped"``.
    With ``return_probs``, ``"video_probs"`` adds the :class:`VideoProbs` of
    every record (for fusing streams, :func:`fused_video_accuracy`).
    """
    loader = eval_loader(records, reader, clips, batch_size=batch_size, workers=workers, device=device)
    views = 0  # clips (x crops) per video: every view is one clip here
    video_correct = clip_correct = 0
    valid_all, probs_all, labels_all = [], [], []
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.inference_mode():
            for x, batch in iterate_eval_batches(
                loader, device=device, progress=progress, desc="test", modality=clips.modality
            ):
                valid = batch["valid"].to(device)
                labels = batch["label"].to(device)
                views = batch["clips"].shape[1]
                logits = model(x).float().view(labels.shape[0], views, -1)
                video_probs = logits.softmax(dim=-1).mean(dim=1)
                video_pred = video_probs.argmax(dim=-1)
                clip_hits = (logits.argmax(dim=-1) == labels[:, None]).sum(dim=1)
                video_correct += int(((video_pred == labels) & valid).sum())
                clip_correct += int(clip_hits[valid].sum())
                valid_all.append(batch["valid"])
                probs_all.append(video_probs.cpu())
                labels_all.append(batch["label"])
    finally:
        model.train(was_training)
    valid_mask = torch.cat(valid_all).numpy().astype(bool)
    warn_invalid(records, valid_mask, "finetune test")
    num_valid = int(valid_mask.sum())
    if num_valid == 0:
        raise VidsslError("finetune: every test video failed to decode")
    results: dict[str, Any] = {
        "video_acc": video_correct / num_valid,
        "clip_acc": clip_correct / (num_valid * views),
        "num_test_videos": num_valid,
        "skipped": len(records) - num_valid,
    }
    if return_probs:
        probs = torch.cat(probs_all).numpy()
        probs[~valid_mask] = 0.0
        labels = torch.cat(labels_all).numpy().astype(np.int64)
        results["video_probs"] = VideoProbs(probs=probs, labels=labels, valid=valid_mask)
    return results


def fused_video_accuracy(streams: Sequence[VideoProbs]) -> dict[str, Any]:
    """Video accuracy of several streams' averaged probabilities (TransRank §5.3 "R + RD", Table 7).

    Each video's clip-averaged softmax (:class:`VideoProbs`) is averaged over
    the streams, then argmax. All streams must cover the same test records in
    the same order; a video that failed to decode in any stream is left out.
    Returns ``{"video_acc", "num_test_videos", "skipped"}``.
    """
    if len(streams) == 0:
        raise VidsslError("fused finetune: expected the video probabilities of at least one stream, got none")
    first = streams[0]
    for i, stream in enumerate(streams[1:], start=1):
        if stream.probs.shape != first.probs.shape:
            raise VidsslError(
                f"fused finetune: stream {i} has probabilities of shape {stream.probs.shape}, expected "
                f"{first.probs.shape} like stream 0 (the same test videos and classes)"
            )
        if not np.array_equal(stream.labels, first.labels):
            raise VidsslError(f"fused finetune: stream {i} was tested on other videos (labels differ from stream 0's)")
    valid = np.logical_and.reduce([stream.valid for stream in streams])
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise VidsslError("fused finetune: no test video decoded in every stream")
    mean_probs = np.mean([stream.probs for stream in streams], axis=0)
    correct = mean_probs[valid].argmax(axis=1) == first.labels[valid]
    return {"video_acc": float(correct.mean()), "num_test_videos": num_valid, "skipped": int(len(valid) - num_valid)}


def finetune(
    backbone: nn.Module,
    train_records: Sequence[VideoRecord],
    test_records: Sequence[VideoRecord],
    reader: Any,
    *,
    num_classes: int,
    cfg: TrainConfig,
    run_dir: str | Path,
    clips: EvalClips = EvalClips(),
    augment: ClipAugment | None = None,
    dropout: float = 0.5,
    label_fraction: float = 1.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    test_batch_size: int = 8,
    workers: int = 2,
    resume: bool = False,
    progress: bool = True,
    curve_every: int = 0,
    return_model: bool = False,
) -> dict[str, Any]:
    """Finetune a deep copy of ``backbone`` with a new classifier, then test it.

    Training: :class:`TrainClipSampler` clips (augmentation ``augment``, by
    default :func:`default_finetune_augment`), ``vidssl.engine.fit`` with
    ``cfg`` (epochs, batch, optimiser, schedule) writing to ``run_dir``.
    Testing: :func:`evaluate_classifier` on ``test_records``. ``clips`` sets the
    clip length, stride, size and modality of both, and the number of test
    clips per video.

    Returns ``{"video_acc", "clip_acc", "num_test_videos", "skipped",
    "num_train_videos", "history", "video_probs"}``; ``history`` is ``fit``'s
    per-epoch rows, ``video_probs`` the test :class:`VideoProbs` (arrays: drop
    it before writing JSON; :func:`fused_video_accuracy` fuses streams with it).
    The caller's ``backbone`` is left untouched.

    ``curve_every = k > 0`` also tests after every k-th epoch (and the last), so
    ``history`` rows carry ``"test_video_acc"`` beside the training ``"acc"``:
    TransRank Fig. 2's training-versus-held-out curves. It is not used to pick
    a checkpoint. ``return_model`` adds the tuned :class:`Classifier` as ``"model"``.
    """
    train_subset = label_subset(train_records, label_fraction, seed) if label_fraction < 1.0 else list(train_records)
    if not train_subset:
        raise VidsslError("finetune: expected at least one training video, got none")
    labels = {r.label for r in train_subset} | {r.label for r in test_records}
    if min(labels) < 0 or max(labels) >= num_classes:
        raise VidsslError(
            f"finetune: labels must be in [0, {num_classes}) for num_classes={num_classes}, "
            f"found {min(labels)}..{max(labels)}"
        )
    with torch.random.fork_rng(devices=[]):
        # The new classifier layer's initial weights come from ``seed``, not from whatever drew from the
        # global RNG before: two calls with the same backbone and seed finetune identically.
        torch.manual_seed(seed)
        model = Classifier(copy.deepcopy(backbone), num_classes=num_classes, dropout=dropout, modality=clips.modality)
    sampler = TrainClipSampler(
        clip_len=frames_for_modality(clips.clip_len, clips.modality), interval=clips.interval,
        augment=augment or default_finetune_augment(clips.size),
    )
    dataset = VideoDataset(train_subset, reader, sampler, seed=seed)
    test = dict(device=device, batch_size=test_batch_size, workers=workers)
    val_fn = (
        test_curve(test_records, reader, clips, every=curve_every, epochs=cfg.epochs, **test) if curve_every else None
    )
    history = fit(model, dataset, cfg=cfg, run_dir=run_dir, resume=resume, val_fn=val_fn)
    results: dict[str, Any] = evaluate_classifier(
        model, test_records, reader, clips, device=device, batch_size=test_batch_size, workers=workers,
        progress=progress, return_probs=True,
    )
    results["num_train_videos"] = len(train_subset)
    results["history"] = history
    if return_model:
        results["model"] = model
    return results


def test_curve(
    records: Sequence[VideoRecord], reader: Any, clips: EvalClips, *, every: int, epochs: int, **test: Any
):
    """``val_fn`` for :func:`vidssl.engine.fit`: test video accuracy after every ``every``-th epoch and the last."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise VidsslError(f"finetune.curve_every: expected a non-negative integer of epochs, got {every!r}")

    def score(model: nn.Module, epoch: int) -> dict:
        if (epoch + 1) % every and epoch + 1 != epochs:
            return {}
        tested = evaluate_classifier(model, records, reader, clips, progress=False, **test)
        return {"test_video_acc": tested["video_acc"]}

    return score
