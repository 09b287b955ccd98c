"""Per-video features from a frozen backbone: N evaluation clips per video, averaged.

Protocol (VCOP ``retrieve_clips.py``, ALGORITHMS.md §5.2; TransRank appendix B):

- ``num_clips`` clips of ``clip_len`` frames at stride ``interval``, placed by
  :func:`vidssl.data.sampling.uniform_clip_starts` (clip centres evenly spaced
  from the first to the last admissible centre); videos shorter than a clip
  loop (:func:`vidssl.data.sampling.fit_to_video`).
- each clip: resize the short side to ``resize_short``, centre crop ``size``
  (:class:`vidssl.data.transforms.EvalTransform`); normalised on the device
  with Kinetics mean/std (``normalize_on_device``; VCOP only scales to [0, 1]).
- each clip's feature at one or more backbone taps, pooled (``pooling``):
  ``"avg"`` global average over (T, H, W) (TransRank, 512-d for ``layer4``),
  ``"vcop"`` MaxPool3d kernel (1, 2, 2) stride (1, 2, 2) then flatten (VCOP,
  9216-d for R3D ``layer4`` at 16×112²); the ``pool`` tap is already pooled.
- the video's feature is the mean of its clips' features, with no L2
  normalisation before averaging.
- with ``stride`` set, the clips are instead every clip that fits, one every
  ``stride`` frames (STS §6.3–6.4: 16-frame clips overlapping by 8), so each
  video has its own number of clips; such videos are batched one at a time.

With a :class:`vidssl.eval.feature_cache.FeatureCache`, the features of one
(backbone weights, records, clips, layers, pooling) are computed once and read
back by every protocol that asks again.

Unlike :class:`vidssl.data.datasets.VideoDataset`, which replaces a corrupt
video with the next one, evaluation needs a row for every record in order: a
video that fails to decode gets zero clips, ``valid = False``, and is counted
in one warning. Callers drop it with ``Features.valid``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vidssl.checks import ArgumentError, check_choice, check_positive_int
from vidssl.contracts import Backbone, Record
from vidssl.data.datasets import LabelledRecord, VideoDataset, VideoRecord
from vidssl.data.sampling import clip_span, fit_to_video, sliding_clip_starts, uniform_clip_starts
from vidssl.data.transforms import EvalTransform, frames_for_modality, to_model_input
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.models import pool_features
from vidssl.progress import progress_bar

POOLINGS = ("avg", "vcop")


@dataclass(frozen=True)
class EvalClips:
    """How a video becomes evaluation clips and network input, shared by every protocol.

    ``num_clips`` clips of ``clip_len`` frames at stride ``interval`` (VCOP
    placement, :func:`eval_clip_indices`); each frame's short side resized to
    ``resize_short``, centre crop ``size``; ``modality`` ``rgb`` or ``rgbdiff``
    (one more frame decoded per clip for the differences). ``stride``: instead
    of ``num_clips`` clips, every clip that fits, starting every ``stride``
    frames (:func:`vidssl.data.sampling.sliding_clip_starts`). ``crops``: 1
    (centre) or 3 (along the long side: CORP's 10 clips × 3 crops); every
    crop of every clip counts as one clip of the video.
    """

    num_clips: int = 10
    clip_len: int = 16
    interval: int = 1
    size: int = 112
    resize_short: int = 128
    modality: str = "rgb"
    stride: int | None = None
    crops: int = 1


def eval_clip_indices(
    num_frames: int, *, num_clips: int, clip_len: int, interval: int, short_video: str = "loop",
    stride: int | None = None,
) -> np.ndarray:
    """Frame indices (num_clips, clip_len) of the evaluation clips of a video (VCOP rule).

    Clip i starts at ``uniform_clip_starts(num_frames, span, num_clips)[i]``
    with ``span = (clip_len − 1)·interval + 1`` and takes every ``interval``-th
    frame; indices past the end loop back to the start (or, with
    ``short_video="clamp"``, repeat the last frame). With ``stride``, the starts
    are ``sliding_clip_starts(num_frames, span, stride)`` and ``num_clips`` is unused.
    """
    span = clip_span(clip_len, interval)
    if stride is None:
        starts = uniform_clip_starts(num_frames, clip_len=span, num_clips=num_clips)
    else:
        starts = sliding_clip_starts(num_frames, clip_len=span, stride=stride)
    indices = starts[:, None] + np.arange(clip_len, dtype=np.int64)[None, :] * interval
    return fit_to_video(indices, num_frames, rule=short_video)


def read_eval_clips(record: Record, reader: Any, indices: np.ndarray, transform: EvalTransform) -> torch.Tensor:
    """The clips (N·crops, C, T, H, W) uint8 of ``indices`` (N, T): one ``reader.read``, then ``transform``.

    Resize + crop act frame by frame, so all clips are transformed at once as
    (C, N·T, H, W). With ``transform.crops = 3`` each clip gives three views,
    clip-major (clip 0's three crops first). A reader returning fewer frames
    than asked raises CorruptVideoError.
    """
    frames = reader.read(record.path, indices.reshape(-1))
    if len(frames) != indices.size:
        raise CorruptVideoError(f"{record.path}: reader returned {len(frames)} frames, expected {indices.size}")
    views = transform.views(frames)  # (crops, C, N·T, H, W)
    crops, c, _, h, w = views.shape
    views = views.reshape(crops, c, indices.shape[0], indices.shape[1], h, w).permute(2, 0, 1, 3, 4, 5)
    return views.reshape(indices.shape[0] * crops, c, indices.shape[1], h, w).contiguous()


class EvalClipSampler:
    """Sampler giving the ``num_clips`` evaluation clips of a video: ``{"clips": uint8 (N, C, T, H, W)}``.

    Same protocol as the pretext samplers: ``__call__(record, reader, rng)``;
    deterministic (``rng`` is unused). All frames come from one ``reader.read``.
    With ``stride``, N is the number of sliding clips of that video.
    """

    def __init__(
        self, *, num_clips: int = 10, clip_len: int = 16, interval: int = 1, transform: EvalTransform,
        stride: int | None = None,
    ):
        check_positive_int("num_clips", num_clips)
        if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride < 1):
            raise VidsslError(f"eval clip stride must be a positive integer or None, got {stride!r}")
        clip_span(clip_len, interval)  # validates clip_len and interval
        self.num_clips = int(num_clips)
        self.clip_len = int(clip_len)
        self.interval = int(interval)
        self.stride = stride
        self.transform = transform

    def __call__(self, record: VideoRecord, reader: Any, rng: np.random.Generator | None = None) -> dict:
        indices = eval_clip_indices(
            record.num_frames, num_clips=self.num_clips, clip_len=self.clip_len, interval=self.interval,
            stride=self.stride,
        )
        return {"clips": read_eval_clips(record, reader, indices, self.transform)}


class _ValidFlagSampler:
    """Wraps a sampler: on CorruptVideoError, zero clips of the same shape and ``valid = False``.

    Keeps one row per record, in order, for evaluation (see module docstring).
    """

    def __init__(self, sampler: Any, clips_shape: tuple[int, ...]):
        self.sampler = sampler
        self.clips_shape = clips_shape

    def __call__(self, record: VideoRecord, reader: Any, rng: np.random.Generator) -> dict:
        try:
            sample = dict(self.sampler(record, reader, rng))
            sample["valid"] = True
        except CorruptVideoError:
            sample = {"clips": torch.zeros(self.clips_shape, dtype=torch.uint8), "valid": False}
        return sample


def _one_thread_per_worker(worker_id: int) -> None:
    """DataLoader workers decode and resize with one thread each (torch and OpenCV)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def ordered_loader(
    records: Sequence[LabelledRecord],
    reader: Any,
    sampler: Any,
    clips_shape: tuple[int, ...],
    *,
    batch_size: int,
    workers: int,
    device: str | torch.device = "cpu",
    what: str = "evaluation",
) -> DataLoader:
    """DataLoader of ``{"clips" (B, *clips_shape) uint8, "label", "video_index", "valid"}``, one row per record
    in order.

    A video whose ``sampler`` raises CorruptVideoError gets zero clips of
    ``clips_shape`` and ``valid = False`` (module docstring); workers run one thread each.
    """
    if len(records) == 0:
        raise VidsslError(f"{what}: expected at least one video record, got none")
    dataset = VideoDataset(list(records), reader, _ValidFlagSampler(sampler, clips_shape))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,  # VCOP drops up to 7 trailing videos; we keep them all
        num_workers=workers,
        worker_init_fn=_one_thread_per_worker if workers > 0 else None,
        pin_memory=torch.device(device).type == "cuda",
    )


def eval_loader(
    records: Sequence[VideoRecord],
    reader: Any,
    clips: EvalClips,
    *,
    batch_size: int,
    workers: int,
    device: str | torch.device = "cpu",
) -> DataLoader:
    """DataLoader of ``{"clips" (B, N, C, T, H, W) uint8, "label", "video_index", "valid"}`` in record order.

    Sliding clips (``clips.stride``) differ in number per video: B is then 1
    (an undecodable video gets one zero clip).
    """
    clip_len = frames_for_modality(clips.clip_len, clips.modality)
    sampler = EvalClipSampler(
        num_clips=clips.num_clips,
        clip_len=clip_len,
        interval=clips.interval,
        transform=EvalTransform(size=clips.size, resize_short=clips.resize_short, crops=clips.crops),
        stride=clips.stride,
    )
    num_clips = clips.num_clips if clips.stride is None else 1
    clips_shape = (num_clips * clips.crops, 3, clip_len, clips.size, clips.size)
    if clips.stride is not None:
        batch_size = 1
    return ordered_loader(records, reader, sampler, clips_shape, batch_size=batch_size, workers=workers, device=device)


def iterate_eval_batches(
    loader: DataLoader, *, device: str | torch.device, progress: bool, desc: str, modality: str = "rgb"
) -> Iterator[tuple[torch.Tensor, dict]]:
    """Yield ``(float network input (B·N, C, T, H, W) on device, batch)`` for each batch of ``loader``."""
    for batch in progress_bar(loader, desc=desc, enabled=progress, leave=False):
        clips = batch["clips"].to(device, non_blocking=True)
        yield to_model_input(clips.flatten(0, 1), modality), batch


def warn_invalid(records: Sequence[Record], valid: np.ndarray, what: str) -> None:
    """One warning that counts the videos that failed to decode and names a few."""
    bad = np.flatnonzero(~valid)
    if bad.size:
        names = ", ".join(records[i].path for i in bad[:3]) + (" …" if bad.size > 3 else "")
        warnings.warn(
            f"{what}: {bad.size} of {len(records)} videos failed to decode and were left out ({names})",
            stacklevel=3,
        )


def pool_feature(tap: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool one tap's output to a (B, D) feature.

    ``(B, D)`` taps (``pool``, already average-pooled) pass through.
    ``(B, C, T, H, W)`` taps go through :func:`vidssl.models.pool_features`:
    ``"avg"`` = mean over (T, H, W); ``"vcop"`` = MaxPool3d kernel and stride
    (1, 2, 2), then flatten (ALGORITHMS.md §5.2). VCOP's retrieval feature is
    therefore ``layers=("layer4",), pooling="vcop"``.
    """
    check_choice("pooling", pooling, POOLINGS)
    if tap.ndim == 2:
        return tap
    return pool_features(tap, pooling)


@dataclass(frozen=True)
class Features:
    """Per-video features of a list of records, one row per record, in order.

    ``by_layer[name]``: float32 (num_videos, D); ``labels``: int64 (num_videos,);
    ``valid``: bool (num_videos,), False where the video failed to decode (its
    row is zeros and must be left out).
    """

    by_layer: dict[str, np.ndarray]
    labels: np.ndarray
    valid: np.ndarray

    @property
    def num_invalid(self) -> int:
        return int((~self.valid).sum())


def extract_features(
    backbone: nn.Module,
    records: Sequence[VideoRecord],
    reader: Any,
    clips: EvalClips = EvalClips(),
    *,
    layers: Sequence[str] = ("pool",),
    pooling: str = "avg",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
    cache: Any = None,
) -> Features:
    """Video features of ``records`` at the backbone taps ``layers``, clips as ``clips`` says (module docstring).

    The backbone is moved to ``device`` and run in eval mode under
    ``torch.inference_mode()``; its train/eval mode is restored afterwards.
    With ``cache`` (a :class:`vidssl.eval.feature_cache.FeatureCache`), layers
    already computed for the same weights, records, clips and pooling are read
    back, and only the missing ones are computed (then stored).
    """
    check_choice("pooling", pooling, POOLINGS)
    layers = tuple(dict.fromkeys(layers))
    if not layers:
        raise ArgumentError("layers", "expected at least one backbone tap, got none")
    if cache is None:
        return _compute_features(
            backbone, records, reader, clips, layers=layers, pooling=pooling, device=device,
            batch_size=batch_size, workers=workers, progress=progress,
        )
    description = cache.describe(backbone, records, reader, clips, pooling)
    found, flags = cache.load(description, layers)
    missing = tuple(name for name in layers if name not in found)
    if missing or flags is None:
        computed = _compute_features(
            backbone, records, reader, clips, layers=missing or layers, pooling=pooling, device=device,
            batch_size=batch_size, workers=workers, progress=progress,
        )
        cache.store(description, computed.by_layer, computed.labels, computed.valid)
        found.update(computed.by_layer)
        flags = (computed.labels, computed.valid)
    else:
        warn_invalid(records, flags[1], "feature extraction (cached)")
    labels, valid = flags
    return Features(by_layer={name: found[name] for name in layers}, labels=labels, valid=valid.astype(bool))


def _compute_features(
    backbone: nn.Module,
    records: Sequence[VideoRecord],
    reader: Any,
    clips: EvalClips,
    *,
    layers: tuple[str, ...],
    pooling: str,
    device: str | torch.device,
    batch_size: int,
    workers: int,
    progress: bool,
) -> Features:
    """:func:`extract_features` without the cache: one pass of the backbone over every record."""
    loader = eval_loader(records, reader, clips, batch_size=batch_size, workers=workers, device=device)
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    labels, valid = [], []
    tapped = cast(Backbone, backbone)  # every backbone meets the contract (tests/test_contracts.py)
    was_training = backbone.training
    backbone.to(device).eval()
    try:
        with torch.inference_mode():
            for x, batch in iterate_eval_batches(
                loader, device=device, progress=progress, desc="features", modality=clips.modality
            ):
                taps = tapped.forward_features(x, layers=layers)
                for name in layers:
                    per_clip = pool_feature(taps[name], pooling).float()
                    per_video = per_clip.view(batch["clips"].shape[0], batch["clips"].shape[1], -1).mean(dim=1)
                    chunks[name].append(per_video.cpu())
                labels.append(batch["label"])
                valid.append(batch["valid"])
    finally:
        backbone.train(was_training)
    valid_mask = torch.cat(valid).numpy().astype(bool)
    by_layer = {name: torch.cat(parts).numpy() for name, parts in chunks.items()}
    for feats in by_layer.values():
        feats[~valid_mask] = 0.0
    warn_invalid(records, valid_mask, "feature extraction")
    return Features(by_layer=by_layer, labels=torch.cat(labels).numpy().astype(np.int64), valid=valid_mask)
