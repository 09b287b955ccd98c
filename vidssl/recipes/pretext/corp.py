"""CORP (ICCV 2021): contrast and order representations. CORP_m classifies pairs of clips of one
video (same / before / after); CORP_f adds the order task to an InfoNCE contrast (SimCLR/CVRL
without it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidssl.checks import config_keys
from vidssl.data.pretext.corp import CORPSampler
from vidssl.data.transforms import frames_for_modality
from vidssl.errors import VidsslError
from vidssl.methods.corp import CORP
from vidssl.recipes.recipe import CLIP_KEYS, Recipe, build_augment, default_of

if TYPE_CHECKING:
    from torch import nn

    from vidssl.recipes.run_config import RunConfig


# Parameter names of CORP and the parts it builds → its config keys.
CORP_KEYS = {"variant": "name", "modality": "model.modality", "heads": "relation_heads",
             "mlp_layers": "relation_layers", "hidden": "relation_hidden", "dim": "projection_dim",
             "out_dim": "projection_dim", "hidden_dims": "projection_width"}


@dataclass
class CORPConfig:
    """The ``method`` section of CORP_m / CORP_f: ``num_clips`` K clips per video at dilation
    ``clip.base_interval``; a ``projection_depth``-layer projection of width ``projection_width``
    (None: the backbone's feature size) to ``projection_dim``; the relation module (``attention``,
    ``relation_heads``) and an MLP (``relation_layers``, ``relation_hidden``; ``pair_classifier``
    ``concat``, the paper's, or ``symmetric``); CORP_m's ``task`` (the 3-way pair task or a 2-way
    ablation); CORP_f's ``order`` (false = InfoNCE alone, SimCLR/CVRL) and ``temperature``."""

    name: str = "corp_m"
    num_clips: int = 4  # §4.3, Table 6b
    task: str = default_of(CORP, "task")
    order: bool = default_of(CORP, "order")
    projection_depth: int = default_of(CORP, "projection_depth")
    projection_width: int | None = default_of(CORP, "projection_width")
    projection_dim: int = default_of(CORP, "projection_dim")
    attention: str = default_of(CORP, "attention")
    relation_heads: int = default_of(CORP, "relation_heads")
    relation_layers: int = default_of(CORP, "relation_layers")
    relation_hidden: int = default_of(CORP, "relation_hidden")
    pair_classifier: str = default_of(CORP, "pair_classifier")
    temperature: float = default_of(CORP, "temperature")


@dataclass
class CORPfConfig(CORPConfig):
    """CORP_f's section: as CORP_m's, with 2 clips per video (§3.3)."""

    name: str = "corp_f"
    num_clips: int = default_of(CORPSampler, "num_clips")


def build_sampler(cfg: RunConfig, frame_source: dict | None = None) -> CORPSampler:
    """K clips per video, their starts drawn from the valid placements (eq. 3)."""
    clip = cfg.clip
    with config_keys("method", CLIP_KEYS):
        return CORPSampler(
            clip_len=frames_for_modality(clip.frames, cfg.model.modality),
            dilation=clip.base_interval,
            num_clips=cfg.method.num_clips,
            augment=build_augment(clip),
        )


def build_method(cfg: RunConfig, backbone: nn.Module, run_dir=None) -> CORP:
    method = cfg.method
    if method.name == "corp_f" and method.num_clips != 2:
        raise VidsslError(f"method.num_clips: CORP_f takes 2 clips per video (§3.3), got {method.num_clips}")
    with config_keys("method", CORP_KEYS):
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
            modality=cfg.model.modality,
        )


PAPER = "Hu et al., contrast and order representations (CORP), ICCV 2021"
CORP_M = Recipe(name="corp_m", paper=PAPER, config=CORPConfig, build_sampler=build_sampler, build_method=build_method)
CORP_F = Recipe(name="corp_f", paper=PAPER, config=CORPfConfig, build_sampler=build_sampler, build_method=build_method)
RECIPES = (CORP_M, CORP_F)
