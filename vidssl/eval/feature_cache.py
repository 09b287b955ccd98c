"""Per-video features computed once and reused by every protocol that asks for them again.

Retrieval, the linear probe, dynamic scenes, action similarity, t-SNE and the
retrieval grid all read frozen features of the same videos. A
:class:`FeatureCache` keys them by what they were computed from:

- the backbone's weights (SHA-256 of every parameter and buffer, so a
  retrained or different checkpoint never reads stale features),
- the records (path, size and mtime of each file, label, frame count and the
  size the reader returns them at) and the reader's kind,
- the clips (:class:`vidssl.eval.features.EvalClips`: count or stride, length,
  interval, size, modality) and the pooling,

and stores each layer in its own file, so asking for ``layer3`` after ``pool``
computes only ``layer3``. Entries are ``.npy`` files written atomically and read
with ``allow_pickle=False``; the default folder is ``$VIDSSL_CACHE/features``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidssl.data.array_cache import cache_key, file_fingerprint
from vidssl.errors import OutputError
from vidssl.fileio import atomic_write

CACHE_VERSION = 1


def backbone_fingerprint(backbone: torch.nn.Module) -> str:
    """SHA-256 of the backbone's class name and every state-dict entry (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(type(backbone).__name__.encode())
    for name, tensor in backbone.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def records_fingerprint(records: Sequence[Any]) -> list[Any]:
    """What identifies the videos: each file's fingerprint (or its path if gone), label, frames and size."""
    described = []
    for record in records:
        try:
            source = file_fingerprint(record.path)
        except OSError:
            source = {"path": str(record.path)}
        described.append([source, record.label, record.num_frames, record.height, record.width])
    return described


class FeatureCache:
    """``cache.load(description, layers)`` → {layer: array} of the layers present; ``cache.store(...)``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.disabled = False  # set when a write failed: the features computed are still returned

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.folder)!r})"

    def describe(
        self, backbone: torch.nn.Module, records: Sequence[Any], reader: Any, clips: Any, pooling: str
    ) -> dict[str, Any]:
        """The cache key's description of one feature extraction (everything but the layers)."""
        return {
            "version": CACHE_VERSION,
            "backbone": backbone_fingerprint(backbone),
            "records": records_fingerprint(records),
            "reader": type(reader).__name__,
            "clips": dataclasses.asdict(clips),
            "pooling": pooling,
        }

    def entry(self, description: dict[str, Any]) -> Path:
        key = cache_key(description)
        return self.folder / key[:2] / key

    def load(self, description: dict[str, Any], layers: Sequence[str]) -> tuple[dict[str, np.ndarray], Any]:
        """(the cached layers among ``layers``, (labels, valid) or None when the entry is missing or unreadable)."""
        entry = self.entry(description)
        try:
            labels = np.load(entry / "labels.npy", allow_pickle=False)
            valid = np.load(entry / "valid.npy", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return {}, None
        found = {}
        for layer in layers:
            try:
                found[layer] = np.load(entry / f"{_safe(layer)}.npy", allow_pickle=False)
            except (OSError, ValueError, EOFError):
                continue
        return found, (labels, valid)

    def store(
        self, description: dict[str, Any], by_layer: dict[str, np.ndarray], labels: np.ndarray, valid: np.ndarray
    ) -> None:
        """Write each layer, the labels and the validity flags atomically (one file each).

        The cache is optional: if it cannot be written (unwritable ``$VIDSSL_CACHE``,
        full disk) it warns once and stores nothing more; the caller keeps the
        features it computed.
        """
        if self.disabled:
            return
        entry = self.entry(description)
        meta = {k: description[k] for k in ("version", "backbone", "reader", "clips", "pooling")}
        meta["num_videos"] = len(labels)
        try:
            for name, array in {**{_safe(k): v for k, v in by_layer.items()}, "labels": labels, "valid": valid}.items():
                _save_npy(entry / f"{name}.npy", array)
            with atomic_write(entry / "meta.json", "w") as f:
                json.dump(meta, f, indent=2)
        except OutputError as err:
            self.disabled = True
            warnings.warn(f"feature cache {self.folder} disabled: {err}; going on without it", stacklevel=2)


def _safe(layer: str) -> str:
    """A tap name as a file name (taps are identifiers; anything else is replaced)."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in layer)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_write(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
