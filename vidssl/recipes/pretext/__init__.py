"""One module per pretext method, each ending in ``RECIPES``, the recipes it defines. This folder is the
table: :data:`vidssl.recipes.table.RECIPES` reads every module here (adding a method is adding its file)."""
