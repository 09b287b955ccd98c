"""The one table of pretext methods: name → :class:`~vidssl.recipes.recipe.Recipe`.

Adding a method is a recipe module and one line here (see docs/ADDING.md).
"""
from __future__ import annotations

from vidssl.errors import VidsslError
from vidssl.recipes import corp, sro, sts, transrank, vcop
from vidssl.recipes.recipe import Recipe

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        transrank.RECIPE,
        sro.RECIPE,
        sro.VIEW_SYNTHESIS,
        vcop.RECIPE,
        corp.CORP_M,
        corp.CORP_F,
        sts.RECIPE,
    )
}


def recipe_for(name: str) -> Recipe:
    """The recipe called ``name``; a one-line error listing the names otherwise."""
    if name not in RECIPES:
        raise VidsslError(f"method.name: expected one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]
