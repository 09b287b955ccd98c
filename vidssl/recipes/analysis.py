"""``vidssl analyze speediness``: TransRank's toy experiment (§4.1, Figures 4 and 7) on a pretraining run.

The run's method (backbone + heads) is rebuilt from its ``config.yaml`` and
``checkpoints/last.pt`` and scores clips of labelled videos at 0.5×, 1×, 2× and
4× with the run's pretraining clip geometry
(:mod:`vidssl.eval.analysis.speediness` writes ``speediness.json``,
``speediness.png`` (Fig. 4) and ``speediness_per_class.png`` (Fig. 7)).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from vidssl.config.schema import DataConfig
from vidssl.engine.checkpoint import load_checkpoint
from vidssl.engine.distributed import resolve_device
from vidssl.engine.run_folder import CHECKPOINT
from vidssl.errors import VidsslError
from vidssl.eval.analysis.speediness import speediness_scores, write_speediness_report
from vidssl.fileio import make_output_dir
from vidssl.methods.transrank import TransRank
from vidssl.recipes.data import build_model_backbone, build_reader, build_records
from vidssl.recipes.pretrain import build_method
from vidssl.recipes.run import Run
from vidssl.recipes.run_config import RunConfig, eval_data_config


def training_checkpoint(run: Run) -> Path:
    """The checkpoint an analysis loads: the ``.pt`` that named the run, else ``RUN/checkpoints/last.pt``."""
    checkpoint = run.file or run.checkpoint_path
    if not checkpoint.is_file():
        raise VidsslError(f"{checkpoint}: checkpoint not found (a pretraining run writes {CHECKPOINT})")
    return checkpoint


def load_trained_method(cfg: RunConfig, checkpoint: Path) -> nn.Module:
    """The run's method (backbone and every head) with the weights of the checkpoint's ``"model"`` entry."""
    state = load_checkpoint(checkpoint)
    if "model" not in state:
        raise VidsslError(
            f"{checkpoint}: expected a training checkpoint with a 'model' entry (RUN/{CHECKPOINT}), "
            f"got keys {sorted(state)}"
        )
    method = build_method(cfg, build_model_backbone(cfg.model))
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


def run_speediness_scores(method: TransRank, records, reader, cfg: RunConfig, *, clips: int = 4):
    """:func:`speediness_scores` with the run's pretraining clip geometry, device and loader settings."""
    return speediness_scores(
        method, records, reader,
        clip_len=cfg.clip.frames, size=cfg.clip.size, resize_short=analysis_resize_short(cfg),
        base_interval=cfg.clip.base_interval, num_clips=clips, short_video=cfg.clip.short_video,
        device=resolve_device(cfg.train.device), batch_size=cfg.eval.batch_size, workers=cfg.train.workers,
        progress=cfg.train.progress,
    )


def speediness(
    source: str | Path,
    *,
    data: str | None = None,
    fmt: str | None = None,
    annotations: str | None = None,
    split: str = "test",
    clips: int = 4,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """Score ``split`` of the data at 0.5×/1×/2×/4×; write speediness.json and both figures into ``out``
    (default ``RUN/analysis``). ``source``: a run folder or a checkpoint in it.

    Returns the JSON summary (see :func:`vidssl.eval.analysis.speediness.summarize_speediness`).
    """
    run = Run.resolve(source, expected="give a pretraining run folder or its checkpoints/last.pt")
    cfg = run.load_config(list(overrides))
    checkpoint = training_checkpoint(run)
    out_dir = make_output_dir(Path(out) if out is not None else run.folder / "analysis")  # fail before scoring
    method = load_trained_method(cfg, checkpoint)
    if not isinstance(method, TransRank):  # speediness is TransRank's analysis (§4.1): it needs the temporal head
        raise VidsslError(f"{run.folder}: speediness scores clips with TransRank's temporal head; this run trained "
                          f"method {cfg.method.name}")
    data_cfg = analysis_data_config(cfg, data=data, fmt=fmt, annotations=annotations)
    records, class_names = build_records(data_cfg, split=split)
    reader, records = build_reader(data_cfg, records)
    result = run_speediness_scores(method, records, reader, cfg, clips=clips)
    details = {
        "run": str(run.folder), "checkpoint": str(checkpoint), "transforms": list(method.transforms),
        "data": {"format": data_cfg.format, "root": data_cfg.root, "split": split},
        "clip": {"frames": cfg.clip.frames, "size": cfg.clip.size, "base_interval": cfg.clip.base_interval,
                 "resize_short": analysis_resize_short(cfg), "short_video": cfg.clip.short_video},
    }
    summary = write_speediness_report(result, class_names, out_dir, name=run.folder.name, details=details)
    summary["out"] = str(out_dir)
    return summary
