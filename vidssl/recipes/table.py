"""The one table of pretext methods: name → :class:`~vidssl.recipes.recipe.Recipe`.

Every module of :mod:`vidssl.recipes.pretext` ends in ``RECIPES``, the recipes it
defines (``sro.py``: SRO and its view-synthesis stage; ``corp.py``: CORP_m and
CORP_f); this module reads them all, so adding a method is adding its recipe file
(docs/ADDING.md). A name defined twice is an error.
"""
from __future__ import annotations

import importlib
import pkgutil

from vidssl.errors import VidsslError
from vidssl.recipes import pretext
from vidssl.recipes.recipe import Recipe


def collect_recipes() -> dict[str, Recipe]:
    """The recipes of every module in ``vidssl/recipes/pretext/``, by name, in module order."""
    found: dict[str, Recipe] = {}
    for module_info in sorted(pkgutil.iter_modules(pretext.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{pretext.__name__}.{module_info.name}")
        for recipe in module.RECIPES:
            if recipe.name in found:
                raise ImportError(f"recipe {recipe.name!r} is defined twice (in {module.__name__} and before it)")
            found[recipe.name] = recipe
    return found


RECIPES: dict[str, Recipe] = collect_recipes()


def recipe_for(name: str) -> Recipe:
    """The recipe called ``name``; a one-line error listing the names otherwise."""
    if name not in RECIPES:
        raise VidsslError(f"method.name: expected one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]
