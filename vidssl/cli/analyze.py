"""``vidssl analyze speediness``: TransRank's toy experiment (§4.1, Figures 4 and 7) on a pretraining run.

The run's method (backbone + heads) is rebuilt from its ``config.yaml`` and
``checkpoints/last.pt``, scores clips of labelled videos at 0.5×, 1×, 2× and 4×
with the run's pretraining clip geometry, and writes ``speediness.json``,
``speediness.png`` (Fig. 4) and ``speediness_per_class.png`` (Fig. 7).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import nn

from vidssl.cli import build
from vidssl.cli.commands import eval_data_config, load_run_config
from vidssl.config.schema import DataConfig, RunConfig
from vidssl.engine.checkpoint import load_checkpoint
from vidssl.engine.distributed import resolve_device
from vidssl.errors import VidsslError
from vidssl.eval.plots import plot_speediness, plot_speediness_per_class
from vidssl.eval.speediness import (
    normalize_speediness,
    scores_by_class,
    scores_by_speed,
    speediness_scores,
    summarize_speediness,
)
from vidssl.fileio import write_json_atomic

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
    method = build.build_method(cfg.method, backbone, modality=cfg.model.modality, view=cfg.view)
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
    out_dir = Path(out) if out is not None else run_dir / "analysis"
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
