"""A tiny ASLAN-layout dataset for the tests: class-coloured moving squares and 10 split files of pairs.

:func:`write_aslan_fixture` writes what :func:`vidssl.data.aslan.read_aslan_pairs`
reads, so the reader and the action similarity protocol can be tested end to
end without the real ASLAN videos.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidssl.data.aslan import NAMES_FILE, NUM_SPLITS
from vidssl.data.video_writer import write_mp4
from vidssl.errors import VidsslError


def _tiny_video(path: Path, class_index: int, video_index: int) -> None:
    """20 frames at 32×32: a square whose colour and motion depend on the class, its start on the video."""
    rng = np.random.default_rng([class_index, video_index])
    colour = np.array([(70 * class_index) % 256, (150 + 40 * class_index) % 256, 200], dtype=np.uint8)
    angle = 2.0 * np.pi * ((0.38 * class_index) % 1.0)
    start = rng.uniform(8, 24, size=2)
    frames = np.full((20, 32, 32, 3), 16, dtype=np.uint8)
    for t in range(20):
        x, y = (start + t * 0.8 * np.array([np.cos(angle), np.sin(angle)])) % 28
        frames[t, int(y): int(y) + 6, int(x): int(x) + 6] = colour
    write_mp4(frames, path, fps=25)


def _class_groups(num_classes: int) -> list[np.ndarray]:
    """Classes split into up to 10 groups of at least two; fold k uses group k % len(groups)."""
    groups = min(NUM_SPLITS, num_classes // 2)
    return np.array_split(np.arange(num_classes), groups)


def _fold_pairs(group: np.ndarray, videos_per_class: int, half: int, rng: np.random.Generator):
    """``half`` same and ``half`` not-same (video a, video b) pairs of (class, video) drawn from ``group``."""
    same = [((c, i), (c, j)) for c in group for i in range(videos_per_class) for j in range(i + 1, videos_per_class)]
    other = [((c, i), (d, j)) for c in group for d in group if c < d
             for i in range(videos_per_class) for j in range(videos_per_class)]
    if half > min(len(same), len(other)):
        raise VidsslError(f"ASLAN fixture: classes {group.tolist()} allow only {min(len(same), len(other))} same and "
                          f"not-same pairs each, asked for {half}")
    picked_same = [same[i] for i in rng.choice(len(same), half, replace=False)]
    picked_other = [other[i] for i in rng.choice(len(other), half, replace=False)]
    return picked_same, picked_other


def write_aslan_fixture(
    root: Path,
    *,
    num_classes: int,
    videos_per_class: int,
    pairs_per_fold: int,
    seed: int,
    make_video: Callable[[Path, int, int], None] | None = None,
) -> tuple[Path, Path]:
    """Write a tiny dataset in the layout of :func:`vidssl.data.aslan.read_aslan_pairs`.

    Returns (videos root, annotations folder).

    Videos are ``videos/class<cc>/class<cc>_v<vv>.mp4``, written by
    ``make_video(path, class_index, video_index)`` (default: 20 frames at
    32×32 via :func:`vidssl.data.video_writer.write_mp4`). ``annotations`` holds
    ``names.txt`` and ``split1.txt`` … ``split10.txt`` with
    ``pairs_per_fold / 2`` same and not-same pairs as names.txt indices. The
    classes are split into groups of at least two and fold k draws only from
    group k % groups, so folds see disjoint classes when there are at least
    20 (ASLAN's never-before-seen actions).
    """
    if num_classes < 2 or videos_per_class < 2:
        raise VidsslError(f"ASLAN fixture: need at least 2 classes and 2 videos per class, got {num_classes}, "
                          f"{videos_per_class}")
    if pairs_per_fold < 2 or pairs_per_fold % 2:
        raise VidsslError(f"ASLAN fixture: pairs_per_fold must be a positive even number, got {pairs_per_fold}")
    make_video = make_video or _tiny_video
    root = Path(root)
    videos, annotations = root / "videos", root / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    names = {}
    for c in range(num_classes):
        (videos / f"class{c:02d}").mkdir(parents=True, exist_ok=True)
        for v in range(videos_per_class):
            relative = f"class{c:02d}/class{c:02d}_v{v:02d}.mp4"
            make_video(videos / relative, c, v)
            names[(c, v)] = len(names) + 1
    (annotations / NAMES_FILE).write_text("".join(f"class{c:02d}/class{c:02d}_v{v:02d}.mp4\n" for c, v in names))
    rng = np.random.default_rng(seed)
    groups = _class_groups(num_classes)
    for k in range(NUM_SPLITS):
        same, other = _fold_pairs(groups[k % len(groups)], videos_per_class, pairs_per_fold // 2, rng)
        lines = [f"{names[a]} {names[b]} {label}\n" for pairs, label in ((same, 1), (other, 0)) for a, b in pairs]
        (annotations / f"split{k + 1}.txt").write_text("".join(lines))
    return videos, annotations
