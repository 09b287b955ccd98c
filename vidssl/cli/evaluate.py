"""``vidssl eval retrieval|finetune``: one protocol on one backbone, results.json written."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from vidssl.cli import build
from vidssl.cli.commands import eval_data_config, load_backbone, load_run_config, random_init_backbone
from vidssl.config.schema import RunConfig
from vidssl.engine.distributed import resolve_device
from vidssl.engine.trainer import TrainConfig
from vidssl.eval.features import EvalClips
from vidssl.eval.finetune import default_finetune_augment, finetune
from vidssl.eval.retrieval import evaluate_retrieval
from vidssl.errors import VidsslError
from vidssl.fileio import write_json_atomic


def evaluate_command(protocol: str, backbone_path: str, *, config: str | None, overrides: list[str], out: str | None) -> dict:
    if config is None:
        if backbone_path == "random":
            raise VidsslError("eval random: give --config for the backbone and data settings")
        config = str(Path(backbone_path if Path(backbone_path).is_dir() else Path(backbone_path).parent) / "config.yaml")
    cfg = load_run_config(config, overrides)
    if backbone_path == "random":
        backbone = random_init_backbone(cfg)
    else:
        backbone = load_backbone(backbone_path)
    out_dir = Path(out) if out else (Path(backbone_path) if Path(backbone_path).is_dir() else Path("."))
    data = load_eval_data(cfg)
    if protocol == "retrieval":
        results = run_retrieval(cfg, backbone, data)
    else:
        results = run_finetune(cfg, backbone, data, out_dir / "finetune")
        results.pop("history", None)
    write_json_atomic(out_dir / f"eval_{protocol}.json", results, indent=2)
    return results


def load_eval_data(cfg: RunConfig) -> dict:
    """Train and test records of the labelled downstream dataset, and the reader for them."""
    data_cfg = eval_data_config(cfg)
    train, classes = build.build_records(data_cfg, split="train")
    test, _ = build.build_records(data_cfg, split="test")
    reader, both = build.build_reader(data_cfg, train + test)
    return {"train": both[: len(train)], "test": both[len(train):], "reader": reader, "classes": classes}


def eval_clips(cfg: RunConfig) -> EvalClips:
    """The evaluation clips of ``cfg.eval`` in the backbone's input modality."""
    e = cfg.eval
    return EvalClips(
        num_clips=e.num_clips, clip_len=e.frames, interval=e.interval, size=e.size, resize_short=e.resize_short,
        modality=cfg.model.modality,
    )


def run_retrieval(cfg: RunConfig, backbone, data: dict, *, progress: bool = True, coarse_labels=None) -> dict:
    e = cfg.eval
    return evaluate_retrieval(
        backbone, data["train"], data["test"], data["reader"], eval_clips(cfg),
        layer=e.layer, pooling=e.pooling, device=resolve_device(cfg.train.device), batch_size=e.batch_size,
        workers=cfg.train.workers, progress=progress, coarse_labels=coarse_labels,
    )


def finetune_train_config(cfg: RunConfig) -> TrainConfig:
    """The pretraining TrainConfig with the transfer recipe of ``eval.finetune`` (multi-step ×0.1 at 3/5, 4/5)."""
    f = cfg.eval.finetune
    return dataclasses.replace(
        cfg.train, epochs=f.epochs, batch_size=f.batch_size, lr=f.lr, weight_decay=f.weight_decay,
        momentum=f.momentum, schedule="multistep", milestones=(0.6, 0.8), gamma=0.1, warmup_epochs=0.0,
    )


def run_finetune(cfg: RunConfig, backbone, data: dict, run_dir: Path, *, progress: bool = True) -> dict:
    e = cfg.eval
    return finetune(
        backbone, data["train"], data["test"], data["reader"],
        num_classes=len(data["classes"]), cfg=finetune_train_config(cfg), run_dir=run_dir, clips=eval_clips(cfg),
        augment=default_finetune_augment(e.size, scale=tuple(e.finetune.scale), flip_p=e.finetune.flip_p),
        dropout=e.finetune.dropout, label_fraction=e.finetune.label_fraction, seed=cfg.train.seed,
        device=resolve_device(cfg.train.device), test_batch_size=e.batch_size, workers=cfg.train.workers,
        progress=progress,
    )


