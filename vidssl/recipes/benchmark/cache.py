"""What the benchmark has finished: the hash of what a pretraining or a protocol cell depends on, and their files.

A row's pretraining for one seed lives in ``OUT/runs/<row>/seed<k>/`` and is finished when ``pretrain.json``
there records the hash of the config it trained; each protocol cell of that (row, seed) is
``OUT/cells/<row>/seed<k>/<protocol>.json`` with its metrics and the hash of its config. A rerun reuses what
matches and recomputes the rest (an eval-only change keeps the pretraining, any other change redoes it).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vidssl.config.loading import to_dict
from vidssl.recipes.protocols import BENCHMARK_PROTOCOLS
from vidssl.recipes.protocols import PROTOCOLS as EVAL_PROTOCOLS
from vidssl.recipes.run_config import RunConfig

# Keys that change what is printed, never what is computed: left out of the config hashes.
DISPLAY_ONLY_KEYS = (("train", "progress"), ("train", "log_every"))


def config_hash(
    cfg: RunConfig, *, kind: str, drop_sections: tuple[str, ...] = (),
    drop_keys: dict[str, tuple[str, ...]] | None = None, **extra: Any,
) -> str:
    """SHA-256 (16 hex digits) of the resolved config, the row's kind and ``extra``, without ``drop_sections``
    and the ``drop_keys`` of a section (``{"eval": ("linear",)}``).

    Display-only keys (``train.progress``, ``train.log_every``) are always left out: turning progress bars on
    must not recompute a cell.
    """
    data = to_dict(cfg)
    for section, key in DISPLAY_ONLY_KEYS:
        data.get(section, {}).pop(key, None)
    for section in drop_sections:
        data.pop(section, None)
    for section, keys in (drop_keys or {}).items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    text = json.dumps({"kind": kind, "config": data, **extra}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pretraining_hash(cfg: RunConfig, kind: str) -> str:
    """What a pretraining run depends on: every section but ``eval`` (supervised pretraining reads eval's clips too)."""
    return config_hash(cfg, kind=kind, drop_sections=() if kind == "supervised" else ("eval",))


# The eval sub-sections that belong to one protocol: a cell's hash leaves out those of the other protocols, so
# that changing eval.linear.epochs recomputes the linear cells alone. Everything else in eval (clips, size, layer,
# keys added later) is hashed into every cell: a missed dependency would reuse a stale cell, an extra one only
# recomputes.
PROTOCOL_SUBSECTIONS = {name: EVAL_PROTOCOLS[name].subsections for name in BENCHMARK_PROTOCOLS}
# Sections a random-init backbone and the protocols never read: a row's method tweaks leave its cells alone.
RANDOM_INIT_UNREAD = ("method", "clip")


def cell_hash(cfg: RunConfig, kind: str, protocol: str) -> str:
    """What a protocol cell depends on: the backbone (its pretraining config, or the model and seed of a random
    init), the data, ``train`` (finetuning copies its device, workers, seed …) and the eval settings it reads."""
    others = {name for subsections in PROTOCOL_SUBSECTIONS.values() for name in subsections}
    others -= set(PROTOCOL_SUBSECTIONS[protocol])
    return config_hash(
        cfg, kind=kind, drop_sections=RANDOM_INIT_UNREAD if kind == "random_init" else (),
        drop_keys={"eval": tuple(sorted(others))}, protocol=protocol,
    )


def cell_path(out: Path, row: str, seed: int, protocol: str) -> Path:
    """Where the finished cell (row, seed, protocol) is kept: ``OUT/cells/<row>/seed<k>/<protocol>.json``."""
    return out / "cells" / row / f"seed{seed}" / f"{protocol}.json"


def run_path(out: Path, row: str, seed: int) -> Path:
    """The pretraining run folder of (row, seed): ``OUT/runs/<row>/seed<k>/``."""
    return out / "runs" / row / f"seed{seed}"


def read_json(path: Path) -> dict | None:
    """A JSON file's content, or None when it is missing or unreadable (a half-written file cannot exist)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_cell(path: Path, expected_hash: str) -> dict | None:
    """The finished cell at ``path`` if it was computed with ``expected_hash``, else None (to be recomputed)."""
    cell = read_json(path)
    if cell is None or cell.get("config_hash") != expected_hash or not isinstance(cell.get("metrics"), dict):
        return None
    return cell


def collect_cells(out: Path, expected: dict[tuple[str, int, str], str]) -> dict[str, dict[int, dict[str, dict]]]:
    """``{row: {seed: {protocol: cell}}}`` of the finished cells whose hash is ``expected[row, seed, protocol]``."""
    cells: dict[str, dict[int, dict[str, dict]]] = {}
    for (row, seed, protocol), expected_hash in expected.items():
        cell = read_cell(cell_path(out, row, seed, protocol), expected_hash)
        if cell is not None:
            cells.setdefault(row, {}).setdefault(seed, {})[protocol] = cell
    return cells


def finished_pretraining(out: Path, name: str, seed: int, expected_hash: str) -> dict | None:
    """The ``pretrain.json`` of (row, seed) if that pretraining finished with the config hashing to
    ``expected_hash``, else None."""
    done = read_json(run_path(out, name, seed) / "pretrain.json")
    return done if done is not None and done.get("config_hash") == expected_hash else None
