"""Typed configuration shared by every run: data, model, clip and evaluation sections.

One YAML file per experiment (``configs/``) fills these dataclasses through
:func:`vidssl.config.loading.from_dict`; each method's own section lives with its
recipe (:mod:`vidssl.recipes`), and :class:`vidssl.recipes.RunConfig` puts them
together. Only the recipes read configs; they pass plain keyword arguments to
the library's constructors. A
section with a ``validate(where)`` method is checked by ``from_dict`` as soon
as it is built, so a bad value fails before any data is read.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vidssl.checks import check_fields, is_positive_int, is_probability
from vidssl.data.datasets import FORMATS
from vidssl.data.sampling import FIT_RULES
from vidssl.errors import VidsslError
from vidssl.eval.linear_probe import LinearProbeConfig
from vidssl.eval.temporal import TemporalProbeConfig


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _shown(value: Any) -> str:
    """A value as the user would write it in YAML: lists in brackets, strings bare."""
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _require(ok: bool, where: str, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise VidsslError(f"{_key(where, name)}={_shown(value)}: expected {expected}")


def _range_pair(upper: float = math.inf) -> Callable[[tuple[float, float]], bool]:
    """Rule for a [low, high] pair with 0 < low <= high <= ``upper``."""
    return lambda pair: 0 < pair[0] <= pair[1] <= upper


PRETEXT_TARGETS = ("real", "scrambled")


@dataclass
class DataConfig:
    """Which videos, where, and how they are read.

    ``format``: ``synthmotion`` (generated on first use into ``root`` or the
    cache), ``folder``, ``ucf101``, ``hmdb51``, ``kinetics``, ``sthsth``,
    ``csv``. ``cache_short_side`` > 0 pre-decodes every video once at that
    short side into ``cache_dir`` — the fast path for small CPU runs, where
    decoding full-size frames, not the model, bounds the step.
    ``val_fraction`` > 0 carves a validation split out of the training split
    (whole UCF101 ``gNN`` groups, else videos, that fraction of each class;
    :mod:`vidssl.data.validation`): ``split: train`` then leaves those videos
    out, and ``eval.split: val`` evaluates on them. Defaults are chosen there;
    the test split only reports. ``pretext_targets: scrambled`` trains the
    method's negative control: each sample's pretext targets drawn at random,
    independent of its clips (:mod:`vidssl.data.controls`).
    """

    format: str = "synthmotion"
    root: str | None = None
    annotations: str | None = None
    split: str = "train"
    split_id: int = 1
    labelled: bool = True
    reader: str = "pyav"
    frame_template: str = "img_{:05d}.jpg"
    cache_short_side: int = 0
    cache_dir: str | None = None
    synth_per_class: int = 24
    synth_seed: int = 0
    synth_appearance_bias: float = 0.0
    val_fraction: float = 0.0
    pretext_targets: str = "real"  # "real" | "scrambled" (the negative control)

    def validate(self, where: str = "data") -> None:
        """Reject values the data pipeline cannot use, naming ``where.<key>`` and the value."""
        _require(self.cache_short_side >= 0, where, "cache_short_side", self.cache_short_side,
                 "an integer >= 0 (0 = no frame cache)")
        _require(0.0 <= self.val_fraction < 1.0, where, "val_fraction", self.val_fraction,
                 "a fraction in [0, 1) of the training groups (0 = no validation split)")
        _require(self.pretext_targets in PRETEXT_TARGETS, where, "pretext_targets", self.pretext_targets,
                 f"one of {', '.join(PRETEXT_TARGETS)}")


@dataclass
class ModelConfig:
    """Backbone name (``r3d_18``, ``r2plus1d_18``, ``mc3_18``, ``c3d``, ``s3d``, ``s3dg``, ``r3d_50``, ``tiny``)
    and channel width multiplier (None = the builder's default: 1.0, or 0.25 for ``tiny``), and the input
    modality the backbone sees in pretraining and evaluation alike."""

    backbone: str = "r3d_18"
    width: float | None = None
    modality: str = "rgb"  # "rgb" | "rgbdiff" (differences of consecutive frames)


@dataclass
class ClipConfig:
    """Clip geometry and the clip-wise augmentations of TransRank §4.4."""

    frames: int = 16
    size: int = 112
    base_interval: int = 2
    jitter: tuple[float, float] = (0.8, 1.2)
    short_video: str = "loop"
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (0.75, 1.3333333)
    flip_p: float = 0.5
    color_jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    resize: tuple[int, int] | None = None  # (h, w): resize then random crop (SRO §IV-D: 128x171 -> 112)

    def validate(self, where: str = "clip") -> None:
        """Reject clips no sampler or augmentation can make, naming ``where.<key>`` and the value."""
        check_fields(self, where, _CLIP_RULES)
        resize_ok = self.resize is None or all(is_positive_int(side) and side >= self.size for side in self.resize)
        _require(resize_ok, where, "resize", self.resize,
                 f"null or [height, width], integers >= {_key(where, 'size')} ({self.size})")


_CLIP_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("frames", is_positive_int, "a positive integer"),
    ("size", is_positive_int, "a positive integer"),
    ("base_interval", is_positive_int, "a positive integer"),
    ("jitter", _range_pair(), "[low, high] with 0 < low <= high"),
    ("short_video", lambda rule: rule in FIT_RULES, f"one of {', '.join(FIT_RULES)}"),
    ("scale", _range_pair(1.0), "[low, high] with 0 < low <= high <= 1"),
    ("ratio", _range_pair(), "[low, high] with 0 < low <= high"),
    ("flip_p", is_probability, "a probability in [0, 1]"),
    ("color_jitter_p", is_probability, "a probability in [0, 1]"),
    ("grayscale_p", is_probability, "a probability in [0, 1]"),
    ("blur_p", is_probability, "a probability in [0, 1]"),
    ("brightness", lambda strength: strength >= 0, "a number >= 0"),
    ("contrast", lambda strength: strength >= 0, "a number >= 0"),
    ("saturation", lambda strength: strength >= 0, "a number >= 0"),
    ("hue", lambda shift: 0 <= shift <= 0.5, "a number in [0, 0.5]"),
)


@dataclass
class FinetuneConfig:
    """Transfer recipe of TransRank Table 11 / App. C.1 (SGD, ×0.1 at 3/5 and 4/5)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.16
    weight_decay: float = 1e-4
    momentum: float = 0.9
    dropout: float = 0.5
    label_fraction: float = 1.0
    scale: tuple[float, float] = (0.25, 1.0)
    flip_p: float = 0.5  # 0 where a flip changes the class (SynthMotion, Something-Something)
    # e.g. [0.01, 0.02, 0.04, 0.08, 0.16] (TransRank Fig. 5): finetune at each, report the best
    lr_sweep: tuple[float, ...] = ()
    test_crops: int = 1  # 1 = centre crop; 3 = left/centre/right (top/centre/bottom) crops per clip, as CORP's 10 x 3
    curve_every: int = 0  # > 0: test accuracy after every k-th epoch too, for the train-vs-test curves (Fig. 2)
    semi_fractions: tuple[float, ...] = (0.01, 0.1)  # `vidssl eval semi`: class-balanced label subsets (CORP Table 3)

    def validate(self, where: str = "eval.finetune") -> None:
        """Reject values no finetuning can use, naming ``where.<key>`` and the value."""
        check_fields(self, where, _FINETUNE_RULES)
        _require(all(_fraction(f) for f in self.semi_fractions), where, "semi_fractions", self.semi_fractions,
                 "fractions in (0, 1]")
        _require(all(lr > 0 for lr in self.lr_sweep), where, "lr_sweep", self.lr_sweep, "learning rates > 0")


def _fraction(value: float) -> bool:
    return 0 < value <= 1  # False for NaN


_POSITIVE_INT = (is_positive_int, "a positive integer")
_POSITIVE = (lambda value: value > 0, "a number > 0")
_NON_NEGATIVE = (lambda value: value >= 0, "a number >= 0")

_FINETUNE_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("epochs", *_POSITIVE_INT),
    ("batch_size", *_POSITIVE_INT),
    ("lr", *_POSITIVE),
    ("weight_decay", *_NON_NEGATIVE),
    ("momentum", lambda value: 0 <= value < 1, "a number in [0, 1)"),
    ("dropout", lambda value: 0 <= value < 1, "a number in [0, 1)"),
    ("label_fraction", _fraction, "a fraction in (0, 1]"),
    ("scale", _range_pair(1.0), "[low, high] with 0 < low <= high <= 1"),
    ("flip_p", is_probability, "a probability in [0, 1]"),
    ("test_crops", lambda crops: crops in (1, 3), "1 or 3"),
    ("curve_every", lambda every: every >= 0, "an integer >= 0 (0 = off)"),
)


def _no_annotations_for_folder(section: Any, where: str) -> None:
    """The folder format reads no split files: annotations given with it would be silently ignored."""
    if section.format == "folder":
        others = ", ".join(name for name in FORMATS if name != "folder")
        _require(section.annotations is None, where, "annotations", section.annotations,
                 f"null with {_key(where, 'format')}=folder (the folder format has no split files; "
                 f"annotations are read by {others})")


@dataclass
class ScenesConfig:
    """Dynamic scene recognition (STS §6.3): sliding clips, per-layer video features, leave-one-out linear SVM.

    ``root`` holds one folder per scene (YUPENN layout, ``format: folder``); None = the run's labelled videos.
    """

    root: str | None = None
    format: str = "folder"
    annotations: str | None = None
    stride: int = 8  # 16-frame clips overlapping by 8
    layers: tuple[str, ...] = ("layer3", "layer4", "pool")
    svm_c: float = 1.0

    def validate(self, where: str = "eval.scenes") -> None:
        _require(self.format in FORMATS, where, "format", self.format, f"one of {', '.join(FORMATS)}")
        _no_annotations_for_folder(self, where)
        check_fields(self, where, (("stride", *_POSITIVE_INT), ("svm_c", *_POSITIVE)))


@dataclass
class SimilarityConfig:
    """Action similarity labelling (STS §6.4, ASLAN): 12 measures x 3 layers, z-scored, linear SVM, 10 folds.

    ``root`` = the ASLAN videos, ``annotations`` = the folder of split1..split10.txt (and names.txt);
    None = ASLAN-style pairs drawn from the run's labelled videos, each fold's classes unseen by the others.
    """

    root: str | None = None
    annotations: str | None = None
    stride: int = 8
    layers: tuple[str, ...] = ("layer3", "layer4", "pool")
    svm_c: float = 1.0
    pairs_per_fold: int = 60  # for pairs drawn from the run's videos (ASLAN: 600 per split)

    def validate(self, where: str = "eval.similarity") -> None:
        rules = (("stride", *_POSITIVE_INT), ("svm_c", *_POSITIVE), ("pairs_per_fold", *_POSITIVE_INT))
        check_fields(self, where, rules)


EVAL_SPLITS = ("test", "val")


@dataclass
class EvalConfig:
    """Feature extraction and the retrieval / finetune / linear-probe / temporal-task (sync, order) protocols."""

    format: str | None = None  # dataset of the downstream task; None = same as data
    root: str | None = None
    annotations: str | None = None
    split_id: int = 1
    split: str = "test"  # the videos evaluated: "test" (reports) or "val" (chooses settings; needs data.val_fraction)
    num_clips: int = 10
    frames: int = 16
    interval: int = 1
    size: int = 112
    resize_short: int = 128
    layer: str = "pool"
    pooling: str = "avg"
    batch_size: int = 16
    retrieval_layers: tuple[str, ...] = ("layer3", "layer4", "pool")  # R@k per layer too (STS Fig. 11)
    grid_queries: int = 6  # rows of the qualitative retrieval grid (STS Fig. 12), each query's top 3
    feature_cache: bool = True  # frozen features computed once per (weights, videos, clips, layer)
    cache_dir: str | None = None  # default $VIDSSL_CACHE/features
    tsne_perplexity: float = 30.0
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    scenes: ScenesConfig = field(default_factory=ScenesConfig)
    similarity: SimilarityConfig = field(default_factory=SimilarityConfig)
    linear: LinearProbeConfig = field(default_factory=LinearProbeConfig)
    temporal: TemporalProbeConfig = field(default_factory=TemporalProbeConfig)  # Sync / Order MLP probes

    def validate(self, where: str = "eval") -> None:
        """Reject clip settings no protocol can use (sub-sections check themselves), naming ``where.<key>``."""
        formats = ("synthmotion", *FORMATS)
        _require(self.format is None or self.format in formats, where, "format", self.format,
                 f"null (the pretraining data) or one of {', '.join(formats)}")
        _require(self.split in EVAL_SPLITS, where, "split", self.split, f"one of {', '.join(EVAL_SPLITS)}")
        _no_annotations_for_folder(self, where)
        check_fields(self, where, _EVAL_RULES)


_EVAL_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    *((name, *_POSITIVE_INT) for name in ("num_clips", "frames", "interval", "size", "resize_short", "batch_size")),
    ("tsne_perplexity", *_POSITIVE),
    ("grid_queries", lambda count: count >= 0, "an integer >= 0"),
)
