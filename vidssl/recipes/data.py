"""The data half of a run: the ``data`` section → video records, a reader (with the optional
frame cache) and the backbone of the ``model`` section."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from torch import nn

from vidssl.config.schema import DataConfig, ModelConfig
from vidssl.data.datasets import VideoRecord, load_records
from vidssl.data.synthmotion import generate_synthmotion
from vidssl.data.video import CachedReader, build_frame_cache, make_reader
from vidssl.errors import OutputError, VidsslError
from vidssl.fileio import make_output_dir
from vidssl.models import build_backbone


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
    """The videos (and class names) of ``data``'s split (or ``split``)."""
    fmt, root, annotations = dataset_location(data)
    return load_records(
        fmt,
        root,
        split=split or data.split,
        split_id=data.split_id,
        annotations=annotations,
        labelled=data.labelled,
        frame_template=data.frame_template,
        val_fraction=data.val_fraction,
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


def frame_source(data: DataConfig) -> dict:
    """What decides the pixels a reader returns for a record, beyond the file: part of every cache key built on them."""
    return {"reader": data.reader, "cache_short_side": data.cache_short_side, "frame_template": data.frame_template}


def build_model_backbone(model: ModelConfig) -> nn.Module:
    """The backbone of the ``model`` section (``width`` None: the builder's default)."""
    width = {} if model.width is None else {"width": model.width}
    return build_backbone(model.backbone, **width)
