"""Typed configuration of a pretraining run and of the evaluation protocols.

One YAML file per experiment (``configs/``) fills these dataclasses through
:func:`vidssl.config.loading.from_dict`; the CLI is the only place that reads
them and passes plain keyword arguments to the library's constructors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vidssl.engine.trainer import TrainConfig


@dataclass
class DataConfig:
    """Which videos, where, and how they are read.

    ``format``: ``synthmotion`` (generated on first use into ``root`` or the
    cache), ``folder``, ``ucf101``, ``hmdb51``, ``kinetics``, ``sthsth``,
    ``csv``. ``cache_short_side`` > 0 pre-decodes every video once at that
    short side into ``cache_dir`` — the fast path for small CPU runs, where
    decoding full-size frames, not the model, bounds the step.
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


@dataclass
class ModelConfig:
    """Backbone name (``r3d_18``, ``r2plus1d_18``, ``mc3_18``, ``tiny``) and channel width multiplier
    (None = the builder's default: 1.0 for the *-18 models, 0.25 for ``tiny``), and the input
    modality the backbone sees in pretraining and evaluation alike."""

    backbone: str = "r3d_18"
    width: float | None = None
    modality: str = "rgb"  # "rgb" | "rgbdiff" (differences of consecutive frames)


@dataclass
class MethodConfig:
    """The pretext task. For ``transrank``: the temporal set, clips per video,
    deterministic/stochastic assignment, ``rank`` (eq. 1), ``ce`` (eq. 2,
    TransCls) or ``none`` for the temporal task, the margin m, an ``fc`` or
    ``mlp`` head per task, and the spatial tasks of §4.3: aspect-ratio ranking
    (eq. 3, ``aspect: rank``) and rotation (``rotation: cls | rank``), each
    weighted by λ in the total loss (eq. 4; 0.5 in the paper)."""

    name: str = "transrank"
    transforms: tuple[str, ...] = ("1x", "2x", "rev")
    num_clips: int | None = None
    mode: str = "deterministic"
    loss: str = "rank"
    margin: float = 1.0
    head: str = "mlp"
    head_hidden: int = 128
    aspect: str = "none"          # "none" | "rank" (eq. 3)
    aspect_margin: float = 1.0
    aspect_weight: float = 0.5   # λ of eq. (4)
    rotation: str = "none"        # "none" | "cls" (eq. 2 over 4 rotations) | "rank" (eq. 1 over 4 rotations)
    rotation_weight: float = 0.5  # λ of eq. (4)


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


@dataclass
class EvalConfig:
    """Feature extraction and the retrieval / finetune protocols."""

    format: str | None = None  # dataset of the downstream task; None = same as data
    root: str | None = None
    annotations: str | None = None
    split_id: int = 1
    num_clips: int = 10
    frames: int = 16
    interval: int = 1
    size: int = 112
    resize_short: int = 128
    layer: str = "pool"
    pooling: str = "avg"
    batch_size: int = 16
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


@dataclass
class RunConfig:
    """Everything one ``vidssl pretrain`` run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
