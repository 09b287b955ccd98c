"""SRO (TCSVT 2021): segment order + sampling-rate prediction with a MoCo contrast (cosine or
shuffle similarity), and its optional view-synthesis stage (§III-G): ``sro_view_synthesis``
trains the view generator G whose synthesised views then serve as SRO's keys."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vidssl.checks import config_keys, is_positive, is_positive_int
from vidssl.data.pretext.sro import SROSampler
from vidssl.data.transforms import frames_for_modality, to_model_input
from vidssl.engine.checkpoint import load_checkpoint
from vidssl.engine.distributed import is_main
from vidssl.engine.run_folder import holds_run
from vidssl.errors import VidsslError
from vidssl.losses.view_synthesis import INFOMIN_FORMS
from vidssl.methods.sro import SRO
from vidssl.methods.view_synthesis import ViewSynthesis, denormalize_clip
from vidssl.models.view_synthesis import ClipVAE
from vidssl.recipes.recipe import CLIP_KEYS, Recipe, build_augment, default_of

if TYPE_CHECKING:
    from torch import nn

    from vidssl.recipes.run_config import RunConfig

SRO_KEYS = {"min_length": "min_segment_length", "shuffle": "shuffle_segments"}
# Parameter names of SRO and the parts it builds (head, queue, projection) → its config keys.
SRO_METHOD_KEYS = {"view_generator": "view_synthesis", "modality": "model.modality", "kind": "head",
                   "hidden_dims": "head_hidden", "size": "queue_size", "dim": "projection_dim",
                   "out_dim": "projection_dim"}


@dataclass
class ViewSynthesisConfig:
    """The view-synthesis stage (§III-G), ``method.view``: sizes of the VAE G and flow estimator O,
    the loss weights, the info-min sign (``infomin``, eq. 16), and how long the stage trains (its
    optimiser follows ``train`` otherwise)."""

    epochs: int = 20
    lr: float = 1e-3
    vae_width: int = default_of(ViewSynthesis, "vae_width")
    latent_channels: int = default_of(ViewSynthesis, "latent_channels")
    flow_width: int = default_of(ViewSynthesis, "flow_width")
    kl_weight: float = default_of(ViewSynthesis, "kl_weight")
    infomax_weight: float = default_of(ViewSynthesis, "infomax_weight")
    infomin_weight: float = default_of(ViewSynthesis, "infomin_weight")
    photometric_weight: float = default_of(ViewSynthesis, "photometric_weight")
    infomin: str = default_of(ViewSynthesis, "infomin")  # "intent": minimise cos(f(x), f(x')) as the text says

    def validate(self, where: str = "method.view") -> None:
        if not is_positive_int(self.epochs):
            raise VidsslError(f"{where}.epochs: expected a positive integer, got {self.epochs!r}")
        if not is_positive(self.lr):
            raise VidsslError(f"{where}.lr: expected a number > 0, got {self.lr!r}")
        if self.infomin not in INFOMIN_FORMS:
            raise VidsslError(f"{where}.infomin: expected one of {', '.join(INFOMIN_FORMS)}, got {self.infomin!r}")


@dataclass
class SROConfig:
    """The ``method`` section of SRO: n segments (``num_segments``, 2…5) of at least
    ``min_segment_length`` frames at rates drawn from ``rate_range``; the order task (``order``,
    an ``fc``/``mlp`` head of width ``head_hidden`` to n! classes), the rate task (``rate``:
    ``regression`` — targets ``raw`` rates or scaled to ``unit`` [0, 1] — or ``classification``,
    or ``none``) and the MoCo branch (``contrast``: ``cosine``, ``shuffle`` similarity, or
    ``none``), weighted by λ₁, λ₂, λ₃ of eq. (17). ``view_synthesis``: ``none``, ``stage`` (train
    the generator first in ``RUN/view_synthesis`` with the ``view`` settings) or the path of a
    finished ``sro_view_synthesis`` run; each key is then the query's synthesised view with
    ``view_probability``. ``name: sro_view_synthesis`` trains that generator alone."""

    name: str = "sro"
    num_segments: int = default_of(SRO, "num_segments")
    min_segment_length: int = default_of(SROSampler, "min_length")
    rate_range: tuple[int, int] = default_of(SRO, "rate_range")
    shuffle_segments: bool = default_of(SROSampler, "shuffle")  # false (with one rate): plain clips, MoCo
    order: bool = default_of(SRO, "order")
    rate: str = default_of(SRO, "rate")
    rate_target: str = default_of(SRO, "rate_target")
    contrast: str = default_of(SRO, "contrast")
    head: str = default_of(SRO, "head")
    head_hidden: int = default_of(SRO, "head_hidden")
    order_weight: float = default_of(SRO, "order_weight")
    rate_weight: float = default_of(SRO, "rate_weight")
    contrast_weight: float = default_of(SRO, "contrast_weight")
    projection_dim: int = default_of(SRO, "projection_dim")
    queue_size: int = default_of(SRO, "queue_size")
    key_momentum: float = default_of(SRO, "key_momentum")
    temperature: float = default_of(SRO, "temperature")
    shuffle_bn: bool = default_of(SRO, "shuffle_bn")
    view_synthesis: str = "none"
    view_probability: float = default_of(SRO, "view_probability")
    view: ViewSynthesisConfig = field(default_factory=ViewSynthesisConfig)


def build_sampler(cfg: RunConfig, frame_source: dict | None = None) -> SROSampler:
    """n segments at distinct rates; SRO adds the key clip of its contrast, while the view stage's
    G learns on the clips it will turn into keys."""
    method, clip = cfg.method, cfg.clip
    with config_keys("method", {**CLIP_KEYS, **SRO_KEYS}):
        return SROSampler(
            clip_len=frames_for_modality(clip.frames, cfg.model.modality),
            num_segments=method.num_segments,
            min_length=method.min_segment_length,
            rate_range=tuple(method.rate_range),
            key_clip=method.name == "sro" and method.contrast != "none",
            shuffle=method.shuffle_segments,
            augment=build_augment(clip),
            short_video=clip.short_video,
        )


def build_view_generator(view: ViewSynthesisConfig) -> ClipVAE:
    """The VAE G of §III-G at the sizes of ``method.view`` (weights come from its stage)."""
    return ClipVAE(width=view.vae_width, latent_channels=view.latent_channels)


def build_method(cfg: RunConfig, backbone: nn.Module, run_dir: Path | None = None) -> SRO:
    """SRO's heads and MoCo branch; with view synthesis, the generator trained by its stage (the
    stage in ``run_dir``, or the given run), else untrained (a checkpoint will overwrite it)."""
    method = cfg.method
    if method.order and not method.shuffle_segments:
        raise VidsslError("method.order: the order task needs method.shuffle_segments=true (else every label is 0)")
    uses_views = method.view_synthesis != "none"
    with config_keys("method", SRO_METHOD_KEYS):
        sro = SRO(
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
            view_generator=build_view_generator(method.view) if uses_views else None,
            view_probability=method.view_probability,
            modality=cfg.model.modality,
        )
    if uses_views and run_dir is not None:
        load_view_generator(sro, view_generator_checkpoint(cfg, run_dir))
    return sro


def build_view_synthesis(cfg: RunConfig, backbone: nn.Module, run_dir: Path | None = None) -> ViewSynthesis:
    """The view generator G with its flow estimator O around the (frozen-feature) backbone."""
    view = cfg.method.view
    with config_keys("method.view", {"modality": "model.modality"}):
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
            modality=cfg.model.modality,
        )


def view_stage_config(cfg: RunConfig) -> RunConfig:
    """The ``sro_view_synthesis`` run an SRO config implies: same data, clips and backbone; the view epochs and lr."""
    view = cfg.method.view
    method = dataclasses.replace(cfg.method, name="sro_view_synthesis", view_synthesis="none")
    return dataclasses.replace(cfg, method=method, train=dataclasses.replace(cfg.train, epochs=view.epochs, lr=view.lr))


def train_view_stage(cfg: RunConfig, run_dir: Path, *, resume: bool, pretrain: Callable) -> None:
    """With ``view_synthesis: stage``, train G first in ``RUN/view_synthesis`` (resumed with the run);
    ``pretrain`` is :func:`vidssl.recipes.pretrain.pretrain`, handed in by the run it prepares."""
    if cfg.method.name != "sro" or cfg.method.view_synthesis != "stage":
        return
    stage_dir = run_dir / "view_synthesis"
    if is_main():
        print(f"view-synthesis stage: {cfg.method.view.epochs} epochs in {stage_dir}", flush=True)
    pretrain(view_stage_config(cfg), stage_dir, resume=resume and holds_run(stage_dir))


def view_generator_checkpoint(cfg: RunConfig, run_dir: Path) -> Path:
    """Where SRO's view generator comes from: the stage run in ``run_dir``, or a given finished run."""
    if cfg.method.view_synthesis == "stage":
        return run_dir / "view_synthesis" / "checkpoints" / "last.pt"
    path = Path(cfg.method.view_synthesis)
    checkpoint = path / "checkpoints" / "last.pt" if path.is_dir() else path
    if not checkpoint.is_file():
        raise VidsslError(
            f"method.view_synthesis={cfg.method.view_synthesis!r}: expected 'none', 'stage' or a finished "
            f"sro_view_synthesis run (folder with checkpoints/last.pt, or the .pt)"
        )
    return checkpoint


def load_view_generator(method: SRO, checkpoint: Path) -> None:
    """Copy the trained VAE G of a view-synthesis checkpoint into ``method.view_generator`` (frozen there)."""
    state = load_checkpoint(checkpoint)
    prefix = "generator."
    weights = {k[len(prefix):]: v for k, v in state.get("model", {}).items() if k.startswith(prefix)}
    if not weights:
        raise VidsslError(f"{checkpoint}: no view generator weights (expected a sro_view_synthesis checkpoint)")
    generator = method.view_generator
    assert generator is not None  # called for an SRO built with a view generator (uses_views)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise VidsslError(f"{checkpoint}: view generator does not match the config's view sizes ({first})") from None


def save_view_grid(cfg: RunConfig, method: ViewSynthesis, dataset: Any, run_dir: Path, samples: int = 4) -> None:
    """``plots/view_synthesis.png``: input frames of the first ``samples`` videos above their synthesised views."""
    from vidssl.eval.plots import plot_view_grid  # matplotlib: loaded only when a figure is drawn

    modality = cfg.model.modality
    clips = torch.stack([dataset[i]["clips"][0] for i in range(min(samples, len(dataset)))])
    device = next(method.parameters()).device
    views = method.synthesize(to_model_input(clips.to(device), modality)).cpu()
    inputs = clips[:, :, -views.shape[2]:]  # RGBDiff: the frames the differences end on
    shown = denormalize_clip(views) if modality == "rgb" else (views * 0.225 + 0.5)
    path = plot_view_grid(inputs, shown.clamp(0, 1), run_dir / "plots" / "view_synthesis.png",
                          title=f"view synthesis ({modality})")
    print(f"view synthesis: input vs synthesised frames in {path}", flush=True)


PAPER = "Luo et al., segment order and sampling rate with contrastive learning (SRO), TCSVT 2021"
RECIPE = Recipe(
    name="sro",
    paper=PAPER,
    config=SROConfig,
    build_sampler=build_sampler,
    build_method=build_method,
    prepare=train_view_stage,
)
VIEW_SYNTHESIS = Recipe(
    name="sro_view_synthesis",
    paper=PAPER + ", §III-G",
    config=SROConfig,
    build_sampler=build_sampler,
    build_method=build_view_synthesis,
    after_fit=save_view_grid,
)
RECIPES = (RECIPE, VIEW_SYNTHESIS)
