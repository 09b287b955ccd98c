"""A validation split carved out of a training split, group-disjoint, the same on every machine.

Defaults are chosen on validation videos and the test split only reports, so
every dataset needs a validation split even where its split files have none
(UCF101, HMDB51, SynthMotion). :func:`carve_validation` moves whole groups of
training videos into it: a UCF101-style name ``v_<Class>_g<NN>_c<MM>`` puts the
clips of one group (cut from one long video) together, since clips of one group
in both splits would let a model match a validation video to its own group;
other names are their own group. Groups are drawn per class, a ``fraction`` of
each class's groups (rounded, at least one when the class has two or more), by
a generator seeded from ``seed`` and the class, so the split does not depend on
the order of the listing or on the other classes.
"""
from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vidssl.checks import ArgumentError, check_number_in

UCF_GROUP = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c\d+$")


def group_of(path: str) -> tuple[str, str]:
    """(class, group) of a video path: ``v_Class_gNN_cMM`` → (Class, NN); otherwise (parent folder, file stem)."""
    stem = Path(path).stem if Path(path).suffix else Path(path).name
    match = UCF_GROUP.match(stem)
    if match:
        return match["cls"], match["group"]
    return Path(path).parent.name, stem


def validation_groups(groups_by_class: Mapping[str, Sequence[str]], fraction: float, seed: int) -> set[tuple[str, str]]:
    """The (class, group) pairs that go to validation: ``round(fraction · groups)`` of each class's groups,
    at least one of a class with two or more groups, never all of them."""
    chosen: set[tuple[str, str]] = set()
    for cls, groups in groups_by_class.items():
        ordered = sorted(set(groups))
        if len(ordered) < 2:
            continue
        count = min(len(ordered) - 1, max(1, round(fraction * len(ordered))))
        rng = np.random.default_rng([seed, zlib.crc32(cls.encode())])
        picked = rng.choice(len(ordered), size=count, replace=False)
        chosen.update((cls, ordered[i]) for i in picked)
    return chosen


def carve_validation(paths: Sequence[str], fraction: float, *, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices of ``paths`` that stay in training and those that form the validation split (both sorted)."""
    fraction = check_number_in("fraction", fraction, 0.0, 1.0, high_open=True)
    if fraction == 0.0:
        raise ArgumentError("fraction", "expected a fraction > 0 of the training groups, got 0")
    groups_by_class: dict[str, list[str]] = defaultdict(list)
    keys = [group_of(path) for path in paths]
    for cls, group in keys:
        groups_by_class[cls].append(group)
    held_out = validation_groups(groups_by_class, fraction, seed)
    train = [i for i, key in enumerate(keys) if key not in held_out]
    val = [i for i, key in enumerate(keys) if key in held_out]
    return train, val
