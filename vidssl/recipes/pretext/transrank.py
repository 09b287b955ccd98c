"""TransRank / TransCls (CVPR 2022): rank (or classify) the temporal transformation of each clip,
optionally with the spatial aspect-ratio and rotation tasks of §4.3."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidssl.checks import config_keys
from vidssl.data.pretext.transrank import TransRankSampler
from vidssl.data.transforms import frames_for_modality
from vidssl.methods.transrank import TransRank
from vidssl.recipes.recipe import CLIP_KEYS, Recipe, build_augment, default_of

if TYPE_CHECKING:
    from torch import nn

    from vidssl.recipes.run_config import RunConfig


@dataclass
class TransRankConfig:
    """The ``method`` section of TransRank: the temporal set, clips per video and their
    deterministic/stochastic assignment (§3.2); the temporal loss ``rank`` (eq. 1), ``ce``
    (eq. 2, TransCls) or ``none``, its margin m and an ``fc``/``mlp`` head; the spatial tasks
    of §4.3, aspect-ratio ranking (eq. 3, ``aspect: rank``) and rotation (``cls`` | ``rank``),
    each weighted by λ in the total loss (eq. 4)."""

    name: str = "transrank"
    transforms: tuple[str, ...] = default_of(TransRankSampler, "transforms")
    num_clips: int | None = default_of(TransRankSampler, "num_clips")
    mode: str = default_of(TransRankSampler, "mode")
    loss: str = default_of(TransRank, "loss")
    margin: float = default_of(TransRank, "margin")
    head: str = default_of(TransRank, "head")
    head_hidden: int = default_of(TransRank, "head_hidden")
    aspect: str = default_of(TransRank, "aspect")
    aspect_margin: float = default_of(TransRank, "aspect_margin")
    aspect_weight: float = default_of(TransRank, "aspect_weight")
    rotation: str = default_of(TransRank, "rotation")
    rotation_weight: float = default_of(TransRank, "rotation_weight")


def build_sampler(cfg: RunConfig, frame_source: dict | None = None) -> TransRankSampler:
    """N transformed clips per video (one per transformation when deterministic)."""
    method, clip = cfg.method, cfg.clip
    with config_keys("method", CLIP_KEYS):
        return TransRankSampler(
            transforms=tuple(method.transforms),
            num_clips=method.num_clips,
            mode=method.mode,
            clip_len=frames_for_modality(clip.frames, cfg.model.modality),
            base_interval=clip.base_interval,
            jitter=clip.jitter,
            augment=build_augment(clip, rotate=method.rotation != "none"),
            short_video=clip.short_video,
        )


def build_method(cfg: RunConfig, backbone: nn.Module, run_dir=None) -> TransRank:
    method = cfg.method
    with config_keys("method", {"modality": "model.modality", "kind": "head", "hidden_dims": "head_hidden"}):
        return TransRank(
            backbone,
            transforms=tuple(method.transforms),
            head=method.head,
            head_hidden=method.head_hidden,
            loss=method.loss,
            margin=method.margin,
            modality=cfg.model.modality,
            aspect=method.aspect,
            aspect_margin=method.aspect_margin,
            aspect_weight=method.aspect_weight,
            rotation=method.rotation,
            rotation_weight=method.rotation_weight,
        )


RECIPE = Recipe(
    name="transrank",
    paper="Duan et al., TransRank, CVPR 2022",
    config=TransRankConfig,
    build_sampler=build_sampler,
    build_method=build_method,
)
RECIPES = (RECIPE,)
