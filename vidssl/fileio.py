"""Atomic file writes: a run killed mid-write never leaves a half-written checkpoint, cache or result.

Every writer in vidssl goes through :func:`atomic_write`: the content goes to
a temporary file in the target's folder, is flushed and fsynced, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). On any
error the temporary file is removed and the old target, if any, is untouched.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """``with atomic_write(path, "wb") as f: ...`` — ``path`` appears only once ``f`` is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


def write_json_atomic(path: str | Path, data: Any, *, indent: int | None = None) -> None:
    with atomic_write(path) as handle:
        json.dump(data, handle, indent=indent)
