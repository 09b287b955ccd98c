"""Atomic checkpoint files and RNG state that survives ``torch.load(weights_only=True)``.

A checkpoint is written to a temporary file in the same directory, flushed to
disk and renamed over the old one, so a crash mid-write leaves the previous
checkpoint intact. Checkpoints are loaded with ``weights_only=True`` (no
arbitrary unpickling), so everything stored must be tensors, numbers,
strings, ``None`` and dicts/lists/tuples of those: RNG states are converted
to tensors here.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidssl.errors import VidsslError
from vidssl.fileio import atomic_write

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "state_dict_mismatch",
    "load_matching_state_dict",
]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every OS lets you open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True``; missing or unreadable → :class:`VidsslError`."""
    path = Path(path)
    if not path.is_file():
        raise VidsslError(f"checkpoint {path} not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, disallowed pickled objects ...
        raise VidsslError(f"checkpoint {path} is corrupt or not a vidssl checkpoint ({why_unloadable(exc)})") from None
    if not isinstance(state, dict):
        raise VidsslError(f"checkpoint {path}: expected a dict, got {type(state).__name__}")
    return state


def why_unloadable(exc: Exception) -> str:
    """The gist of a failed ``torch.load`` in one sentence, without torch's advice to retry with
    ``weights_only=False`` (which would unpickle an untrusted file)."""
    text = str(exc).strip()
    unpickler = re.search(r"WeightsUnpickler error:\s*(\S.*)", text)
    gist = unpickler.group(1) if unpickler else (text.splitlines()[0] if text else type(exc).__name__)
    return gist.split(". ")[0].strip().rstrip(".")[:200]


def state_dict_mismatch(module: torch.nn.Module, state_dict: Any, *, limit: int = 3) -> str | None:
    """Why ``state_dict`` does not load into ``module`` (strictly), in one line, or None when it does.

    Names the first ``limit`` missing keys, unexpected keys and shape
    mismatches, so a user sees which model the checkpoint was written for.
    """
    if not isinstance(state_dict, dict):
        return f"expected a dict of tensors, got {type(state_dict).__name__}"
    expected = module.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    shapes = [
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and isinstance(state_dict[key], torch.Tensor) and state_dict[key].shape != value.shape
    ]
    parts = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected),
                        ("shape mismatch (checkpoint vs model)", shapes)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{len(items)} {what}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts) or None


def load_matching_state_dict(module: torch.nn.Module, state_dict: Any, *, source: str | Path) -> None:
    """``module.load_state_dict(state_dict)``, or a :class:`VidsslError` naming ``source`` and the first missing,
    unexpected and mis-shaped keys."""
    problem = state_dict_mismatch(module, state_dict)
    if problem is not None:
        raise VidsslError(f"{source} does not match this model: {problem}")
    module.load_state_dict(state_dict)


def capture_rng_state() -> dict[str, Any]:
    """Snapshot the torch (CPU and CUDA), numpy-global and python ``random`` RNGs as tensors and numbers."""
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    py_version, py_internal, py_gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss_next,
        },
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back RNG states saved by :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["bit_generator"],
            np_state["keys"].cpu().numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    py_state = state["python"]
    internal = tuple(int(v) for v in py_state["internal"].tolist())
    random.setstate((int(py_state["version"]), internal, py_state["gauss_next"]))
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu().to(torch.uint8) for s in cuda_states])
        else:
            torch.cuda.set_rng_state(cuda_states[0].cpu().to(torch.uint8))
