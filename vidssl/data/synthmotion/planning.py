"""Planning a dataset: groups of clips, the test groups, and every video's drawn size, length and speed."""

from __future__ import annotations

import math

import numpy as np

from vidssl.data.synthmotion.classes import ClassSpec
from vidssl.data.synthmotion.render import VideoPlan
from vidssl.data.synthmotion.seeds import STREAM_PLAN, name_key, seed_of

CLIPS_PER_GROUP = 4  # UCF101 has 4-7 clips per group
MIN_SIDE = 32  # smallest frame side that leaves room for every motion


def group_sizes(per_class: int) -> list[int]:
    """Clips per group: about ``CLIPS_PER_GROUP`` each, at least two groups when there are two videos."""
    groups = max(1, round(per_class / CLIPS_PER_GROUP))
    if per_class >= 2:
        groups = max(groups, 2)
    return [per_class // groups + (1 if g < per_class % groups else 0) for g in range(groups)]


def count_test_groups(num_groups: int, test_fraction: float) -> int:
    """Groups that go to the test split: ``round(test_fraction * groups)``, at least 1 and at most groups - 1.

    With ``test_fraction == 0`` or a single group, none.
    """
    if test_fraction <= 0.0 or num_groups < 2:
        return 0
    return min(max(round(test_fraction * num_groups), 1), num_groups - 1)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _even_size(rng: np.random.Generator, low: int, high: int) -> int:
    """A random even integer in [low, high] (rounded down to even, never below ``MIN_SIDE``)."""
    return max(MIN_SIDE, 2 * (int(rng.integers(low, high + 1)) // 2))


def plan_class(
    spec: ClassSpec,
    *,
    per_class: int,
    seed: int,
    appearance_bias: float,
    size_range: tuple[tuple[int, int], tuple[int, int]],
    length_range: tuple[int, int],
    speed_range: tuple[float, float],
    test_fraction: float,
) -> list[VideoPlan]:
    """The plans of one class's videos: groups g01.. (the first ``count_test_groups`` ones are test)."""
    key = name_key(spec.name)
    sizes = group_sizes(per_class)
    test_groups = count_test_groups(len(sizes), test_fraction)
    plans = []
    index = 0
    for g, size in enumerate(sizes):
        group_seed = seed_of(seed, key, 0, g)
        class_look = bool(np.random.default_rng([group_seed, STREAM_PLAN]).random() < appearance_bias)
        for c in range(size):
            video_seed = seed_of(seed, key, 1, index)
            rng = np.random.default_rng([video_seed, STREAM_PLAN])
            pans = rng.random() < 0.5
            flickers = rng.random() < 0.5
            plans.append(
                VideoPlan(
                    class_name=spec.name,
                    height=_even_size(rng, *size_range[0]),
                    width=_even_size(rng, *size_range[1]),
                    num_frames=int(rng.integers(length_range[0], length_range[1] + 1)),
                    speed=spec.tempo * _log_uniform(rng, *speed_range),
                    phase0=float(rng.random()),
                    group=g + 1,
                    clip=c + 1,
                    split="test" if g < test_groups else "train",
                    class_look=class_look,
                    distractors=int(rng.integers(0, 3)),
                    pan_x=float(rng.uniform(-0.3, 0.3)) if pans else 0.0,
                    pan_y=float(rng.uniform(-0.3, 0.3)) if pans else 0.0,
                    flicker=float(rng.uniform(0.02, 0.08)) if flickers else 0.0,
                    group_seed=group_seed,
                    video_seed=video_seed,
                )
            )
            index += 1
    return plans
