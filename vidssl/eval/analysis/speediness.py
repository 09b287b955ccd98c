"""Speediness of a trained TransRank model: the toy experiment of TransRank §4.1 (Figure 4, appendix B Figure 7).

A model trained with temporal transformations that include ``1x`` and ``2x``
gives each clip c_i the scores s_i1 (1×) and s_i2 (2×); its *speediness score*
is ``s_i2 − s_i1``. Clips are fed at 0.5×, 1×, 2× and 4× (0.5× and 4× unseen
in training): a model aware of speed orders the score distributions
0.5× < 1× < 2× < 4×.

Protocol (footnote 4, and the evaluation habits of :mod:`vidssl.eval.features`):

- speed n takes one frame every ``base_interval · n`` source frames (1, 2, 4,
  8 with base interval 2), with NO jitter (:func:`analysis_interval`);
- ``num_clips`` clips per video and speed, starts spread evenly over the
  video (:func:`vidssl.data.sampling.uniform_clip_starts`), short videos fitted
  by :func:`vidssl.data.sampling.fit_to_video`;
- each clip resized and centre-cropped (:class:`vidssl.data.transforms.EvalTransform`);
- a video that fails to decode is left out and counted.

Scores are normalised as in footnote 5 (:func:`normalize_speediness`: mean of
the 1× clips → 0, of the 2× clips → 1) and summarised per speed and per class
by :func:`summarize_speediness`; :func:`write_speediness_report` writes the
summary and both figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vidssl.data.datasets import VideoRecord
from vidssl.data.sampling import clip_span, scaled_interval
from vidssl.data.transforms import EvalTransform, frames_for_modality
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.eval.features import eval_clip_indices, ordered_loader, read_eval_clips, warn_invalid
from vidssl.eval.plots import plot_speediness, plot_speediness_per_class
from vidssl.fileio import write_json_atomic
from vidssl.progress import progress_bar

if TYPE_CHECKING:
    from vidssl.methods.transrank import TransRank

SPEEDS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Playback speeds of the toy experiment (TransRank Fig. 4); 0.5× and 4× are unseen in training."""

QUANTILES: tuple[int, ...] = (5, 25, 50, 75, 95)
"""Whiskers 5 %/95 %, box 25 %/75 %, median (Fig. 4 caption)."""


def speed_name(speed: float) -> str:
    """``0.5`` → ``"0.5x"``, ``2.0`` → ``"2x"``: the transformation names of :mod:`vidssl.data.sampling`."""
    return f"{float(speed):g}x"


def analysis_interval(speed: float, base_interval: int = 2) -> int:
    """Frame interval of speed n without jitter: ``round(base_interval · n)``, at least 1 (footnote 4)."""
    return scaled_interval(speed, base_interval=base_interval)


def analysis_clip_indices(
    num_frames: int,
    *,
    speed: float,
    clip_len: int,
    num_clips: int = 1,
    base_interval: int = 2,
    short_video: str = "loop",
) -> np.ndarray:
    """Frame indices (num_clips, clip_len) of the speed-n analysis clips of a video (footnote 4).

    The evaluation clips of :func:`vidssl.eval.features.eval_clip_indices` at
    interval d = :func:`analysis_interval`: clip k starts at
    ``uniform_clip_starts(num_frames, (clip_len − 1)·d + 1, num_clips)[k]`` and
    takes ``start + [0, d, …, (clip_len − 1)·d]``, mapped into the video by
    ``fit_to_video(…, short_video)``.
    """
    return eval_clip_indices(
        num_frames, num_clips=num_clips, clip_len=clip_len, interval=analysis_interval(speed, base_interval),
        short_video=short_video,
    )


class SpeedClipSampler:
    """Sampler of the analysis clips of a video at every speed: ``{"clips": uint8 (S·K, C, T, H, W)}``.

    Rows are speed-major: rows ``s·K … s·K + K − 1`` are the K clips of
    ``speeds[s]``. Deterministic (``rng`` unused); one ``reader.read`` per video.
    """

    def __init__(
        self,
        *,
        speeds: Sequence[float] = SPEEDS,
        num_clips: int = 4,
        clip_len: int = 16,
        base_interval: int = 2,
        short_video: str = "loop",
        transform: EvalTransform,
    ):
        if isinstance(num_clips, bool) or int(num_clips) != num_clips or num_clips < 1:
            raise VidsslError(f"speediness clips per video must be a positive integer, got {num_clips!r}")
        if not speeds:
            raise VidsslError("speediness speeds: expected at least one speed, got none")
        for speed in speeds:
            clip_span(clip_len, analysis_interval(speed, base_interval))  # validates every argument
        self.speeds = tuple(float(s) for s in speeds)
        self.num_clips = int(num_clips)
        self.clip_len = int(clip_len)
        self.base_interval = int(base_interval)
        self.short_video = short_video
        self.transform = transform

    def clip_indices(self, num_frames: int) -> np.ndarray:
        """Frame indices (S·K, clip_len) of every speed's clips, speed-major."""
        return np.concatenate([
            analysis_clip_indices(
                num_frames, speed=speed, clip_len=self.clip_len, num_clips=self.num_clips,
                base_interval=self.base_interval, short_video=self.short_video,
            )
            for speed in self.speeds
        ])

    def __call__(self, record: VideoRecord, reader: Any, rng: np.random.Generator | None = None) -> dict:
        if record.num_frames < 1:
            raise CorruptVideoError(f"{record.path}: video has no frames (num_frames={record.num_frames})")
        return {"clips": read_eval_clips(record, reader, self.clip_indices(record.num_frames), self.transform)}


def speediness_columns(transforms: Sequence[str]) -> tuple[int, int]:
    """Columns (i_1x, i_2x) of the temporal scores; the score of TransRank §4.1 needs both."""
    transforms = list(transforms)
    missing = [name for name in ("1x", "2x") if name not in transforms]
    if missing:
        raise VidsslError(
            f"method.transforms: the speediness score s_2x − s_1x needs '1x' and '2x' among the model's "
            f"transformations, got {transforms} (missing {', '.join(missing)})"
        )
    return transforms.index("1x"), transforms.index("2x")


@dataclass(frozen=True)
class SpeedinessScores:
    """Raw speediness scores ``s_2x − s_1x`` of every analysis clip of the videos that decoded.

    Flat per-clip arrays of equal length: ``scores`` float64, ``speeds`` float64
    (0.5, 1, 2, 4), ``labels`` int64 (the video's label), ``video_index`` int64
    (into the records). ``num_videos`` records were given, ``num_skipped`` of
    them failed to decode and have no clips.
    """

    scores: np.ndarray
    speeds: np.ndarray
    labels: np.ndarray
    video_index: np.ndarray
    num_videos: int
    num_skipped: int
    clips_per_video: int


def speediness_scores(
    method: TransRank,
    records: Sequence[VideoRecord],
    reader: Any,
    *,
    clip_len: int = 16,
    size: int = 112,
    resize_short: int = 128,
    base_interval: int = 2,
    speeds: Sequence[float] = SPEEDS,
    num_clips: int = 4,
    short_video: str = "loop",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
) -> SpeedinessScores:
    """Run a TransRank ``method`` over ``records`` at ``speeds``; per clip, ``s_2x − s_1x`` (TransRank §4.1).

    ``clip_len`` is the network's clip length (RGBDiff models get one more
    frame decoded, :func:`vidssl.data.transforms.frames_for_modality`).
    ``method`` needs ``transforms`` with ``1x`` and ``2x`` and ``scores(uint8
    (B, N, C, T, H, W)) → (B, N, M)``; it runs in eval mode under
    ``torch.inference_mode()`` on ``device`` and its mode is restored after.
    """
    i1, i2 = speediness_columns(method.transforms)
    sampler = SpeedClipSampler(
        speeds=speeds, num_clips=num_clips, clip_len=frames_for_modality(clip_len, method.modality),
        base_interval=base_interval, short_video=short_video,
        transform=EvalTransform(size, resize_short=resize_short),
    )
    clips_shape = (len(sampler.speeds) * sampler.num_clips, 3, sampler.clip_len, size, size)
    loader = ordered_loader(
        records, reader, sampler, clips_shape, batch_size=batch_size, workers=workers, device=device, what="speediness"
    )
    chunks, labels, valid = [], [], []
    was_training = method.training
    method.to(device).eval()
    try:
        with torch.inference_mode():
            for batch in progress_bar(loader, desc="speediness", enabled=progress, leave=False):
                scores = method.scores(batch["clips"].to(device, non_blocking=True)).float()
                chunks.append((scores[..., i2] - scores[..., i1]).cpu())
                labels.append(batch["label"])
                valid.append(batch["valid"])
    finally:
        method.train(was_training)
    return _flatten_valid(torch.cat(chunks).double().numpy(), torch.cat(labels).numpy(),
                          torch.cat(valid).numpy().astype(bool), records, sampler)


def _flatten_valid(
    per_video: np.ndarray,
    labels: np.ndarray,
    valid: np.ndarray,
    records: Sequence[VideoRecord],
    sampler: SpeedClipSampler,
) -> SpeedinessScores:
    """(V, S·K) scores of every record → flat per-clip arrays of the videos that decoded, failures counted."""
    warn_invalid(records, valid, "speediness")
    num_speeds, k = len(sampler.speeds), sampler.num_clips
    keep = np.flatnonzero(valid)
    clip_speeds = np.repeat(np.asarray(sampler.speeds, dtype=np.float64), k)
    return SpeedinessScores(
        scores=per_video[keep].reshape(-1),
        speeds=np.tile(clip_speeds, keep.size),
        labels=np.repeat(labels[keep].astype(np.int64), num_speeds * k),
        video_index=np.repeat(keep.astype(np.int64), num_speeds * k),
        num_videos=len(records),
        num_skipped=int((~valid).sum()),
        clips_per_video=k,
    )


def normalization_of(scores: np.ndarray, speeds: np.ndarray) -> tuple[float, float]:
    """(mean of the 1× clips, mean of the 2× clips): the two points footnote 5 maps to 0 and 1."""
    means = []
    for speed in (1.0, 2.0):
        chosen = scores[speeds == speed]
        if chosen.size == 0:
            raise VidsslError(f"speediness normalisation: no {speed_name(speed)} clips to average")
        means.append(float(chosen.mean()))
    if means[0] == means[1]:
        raise VidsslError(
            f"speediness normalisation: the mean scores of 1x and 2x clips are equal ({means[0]:.6g}), "
            "so no affine map sends them to 0 and 1"
        )
    return means[0], means[1]


def normalize_speediness(scores: np.ndarray, speeds: np.ndarray) -> np.ndarray:
    """Footnote 5: the affine map ``(s − mean_1x) / (mean_2x − mean_1x)`` — 1× clips average 0, 2× clips 1.

    If the 2× mean is below the 1× mean the slope is negative and the map
    reverses the order; judge the order on raw scores (:func:`speeds_ordered`).
    """
    mean_1x, mean_2x = normalization_of(scores, speeds)
    return (np.asarray(scores, dtype=np.float64) - mean_1x) / (mean_2x - mean_1x)


def distribution(values: np.ndarray) -> dict:
    """``count``, ``mean`` and the Fig. 4 quantiles ``p5 p25 p50 p75 p95`` of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    summary = {"count": int(values.size), "mean": float(values.mean())}
    summary.update({f"p{q}": float(v) for q, v in zip(QUANTILES, np.percentile(values, QUANTILES))})
    return summary


def speeds_ordered(medians: Sequence[float]) -> bool:
    """Whether the medians strictly increase from the slowest to the fastest speed."""
    return all(a < b for a, b in zip(medians, medians[1:]))


def summarize_speediness(result: SpeedinessScores, class_names: Sequence[str] | None = None) -> dict:
    """Per speed: raw and normalised distribution (:func:`distribution`); ``ordered`` on the raw medians;
    per class: raw distribution per speed (Fig. 7). JSON-ready."""
    speeds = sorted(set(result.speeds.tolist()))
    mean_1x, mean_2x = normalization_of(result.scores, result.speeds)
    normalized = normalize_speediness(result.scores, result.speeds)
    per_speed = {}
    for speed in speeds:
        chosen = result.speeds == speed
        per_speed[speed_name(speed)] = {"raw": distribution(result.scores[chosen]),
                                        "normalized": distribution(normalized[chosen])}
    medians = [per_speed[speed_name(s)]["raw"]["p50"] for s in speeds]
    return {
        "speeds": [speed_name(s) for s in speeds],
        "ordered": speeds_ordered(medians),
        "normalization": {"mean_1x": mean_1x, "mean_2x": mean_2x,
                          "formula": "(s_2x - s_1x - mean_1x) / (mean_2x - mean_1x)"},
        "per_speed": per_speed,
        "per_class": {name: {speed: distribution(values) for speed, values in by_speed.items()}
                      for name, by_speed in scores_by_class(result, class_names).items()},
        "num_videos": result.num_videos,
        "num_skipped": result.num_skipped,
        "clips_per_video": result.clips_per_video,
    }


def class_name(label: int, class_names: Sequence[str] | None) -> str:
    """The name of ``label``, or the label itself as text when there is no name (-1 = unlabelled)."""
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return "unlabelled" if label < 0 else str(label)


def scores_by_speed(result: SpeedinessScores, scores: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``{"0.5x": scores of its clips, …}`` in increasing speed; ``scores`` defaults to the raw ones."""
    scores = result.scores if scores is None else scores
    return {speed_name(s): scores[result.speeds == s] for s in sorted(set(result.speeds.tolist()))}


def scores_by_class(
    result: SpeedinessScores, class_names: Sequence[str] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """``{class name: {"0.5x": raw scores of its clips, …}}``, classes in label order (Fig. 7)."""
    speeds = sorted(set(result.speeds.tolist()))
    grouped = {}
    for label in sorted(set(result.labels.tolist())):
        of_class = result.labels == label
        grouped[class_name(label, class_names)] = {
            speed_name(s): result.scores[of_class & (result.speeds == s)] for s in speeds
        }
    return grouped


def write_speediness_report(
    result: SpeedinessScores, class_names: Sequence[str] | None, out_dir: Path, *, name: str, details: dict[str, Any]
) -> dict:
    """Summarise ``result`` into ``out_dir``: speediness.json (the summary, then ``details``), speediness.png
    (Fig. 4, normalised) and speediness_per_class.png (Fig. 7, raw); ``name`` goes into the figure titles.

    Returns the summary. A result without one scored clip is an error (every video failed to decode).
    """
    if result.scores.size == 0:
        raise VidsslError(f"speediness: every one of the {result.num_videos} videos failed to decode")
    summary = summarize_speediness(result, class_names)
    summary.update(details)
    write_json_atomic(out_dir / "speediness.json", summary, indent=2)
    normalized = normalize_speediness(result.scores, result.speeds)
    plot_speediness(scores_by_speed(result, normalized), out_dir / "speediness.png",
                    title=f"Speediness (normalised), {name}")
    plot_speediness_per_class(scores_by_class(result, class_names), out_dir / "speediness_per_class.png",
                              title=f"Speediness per class (unnormalised), {name}")
    return summary
