"""The library the CLI calls: one recipe per pretext method in one table (:mod:`.table`), run
configs (:mod:`.run_config`, read by :mod:`.configs`), pretraining (:mod:`.pretrain`), the evaluation protocols, the run
folder and the benchmark.

The face is light (``import vidssl.recipes`` loads no torch, so ``vidssl --help`` stays fast):
each name below is imported from its module on first use. Pretraining is
:func:`vidssl.recipes.pretrain.pretrain` (a module of that name, so not re-exported here).
"""
from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "RECIPES": "vidssl.recipes.table",
    "recipe_for": "vidssl.recipes.table",
    "Recipe": "vidssl.recipes.recipe",
    "RunConfig": "vidssl.recipes.run_config",
    "load_run_config": "vidssl.recipes.configs",
    "parse_run_config": "vidssl.recipes.configs",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'vidssl.recipes' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
