"""``vidssl analyze``: look at what a run learned, or at the targets it learns from.

``speediness``: TransRank's toy experiment (§4.1, Figures 4 and 7) on a
pretraining run. The run's method (backbone + heads) is rebuilt from its
``config.yaml`` and ``checkpoints/last.pt``, scores clips of labelled videos at
0.5×, 1×, 2× and 4× with the run's pretraining clip geometry, and writes
``speediness.json``, ``speediness.png`` (Fig. 4) and ``speediness_per_class.png`` (Fig. 7).

``sts``: the visual check of the STS labels (Wang et al., TPAMI 2021, Fig. 9 and
§3.2–3.3) on one video: per clip a PNG of its frames, flow, motion boundaries and
every pattern's labels drawn where they point, and ``labels.json`` with all 27
labels by name.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
from torch import nn

from vidssl.cli import build
from vidssl.cli.commands import eval_data_config, load_run_config
from vidssl.config.schema import DataConfig, RunConfig
from vidssl.data.flow import DEFAULT_FLOW
from vidssl.data.pretext.sts import ClipRecord, STSSampler
from vidssl.data.sampling import non_overlapping_clip_starts
from vidssl.data.statistics import APPEARANCE_LABELS, COLOUR_NAMES, motion_label_specs
from vidssl.data.video import make_reader, probe, probe_frames
from vidssl.engine.checkpoint import load_checkpoint
from vidssl.engine.distributed import resolve_device
from vidssl.errors import VidsslError
from vidssl.eval.plots import plot_speediness, plot_speediness_per_class, plot_sts_clip
from vidssl.eval.speediness import (
    normalize_speediness,
    scores_by_class,
    scores_by_speed,
    speediness_scores,
    summarize_speediness,
)
from vidssl.fileio import make_output_dir, write_json_atomic

CHECKPOINT = Path("checkpoints") / "last.pt"


def resolve_run(run: str | Path) -> tuple[Path, Path, Path]:
    """(run folder, its config.yaml, the checkpoint) of RUN: a run folder, or a checkpoint ``.pt`` inside one.

    A checkpoint's config.yaml is next to it or in its parent's parent (``RUN/checkpoints/last.pt``).
    """
    path = Path(run)
    if path.is_dir():
        run_dir, checkpoint = path, path / CHECKPOINT
    elif path.is_file():
        checkpoint = path
        run_dir = next((p for p in (path.parent, path.parent.parent) if (p / "config.yaml").is_file()), path.parent)
    else:
        raise VidsslError(f"{path}: run not found (give a pretraining run folder or its checkpoints/last.pt)")
    config = run_dir / "config.yaml"
    if not config.is_file():
        raise VidsslError(f"{config}: config.yaml of the run not found (expected next to the checkpoint or in RUN/)")
    if not checkpoint.is_file():
        raise VidsslError(f"{checkpoint}: checkpoint not found (a pretraining run writes {CHECKPOINT})")
    return run_dir, config, checkpoint


def load_trained_method(cfg: RunConfig, checkpoint: Path) -> nn.Module:
    """The run's method (backbone and every head) with the weights of the checkpoint's ``"model"`` entry."""
    state = load_checkpoint(checkpoint)
    if "model" not in state:
        raise VidsslError(
            f"{checkpoint}: expected a training checkpoint with a 'model' entry (RUN/{CHECKPOINT}), "
            f"got keys {sorted(state)}"
        )
    backbone = build.build_model_backbone(cfg.model)
    method = build.build_method(
        cfg.method, backbone, modality=cfg.model.modality, view=cfg.view, clip_frames=cfg.clip.frames
    )
    try:
        method.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise VidsslError(f"{checkpoint}: weights do not fit the method of the run's config.yaml ({first})") from None
    return method


def analysis_data_config(
    cfg: RunConfig, *, data: str | None, fmt: str | None, annotations: str | None
) -> DataConfig:
    """The labelled videos to analyse: ``--data`` (in ``--format``, default the run's) or the run's downstream data."""
    base = eval_data_config(cfg)
    if data is None:
        if fmt is not None or annotations is not None:
            raise VidsslError("--format and --annotations describe --data; give --data ROOT too")
        return base
    return dataclasses.replace(base, format=fmt or base.format, root=data, annotations=annotations)


def analysis_resize_short(cfg: RunConfig) -> int:
    """Short side the analysis resizes to before the centre crop: the eval setting, at least the clip size."""
    return max(cfg.eval.resize_short, cfg.clip.size)


def run_speediness_scores(method: nn.Module, records, reader, cfg: RunConfig, *, clips: int = 4):
    """:func:`speediness_scores` with the run's pretraining clip geometry, device and loader settings."""
    return speediness_scores(
        method, records, reader,
        clip_len=cfg.clip.frames, size=cfg.clip.size, resize_short=analysis_resize_short(cfg),
        base_interval=cfg.clip.base_interval, num_clips=clips, short_video=cfg.clip.short_video,
        device=resolve_device(cfg.train.device), batch_size=cfg.eval.batch_size, workers=cfg.train.workers,
        progress=cfg.train.progress,
    )


def speediness_command(
    run: str | Path,
    *,
    data: str | None = None,
    fmt: str | None = None,
    annotations: str | None = None,
    split: str = "test",
    clips: int = 4,
    out: str | Path | None = None,
    overrides: list[str] = (),
) -> dict:
    """Score ``split`` of the data at 0.5×/1×/2×/4×; write speediness.json and both figures into ``out``.

    Returns the JSON summary (see :func:`vidssl.eval.speediness.summarize_speediness`).
    """
    run_dir, config, checkpoint = resolve_run(run)
    cfg = load_run_config(str(config), list(overrides))
    out_dir = make_output_dir(Path(out) if out is not None else run_dir / "analysis")  # fail before scoring
    method = load_trained_method(cfg, checkpoint)
    data_cfg = analysis_data_config(cfg, data=data, fmt=fmt, annotations=annotations)
    records, class_names = build.build_records(data_cfg, split=split)
    reader, records = build.build_reader(data_cfg, records)
    resize_short = analysis_resize_short(cfg)
    result = run_speediness_scores(method, records, reader, cfg, clips=clips)
    if result.scores.size == 0:
        raise VidsslError(f"speediness: every one of the {result.num_videos} videos failed to decode")
    summary = summarize_speediness(result, class_names)
    summary.update({
        "run": str(run_dir), "checkpoint": str(checkpoint), "transforms": list(method.transforms),
        "data": {"format": data_cfg.format, "root": data_cfg.root, "split": split},
        "clip": {"frames": cfg.clip.frames, "size": cfg.clip.size, "base_interval": cfg.clip.base_interval,
                 "resize_short": resize_short, "short_video": cfg.clip.short_video},
    })
    write_json_atomic(out_dir / "speediness.json", summary, indent=2)
    normalized = normalize_speediness(result.scores, result.speeds)
    plot_speediness(scores_by_speed(result, normalized), out_dir / "speediness.png",
                    title=f"Speediness (normalised), {run_dir.name}")
    plot_speediness_per_class(scores_by_class(result, class_names), out_dir / "speediness_per_class.png",
                              title=f"Speediness per class (unnormalised), {run_dir.name}")
    summary["out"] = str(out_dir)
    return summary


def format_speediness_table(summary: dict) -> str:
    """A markdown table (speed, clips, median, 5 %, 95 %, normalised median) and whether the order holds."""
    lines = ["| speed | clips | median | 5% | 95% | normalised median |", "|---|---|---|---|---|---|"]
    for speed in summary["speeds"]:
        raw, norm = summary["per_speed"][speed]["raw"], summary["per_speed"][speed]["normalized"]
        lines.append(
            f"| {speed} | {raw['count']} | {raw['p50']:.3f} | {raw['p5']:.3f} | {raw['p95']:.3f} | {norm['p50']:.2f} |"
        )
    order = " < ".join(summary["speeds"])
    lines.append(f"order {order} of the medians: {'holds' if summary['ordered'] else 'does NOT hold'}")
    norm = summary["normalization"]
    if norm["mean_2x"] < norm["mean_1x"]:
        lines.append("note: 2x clips score lower than 1x clips on average, so the normalised scale is flipped")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# vidssl analyze sts
# ---------------------------------------------------------------------------

STS_DEFAULT_CLIPS = 4
STS_OPTIONS = {"clip.frames": "--frames", "clip.size": "--size", "clip.resize": "--resize", "method.flow": "--flow",
               "method.colour_bins": "--colour-bins"}


def open_video(video: str | Path, *, frame_template: str = DataConfig.frame_template):
    """(number of frames, reader) of a video file (PyAV) or a frame folder (``frame_template`` files)."""
    path = Path(video)
    if path.is_dir():
        try:
            meta = probe_frames(path, frame_template)
        except VidsslError as err:
            raise VidsslError(f"{err} (--frame-template names a frame folder's files)") from None
        return meta.num_frames, make_reader("frames", template=frame_template)
    if not path.exists():
        raise VidsslError(f"{path}: video not found (give a video file or a folder of frame images)")
    return probe(path).num_frames, make_reader("pyav")


def sts_clip_starts(num_frames: int, *, clip_len: int, clips: int | None) -> list[int]:
    """First frames of the clips to show: ``clips`` (default 4) of the non-overlapping ``clip_len``-frame
    clips, spread evenly over the video when it has more."""
    starts = non_overlapping_clip_starts(num_frames, clip_len=clip_len)
    wanted = STS_DEFAULT_CLIPS if clips is None else clips
    if len(starts) > wanted:
        starts = starts[np.unique(np.round(np.linspace(0, len(starts) - 1, wanted)).astype(int))]
    return [int(s) for s in starts]


def sts_clip_entry(view, start: int, png: str, num_flows: int) -> dict:
    """One clip of labels.json: where it came from and its 27 labels by name (colours also by name)."""
    motion, appearance = view.statistics.motion, view.statistics.appearance
    colours = {spec.name: COLOUR_NAMES[int(value)]
               for spec, value in zip(APPEARANCE_LABELS, appearance.labels) if spec.kind == "colour"}
    return {
        "start": start,
        "frame_indices": [int(i) for i in view.indices],
        "crop": {"top": int(view.top), "left": int(view.left), "flipped": bool(view.flipped)},
        "difficulty": float(motion.difficulty),
        "motion": {spec.name: int(v) for spec, v in zip(motion_label_specs(num_flows), motion.labels)},
        "appearance": {spec.name: int(v) for spec, v in zip(APPEARANCE_LABELS, appearance.labels)},
        "colour_names": colours,
        "png": png,
    }


def sts_command(
    video: str | Path,
    *,
    out: str | Path | None = None,
    clips: int | None = None,
    frames: int = 16,
    size: int = 112,
    resize: tuple[int, int] = (128, 171),
    flow: str = DEFAULT_FLOW,
    colour_bins: int = 256,
    flip: bool = False,
    seed: int = 0,
    frame_template: str = DataConfig.frame_template,
) -> dict:
    """Draw the STS labels of up to ``clips`` clips of ``video``; write one PNG per clip and labels.json to ``out``.

    Clips are the video's non-overlapping ``frames``-frame clips (the UCF101
    protocol of STS §4.2), centre-cropped to ``size`` after resizing to ``resize``
    (h, w), unflipped; ``flip`` instead draws the crop and a flip with p = 0.5 from
    ``seed``, as in training. Labels are 0-based (the paper's are one more).
    Returns the labels.json content plus ``out``.
    """
    if clips is not None and (isinstance(clips, bool) or not isinstance(clips, int) or clips < 1):
        raise VidsslError(f"--clips: expected a positive number of clips, got {clips!r}")
    path = Path(video)
    num_frames, reader = open_video(path, frame_template=frame_template)
    out_dir = make_output_dir(Path(out) if out is not None else Path(f"sts_{path.stem if path.is_file() else path.name}"))
    if num_frames < frames:
        raise VidsslError(f"{path}: {num_frames} frames, shorter than one {frames}-frame clip (lower --frames)")
    try:
        sampler = STSSampler(clip_len=frames, size=size, resize=tuple(resize), flip_p=0.5 if flip else 0.0,
                             clips="fixed", flow=flow, colour_bins=colour_bins)
    except VidsslError as err:  # name the command's options, not the config keys of pretraining
        message = str(err)
        for key, option in STS_OPTIONS.items():
            message = re.sub(rf"{re.escape(key)}(?!\w)", option, message)
        raise VidsslError(message) from None
    rng = np.random.default_rng(seed) if flip else None
    entries = []
    for number, start in enumerate(sts_clip_starts(num_frames, clip_len=frames, clips=clips)):
        view = sampler.view(ClipRecord(str(path), 0, num_frames, start), reader, rng)
        png = f"clip{number:02d}_frames{start:05d}-{start + frames - 1:05d}.png"
        crop = (f"random crop at ({view.top}, {view.left}), {'flipped' if view.flipped else 'not flipped'}" if flip
                else f"centre crop at ({view.top}, {view.left})")
        plot_sts_clip(
            view.frames, view.flow, view.statistics, out_dir / png, frame_numbers=view.indices,
            title=f"{path.name}: clip {number}, video frames {start}–{start + frames - 1}, "
                  f"resized {resize[0]}×{resize[1]}, {crop} of {size}×{size}, flow {flow}",
        )
        entries.append(sts_clip_entry(view, start, png, frames - 1))
    summary = {
        "video": str(path), "num_frames": num_frames, "clip_len": frames, "size": size,
        "resize": [int(resize[0]), int(resize[1])], "flow": flow, "flip": flip, "seed": seed if flip else None,
        "iou_colour_bins": colour_bins,
        "labels": "0-based class indices (the paper counts from 1); colours in colour_names by name",
        "colour_names_by_bin": list(COLOUR_NAMES),
        "clips": entries,
    }
    write_json_atomic(out_dir / "labels.json", summary, indent=2)
    summary["out"] = str(out_dir)
    return summary
