"""The import graph of ``vidssl`` has no cycles and every import points down the layer order.

Every module under ``vidssl/`` is parsed with :mod:`ast` (nothing is imported),
and every ``import`` statement counts: at module level, inside functions, and
under ``if TYPE_CHECKING:`` (a type-only import still ties the two modules
together for a reader and for mypy). Relative imports are resolved, and
``from vidssl.x import y`` points at the submodule ``vidssl.x.y`` when there is
one, else at the package ``vidssl.x``.

The layers come from ``ARCHITECTURE.md`` and ``STYLE.md``: a module may import
its own package and lower layers only, so packages on the same layer (``data``,
``models``, ``losses``) never import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "vidssl"

# Layer of each part of vidssl: the package (or top-level module) after ``vidssl.``; ``vidssl`` is the
# package face itself. Lower numbers sit lower; a part may import its own modules and any lower layer.
LAYERS = {
    "vidssl": 0,  # vidssl/__init__.py: the version, nothing else
    "errors": 0,
    "fileio": 1,  # base helpers: each may import errors, none another
    "progress": 1,
    "checks": 1,
    "contracts": 1,
    "ops": 1,  # differentiable tensor ops (warping) shared by models and losses
    "data": 2,  # data, models and losses are peers: none imports another
    "models": 2,
    "losses": 2,
    "methods": 3,
    "engine": 4,
    "eval": 5,
    "config": 6,  # the YAML schema gathers dataclasses and choices from data, engine, eval and losses
    "recipes": 7,
    "cli": 8,
}


def module_name(file: Path) -> str:
    """``vidssl/data/video.py`` -> ``vidssl.data.video``; a package's ``__init__.py`` is the package."""
    parts = file.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(file): file for file in sorted(PACKAGE_ROOT.rglob("*.py"))}


def resolve_relative(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a ``from .x import y`` names, seen from module ``importer``."""
    package = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """The longest leading part of ``name`` that is a module of the package (None outside vidssl)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imported_modules(importer: str, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(vidssl module imported, line) for every import statement of ``importer``, at any depth."""
    file = modules[importer]
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve_relative(node, importer, file.name == "__init__.py") if node.level else node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            resolved = known_prefix(target, modules)
            if resolved is not None and resolved != importer:
                yield resolved, node.lineno


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """Edges importer -> imported, and the first line of each edge."""
    modules = all_modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    lines: dict[tuple[str, str], int] = {}
    for importer in modules:
        for target, line in imported_modules(importer, modules):
            edges[importer].add(target)
            lines.setdefault((importer, target), line)
    return edges, lines


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def shortest_cycle_through(start: str, group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest import loop from ``start`` back to itself inside ``group`` (breadth-first)."""
    members = set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for successor in sorted(edges[node] & members):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if successor not in came_from:
                    came_from[successor] = node
                    next_frontier.append(successor)
        frontier = next_frontier
    raise AssertionError(f"{start} is in no cycle of {group}")


def part_of(module: str) -> str:
    """``vidssl.data.video`` -> ``data``; ``vidssl.errors`` -> ``errors``; ``vidssl`` -> ``vidssl``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(edges: dict[str, set[str]], lines: dict[tuple[str, str], int]) -> list[str]:
    """One line per import that leaves its own part for a part on the same or a higher layer."""
    found = []
    for importer in sorted(edges):
        for target in sorted(edges[importer]):
            source_part, target_part = part_of(importer), part_of(target)
            if source_part == target_part or LAYERS[target_part] < LAYERS[source_part]:
                continue
            relation = "a peer" if LAYERS[target_part] == LAYERS[source_part] else "a higher layer"
            found.append(
                f"{importer} (line {lines[importer, target]}) imports {target}: {target_part} "
                f"(layer {LAYERS[target_part]}) is {relation} of {source_part} (layer {LAYERS[source_part]})"
            )
    return found


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(module) for module in all_modules()}
    assert parts - set(LAYERS) == set(), "add these to LAYERS in tests/test_import_layers.py"


def test_the_graph_reader_resolves_relative_and_submodule_imports():
    edges, _ = import_graph()
    assert "vidssl.data.video" in edges["vidssl.data.datasets"]
    assert "vidssl.errors" in edges["vidssl.data.video"]
    assert "vidssl.engine.trainer" in edges["vidssl.engine"]


def test_no_import_cycles():
    edges, _ = import_graph()
    cycles = [" -> ".join(shortest_cycle_through(group[0], group, edges)) for group in strongly_connected(edges)]
    assert not cycles, "import cycles (one per group of modules that import each other):\n" + "\n".join(cycles)


def test_imports_follow_the_layer_order():
    edges, lines = import_graph()
    violations = layer_violations(edges, lines)
    assert not violations, f"{len(violations)} imports against the layer order:\n" + "\n".join(violations)
