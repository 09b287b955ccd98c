"""Atomic file writes: a run killed mid-write never leaves a half-written checkpoint, cache or result.

Every writer in vidssl goes through :func:`atomic_write`: the content goes to
a temporary file in the target's folder, is flushed and fsynced, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). On any
error the temporary file is removed and the old target, if any, is untouched.

Three promises on top of that:

- **Files get the usual permissions.** The temporary file is created with mode
  0666 minus the process umask, like ``open(path, "w")``, so a team folder stays
  readable (``tempfile.mkstemp`` would make it 0600).
- **No temporary outlives its writer.** A process killed mid-write (SIGKILL,
  power loss) cannot remove its temporary; its name carries the host and the
  process id, so the next write into that folder removes temporaries whose
  process is gone (or that are a day old, for other hosts on a shared disk).
- **An OS error on output is one line.** Failures to create, write or rename
  become :class:`OutputError` ``cannot write PATH: reason``, which the CLI
  prints without a traceback.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from vidssl.errors import OutputError

TEMP_SUFFIX = ".vidssl-tmp"
# Temporaries of other hosts (shared file systems), and of the mkstemp naming of earlier versions, count
# as abandoned after this long: no single write of ours takes a day.
STALE_AFTER_SECONDS = 24 * 3600
LEGACY_STALE_AFTER_SECONDS = 3600
_TEMP_NAME = re.compile(
    r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + "$"
)
_LEGACY_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp(prefix=".name.", suffix=".tmp")
_swept_folders: set[str] = set()


def host_tag() -> str:
    """This machine's name reduced to ``[A-Za-z0-9-]`` (it is one dot-separated field of a temporary's name)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def temporary_name(target: str | Path) -> str:
    """``.<target name>.<host>.<pid>.<random>.vidssl-tmp``: whose temporary it is, so a later run can tell if it
    was abandoned."""
    return f".{Path(target).name}.{host_tag()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's live process raises PermissionError: alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def is_stale_temporary(path: Path, *, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary of :func:`atomic_write` whose writer is gone.

    Ours on this host: stale when its process no longer exists. Another host's
    (shared disk): stale after :data:`STALE_AFTER_SECONDS`. The ``mkstemp``
    temporaries of earlier versions: after :data:`LEGACY_STALE_AFTER_SECONDS`.
    Any other file is never stale.
    """
    now = time.time() if now is None else now
    match = _TEMP_NAME.match(path.name)
    try:
        age = now - path.stat().st_mtime
    except OSError:
        return False
    if match:
        if match["host"] == host_tag() and int(match["pid"]) != os.getpid():
            return not process_alive(int(match["pid"]))
        return match["host"] != host_tag() and age > STALE_AFTER_SECONDS
    return bool(_LEGACY_TEMP_NAME.match(path.name)) and age > LEGACY_STALE_AFTER_SECONDS


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the abandoned temporaries of killed writes in ``folder`` (not recursive); returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.is_file() and is_stale_temporary(entry):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def _sweep_once(folder: Path) -> None:
    """:func:`remove_stale_temporaries` the first time this process writes into ``folder``."""
    key = str(folder)
    if key not in _swept_folders:
        _swept_folders.add(key)
        remove_stale_temporaries(folder)


def _output_failure(path: Path, err: OSError) -> OutputError:
    """``cannot write X: it is a file, expected a folder`` when a file stands where ``path``'s folder would be,
    else ``cannot write PATH: reason``."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                return OutputError(folder, "it is a file, expected a folder")
            break
    return OutputError(path, err)


def make_output_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) for output; :class:`OutputError` if it cannot be a writable folder.

    Checked by creating and removing a file in it, so an unwritable folder fails
    here, before any work, not at the first checkpoint.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / temporary_name("write-check")
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        probe.unlink()
    except OSError as err:
        raise _output_failure(path, err) from None
    return path


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """``with atomic_write(path, "wb") as f: ...`` — ``path`` appears only once ``f`` is complete.

    Raises :class:`OutputError` for an OS error while writing (full disk,
    permissions, a file where a folder should be); the old ``path`` stays.
    """
    path = Path(path)
    tmp = path.parent / temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_once(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise _output_failure(path.parent, err) if not path.parent.is_dir() else OutputError(path, err) from None
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, err) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


def write_json_atomic(path: str | Path, data: Any, *, indent: int | None = None) -> None:
    with atomic_write(path) as handle:
        json.dump(data, handle, indent=indent)
