"""STS (TPAMI 2021): predict a clip's spatio-temporal motion and appearance statistics, with
an optional curriculum (§3.4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidssl.checks import config_keys
from vidssl.data.array_cache import ArrayCache
from vidssl.data.curriculum import CurriculumDataset, score_samples
from vidssl.data.datasets import VideoDataset
from vidssl.data.pretext.sts import STSSampler, fixed_clip_records
from vidssl.errors import VidsslError
from vidssl.methods.sts import STS
from vidssl.recipes.data import cache_root
from vidssl.recipes.recipe import CLIP_KEYS, Recipe, default_of

if TYPE_CHECKING:
    from torch import nn

    from vidssl.recipes.run_config import RunConfig

STS_KEYS = {"target": "sts_target", "switch": "curriculum", "switch_epoch": "curriculum_epoch",
            "patience": "curriculum_patience", "min_delta": "curriculum_min_delta"}


@dataclass
class STSConfig:
    """The ``method`` section of STS: ``clips`` ``fixed`` (every non-overlapping clip of every
    video, the UCF101 protocol) or ``random`` (one random clip per video per epoch, Kinetics);
    flow computed with ``flow`` or read from ``flow_root`` (``<video name>/flow_x_00001.jpg`` …,
    quantised to ±``flow_bound``); ``flow_cache`` keeps each clip's flow on disk (pays when clips
    are fixed); ``dominant_colour`` ``bins`` (paper) or ``triplet`` (official code);
    ``colour_bins`` of the IoU histograms (eqs. 4-5); the target ``sts_target``
    (``classification``, eqs. 9-10, ``regression_1d``, ``regression_2d``, eq. 8) with λ_m, λ_a;
    ``curriculum`` ``none``, ``epoch`` (the easier half alone until ``curriculum_epoch``) or
    ``plateau`` (until the epoch loss stops improving by ``curriculum_min_delta`` for
    ``curriculum_patience`` epochs), eq. 7."""

    name: str = "sts"
    sts_target: str = default_of(STS, "target")
    clips: str = default_of(STSSampler, "clips")
    flow: str = default_of(STSSampler, "flow")
    flow_root: str | None = default_of(STSSampler, "flow_root")
    flow_bound: float = default_of(STSSampler, "flow_bound")
    flow_template: str = default_of(STSSampler, "flow_template")
    flow_cache: bool = False  # keep every clip's computed flow on disk ($VIDSSL_CACHE/sts-flow)
    dominant_colour: str = default_of(STSSampler, "dominant_colour")
    colour_bins: int = default_of(STSSampler, "colour_bins")
    motion_weight: float = default_of(STS, "motion_weight")
    appearance_weight: float = default_of(STS, "appearance_weight")
    curriculum: str = "none"
    curriculum_epoch: int = default_of(CurriculumDataset, "switch_epoch")
    curriculum_patience: int = default_of(CurriculumDataset, "patience")
    curriculum_min_delta: float = default_of(CurriculumDataset, "min_delta")


def build_sampler(cfg: RunConfig, frame_source: dict | None = None) -> STSSampler:
    """STS's clip + labels sampler; ``flow_cache`` keeps computed flow in ``$VIDSSL_CACHE/sts-flow``,
    keyed also by ``frame_source`` (the same file read at another size gives other flow)."""
    method, clip = cfg.method, cfg.clip
    if cfg.model.modality != "rgb":
        raise VidsslError(f"model.modality={cfg.model.modality!r}: STS labels describe RGB clips; use modality rgb")
    if clip.resize is None:
        raise VidsslError("clip.resize: STS resizes every frame before its random crop; set e.g. [128, 171]")
    with config_keys("method", CLIP_KEYS):
        return STSSampler(
            clip_len=clip.frames,
            size=clip.size,
            resize=clip.resize,
            flip_p=clip.flip_p,
            clips=method.clips,
            flow=method.flow,
            flow_root=method.flow_root,
            flow_bound=method.flow_bound,
            flow_template=method.flow_template,
            flow_cache=ArrayCache(cache_root() / "sts-flow") if method.flow_cache else None,
            dominant_colour=method.dominant_colour,
            colour_bins=method.colour_bins,
            short_video=clip.short_video,
            frame_source=frame_source,
        )


def build_dataset(cfg: RunConfig, records: list, reader, sampler: STSSampler, *, progress: bool) -> Any:
    """With ``clips: fixed``, every non-overlapping clip of every video; with a ``curriculum``, the
    single-step pacing of eq. (7) after scoring every sample once (cached)."""
    method = cfg.method
    if method.clips == "fixed":
        records = fixed_clip_records(records, clip_len=cfg.clip.frames)
    dataset = VideoDataset(records, reader, sampler, seed=cfg.train.seed)
    if method.curriculum == "none":
        return dataset
    settings = {"size": sampler.size, "resize": sampler.resize, "clip_len": sampler.clip_len,
                "clips": sampler.clips, "short_video": sampler.short_video, "flow": sampler.estimator.method,
                "flow_root": sampler.flow_root, "flow_bound": sampler.flow_bound,
                "flow_template": sampler.flow_template, "frames": sampler.frame_source}
    scores = score_samples(records, reader, sampler.difficulty, settings=settings,
                           cache=ArrayCache(cache_root() / "sts-scores"), workers=cfg.train.workers,
                           progress=progress and cfg.train.progress)
    with config_keys("method", STS_KEYS):
        return CurriculumDataset(
            dataset,
            scores,
            switch=method.curriculum,
            switch_epoch=method.curriculum_epoch,
            patience=method.curriculum_patience,
            min_delta=method.curriculum_min_delta,
        )


def build_method(cfg: RunConfig, backbone: nn.Module, run_dir=None) -> STS:
    """STS's heads; ``clip.frames`` sizes the global-motion heads (one class per flow frame)."""
    method = cfg.method
    with config_keys("method", {**STS_KEYS, "clip_len": "clip.frames", "modality": "model.modality"}):
        return STS(
            backbone,
            target=method.sts_target,
            clip_len=cfg.clip.frames,
            motion_weight=method.motion_weight,
            appearance_weight=method.appearance_weight,
            modality=cfg.model.modality,
        )


RECIPE = Recipe(
    name="sts",
    paper="Wang et al., spatio-temporal statistics (STS), TPAMI 2021",
    config=STSConfig,
    build_sampler=build_sampler,
    build_method=build_method,
    build_dataset=build_dataset,
)
RECIPES = (RECIPE,)
