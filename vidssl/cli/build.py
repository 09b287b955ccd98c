"""Config sections → library objects, with explicit keyword arguments.

The only module that reads :mod:`vidssl.config.schema` dataclasses; everything
it builds takes plain typed arguments and can be built by hand the same way
(see README's Python example).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from torch import nn

from vidssl.config.schema import ClipConfig, DataConfig, MethodConfig, ModelConfig, RunConfig, ViewSynthesisConfig
from vidssl.data.array_cache import ArrayCache
from vidssl.data.curriculum import CurriculumDataset, score_samples
from vidssl.data.datasets import VideoDataset, VideoRecord, load_records, warn_short_videos
from vidssl.data.pretext.corp import CORPSampler
from vidssl.data.pretext.sro import SROSampler
from vidssl.data.pretext.sts import STSSampler, fixed_clip_records
from vidssl.data.pretext.transrank import TransRankSampler
from vidssl.data.pretext.vcop import VCOPSampler
from vidssl.data.synthmotion import generate_synthmotion
from vidssl.data.transforms import ClipAugment, frames_for_modality
from vidssl.data.video import CachedReader, build_frame_cache, make_reader
from vidssl.errors import OutputError, VidsslError
from vidssl.fileio import make_output_dir
from vidssl.methods import METHODS
from vidssl.methods.corp import CORP
from vidssl.methods.sro import SRO
from vidssl.methods.sts import STS
from vidssl.methods.transrank import TransRank
from vidssl.methods.vcop import VCOP
from vidssl.methods.view_synthesis import ViewSynthesis
from vidssl.models import build_backbone
from vidssl.models.view_synthesis import ClipVAE


def cache_root() -> Path:
    """Where generated datasets and caches live: ``$VIDSSL_CACHE`` or ``~/.cache/vidssl``."""
    return Path(os.environ.get("VIDSSL_CACHE", Path.home() / ".cache" / "vidssl"))


def synthmotion_root(data: DataConfig) -> Path:
    """Generate SynthMotion (cached) and return its folder."""
    root = Path(data.root) if data.root else cache_root() / (
        f"synthmotion-s{data.synth_seed}-n{data.synth_per_class}-b{data.synth_appearance_bias:g}"
    )
    return generate_synthmotion(
        root, per_class=data.synth_per_class, seed=data.synth_seed, appearance_bias=data.synth_appearance_bias
    )


def dataset_location(data: DataConfig) -> tuple[str, str, str | None]:
    """(format, videos root, annotations) with SynthMotion resolved to its UCF101 layout."""
    if data.format == "synthmotion":
        root = synthmotion_root(data)
        return "ucf101", str(root / "videos"), str(root / "splits")
    if data.root is None:
        raise VidsslError(f"data.root: required for format {data.format!r}")
    return data.format, data.root, data.annotations


def build_records(data: DataConfig, *, split: str | None = None) -> tuple[list[VideoRecord], list[str]]:
    fmt, root, annotations = dataset_location(data)
    return load_records(
        fmt,
        root,
        split=split or data.split,
        split_id=data.split_id,
        annotations=annotations,
        labelled=data.labelled,
        frame_template=data.frame_template,
    )


def build_reader(data: DataConfig, records: list[VideoRecord]):
    """The reader for ``records``; with ``cache_short_side`` > 0, decode once into the frame cache.

    Returns (reader, records) — cached records carry the cached frame size.
    """
    if data.cache_short_side > 0:
        cache_dir = Path(data.cache_dir) if data.cache_dir else cache_root() / f"frames-{data.cache_short_side}"
        source = make_reader(data.reader, template=data.frame_template) if data.reader == "frames" else None
        try:
            make_output_dir(cache_dir)
            cached = build_frame_cache(records, cache_dir, short_side=data.cache_short_side, source_reader=source)
        except OSError as err:  # OutputError included; the cache is optional: decode every clip instead
            reason = err if isinstance(err, OutputError) else OutputError(err.filename or cache_dir, err)
            warnings.warn(f"frame cache disabled: {reason}; decoding the videos on the fly instead (slower)",
                          stacklevel=2)
        else:
            return CachedReader(cache_dir), cached
    if data.reader == "frames":
        return make_reader("frames", template=data.frame_template), records
    return make_reader(data.reader), records


def build_augment(clip: ClipConfig, *, rotate: bool = False) -> ClipAugment:
    """The clip-wise augmentation of ``clip``; ``rotate`` adds the k·90° rotation of the rotation task."""
    return ClipAugment(
        clip.size,
        scale=tuple(clip.scale),
        ratio=tuple(clip.ratio),
        flip_p=clip.flip_p,
        brightness=clip.brightness,
        contrast=clip.contrast,
        saturation=clip.saturation,
        hue=clip.hue,
        jitter_p=clip.color_jitter_p,
        grayscale_p=clip.grayscale_p,
        blur_p=clip.blur_p,
        rotate=rotate,
        resize=None if clip.resize is None else tuple(clip.resize),
    )


def _check_method_name(method: MethodConfig) -> None:
    if method.name not in METHODS:
        raise VidsslError(f"method.name: expected one of {sorted(METHODS)}, got {method.name!r}")


def vcop_tuple_len(method: MethodConfig) -> int:
    """VCOP's clips per tuple: ``method.num_clips``, 3 (the paper's default) when unset."""
    return 3 if method.num_clips is None else method.num_clips


def corp_num_clips(method: MethodConfig) -> int:
    """CORP's clips per video: ``method.num_clips``, else 4 for CORP_m (§4.3, Table 6b) and 2 for CORP_f."""
    if method.num_clips is not None:
        return method.num_clips
    return 4 if method.name == "corp_m" else 2


def build_pretext_sampler(
    method: MethodConfig, clip: ClipConfig, *, modality: str = "rgb", frame_source: dict | None = None
):
    """The sampler of ``method.name``: TransRank's N transformed clips, SRO's segment clips, VCOP's tuples,
    CORP's K clips per video or STS's clip and statistics (``frame_source``: :func:`frame_source`)."""
    _check_method_name(method)
    if method.name == "transrank":
        return TransRankSampler(
            transforms=tuple(method.transforms),
            num_clips=method.num_clips,
            mode=method.mode,
            clip_len=frames_for_modality(clip.frames, modality),
            base_interval=clip.base_interval,
            jitter=tuple(clip.jitter),
            augment=build_augment(clip, rotate=method.rotation != "none"),
            short_video=clip.short_video,
        )
    if method.name in ("corp_m", "corp_f"):
        return CORPSampler(
            clip_len=frames_for_modality(clip.frames, modality),
            dilation=clip.base_interval,
            num_clips=corp_num_clips(method),
            augment=build_augment(clip),
        )
    if method.name == "sts":
        return build_sts_sampler(method, clip, modality=modality, frame_source=frame_source)
    if method.name == "vcop":
        return VCOPSampler(
            clip_len=frames_for_modality(clip.frames, modality),
            interval=method.clip_interval,
            tuple_len=vcop_tuple_len(method),
            augment=build_augment(clip),
            short_video=clip.short_video,
        )
    return SROSampler(  # sro, and sro_view_synthesis: G learns on the clips it will turn into keys
        clip_len=frames_for_modality(clip.frames, modality),
        num_segments=method.num_segments,
        min_length=method.min_segment_length,
        rate_range=tuple(method.rate_range),
        key_clip=method.name == "sro" and method.contrast != "none",
        shuffle=method.shuffle_segments,
        augment=build_augment(clip),
        short_video=clip.short_video,
    )


def frame_source(data: DataConfig) -> dict:
    """What decides the pixels a reader returns for a record, beyond the file: part of every cache key built on them."""
    return {"reader": data.reader, "cache_short_side": data.cache_short_side, "frame_template": data.frame_template}


def build_sts_sampler(
    method: MethodConfig, clip: ClipConfig, *, modality: str = "rgb", frame_source: dict | None = None
) -> STSSampler:
    """STS's clip + labels sampler; ``method.flow_cache`` keeps computed flow in ``$VIDSSL_CACHE/sts-flow``,
    keyed also by ``frame_source`` (the same file read at another size gives other flow)."""
    if modality != "rgb":
        raise VidsslError(f"model.modality={modality!r}: STS labels describe RGB clips; use modality rgb")
    if clip.resize is None:
        raise VidsslError("clip.resize: STS resizes every frame before its random crop; set e.g. [128, 171]")
    return STSSampler(
        clip_len=clip.frames,
        size=clip.size,
        resize=tuple(clip.resize),
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


def build_pretext_dataset(cfg: RunConfig, records: list, reader, *, progress: bool = True):
    """The training dataset of ``cfg``: videos through the method's sampler.

    STS with ``method.clips: fixed`` trains on every non-overlapping clip of every
    video; with a ``method.curriculum`` the dataset is wrapped in the single-step
    pacing of eq. (7), after scoring every sample once (cached).
    """
    warn_short_videos(records, frames_for_modality(cfg.clip.frames, cfg.model.modality), cfg.clip.short_video)
    source = frame_source(cfg.data)
    sampler = build_pretext_sampler(cfg.method, cfg.clip, modality=cfg.model.modality, frame_source=source)
    if cfg.method.name == "sts" and cfg.method.clips == "fixed":
        records = fixed_clip_records(records, clip_len=cfg.clip.frames)
    dataset = VideoDataset(records, reader, sampler, seed=cfg.train.seed)
    if cfg.method.name != "sts" or cfg.method.curriculum == "none":
        return dataset
    settings = {"size": sampler.size, "resize": sampler.resize, "clip_len": sampler.clip_len,
                "clips": sampler.clips, "short_video": sampler.short_video, "flow": sampler.estimator.method,
                "flow_root": sampler.flow_root, "flow_bound": sampler.flow_bound, "flow_template": sampler.flow_template,
                "frames": source}
    scores = score_samples(records, reader, sampler.difficulty, settings=settings,
                           cache=ArrayCache(cache_root() / "sts-scores"), workers=cfg.train.workers,
                           progress=progress and cfg.train.progress)
    return CurriculumDataset(
        dataset,
        scores,
        switch=cfg.method.curriculum,
        switch_epoch=cfg.method.curriculum_epoch,
        patience=cfg.method.curriculum_patience,
        min_delta=cfg.method.curriculum_min_delta,
    )


def build_model_backbone(model: ModelConfig) -> nn.Module:
    width = {} if model.width is None else {"width": model.width}
    return build_backbone(model.backbone, **width)


def build_view_generator(view: ViewSynthesisConfig) -> ClipVAE:
    """The VAE G of SRO §III-G at the sizes of the ``view`` section (weights come from its stage)."""
    return ClipVAE(width=view.vae_width, latent_channels=view.latent_channels)


def build_method(
    method: MethodConfig,
    backbone: nn.Module,
    *,
    modality: str = "rgb",
    view: ViewSynthesisConfig | None = None,
    clip_frames: int = 16,
) -> nn.Module:
    """The method module of ``method.name`` around ``backbone``, with the config's keyword arguments.

    ``clip_frames`` (``clip.frames``) sizes STS's global-motion heads (one class per flow frame).

    SRO with ``view_synthesis`` gets a freshly built (untrained) generator of the
    ``view`` sizes; :func:`vidssl.cli.commands.pretrain` loads its trained weights.
    """
    _check_method_name(method)
    view = view or ViewSynthesisConfig()
    if method.name == "transrank":
        return TransRank(
            backbone,
            transforms=tuple(method.transforms),
            head=method.head,
            head_hidden=method.head_hidden,
            loss=method.loss,
            margin=method.margin,
            modality=modality,
            aspect=method.aspect,
            aspect_margin=method.aspect_margin,
            aspect_weight=method.aspect_weight,
            rotation=method.rotation,
            rotation_weight=method.rotation_weight,
        )
    if method.name == "corp_f" and corp_num_clips(method) != 2:
        raise VidsslError(f"method.num_clips: CORP_f takes 2 clips per video (§3.3), got {method.num_clips}")
    if method.name in ("corp_m", "corp_f"):
        return CORP(
            backbone,
            variant=method.name[-1],
            task=method.task,
            order=method.order,
            projection_depth=method.projection_depth,
            projection_width=method.projection_width,
            projection_dim=method.projection_dim,
            attention=method.attention,
            relation_heads=method.relation_heads,
            relation_layers=method.relation_layers,
            relation_hidden=method.relation_hidden,
            pair_classifier=method.pair_classifier,
            temperature=method.temperature,
            modality=modality,
        )
    if method.name == "sts":
        return STS(
            backbone,
            target=method.sts_target,
            clip_len=clip_frames,
            motion_weight=method.motion_weight,
            appearance_weight=method.appearance_weight,
            modality=modality,
        )
    if method.name == "vcop":
        return VCOP(
            backbone,
            tuple_len=vcop_tuple_len(method),
            head_hidden=method.head_hidden,
            dropout=method.head_dropout,
            modality=modality,
        )
    if method.name == "sro_view_synthesis":
        return ViewSynthesis(
            backbone,
            vae_width=view.vae_width,
            latent_channels=view.latent_channels,
            flow_width=view.flow_width,
            kl_weight=view.kl_weight,
            infomax_weight=view.infomax_weight,
            infomin_weight=view.infomin_weight,
            photometric_weight=view.photometric_weight,
            infomin=view.infomin,
            modality=modality,
        )
    if method.order and not method.shuffle_segments:
        raise VidsslError("method.order: the order task needs method.shuffle_segments=true (else every label is 0)")
    return SRO(
        backbone,
        num_segments=method.num_segments,
        rate_range=tuple(method.rate_range),
        order=method.order,
        rate=method.rate,
        rate_target=method.rate_target,
        contrast=method.contrast,
        head=method.head,
        head_hidden=method.head_hidden,
        order_weight=method.order_weight,
        rate_weight=method.rate_weight,
        contrast_weight=method.contrast_weight,
        projection_dim=method.projection_dim,
        queue_size=method.queue_size,
        key_momentum=method.key_momentum,
        temperature=method.temperature,
        shuffle_bn=method.shuffle_bn,
        view_generator=None if method.view_synthesis == "none" else build_view_generator(view),
        view_probability=method.view_probability,
        modality=modality,
    )
