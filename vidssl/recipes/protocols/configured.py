"""The evaluation library's functions called with a run config's settings: one place that reads ``cfg.eval``.

``vidssl eval``'s protocol runners (:mod:`vidssl.recipes.protocols.runners`),
``vidssl quickstart``, ``vidssl benchmark`` and the claim scripts all evaluate
through these, so every one of them scores a backbone the same way: the
labelled data of :func:`load_eval_data`, the clips of :func:`eval_clips`, the
finetuning and linear recipes of :func:`finetune_train_config` and
:func:`linear_train_config`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from vidssl.checks import config_keys
from vidssl.data.transforms import EvalTransform
from vidssl.engine.distributed import resolve_device
from vidssl.engine.trainer import TrainConfig
from vidssl.errors import VidsslError
from vidssl.eval.feature_cache import FeatureCache
from vidssl.eval.features import EvalClips
from vidssl.eval.finetune import default_finetune_augment, finetune
from vidssl.eval.linear_probe import linear_probe, linear_probe_end_to_end
from vidssl.eval.motion_types import MOTION_TYPES, motion_type_mapping
from vidssl.eval.retrieval import evaluate_retrieval
from vidssl.eval.temporal import temporal_probe
from vidssl.recipes.data import build_reader, build_records, cache_root
from vidssl.recipes.run_config import RunConfig, eval_data_config


def load_eval_data(cfg: RunConfig) -> dict:
    """Train and evaluated records of the labelled downstream dataset, and the reader for them.

    ``"test"`` holds the split ``eval.split`` names: the test videos, or with ``val`` the validation
    videos carved out of training by ``data.val_fraction`` (which are then not among ``"train"``).
    """
    data_cfg = eval_data_config(cfg)
    if cfg.eval.split == "val" and data_cfg.val_fraction == 0:
        raise VidsslError("eval.split=val: there is no validation split; set data.val_fraction (e.g. 0.2) to carve "
                          "one out of the training videos")
    train, classes = build_records(data_cfg, split="train")
    test, _ = build_records(data_cfg, split=cfg.eval.split)
    reader, both = build_reader(data_cfg, train + test)
    return {"train": both[: len(train)], "test": both[len(train):], "reader": reader, "classes": classes}


def eval_clips(cfg: RunConfig, modality: str | None = None) -> EvalClips:
    """The evaluation clips of ``cfg.eval`` in the backbone's input modality (or ``modality``: a second stream's)."""
    e = cfg.eval
    return EvalClips(
        num_clips=e.num_clips, clip_len=e.frames, interval=e.interval, size=e.size, resize_short=e.resize_short,
        modality=modality or cfg.model.modality,
    )


def feature_cache(cfg: RunConfig) -> FeatureCache | None:
    """Where frozen features are kept between protocols (``eval.feature_cache``, ``eval.cache_dir``)."""
    if not cfg.eval.feature_cache:
        return None
    return FeatureCache(cfg.eval.cache_dir or cache_root() / "features")


def run_retrieval(
    cfg: RunConfig, backbone, data: dict, *, progress: bool = True, coarse_labels=None, cache=None
) -> dict:
    """Retrieval at ``eval.layer``, and R@k at each of ``eval.retrieval_layers`` (STS Fig. 11) from the same pass."""
    e = cfg.eval
    return evaluate_retrieval(
        backbone, data["train"], data["test"], data["reader"], eval_clips(cfg),
        layer=e.layer, pooling=e.pooling, device=resolve_device(cfg.train.device), batch_size=e.batch_size,
        workers=cfg.train.workers, progress=progress, coarse_labels=coarse_labels,
        per_layer=tuple(e.retrieval_layers), cache=cache,
    )


def run_linear_probe(
    cfg: RunConfig, backbone, data: dict, *, progress: bool = True, cache=None, run_dir: Path | None = None
) -> dict:
    """CORP §4.1 linear evaluation of the frozen backbone (``eval.linear``): on cached features, or with
    ``eval.linear.mode=end_to_end`` on augmented clips (training in ``run_dir``)."""
    e = cfg.eval
    if e.linear.mode == "end_to_end":
        if run_dir is None:
            raise VidsslError("eval.linear.mode=end_to_end: needs a folder for the training run")
        return linear_probe_end_to_end(
            backbone, data["train"], data["test"], data["reader"], eval_clips(cfg), num_classes=len(data["classes"]),
            train_cfg=linear_train_config(cfg), run_dir=run_dir,
            augment=default_finetune_augment(e.size, scale=e.finetune.scale, flip_p=e.finetune.flip_p),
            seed=cfg.train.seed, device=resolve_device(cfg.train.device), batch_size=e.batch_size,
            workers=cfg.train.workers, progress=progress, cache=cache,
        )
    return linear_probe(
        backbone, data["train"], data["test"], data["reader"], eval_clips(cfg),
        num_classes=len(data["classes"]), cfg=e.linear, layer=e.layer, pooling=e.pooling, seed=cfg.train.seed,
        device=resolve_device(cfg.train.device), batch_size=e.batch_size, workers=cfg.train.workers,
        progress=progress, cache=cache,
    )


def motion_task_data(cfg: RunConfig, data: dict) -> dict:
    """``data`` with every video labelled by its class's motion type (TransRank appendix A.1, Table 10)."""
    types = motion_type_mapping(data["classes"], eval_data_config(cfg).format)

    def relabel(records):
        return [dataclasses.replace(record, label=types[record.label]) for record in records]

    return {**data, "train": relabel(data["train"]), "test": relabel(data["test"]), "classes": list(MOTION_TYPES)}


def run_temporal_task(cfg: RunConfig, backbone, data: dict, task: str, *, progress: bool = True) -> dict:
    """TransRank appendix A.1's Sync or Order on the frozen backbone's ``layer4`` (``eval.temporal``)."""
    e = cfg.eval
    with config_keys("eval", {"clip_len": "frames"}):
        return temporal_probe(
            backbone, data["train"], data["test"], data["reader"], task, clip_len=e.frames,
            transform=EvalTransform(e.size, resize_short=e.resize_short), cfg=e.temporal,
            modality=cfg.model.modality, seed=cfg.train.seed, device=resolve_device(cfg.train.device),
            batch_size=e.batch_size, workers=cfg.train.workers, progress=progress,
        )


def linear_train_config(cfg: RunConfig) -> TrainConfig:
    """The pretraining TrainConfig with CORP §4.1's linear recipe (``eval.linear``): SGD, half-cosine, no warm-up."""
    lin = cfg.eval.linear
    return dataclasses.replace(
        cfg.train, epochs=lin.epochs, batch_size=lin.batch_size, lr=lin.lr, weight_decay=lin.weight_decay,
        momentum=lin.momentum, schedule="cosine", warmup_epochs=0.0, optimizer="sgd", lr_scaling="none",
    )


def finetune_train_config(cfg: RunConfig, lr: float | None = None) -> TrainConfig:
    """The pretraining TrainConfig with the transfer recipe of ``eval.finetune``: SGD, multi-step ×0.1 at 3/5 and
    4/5, the given lr (``eval.finetune.lr`` unless ``lr``) as is (a pretraining run's LARS or linear lr scaling
    does not carry over)."""
    f = cfg.eval.finetune
    return dataclasses.replace(
        cfg.train, epochs=f.epochs, batch_size=f.batch_size, lr=f.lr if lr is None else lr,
        weight_decay=f.weight_decay,
        momentum=f.momentum, schedule="multistep", milestones=(0.6, 0.8), gamma=0.1, warmup_epochs=0.0,
        optimizer="sgd", lr_scaling="none",
    )


def run_finetune(
    cfg: RunConfig, backbone, data: dict, run_dir: Path, *, progress: bool = True, modality: str | None = None,
    lr: float | None = None, label_fraction: float | None = None, return_model: bool = False,
) -> dict:
    """TransRank Table 11's transfer recipe (``eval.finetune``), tested on ``eval.num_clips`` clips × ``test_crops``.

    ``lr`` and ``label_fraction`` replace the config's (the lr sweep, the semi-supervised subsets).
    """
    e = cfg.eval
    f = e.finetune
    return finetune(
        backbone, data["train"], data["test"], data["reader"],
        num_classes=len(data["classes"]), cfg=finetune_train_config(cfg, lr), run_dir=run_dir,
        clips=dataclasses.replace(eval_clips(cfg, modality), crops=f.test_crops),
        augment=default_finetune_augment(e.size, scale=f.scale, flip_p=f.flip_p),
        dropout=f.dropout, label_fraction=f.label_fraction if label_fraction is None else label_fraction,
        seed=cfg.train.seed, device=resolve_device(cfg.train.device), test_batch_size=e.batch_size,
        workers=cfg.train.workers, progress=progress, curve_every=f.curve_every, return_model=return_model,
    )


def drop_arrays(results: dict) -> dict:
    """``results`` without the finetune history, test probabilities and model, ready for JSON."""
    for key in ("history", "video_probs", "model"):
        results.pop(key, None)
    return results

