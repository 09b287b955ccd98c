"""A run's config: the shared sections (``data``, ``model``, ``clip``, ``train``, ``eval``) and the
``method`` section of its recipe (parsed by :func:`vidssl.recipes.configs.parse_run_config`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidssl.config.loading import to_dict
from vidssl.config.schema import ClipConfig, DataConfig, EvalConfig, ModelConfig
from vidssl.engine.train_config import TrainConfig
from vidssl.fileio import write_text_atomic


@dataclass
class RunConfig:
    """Everything one ``vidssl pretrain`` run needs. ``method`` is the section of the recipe its ``name``
    selects (a dataclass of :mod:`vidssl.recipes`), filled by :func:`vidssl.recipes.configs.parse_run_config`;
    a run config built by hand sets it too, e.g. ``RunConfig(method=TransRankConfig())``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: Any = None
    clip: ClipConfig = field(default_factory=ClipConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def write_yaml_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def eval_data_config(cfg: RunConfig) -> DataConfig:
    """The labelled downstream dataset: ``eval.format/root`` if set, else the pretraining data."""
    data = DataConfig(**{**to_dict(cfg.data), "labelled": True})
    if cfg.eval.format:
        data.format, data.root, data.annotations = cfg.eval.format, cfg.eval.root, cfg.eval.annotations
        data.split_id = cfg.eval.split_id
    return data
