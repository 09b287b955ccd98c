"""Run configs from files and mappings: packaged configs by name, ``base:`` chains, ``key=value``
overrides, and the ``method`` section checked against the recipe its ``method.name`` selects.

``parse_run_config`` is the one place a config mapping becomes a :class:`RunConfig`. Configs
written before the method sections were split keep loading: a key of another method that holds
its old default is dropped, a top-level ``view`` section of an SRO run moves to ``method.view``,
and anything else is a one-line error naming the key to use.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidssl.config.loading import apply_overrides, from_dict, load_config_with_base, plain
from vidssl.errors import VidsslError
from vidssl.recipes.run_config import RunConfig
from vidssl.recipes.table import RECIPES, recipe_for

PACKAGED_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
BENCHMARK_FOLDER = "benchmark"  # configs/benchmark/ holds `vidssl benchmark` presets, which are not run configs
DEFAULT_METHOD = "transrank"


def parse_run_config(data: dict) -> RunConfig:
    """A :class:`RunConfig` from a mapping, each key and value checked; the ``method`` section
    against the dataclass of the recipe it names."""
    if not isinstance(data, dict):
        raise VidsslError(f"config: expected a mapping of sections, got {type(data).__name__}")
    data = upgrade_legacy_sections(data)
    method_data = data.pop("method", None) or {}
    if not isinstance(method_data, dict):
        raise VidsslError(f"method: expected a mapping, got {type(method_data).__name__}")
    recipe = recipe_for(method_data.get("name", DEFAULT_METHOD))
    method = from_dict(recipe.config, method_data, where="method")
    return dataclasses.replace(from_dict(RunConfig, data), method=method)


# The single ``method`` section of vidssl 0.1, its defaults: what a config.yaml of that version
# holds for keys its method did not use. Read only to load such configs.
LEGACY_METHOD_DEFAULTS: dict[str, Any] = {
    "transforms": ["1x", "2x", "rev"], "num_clips": None, "mode": "deterministic", "loss": "rank", "margin": 1.0,
    "head": "mlp", "head_hidden": 128, "aspect": "none", "aspect_margin": 1.0, "aspect_weight": 0.5,
    "rotation": "none", "rotation_weight": 0.5, "num_segments": 3, "min_segment_length": 3, "rate_range": [1, 8],
    "shuffle_segments": True, "order": True, "rate": "regression", "rate_target": "raw", "contrast": "shuffle",
    "order_weight": 1.0, "rate_weight": 0.3, "contrast_weight": 1.0, "projection_dim": 128, "queue_size": 4096,
    "key_momentum": 0.999, "temperature": 0.07, "shuffle_bn": True, "view_synthesis": "none",
    "view_probability": 0.5, "clip_interval": 8, "head_dropout": 0.5, "task": "corp", "attention": "decoupling",
    "relation_heads": 128, "relation_layers": 2, "relation_hidden": 128, "pair_classifier": "concat",
    "projection_depth": 3, "projection_width": None, "sts_target": "classification", "clips": "random",
    "flow": "dis_medium", "flow_root": None, "flow_bound": 20.0, "flow_template": "flow_{}_{:05d}.jpg",
    "flow_cache": False, "dominant_colour": "bins", "colour_bins": 256, "motion_weight": 1.0,
    "appearance_weight": 0.1, "curriculum": "none", "curriculum_epoch": 1, "curriculum_patience": 2,
    "curriculum_min_delta": 0.01,
}
LEGACY_VIEW_DEFAULTS: dict[str, Any] = {
    "epochs": 20, "lr": 1e-3, "vae_width": 16, "latent_channels": 8, "flow_width": 16, "kl_weight": 1.0,
    "infomax_weight": 1.0, "infomin_weight": 1.0, "photometric_weight": 1.0, "infomin": "intent",
}
VIEW_METHODS = ("sro", "sro_view_synthesis")


def upgrade_legacy_sections(data: dict) -> dict:
    """``data`` with vidssl 0.1's flat ``method`` section and top-level ``view`` section mapped to
    the recipe's section (see the module docstring); ``data`` itself is not changed."""
    data = dict(data)
    method = data.get("method")
    if not isinstance(method, dict) or not isinstance(method.get("name", DEFAULT_METHOD), str):
        return data  # parse_run_config reports what is wrong
    name = method.get("name", DEFAULT_METHOD)
    if name not in RECIPES:
        return data
    method = dict(method)
    if "view" in data:
        method = _move_view_section(data.pop("view"), method, name)
    config = RECIPES[name].config
    hints = typing.get_type_hints(config)
    for key, value in list(method.items()):
        if key in hints:
            if value is None and not _allows_none(hints[key]):
                del method[key]  # vidssl 0.1 wrote null for "the method's default"
            continue
        if key in LEGACY_METHOD_DEFAULTS and plain(value) == LEGACY_METHOD_DEFAULTS[key]:
            del method[key]
        elif key in LEGACY_METHOD_DEFAULTS:
            owners = sorted(n for n, r in RECIPES.items() if key in typing.get_type_hints(r.config))
            raise VidsslError(f"method.{key}: not a setting of {name} (it belongs to {', '.join(owners)}); "
                              f"{name} takes: {', '.join(hints)}")
    data["method"] = method
    return data


def _move_view_section(view: Any, method: dict, name: str) -> dict:
    """vidssl 0.1's top-level ``view`` section → ``method.view`` (SRO), or dropped if all defaults."""
    if name in VIEW_METHODS and isinstance(view, dict):
        return {**method, "view": {**view, **(method.get("view") or {})}}
    if isinstance(view, dict) and all(plain(v) == LEGACY_VIEW_DEFAULTS.get(k, object()) for k, v in view.items()):
        return method
    raise VidsslError(f"view: the view-synthesis settings are now method.view, a section of "
                      f"{' and '.join(VIEW_METHODS)}; method {name} has none")


def _allows_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def packaged_config_names() -> list[str]:
    """Names of the packaged run configs, sub-folders included (``quickstart``, ``table3/rank_1x_2x``); the
    benchmark presets under ``benchmark/`` are left out."""
    names = (p.relative_to(PACKAGED_CONFIGS).with_suffix("").as_posix() for p in PACKAGED_CONFIGS.rglob("*.yaml"))
    return sorted(name for name in names if not name.startswith(f"{BENCHMARK_FOLDER}/"))


def resolve_config_path(name: str, folder: Path | None = None) -> Path:
    """A config path (relative to ``folder`` first, if given), or the name of a packaged config (``quickstart``)."""
    path = Path(name)
    for candidate in ([folder / path] if folder is not None and not path.is_absolute() else []) + [path]:
        if candidate.is_file():
            return candidate
    packaged = PACKAGED_CONFIGS / path.with_suffix(".yaml")
    if not path.is_absolute() and packaged.is_file():
        if path.parts[0] == BENCHMARK_FOLDER:
            raise VidsslError(f"{name}: a benchmark preset, not a run config (run it with vidssl benchmark --preset)")
        return packaged
    raise VidsslError(f"{name}: config file not found{closest_config_names(name)}")


def closest_config_names(name: str) -> str:
    """``; did you mean quickstart?`` for a mistyped packaged config name, else where the names are listed."""
    close = difflib.get_close_matches(Path(name).with_suffix("").as_posix(), packaged_config_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"{hint} (vidssl info lists the packaged configs)"


def load_run_config(name: str, overrides: Sequence[str] = ()) -> RunConfig:
    """The run config of file or packaged name ``name`` (following ``base:``), with ``key=value`` overrides."""
    path = resolve_config_path(name)
    data = load_config_with_base(path, resolve_config_path)
    if not data:  # an empty file would silently train every default (R3D-18 on SynthMotion)
        raise VidsslError(f"{path}: empty config; expected sections such as data, model, method, train "
                          f"(or 'base: NAME' to extend a packaged config)")
    data = apply_overrides(data, list(overrides))
    return parse_run_config(data)
