"""A benchmark preset (``vidssl/configs/benchmark/*.yaml``) read and checked, and each row's resolved run config.

A preset lists *rows*: a method's run config (a packaged config plus overrides), a ``kind`` (self-supervised
``pretrain``, ``random_init`` or ``supervised``) and a ``status``. Its ``shared`` sections give every row the same
data and the same evaluation recipe, so the table compares like with like (:func:`row_config_dict` states the
order in which the pieces are laid over each other).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidssl.config.loading import apply_overrides, load_config_with_base, load_yaml, merge_config
from vidssl.errors import VidsslError
from vidssl.recipes.configs import BENCHMARK_FOLDER, PACKAGED_CONFIGS, parse_run_config, resolve_config_path
from vidssl.recipes.protocols import BENCHMARK_PROTOCOLS
from vidssl.recipes.run_config import RunConfig

BENCHMARK_PRESETS = PACKAGED_CONFIGS / BENCHMARK_FOLDER
PROTOCOLS = BENCHMARK_PROTOCOLS  # the protocols the table scores, in column order
KINDS = ("pretrain", "random_init", "supervised")
STATUSES = ("implemented", "not_implemented", "skipped")
PRESET_KEYS = ("seeds", "protocols", "shared", "cpu_scales", "rows")
ROW_KEYS = ("name", "label", "kind", "config", "overrides", "status", "reason")
SHARED_KEYS = ("replace", "merge")


@dataclass(frozen=True)
class BenchmarkRow:
    """One method row of a preset: where its run config comes from, how it gets a backbone, and whether it runs."""

    name: str
    label: str
    kind: str
    config: str | None
    overrides: dict
    status: str
    reason: str


@dataclass(frozen=True)
class BenchmarkPreset:
    """A parsed benchmark preset file (see ``configs/benchmark/cpu_small.yaml`` for the format)."""

    path: Path
    seeds: tuple[int, ...]
    protocols: tuple[str, ...]
    replace: dict
    merge: dict
    rows: tuple[BenchmarkRow, ...]

    def row(self, name: str) -> BenchmarkRow:
        return next(row for row in self.rows if row.name == name)


def packaged_preset_names() -> list[str]:
    """Names of the packaged benchmark presets as ``--preset`` takes them (``cpu-small``)."""
    return sorted(p.stem.replace("_", "-") for p in BENCHMARK_PRESETS.glob("*.yaml"))


def resolve_preset_path(preset: str | Path) -> Path:
    """A packaged preset name (``cpu-small`` or ``cpu_small``) or a YAML path."""
    packaged = BENCHMARK_PRESETS / f"{str(preset).replace('-', '_')}.yaml"
    if "/" not in str(preset) and packaged.is_file():
        return packaged
    path = Path(preset)
    if path.is_file():
        return path
    raise VidsslError(
        f"--preset {preset}: no such benchmark preset (packaged: {', '.join(packaged_preset_names())}; "
        "or give a YAML file)"
    )


def load_preset(preset: str | Path) -> BenchmarkPreset:
    """Read and check a benchmark preset: known keys, unique row names, a reason for every row that cannot run."""
    path = resolve_preset_path(preset)
    data = load_yaml(path)
    _reject_unknown(data, PRESET_KEYS, str(path))
    seeds = _int_list(data.get("seeds", [0]), f"{path}: seeds")
    protocols = tuple(data.get("protocols", PROTOCOLS))
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise VidsslError(
            f"{path}: protocols: unknown {unknown or 'empty list'}; expected some of {', '.join(PROTOCOLS)}"
        )
    shared = data.get("shared") or {}
    _reject_unknown(shared, SHARED_KEYS, f"{path}: shared")
    entries = data.get("rows")
    if not isinstance(entries, list) or not entries:
        raise VidsslError(f"{path}: rows: expected a list of method rows")
    rows = tuple(parse_row(entry, f"{path}: rows[{i}]") for i, entry in enumerate(entries))
    names = [row.name for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise VidsslError(f"{path}: row names must be unique, repeated: {', '.join(duplicates)}")
    replace, merge = shared.get("replace") or {}, shared.get("merge") or {}
    for row in rows:
        clash = sorted(set(row.overrides) & set(replace))
        if clash:
            raise VidsslError(
                f"{path}: row {row.name} overrides {clash[0]!r}, which shared.replace sets for every row "
                "(the table compares like with like: change it there, or on the command line)"
            )
    return BenchmarkPreset(path=path, seeds=seeds, protocols=protocols, replace=replace, merge=merge, rows=rows)


def parse_row(entry: Any, where: str) -> BenchmarkRow:
    """One ``rows:`` entry; ``name`` becomes a folder name, so it is kept to letters, digits and ``_``."""
    if not isinstance(entry, dict):
        raise VidsslError(f"{where}: expected a mapping with name, config, status")
    _reject_unknown(entry, ROW_KEYS, where)
    name = str(entry.get("name", ""))
    if not name or not name.replace("_", "").isalnum():
        raise VidsslError(f"{where}: name {name!r}: expected letters, digits and '_' (it names the row's folders)")
    status = entry.get("status", "implemented")
    kind = entry.get("kind", "pretrain")
    reason = str(entry.get("reason") or "")
    overrides = entry.get("overrides") or {}
    if status not in STATUSES:
        raise VidsslError(f"{where} ({name}): status {status!r}: expected one of {', '.join(STATUSES)}")
    if kind not in KINDS:
        raise VidsslError(f"{where} ({name}): kind {kind!r}: expected one of {', '.join(KINDS)}")
    if status != "implemented" and not reason:
        raise VidsslError(f"{where} ({name}): a {status} row needs a reason")
    if status == "implemented" and not entry.get("config"):
        raise VidsslError(f"{where} ({name}): an implemented row needs a config")
    if not isinstance(overrides, dict):
        raise VidsslError(f"{where} ({name}): overrides: expected a mapping of config sections")
    return BenchmarkRow(name=name, label=str(entry.get("label") or name), kind=kind, config=entry.get("config"),
                        overrides=copy.deepcopy(overrides), status=status, reason=reason)


def _reject_unknown(data: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(data, dict):
        raise VidsslError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise VidsslError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(keys)}")


def _int_list(value: Any, where: str) -> tuple[int, ...]:
    integers = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not integers or not value:
        raise VidsslError(f"{where}: expected a non-empty list of integers, got {value!r}")
    return tuple(value)


def select_rows(preset: BenchmarkPreset, only: list[str] | None) -> list[BenchmarkRow]:
    """The rows ``--only`` names (in the preset's order), or all; an unknown name is an error listing the rows."""
    if not only:
        return list(preset.rows)
    names = [row.name for row in preset.rows]
    unknown = [name for name in only if name not in names]
    if unknown:
        raise VidsslError(f"--only {unknown[0]}: no such row in {preset.path.name}; rows: {', '.join(names)}")
    return [row for row in preset.rows if row.name in only]


def row_config_dict(preset: BenchmarkPreset, row: BenchmarkRow, seed: int, overrides: Sequence[str] = ()) -> dict:
    """The resolved config of ``row`` for ``seed``, as a plain dict.

    In order: the row's ``config`` with its ``base:`` chain; the row's
    ``overrides`` laid over it; ``shared.replace``, whose sections replace the
    row's whole (one dataset, one evaluation recipe for every row);
    ``shared.merge`` laid over key by key; ``train.seed``; the command line's
    ``key=value`` ``overrides``, last, so they reach every row alike.
    """
    assert row.config is not None  # an implemented row, the only kind that runs, has a config (parse_row)
    data = load_config_with_base(resolve_config_path(row.config, preset.path.parent), resolve_config_path)
    data = merge_config(data, copy.deepcopy(row.overrides))
    for section, values in preset.replace.items():
        data[section] = copy.deepcopy(values)
    data = merge_config(data, copy.deepcopy(preset.merge))
    return apply_overrides(data, [f"train.seed={seed}", *overrides])


def row_config(
    preset: BenchmarkPreset, row: BenchmarkRow, seed: int, overrides: Sequence[str] = ()
) -> RunConfig:
    """:func:`row_config_dict` as a checked :class:`RunConfig`; a bad key names the row."""
    try:
        return parse_run_config(row_config_dict(preset, row, seed, overrides))
    except VidsslError as err:
        raise VidsslError(f"benchmark row {row.name}: {err}") from None
