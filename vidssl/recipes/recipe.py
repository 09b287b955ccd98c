"""What a recipe is: one pretext method's config section, the builders of its sampler and its
module, and the optional stages around training — the one place a method meets the config.

A recipe module (``recipes/transrank.py`` …) holds, top to bottom: its config
dataclass (the ``method`` section of a run config; every default taken from the
constructor it feeds, so the Python API and a minimal YAML build the same
model), a ``build_sampler``, a ``build_method`` and a ``Recipe`` record; the
table in :mod:`vidssl.recipes.table` lists the records by name.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidssl.config.schema import ClipConfig
from vidssl.data.datasets import VideoDataset
from vidssl.data.transforms import ClipAugment

if TYPE_CHECKING:  # annotations only: the run config imports the recipe table, not the reverse
    from torch import nn

    from vidssl.recipes.run_config import RunConfig


def default_of(target: Callable, parameter: str) -> Any:
    """The default value of ``parameter`` in ``target``'s signature: a config field's default, one source."""
    default = inspect.signature(target).parameters[parameter].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{target.__qualname__}({parameter}) has no default to take")
    return default


# Sampler and augmentation parameters that come from the shared ``clip`` section, by Python name.
CLIP_KEYS = {
    "clip_len": "clip.frames", "base_interval": "clip.base_interval", "dilation": "clip.base_interval",
    "jitter": "clip.jitter", "short_video": "clip.short_video", "size": "clip.size", "resize": "clip.resize",
    "flip_p": "clip.flip_p", "scale": "clip.scale", "ratio": "clip.ratio", "jitter_p": "clip.color_jitter_p",
    "grayscale_p": "clip.grayscale_p", "blur_p": "clip.blur_p", "brightness": "clip.brightness",
    "contrast": "clip.contrast", "saturation": "clip.saturation", "hue": "clip.hue", "modality": "model.modality",
}


def build_augment(clip: ClipConfig, *, rotate: bool = False) -> ClipAugment:
    """The clip-wise augmentation of ``clip``; ``rotate`` adds the k·90° rotation of the rotation task."""
    return ClipAugment(
        clip.size,
        scale=clip.scale,
        ratio=clip.ratio,
        flip_p=clip.flip_p,
        brightness=clip.brightness,
        contrast=clip.contrast,
        saturation=clip.saturation,
        hue=clip.hue,
        jitter_p=clip.color_jitter_p,
        grayscale_p=clip.grayscale_p,
        blur_p=clip.blur_p,
        rotate=rotate,
        resize=clip.resize,
    )


def plain_dataset(cfg: RunConfig, records: list, reader, sampler, *, progress: bool) -> Any:
    """Every video through the sampler, one sample per video per epoch (what most methods train on)."""
    return VideoDataset(records, reader, sampler, seed=cfg.train.seed)


@dataclass(frozen=True)
class Recipe:
    """One pretext method, as the library layer builds and trains it.

    ``config``: the dataclass of its ``method`` section (``name`` first).
    ``build_sampler(cfg, frame_source)``: its sampler (``data/pretext/``); ``frame_source``
    describes the pixels a reader returns (part of every cache key built on them).
    ``build_method(cfg, backbone, run_dir)``: its module (``methods/``) around ``backbone``;
    ``run_dir`` is the run being trained, for anything a preparation stage left there.
    ``build_dataset(cfg, records, reader, sampler, progress)``: the training set
    (default: one sample per video; STS: fixed clips, curriculum pacing).
    ``prepare(cfg, run_dir, resume=, pretrain=)``: a stage before training (SRO's view synthesis,
    which trains a run of its own with the ``pretrain`` it is handed).
    ``after_fit(cfg, method, dataset, run_dir)``: figures of the trained model.
    """

    name: str
    paper: str
    config: type
    build_sampler: Callable[..., Any]
    build_method: Callable[..., nn.Module]
    build_dataset: Callable[..., Any] = plain_dataset
    prepare: Callable[..., None] | None = None
    after_fit: Callable[..., None] | None = None
