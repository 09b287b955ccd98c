"""VCOP (CVPR 2019), a baseline of SRO Table VIII: predict the order of shuffled clips."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidssl.checks import config_keys
from vidssl.data.pretext.vcop import VCOPSampler
from vidssl.data.transforms import frames_for_modality
from vidssl.methods.vcop import VCOP
from vidssl.recipes.recipe import CLIP_KEYS, Recipe, build_augment, default_of

if TYPE_CHECKING:
    from torch import nn

    from vidssl.recipes.run_config import RunConfig

VCOP_KEYS = {"tuple_len": "num_clips", "interval": "clip_interval", "dropout": "head_dropout", "hidden": "head_hidden"}


@dataclass
class VCOPConfig:
    """The ``method`` section of VCOP: ``num_clips`` clips of ``clip.frames`` consecutive frames,
    ``clip_interval`` frames apart, shown shuffled; the pairwise head (``head_hidden`` per pair,
    ``head_dropout``) predicts their order among num_clips! classes."""

    name: str = "vcop"
    num_clips: int = default_of(VCOPSampler, "tuple_len")
    clip_interval: int = default_of(VCOPSampler, "interval")
    head_hidden: int = default_of(VCOP, "head_hidden")
    head_dropout: float = default_of(VCOP, "dropout")


def build_sampler(cfg: RunConfig, frame_source: dict | None = None) -> VCOPSampler:
    method, clip = cfg.method, cfg.clip
    with config_keys("method", {**CLIP_KEYS, **VCOP_KEYS}):
        return VCOPSampler(
            clip_len=frames_for_modality(clip.frames, cfg.model.modality),
            interval=method.clip_interval,
            tuple_len=method.num_clips,
            augment=build_augment(clip),
            short_video=clip.short_video,
        )


def build_method(cfg: RunConfig, backbone: nn.Module, run_dir=None) -> VCOP:
    method = cfg.method
    with config_keys("method", {**VCOP_KEYS, "modality": "model.modality"}):
        return VCOP(
            backbone,
            tuple_len=method.num_clips,
            head_hidden=method.head_hidden,
            dropout=method.head_dropout,
            modality=cfg.model.modality,
        )


RECIPE = Recipe(
    name="vcop",
    paper="Xu et al., clip order prediction (VCOP), CVPR 2019",
    config=VCOPConfig,
    build_sampler=build_sampler,
    build_method=build_method,
)
RECIPES = (RECIPE,)
