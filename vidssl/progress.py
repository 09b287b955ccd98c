"""Progress bars on a terminal, silence in log files.

Long work (generating SynthMotion, caching frames, an epoch, feature
extraction) shows a tqdm bar when stderr is a terminal. When stderr is a file
or a pipe (CI, ``nohup``, a scheduler's log), a bar would write one line per
refresh, so it is switched off and the one-line summaries printed by the
callers are all that is logged. ``VIDSSL_PROGRESS=1`` forces bars on, ``0`` off.
"""
from __future__ import annotations

import os
import sys
from typing import Any

# Plain tqdm, not tqdm.auto: the asyncio flavour that tqdm.auto picks calls iter() on what it wraps
# as soon as it is built, and a DataLoader iterator draws its workers' base seed when created, so the
# resumed-run test (tests/test_engine.py) saw different batches.
from tqdm import tqdm


def bars_wanted(enabled: bool = True) -> bool:
    """Whether to draw a bar: ``enabled``, and ``VIDSSL_PROGRESS`` or (unset) stderr being a terminal."""
    if not enabled:
        return False
    forced = os.environ.get("VIDSSL_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, disabled unless :func:`bars_wanted` (``enabled``)."""
    return tqdm(iterable, disable=not bars_wanted(enabled), **kwargs)
