"""``vidssl eval retrieval|finetune|linear|sync|order|motion``: one protocol on one backbone, results.json written.

With ``--fuse RUN2`` the protocol runs on two streams, RUN's backbone and
RUN2's (each in its own run's ``model.modality``), and also scores their fusion
(TransRank §5.3 "R + RD", appendix C.2): averaged cosine similarities for
retrieval, averaged video probabilities for finetuning.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import torch

from vidssl.cli import build
from vidssl.cli.commands import eval_data_config, load_backbone, load_run_config, random_init_backbone
from vidssl.cli.export import load_export_source
from vidssl.config.schema import RunConfig
from vidssl.data.transforms import EvalTransform
from vidssl.engine.distributed import resolve_device
from vidssl.engine.trainer import TrainConfig
from vidssl.eval.feature_cache import FeatureCache
from vidssl.eval.features import EvalClips
from vidssl.eval.finetune import default_finetune_augment, finetune, fused_video_accuracy
from vidssl.eval.linear_probe import linear_probe, linear_probe_end_to_end
from vidssl.eval.motion_types import MOTION_TYPES, motion_type_mapping
from vidssl.eval.retrieval import evaluate_retrieval, evaluate_retrieval_streams
from vidssl.eval.temporal import temporal_probe
from vidssl.errors import VidsslError
from vidssl.fileio import make_output_dir, write_json_atomic


def evaluate_command(
    protocol: str, backbone_path: str, *, config: str | None, overrides: list[str], out: str | None,
    fuse: str | None = None, data: str | None = None, fmt: str | None = None, annotations: str | None = None,
) -> dict:
    """Run one protocol (:data:`vidssl.cli.protocols.PROTOCOLS`) and write ``eval_<protocol>.json`` + plots/."""
    from vidssl.cli import protocols

    if protocol not in protocols.RUNNERS:
        raise VidsslError(f"eval {protocol}: unknown protocol; expected one of {', '.join(protocols.PROTOCOLS)}")
    if config is None:
        if backbone_path == "random":
            raise VidsslError("eval random: give --config for the backbone and data settings")
        config = str(run_config_path(backbone_path))
    elif backbone_path != "random" and not Path(backbone_path).exists():
        raise VidsslError(f"{backbone_path}: does not exist ({EVAL_SOURCES})")
    fixed = [o for o in overrides if o.split("=", 1)[0].startswith("model.")] if backbone_path != "random" else []
    if fixed:
        raise VidsslError(f"{fixed[0]}: the backbone of {backbone_path} is what its run trained (model.* comes from "
                          f"the run); override data, eval or train.device/workers settings only")
    if fuse is not None and protocol not in ("retrieval", "finetune"):
        raise VidsslError(f"eval {protocol}: --fuse works with retrieval and finetune only")
    cfg = load_run_config(config, [*overrides, *data_overrides(protocol, data, fmt, annotations)])
    if backbone_path == "random":
        backbone = random_init_backbone(cfg)
    else:
        backbone = load_export_source(backbone_path).backbone
    second = load_fuse_stream(fuse) if fuse is not None else None  # checked before the data is read
    out_dir = make_output_dir(Path(out) if out else (Path(backbone_path) if Path(backbone_path).is_dir() else Path(".")))
    if second is not None:
        streams = [RunStream(backbone_path, cfg.model.modality, backbone), second]
        results = run_fused(protocol, cfg, streams, load_eval_data(cfg), out_dir)
        for stream_results in results["streams"].values():
            drop_arrays(stream_results)
        write_json_atomic(out_dir / f"eval_{protocol}_fused_{run_name(fuse)}.json", results, indent=2)
        return results
    run = protocols.EvalRun(
        out=out_dir, name="random init" if backbone_path == "random" else run_name(backbone_path),
        cache=feature_cache(cfg), is_random=backbone_path == "random",
    )
    results = protocols.RUNNERS[protocol](cfg, backbone, run)
    results["protocol"] = protocol
    write_json_atomic(out_dir / f"eval_{protocol}.json", results, indent=2)
    return results


EVAL_SOURCES = "expected a run folder of vidssl pretrain, its backbone.pt or checkpoints/last.pt, or 'random'"


def run_config_path(source: str | Path) -> Path:
    """The ``config.yaml`` of a run folder, or of the run a ``backbone.pt`` or ``checkpoints/last.pt`` belongs to.

    Says plainly when ``source`` does not exist or is not a run (no config.yaml),
    rather than reporting a missing config file.
    """
    path = Path(source)
    if not path.exists():
        raise VidsslError(f"{path}: does not exist ({EVAL_SOURCES})")
    folder = path if path.is_dir() else path.parent.parent if path.parent.name == "checkpoints" else path.parent
    config = folder / "config.yaml"
    if not config.is_file():
        raise VidsslError(f"{path}: not a run folder (no config.yaml in {folder}); {EVAL_SOURCES}, or pass --config")
    return config


def data_overrides(protocol: str, data: str | None, fmt: str | None, annotations: str | None) -> list[str]:
    """``--data/--format/--annotations`` as overrides of the protocol's own dataset keys.

    Scenes and similarity read their own datasets (``eval.scenes.*``,
    ``eval.similarity.*``); every other protocol reads ``eval.root/format/annotations``.
    """
    section = {"scenes": "eval.scenes", "similarity": "eval.similarity"}.get(protocol, "eval")
    if fmt is not None and protocol == "similarity":
        raise VidsslError("eval similarity: --format does not apply (ASLAN pairs files name the videos)")
    if data is not None and fmt is None and section == "eval":
        raise VidsslError(f"eval {protocol} --data: also give --format (folder, ucf101, hmdb51, kinetics, sthsth, csv)")
    pairs = [("root", data), ("format", fmt), ("annotations", annotations)]
    overrides = [f"{section}.{key}={value}" for key, value in pairs if value is not None]
    if data is not None and annotations is None and section != "eval.similarity":
        overrides.append(f"{section}.annotations=null")  # the run's own split files belong to the run's data
    return overrides


def drop_arrays(results: dict) -> dict:
    """``results`` without the finetune history, test probabilities and model, ready for JSON."""
    for key in ("history", "video_probs", "model"):
        results.pop(key, None)
    return results


class RunStream(NamedTuple):
    """One stream of ``--fuse``: the run folder (or backbone.pt) it came from, its input modality, its backbone."""

    path: str
    modality: str
    backbone: torch.nn.Module


def run_name(path: str) -> str:
    """The run folder's name of a run folder or its backbone.pt (``random`` stays ``random``)."""
    if path == "random":
        return path
    resolved = Path(path).resolve()
    return resolved.name if resolved.is_dir() else resolved.parent.name


def load_fuse_stream(path: str) -> RunStream:
    """The second stream of ``--fuse``: a pretraining run folder (or its backbone.pt) with config.yaml beside it.

    Only ``model.modality`` is read from its config; data and eval settings come from the first run's.
    """
    expected = "expected a pretraining run folder with config.yaml and backbone.pt"
    if not Path(path).exists():
        raise VidsslError(f"--fuse {path}: not found ({expected})")
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    weights = folder / "backbone.pt" if Path(path).is_dir() else Path(path)
    for needed in (folder / "config.yaml", weights):
        if not needed.is_file():
            raise VidsslError(f"--fuse {path}: {needed.name} not found ({expected})")
    modality = load_run_config(str(folder / "config.yaml")).model.modality
    return RunStream(path, modality, load_backbone(weights))


def stream_names(streams: list[RunStream]) -> list[str]:
    """Streams are named by modality (``rgb``, ``rgbdiff``); by run folder when modalities repeat
    (two RGB runs fused are an ensemble), numbered when those repeat too."""
    modalities = [stream.modality for stream in streams]
    if len(set(modalities)) == len(modalities):
        return modalities
    runs = [run_name(stream.path) for stream in streams]
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


def load_eval_data(cfg: RunConfig) -> dict:
    """Train and test records of the labelled downstream dataset, and the reader for them."""
    data_cfg = eval_data_config(cfg)
    train, classes = build.build_records(data_cfg, split="train")
    test, _ = build.build_records(data_cfg, split="test")
    reader, both = build.build_reader(data_cfg, train + test)
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
    return FeatureCache(cfg.eval.cache_dir or build.cache_root() / "features")


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
            augment=default_finetune_augment(e.size, scale=tuple(e.finetune.scale), flip_p=e.finetune.flip_p),
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
    return temporal_probe(
        backbone, data["train"], data["test"], data["reader"], task, clip_len=e.frames,
        transform=EvalTransform(e.size, resize_short=e.resize_short), cfg=e.temporal, modality=cfg.model.modality,
        seed=cfg.train.seed, device=resolve_device(cfg.train.device), batch_size=e.batch_size,
        workers=cfg.train.workers, progress=progress,
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
        augment=default_finetune_augment(e.size, scale=tuple(f.scale), flip_p=f.flip_p),
        dropout=f.dropout, label_fraction=f.label_fraction if label_fraction is None else label_fraction,
        seed=cfg.train.seed, device=resolve_device(cfg.train.device), test_batch_size=e.batch_size,
        workers=cfg.train.workers, progress=progress, curve_every=f.curve_every, return_model=return_model,
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
