"""``vidssl eval retrieval|finetune RUN --fuse RUN2``: one protocol on two streams and on their fusion.

Each stream is a run's backbone in its own run's ``model.modality`` (RGB and
RGBDiff, TransRank §5.3 "R + RD", appendix C.2); the data and eval settings
are the first run's. Retrieval averages the streams' cosine similarities,
finetuning their video probabilities.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from vidssl.engine.distributed import resolve_device
from vidssl.errors import VidsslError
from vidssl.eval.finetune import fused_video_accuracy
from vidssl.eval.retrieval import evaluate_retrieval_streams
from vidssl.recipes.protocols.configured import eval_clips, run_finetune
from vidssl.recipes.run import Run
from vidssl.recipes.run_config import RunConfig


class RunStream(NamedTuple):
    """One stream of ``--fuse``: the path it was given by, its run's name, its input modality, its backbone."""

    path: str
    name: str
    modality: str
    backbone: torch.nn.Module


def load_fuse_stream(path: str) -> RunStream:
    """The second stream of ``--fuse``: a pretraining run (its folder, backbone.pt or checkpoints/last.pt) with
    config.yaml.

    Only ``model.modality`` is read from its config; data and eval settings come from the first run's.
    """
    expected = "expected a pretraining run folder with config.yaml and backbone.pt (or checkpoints/last.pt)"
    if not Path(path).exists():
        raise VidsslError(f"--fuse {path}: not found ({expected})")
    run = Run.resolve(path)
    if not run.has_config:
        raise VidsslError(f"--fuse {path}: {run.config_path.name} not found ({expected})")
    try:
        _ = run.weights  # raises when a folder holds neither backbone.pt nor checkpoints/last.pt
    except VidsslError:
        raise VidsslError(f"--fuse {path}: {run.backbone_path.name} not found ({expected})") from None
    modality = run.load_config().model.modality
    return RunStream(path, run.name, modality, run.load_backbone())


def stream_names(streams: list[RunStream]) -> list[str]:
    """Streams are named by modality (``rgb``, ``rgbdiff``); by run folder when modalities repeat
    (two RGB runs fused are an ensemble), numbered when those repeat too."""
    modalities = [stream.modality for stream in streams]
    if len(set(modalities)) == len(modalities):
        return modalities
    runs = [stream.name for stream in streams]
    if len(set(runs)) == len(runs):
        return runs
    return [f"{run}_{i}" for i, run in enumerate(runs, start=1)]


def run_fused(protocol: str, cfg: RunConfig, streams: list[RunStream], data: dict, out_dir: Path) -> dict:
    """``protocol`` on each stream and on their fusion (TransRank §5.3 "R + RD").

    Returns ``{"streams": {name: {..., "run", "modality"}}, "fused": {...}}``;
    every stream uses ``cfg``'s data and eval settings in its own modality.
    """
    named = dict(zip(stream_names(streams), streams))
    if protocol == "retrieval":
        results = run_retrieval_streams(cfg, named, data)
    else:
        results = run_finetune_streams(cfg, named, data, out_dir)
    for name, stream in named.items():
        results["streams"][name].update(run=stream.path, modality=stream.modality)
    return results


def run_retrieval_streams(
    cfg: RunConfig, streams: dict[str, RunStream], data: dict, *, progress: bool = True, coarse_labels=None
) -> dict:
    """Retrieval of each stream and of their averaged similarity (TransRank appendix C.2, Table 12)."""
    e = cfg.eval
    return evaluate_retrieval_streams(
        {name: (stream.backbone, eval_clips(cfg, stream.modality)) for name, stream in streams.items()},
        data["train"], data["test"], data["reader"],
        layer=e.layer, pooling=e.pooling, device=resolve_device(cfg.train.device), batch_size=e.batch_size,
        workers=cfg.train.workers, progress=progress, coarse_labels=coarse_labels,
    )


def run_finetune_streams(
    cfg: RunConfig, streams: dict[str, RunStream], data: dict, out_dir: Path, *, progress: bool = True
) -> dict:
    """Finetune each stream on its own (in ``out_dir/finetune_<name>``), then fuse their test probabilities
    (TransRank §5.3 "R + RD", Table 7). Each stream's result keeps its ``"video_probs"``."""
    tuned = {
        name: run_finetune(
            cfg, stream.backbone, data, out_dir / f"finetune_{name}", progress=progress, modality=stream.modality
        )
        for name, stream in streams.items()
    }
    return {"streams": tuned, "fused": fused_video_accuracy([result["video_probs"] for result in tuned.values()])}
