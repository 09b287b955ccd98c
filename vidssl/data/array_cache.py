"""A folder of ``.npy`` arrays keyed by what they were computed from: flow per clip, curriculum scores.

The key is a JSON-able description (source file path, size and mtime, frame
indices, settings); its SHA-1 names the file, so a changed video or setting
misses the cache instead of reading stale values. Files are written atomically
(a killed run never leaves half an array) and read with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.errors import OutputError
from vidssl.fileio import atomic_write


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """What identifies a file's content cheaply: absolute path, size and modification time (ns).

    A frame folder is identified by its own entry plus its newest file, so adding or
    replacing frames invalidates it too.
    """
    path = Path(path)
    stat = path.stat()
    if path.is_dir():
        newest = max((entry.stat().st_mtime_ns for entry in os.scandir(path)), default=0)
        return {
            "path": str(path.resolve()), "entries": len(os.listdir(path)), "mtime_ns": max(newest, stat.st_mtime_ns)
        }
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_key(description: Any) -> str:
    """SHA-1 of the canonical JSON of ``description``."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha1(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot describe {type(value).__name__} in a cache key")


class ArrayCache:
    """``cache.get(description)`` → the stored array or None; ``cache.put(description, array)``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.disabled = False  # set when a write failed

    def __repr__(self) -> str:
        return f"ArrayCache({str(self.folder)!r})"

    def path_for(self, description: Any) -> Path:
        key = cache_key(description)
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, description: Any) -> np.ndarray | None:
        path = self.path_for(description)
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (ValueError, OSError, EOFError):  # unreadable: recompute and overwrite
            return None

    def put(self, description: Any, array: np.ndarray) -> None:
        """Store ``array``; a cache that cannot be written (full disk, permissions) warns once and stores nothing
        more, since the caller has the array and can go on without the cache."""
        if self.disabled:
            return
        try:
            with atomic_write(self.path_for(description), "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        except OutputError as err:
            self.disabled = True
            warnings.warn(f"cache {self.folder} disabled: {err}; going on without it", stacklevel=2)
