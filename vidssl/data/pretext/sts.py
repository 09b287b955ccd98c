"""STS sampler: one clip and its 27 spatio-temporal statistics labels (Wang et al., TPAMI 2021, §3–§4.2).

Per sample (a DataLoader worker runs all of it):

1. frame indices: the record's fixed clip (``clips="fixed"``: the UCF101
   protocol of non-overlapping 16-frame clips, :func:`fixed_clip_records`) or
   one random consecutive clip (``"random"``: the Kinetics protocol);
2. ONE ``reader.read`` of those frames, resized to ``resize`` (128×171);
3. flow between consecutive frames at that size: computed with
   :class:`vidssl.data.flow.FlowEstimator`, or read from pre-extracted flow
   frames under ``flow_root/<video name>/`` and resized (u, v scaled with it);
   cached on disk per clip when a ``flow_cache`` is given (flow does not depend
   on the crop or flip drawn later, so every epoch reuses it);
4. one random ``size``×``size`` crop and a horizontal flip with ``flip_p``,
   shared by frames and flow — a flip also negates u, which the official code
   forgets (ALGORITHMS.md STS §1.1, "Conventions");
5. the labels on exactly the crop the network sees
   (:func:`vidssl.data.statistics.sts_statistics`).

Returns ``clip`` uint8 (C, T, S, S), ``motion_labels`` long (14,),
``appearance_labels`` long (13,), ``difficulty`` float (f of eq. 6) and
``frame_indices`` long (T,). No colour jitter: the appearance labels describe
the colours the network is shown (the paper augments with crop and flip only).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vidssl.checks import ArgumentError, check_choice, check_int_at_least, check_probability
from vidssl.data.array_cache import ArrayCache, file_fingerprint
from vidssl.data.flow import (
    DEFAULT_FLOW,
    FLOW_BOUND,
    FLOW_TEMPLATE,
    FlowEstimator,
    check_flow_method,
    count_flow_frames,
    read_flow_frames,
    resize_flow,
)
from vidssl.data.pretext.clips import Reader, Record, check_has_frames, read_frames
from vidssl.data.sampling import FIT_RULES, fit_to_video, non_overlapping_clip_starts, random_clip_start
from vidssl.data.statistics import (
    APPEARANCE_LABELS,
    DOMINANT_COLOUR_RULES,
    STSStatistics,
    check_colour_bins,
    check_square_size,
    motion_label_specs,
    sts_statistics,
)
from vidssl.data.transforms import functional as F
from vidssl.errors import CorruptVideoError, VidsslError

CLIP_MODES = ("fixed", "random")
FLOW_CACHE_VERSION = 1


@dataclass(frozen=True)
class ClipRecord:
    """One fixed clip of a video: the video's path, label and frame count, and the clip's first frame."""

    path: str
    label: int
    num_frames: int
    start: int


def fixed_clip_records(records: Sequence[Any], *, clip_len: int) -> list[ClipRecord]:
    """Every non-overlapping ``clip_len``-frame clip of every video (STS §4.2), in record order.

    A video shorter than one clip gives one clip at frame 0 (its indices are then
    fitted by the sampler's ``short_video`` rule).
    """
    clips = []
    for record in records:
        for start in non_overlapping_clip_starts(max(int(record.num_frames), 1), clip_len=clip_len):
            clips.append(ClipRecord(record.path, int(record.label), int(record.num_frames), int(start)))
    return clips


@dataclass
class STSView:
    """One clip the way the network sees it, with its flow and statistics (for the sampler and for plots)."""

    frames: np.ndarray       # uint8 (T, S, S, 3) RGB
    flow: np.ndarray         # float32 (T−1, S, S, 2)
    statistics: STSStatistics
    indices: np.ndarray      # (T,) source frames
    top: int
    left: int
    flipped: bool


class STSSampler:
    """Sample a clip and compute its STS labels.

    Args:
        clip_len: T, frames per clip (16 in the paper).
        size: crop side S, a multiple of 8 (112 in the paper).
        resize: (h, w) every frame is resized to before cropping (128×171).
        flip_p: probability of a horizontal flip (0.5).
        clips: ``"fixed"`` (records are :class:`ClipRecord` s) or ``"random"``.
        flow: the on-the-fly method (:data:`vidssl.data.flow.FLOW_METHODS`).
        flow_root: folder of pre-extracted flow, one sub-folder per video named
            like the video without extension; None = compute flow.
        flow_bound, flow_template: quantisation bound and file names of those frames.
        flow_cache: an :class:`ArrayCache` for the computed flow of each clip, or None.
        dominant_colour: ``"bins"`` (paper) or ``"triplet"`` (official code).
        colour_bins: histogram bins per channel of the colour-diversity IoU (256 official).
        frame_source: what else decides the reader's pixels (reader kind, frame-cache size); part of
            the flow cache key, so flow computed from frames read another way is never reused.
        short_video: ``"loop"`` or ``"clamp"`` for videos shorter than a clip.

    Example::

        sampler = STSSampler(clip_len=16, size=112, resize=(128, 171))
        sample = sampler(record, reader, np.random.default_rng(0))
        sample["motion_labels"], sample["appearance_labels"]  # (14,), (13,) 0-based classes
    """

    def __init__(
        self,
        *,
        clip_len: int = 16,
        size: int = 112,
        resize: tuple[int, int] = (128, 171),
        flip_p: float = 0.5,
        clips: str = "random",
        flow: str = DEFAULT_FLOW,
        flow_root: str | None = None,
        flow_bound: float = FLOW_BOUND,
        flow_template: str = FLOW_TEMPLATE,
        flow_cache: ArrayCache | None = None,
        dominant_colour: str = "bins",
        colour_bins: int = 256,
        short_video: str = "loop",
        frame_source: dict | None = None,
    ) -> None:
        self.clip_len = check_int_at_least("clip_len", clip_len, 2)
        self.size = check_square_size(size)
        if resize is None or len(resize) != 2 or min(resize) < self.size:
            raise ArgumentError("resize", f"STS needs (h, w) of at least the crop size {self.size}, got {resize!r}")
        self.resize = (int(resize[0]), int(resize[1]))
        self.flip_p = check_probability("flip_p", flip_p)
        self.clips = check_choice("clips", clips, CLIP_MODES)
        self.short_video = check_choice("short_video", short_video, FIT_RULES)
        self.dominant_colour = check_choice("dominant_colour", dominant_colour, DOMINANT_COLOUR_RULES)
        if flow_root is not None and not Path(flow_root).is_dir():
            raise ArgumentError("flow_root", f"{flow_root} is not a folder of per-video flow frames")
        self.estimator = FlowEstimator(check_flow_method(flow, "flow"))
        self.flow_root, self.flow_bound, self.flow_template = flow_root, float(flow_bound), flow_template
        self.flow_cache = flow_cache
        self.colour_bins = check_colour_bins(colour_bins, "colour_bins")
        self.frame_source = dict(frame_source or {})

    def __repr__(self) -> str:
        return (
            f"STSSampler(clip_len={self.clip_len}, size={self.size}, resize={self.resize}, flip_p={self.flip_p}, "
            f"clips={self.clips!r}, flow={self.estimator.method!r}, flow_root={self.flow_root!r}, "
            f"flow_cache={self.flow_cache!r}, dominant_colour={self.dominant_colour!r}, colour_bins={self.colour_bins})"
        )

    # -- frame indices -------------------------------------------------------------------------

    def clip_indices(self, record: Record, rng: np.random.Generator | None) -> np.ndarray:
        """The clip's source frames: the record's fixed start, a random start, or (rng None) the centre clip."""
        num_frames = check_has_frames(record)
        if self.clips == "fixed":
            start = getattr(record, "start", None)
            if start is None:
                raise VidsslError("clips='fixed': records must be ClipRecords (see fixed_clip_records)")
        elif rng is None:
            start = max(num_frames - self.clip_len, 0) // 2
        else:
            start = random_clip_start(num_frames, clip_len=self.clip_len, rng=rng)
        return fit_to_video(np.arange(start, start + self.clip_len), num_frames, self.short_video)

    # -- flow ----------------------------------------------------------------------------------

    def clip_flow(self, record: Record, frames: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """(T−1, h, w, 2) flow of the resized clip: pre-extracted, cached, or computed now (and cached)."""
        if self.flow_root is not None:
            return self._extracted_flow(record, indices, self.flow_root)
        cache, description = self.flow_cache, None
        if cache is not None:
            description = {"version": FLOW_CACHE_VERSION, "source": file_fingerprint(record.path),
                           "frames": self.frame_source, "indices": indices, "resize": self.resize,
                           "flow": self.estimator.method}
            cached = cache.get(description)
            if cached is not None and cached.shape == (len(indices) - 1, *self.resize, 2):
                return cached.astype(np.float32)
        flow = self.estimator(frames)
        if cache is not None:  # label the stored (float16) copy, so a later hit gives the same labels
            stored = flow.astype(np.float16)
            cache.put(description, stored)
            return stored.astype(np.float32)
        return flow

    def _extracted_flow(self, record: Record, indices: np.ndarray, flow_root: str) -> np.ndarray:
        """Flow from frame i to i+1 is file pair i+1; pairs past the extracted ones repeat the last."""
        folder = Path(flow_root) / Path(record.path).stem
        available = count_flow_frames(folder, self.flow_template)
        if available < 1:
            raise CorruptVideoError(
                f"{folder}: no pre-extracted flow frames ({self.flow_template.format('x', 1)}, ...)"
            )
        pairs = np.minimum(indices[:-1], available - 1)
        flow = read_flow_frames(folder, pairs, bound=self.flow_bound, template=self.flow_template)
        return resize_flow(flow, *self.resize)

    # -- one view ------------------------------------------------------------------------------

    def view(self, record: Record, reader: Reader, rng: np.random.Generator | None) -> STSView:
        """Read, resize, flow, crop/flip and label one clip; ``rng=None`` = centre clip, centre crop, no flip."""
        indices = self.clip_indices(record, rng)
        frames = F.resize(read_frames(record, reader, indices), *self.resize)
        flow = self.clip_flow(record, frames, indices)
        height, width = self.resize
        if rng is None:
            top, left, flipped = (height - self.size) // 2, (width - self.size) // 2, False
        else:
            top = int(rng.integers(0, height - self.size + 1))
            left = int(rng.integers(0, width - self.size + 1))
            flipped = bool(self.flip_p > 0 and rng.random() < self.flip_p)
        frames = frames[:, top: top + self.size, left: left + self.size]
        flow = flow[:, top: top + self.size, left: left + self.size]
        if flipped:
            frames, flow = flip_frames_and_flow(frames, flow)
        frames, flow = np.ascontiguousarray(frames), np.ascontiguousarray(flow)
        statistics = sts_statistics(frames, flow, dominant_colour=self.dominant_colour, colour_bins=self.colour_bins)
        return STSView(frames, flow, statistics, indices, top, left, flipped)

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        view = self.view(record, reader, rng)
        return {
            "clip": F.to_clip_tensor(view.frames),
            "motion_labels": torch.from_numpy(view.statistics.motion_labels),
            "appearance_labels": torch.from_numpy(view.statistics.appearance_labels),
            "difficulty": torch.tensor(view.statistics.difficulty, dtype=torch.float32),
            "frame_indices": torch.from_numpy(view.indices.astype(np.int64)),
        }

    def scramble_targets(self, sample: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The negative control's targets (:class:`~vidssl.data.controls.ScrambledTargets`): every motion and
        appearance label drawn uniformly among its classes, whatever the clip shows."""
        motion = [spec.num_classes for spec in motion_label_specs(self.clip_len - 1)]
        appearance = [spec.num_classes for spec in APPEARANCE_LABELS]
        return {
            **sample,
            "motion_labels": torch.from_numpy(rng.integers(0, motion)).to(sample["motion_labels"].dtype),
            "appearance_labels": torch.from_numpy(rng.integers(0, appearance)).to(sample["appearance_labels"].dtype),
        }

    def difficulty(self, record: Record, reader: Reader) -> float:
        """f of eq. (6) of the record's clip (the centre clip in ``random`` mode), centre crop, no flip."""
        return self.view(record, reader, None).statistics.difficulty


def flip_frames_and_flow(frames: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror frames (T, H, W, 3) and flow (T−1, H, W, 2) left-right; the mirrored u points the other way.

    One ``cv2.flip`` per frame (5× faster than copying a reversed numpy view whose inner axes hold 2–3 values).
    """
    mirrored_frames = np.stack([cv2.flip(np.ascontiguousarray(frame), 1) for frame in frames])
    mirrored_flow = np.stack([cv2.flip(np.ascontiguousarray(field), 1) for field in flow])
    mirrored_flow[..., 0] *= -1
    return mirrored_frames, mirrored_flow
