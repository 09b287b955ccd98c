"""Independent random streams of one seed, and the seeds of a group or a video.

A video's seed comes from ``(seed, class name, index within class)`` and a
group's from ``(seed, class name, group)``; each seed then feeds one numpy
generator per purpose, so drawing more for one purpose never shifts another.
"""

from __future__ import annotations

import zlib

import numpy as np

# Independent random streams of one seed, one per purpose.
STREAM_PLAN, STREAM_MOTION, STREAM_LOOK, STREAM_CLUTTER = 0, 1, 2, 3


def seed_of(*entropy: int) -> int:
    """A 32-bit seed mixed from integers (numpy's SeedSequence: close inputs give unrelated seeds)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def name_key(name: str) -> int:
    """A stable integer for a class name, so a class's videos do not depend on which others are generated."""
    return zlib.crc32(name.encode("utf-8"))
