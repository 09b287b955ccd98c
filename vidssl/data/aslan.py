"""ASLAN View-2 pair files (Kliper-Gross, Hassner & Wolf, TPAMI 2012): the 10 splits of video pairs.

The action similarity protocol that scores them is
:mod:`vidssl.eval.action_similarity`. This is the project's reading; the ASLAN
distribution and its devkit could not be checked.

The layout (:func:`read_aslan_pairs`), this project's definition: an
annotations folder holding ``split1.txt`` … ``split10.txt`` (or zero-padded
``split01.txt``; both spellings of one split is an error), one pair per line,
whitespace separated ``<video_a> <video_b> <label>`` with label 1 = same
action, 0 or -1 = not same; ``#`` starts a comment, blank lines are ignored. A
video token made only of digits is a 1-based index into ``names.txt`` in the
same folder (one video path, relative to the videos root, per non-blank,
non-comment line; ASLAN ships numbered videos with a names list); any other
token is a path relative to the videos root. A listed ``x.avi`` that is absent
may be a frame folder ``x/`` (as in :mod:`vidssl.data.datasets`). Split ``k``
is fold ``k − 1``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidssl.errors import VidsslError

NUM_SPLITS = 10
NAMES_FILE = "names.txt"
_SAME_LABELS = {"1": True, "0": False, "-1": False}
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class AslanPairs:
    """The View-2 pairs: ``videos`` (V,) unique absolute paths, sorted; ``pairs`` int64 (P, 2) indices into
    ``videos``; ``same`` bool (P,); ``fold`` int64 (P,) in 0..9 (split file k is fold k − 1)."""

    videos: list[str]
    pairs: np.ndarray
    same: np.ndarray
    fold: np.ndarray


def split_files(annotations: Path) -> list[Path]:
    """``split1.txt`` … ``split10.txt`` (or ``split01.txt`` …) of an annotations folder, in split order."""
    annotations = Path(annotations)
    if not annotations.is_dir():
        raise VidsslError(f"{annotations}: ASLAN annotations must be a folder holding split1.txt ... split10.txt")
    files = []
    for k in range(1, NUM_SPLITS + 1):
        found = [annotations / name for name in dict.fromkeys((f"split{k}.txt", f"split{k:02d}.txt"))
                 if (annotations / name).is_file()]
        if not found:
            raise VidsslError(f"{annotations}: missing split{k}.txt (ASLAN View-2 has 10 splits)")
        if len(found) > 1:
            raise VidsslError(f"{annotations}: split {k} is given twice ({found[0].name} and {found[1].name})")
        files.append(found[0])
    return files


def _content_lines(file: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without comment) of each line that holds something."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise VidsslError(f"{file}: cannot read ({err})") from err
    for line_number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            yield line_number, content


def read_names(file: Path) -> list[str]:
    """The video paths of a names file, entry i (0-based) on the i-th non-blank, non-comment line."""
    return [content for _, content in _content_lines(file)]


def _video_of(token: str, names: list[str] | None, file: Path, line_number: int) -> str:
    """The relative video path a pair token stands for: a names.txt entry (digits) or the token itself."""
    if not (token.isascii() and token.isdigit()):
        return token
    if names is None:
        names_file = file.parent / NAMES_FILE
        raise VidsslError(f"{file}:{line_number}: video {token!r} is an index but {names_file} is missing")
    index = int(token)
    if not 1 <= index <= len(names):
        raise VidsslError(f"{file}:{line_number}: video index {index} is outside 1..{len(names)} of {NAMES_FILE}")
    return names[index - 1]


def _parse_pair(content: str, names: list[str] | None, file: Path, line_number: int) -> tuple[str, str, bool]:
    fields = content.split()
    if len(fields) != 3:
        raise VidsslError(f"{file}:{line_number}: expected '<video_a> <video_b> <label>', got {content!r}")
    if fields[2] not in _SAME_LABELS:
        raise VidsslError(f"{file}:{line_number}: label must be 1 (same) or 0/-1 (not same), got {fields[2]!r}")
    video_a = _video_of(fields[0], names, file, line_number)
    video_b = _video_of(fields[1], names, file, line_number)
    if os.path.normpath(video_a) == os.path.normpath(video_b):
        raise VidsslError(f"{file}:{line_number}: pair compares {video_a!r} with itself")
    return video_a, video_b, _SAME_LABELS[fields[2]]


def _resolve(root: Path, relative: str) -> Path | None:
    """The video file under ``root``, or the frame folder named like it without extension; None if neither."""
    path = root / relative
    if path.exists():
        return path.resolve()
    folder = path.with_suffix("")
    return folder.resolve() if folder != path and folder.is_dir() else None


def read_aslan_pairs(annotations: Path, root: Path) -> AslanPairs:
    """Read the 10 View-2 split files of ``annotations`` (module docstring) with videos under ``root``.

    Raises:
        VidsslError: missing folder or split, malformed line or label, bad
            index (message names file:line), or listed videos that do not exist
            (one error with their count and the first few).
    """
    annotations, root = Path(annotations).expanduser(), Path(root).expanduser()
    if not root.is_dir():
        raise VidsslError(f"{root}: ASLAN videos root does not exist")
    files = split_files(annotations)
    names_file = annotations / NAMES_FILE
    names = read_names(names_file) if names_file.is_file() else None
    listed: list[tuple[str, str, bool, int]] = []  # (video a, video b, same, fold)
    for fold, file in enumerate(files):
        rows = [_parse_pair(content, names, file, number) for number, content in _content_lines(file)]
        if not rows:
            raise VidsslError(f"{file}: no pairs")
        listed.extend((video_a, video_b, same, fold) for video_a, video_b, same in rows)
    resolved = {relative: _resolve(root, relative) for row in listed for relative in row[:2]}
    missing = sorted(relative for relative, path in resolved.items() if path is None)
    if missing:
        shown = ", ".join(missing[:_NAMES_SHOWN]) + (", ..." if len(missing) > _NAMES_SHOWN else "")
        raise VidsslError(f"{annotations}: {len(missing)} of {len(resolved)} listed videos do not exist under {root}: "
                          f"{shown}")
    videos = sorted({str(path) for path in resolved.values()})
    position = {video: index for index, video in enumerate(videos)}
    pairs = np.array([[position[str(resolved[a])], position[str(resolved[b])]] for a, b, _, _ in listed],
                     dtype=np.int64)
    return AslanPairs(
        videos=videos,
        pairs=pairs,
        same=np.array([row[2] for row in listed], dtype=bool),
        fold=np.array([row[3] for row in listed], dtype=np.int64),
    )
