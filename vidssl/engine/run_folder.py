"""A pretraining run folder: whether it holds a run, moving one aside, and what a resumed run may change.

A run folder holds ``config.yaml``, ``checkpoints/last.pt``, ``logs/`` and,
once finished, ``backbone.pt`` (SRO with a view-synthesis stage also
``view_synthesis/``, a run folder of its own). Starting a new run over an
old one would silently replace all of these, so the caller must choose:
resume it, move it aside (:func:`move_aside`), or pick another folder.

Resuming with a config that changes what the model is would load weights into
another model, or train one model under another model's ``config.yaml``;
:func:`config_changes` lists every difference except those in
:data:`RESUMABLE_KEYS` and :data:`RESUMABLE_SECTIONS`. Configs are compared as
plain nested dicts, so this module knows nothing of the config classes.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vidssl.errors import OutputError

CHECKPOINT = Path("checkpoints") / "last.pt"
# Files whose presence means a run was started here (the view-synthesis stage runs before config.yaml is written).
RUN_MARKERS = ("config.yaml", str(CHECKPOINT), "backbone.pt", "view_synthesis/config.yaml")
# What may differ between a run's config.yaml and the config it is resumed with.
RESUMABLE_KEYS = (
    "train.epochs",            # extend (or shorten) a run
    "train.workers",
    "train.device",
    "train.progress",
    "train.log_every",
    "train.checkpoint_every",
    "data.cache_dir",          # where the frame cache lives, not what it holds
)
RESUMABLE_SECTIONS = ("eval.",)  # evaluation settings never reach pretraining


def run_markers(run_dir: str | Path) -> list[str]:
    """The files of :data:`RUN_MARKERS` present in ``run_dir``."""
    run_dir = Path(run_dir)
    return [marker for marker in RUN_MARKERS if (run_dir / marker).is_file()]


def holds_run(run_dir: str | Path) -> bool:
    return bool(run_markers(run_dir))


def move_aside(run_dir: str | Path, *, now: float | None = None) -> Path:
    """Rename ``run_dir`` to ``<name>.old-<YYYYmmdd-HHMMSS>`` beside it (``-2``, ``-3`` … if taken); returns
    the new path. Nothing is deleted."""
    run_dir = Path(run_dir).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    target = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
    count = 2
    while target.exists():
        target = run_dir.with_name(f"{run_dir.name}.old-{stamp}-{count}")
        count += 1
    try:
        run_dir.rename(target)
    except OSError as err:
        raise OutputError(
            target, f"cannot move the old run there ({err.strerror or err}); choose another --out"
        ) from err
    return target


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}``; tuples become lists so YAML and Python agree."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def is_resumable_key(key: str) -> bool:
    return key in RESUMABLE_KEYS or key.startswith(RESUMABLE_SECTIONS)


def config_changes(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, saved value, new value)`` for every key that differs and may not change on resume; a change
    of ``method.name`` first (each method has its own keys, which then all differ)."""
    old_flat, new_flat = flatten(saved), flatten(new)
    missing = object()
    changes = []
    for key in sorted(set(old_flat) | set(new_flat), key=lambda key: (key != "method.name", key)):
        old, value = old_flat.get(key, missing), new_flat.get(key, missing)
        if old != value and not is_resumable_key(key):
            changes.append((key, None if old is missing else old, None if value is missing else value))
    return changes


def describe_changes(changes: list[tuple[str, Any, Any]], *, limit: int = 4) -> str:
    """``model.width 0.25 -> 0.5, method.name 'transrank' -> 'sro'`` (the first ``limit``, then ``+N more``)."""
    shown = ", ".join(f"{key} {old!r} -> {new!r}" for key, old, new in changes[:limit])
    return shown + (f" (+{len(changes) - limit} more)" if len(changes) > limit else "")
