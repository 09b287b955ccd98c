"""Video records from the common dataset layouts, and the map-style dataset over them.

:func:`load_records` turns a dataset on disk (one of :data:`FORMATS`) into a
sorted list of :class:`VideoRecord` plus the class names. Each video is probed
once for its frame count, fps and size; results are cached in a JSON index so
later calls start instantly. Split-file entries whose path leaves the dataset
root are refused with a warning, and a video listed twice is kept once.
:class:`VideoDataset` pairs records with a reader and a pure sampler and makes
every sample reproducible from ``(seed, epoch, index)``.
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from vidssl.checks import ArgumentError, check_choice
from vidssl.contracts import Record
from vidssl.data.validation import carve_validation
from vidssl.data.video import VideoMeta, probe, probe_frames
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.fileio import write_json_atomic
from vidssl.progress import progress_bar

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
CACHE_ENV_VAR = "VIDSSL_CACHE"
STHSTH_LABELS_FILE = "something-something-v2-labels.json"
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
# Probing is mostly file I/O and FFmpeg work outside the GIL, so threads overlap well.
_PROBE_THREADS = 8
_NAMES_IN_WARNINGS = 3


class LabelledRecord(Record, Protocol):
    """A record a :class:`VideoDataset` serves: what its sampler reads (:class:`vidssl.contracts.Record`) and a label
    (``VideoRecord``, STS's ``ClipRecord``, the temporal tasks' ``TaskRecord``)."""

    @property
    def label(self) -> int: ...


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset: where it is, its class and what probing found.

    ``label`` is a 0-based class index, or -1 for unlabelled data. ``path`` is a
    video file or, for frame-extracted datasets, a folder of frame images.
    """

    path: str
    label: int
    num_frames: int
    fps: float
    height: int
    width: int


# A listed video before probing: (absolute path, label).
_Listed = tuple[str, int]


@dataclass
class _Listing:
    """What a layout's split files name: videos found, paths that do not exist, paths leaving ``root``,
    and entries naming a video already listed (``duplicates``; the first entry is kept).

    Containment is lexical (``os.path.normpath`` of the joined path), so symlinks
    inside ``root`` that point to other disks stay allowed.
    """

    root: Path
    listed: list[_Listed] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    first_seen: dict[str, tuple[int, str]] = field(default_factory=dict)  # resolved path -> (label, where)

    def refuses(self, path: Path) -> bool:
        """True (and ``path`` noted as outside) when ``path`` leaves the root."""
        if _inside(self.root, path):
            return False
        self.outside.append(os.path.abspath(path))
        return True

    def add(self, path: Path, label: int, where: str) -> None:
        """``path`` (or the frame folder named like it without extension), unless outside or missing.

        ``where`` (``file:line``) names the entry in errors.
        """
        if self.refuses(path):
            return
        for candidate in (path, path.with_suffix("")):
            if candidate.exists() and (candidate == path or candidate.is_dir()):
                self._list(candidate, label, where)
                return
        self.missing.append(str(path))

    def add_first_existing(self, candidates: list[Path], label: int, where: str) -> None:
        """The first of ``candidates`` that exists; the entry is refused when any candidate leaves the root."""
        if any(self.refuses(path) for path in candidates):  # notes the first escaping candidate only
            return
        found = next((path for path in candidates if path.exists()), None)
        if found is None:
            self.missing.append(str(candidates[0]))
        else:
            self._list(found, label, where)

    def _list(self, path: Path, label: int, where: str) -> None:
        """List ``path`` once: a repeat is noted as a duplicate, or is an error when its label differs."""
        resolved = str(path.resolve())
        if resolved not in self.first_seen:
            self.first_seen[resolved] = (label, where)
            self.listed.append((resolved, label))
            return
        first_label, first_where = self.first_seen[resolved]
        if label != first_label:
            raise VidsslError(f"{where}: {resolved} listed again with label {label}, "
                              f"but with label {first_label} at {first_where}")
        self.duplicates.append(resolved)

    def count(self) -> int:
        return len(self.listed) + len(self.missing) + len(self.outside) + len(self.duplicates)


def _inside(root: Path, path: Path) -> bool:
    """Whether the lexically normalised ``path`` lies below ``root`` (symlinks are not followed)."""
    base, target = os.path.abspath(root), os.path.abspath(path)
    return target != base and os.path.commonpath([base, target]) == base


def load_records(
    fmt: str,
    root: str | os.PathLike,
    *,
    split: str = "train",
    split_id: int = 1,
    annotations: str | os.PathLike | None = None,
    labelled: bool = True,
    index_cache_dir: str | os.PathLike | None = None,
    frame_template: str = "img_{:05d}.jpg",
    progress: bool = True,
    val_fraction: float = 0.0,
    val_seed: int = 0,
) -> tuple[list[VideoRecord], list[str]]:
    """List, probe and label the videos of one split of a dataset.

    Args:
        fmt: layout, one of :data:`FORMATS` (see the ``_list_<fmt>`` functions).
        root: folder the videos live under (for ``csv``, may be the CSV file).
        split: "train" or "test" (ucf101, hmdb51); "train", "val"/"validate",
            "test" (kinetics). Ignored by folder, sthsth and csv, whose files
            are the split.
        split_id: 1, 2 or 3 (ucf101, hmdb51).
        annotations: split files: a folder (ucf101, hmdb51), a CSV (kinetics,
            csv) or the split JSON (sthsth); must be None for folder.
        labelled: when False every label is -1 and label columns are optional.
        index_cache_dir: where the probe index lives; default
            ``$VIDSSL_CACHE/index``, or ``~/.cache/vidssl/index`` without the variable.
        frame_template: file names of frame-folder videos.
        progress: show a tqdm bar while probing.
        val_fraction: > 0 carves a validation split out of the training split
            (:func:`vidssl.data.validation.carve_validation`: whole UCF101
            ``gNN`` groups, else videos, that fraction of each class):
            ``split="train"`` then lists the rest and ``split="val"`` the carved
            part, for every format (Kinetics' own ``val`` is then not read).
        val_seed: which groups the carving draws.

    Returns:
        (records sorted by path, class names indexed by label).

    Raises:
        VidsslError: unknown format, missing root or annotation file, annotations
            given to the folder format, malformed split file, a UCF101 split
            label that disagrees with classInd.txt or a video listed twice with
            different labels (message names file:line), or no usable video.

    Entries whose normalised path leaves the root (``..``, absolute paths) are
    never opened: they are skipped with one warning that counts them, as are
    listed videos that do not exist and repeated entries of a video (the first
    is kept).
    """
    if fmt not in _LISTERS:
        raise ArgumentError("fmt", f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "folder" and annotations is not None:
        raise VidsslError(
            f"annotations={annotations}: the folder format has no split files (classes are the folders of the "
            f"root); annotations are read by {', '.join(name for name in FORMATS if name != 'folder')}"
        )
    root_path = Path(root).expanduser()
    if not root_path.exists():
        raise VidsslError(f"{root_path}: dataset root does not exist")
    annotation_path = Path(annotations).expanduser() if annotations is not None else None
    if annotation_path is not None and not annotation_path.exists():
        raise VidsslError(f"{annotation_path}: annotation path does not exist")
    carving = val_fraction > 0 and split in ("train", "val")
    listing, class_names = _LISTERS[fmt](
        root_path, annotation_path, split="train" if carving else split, split_id=split_id, labelled=labelled
    )
    listed, missing = listing.listed, listing.missing
    if carving:
        kept = carve_validation([path for path, _ in listed], val_fraction, seed=val_seed)[split == "val"]
        listed = [listed[i] for i in kept]
    if listing.outside:
        warnings.warn(
            f"{fmt}: refused {len(listing.outside)} of {listing.count()} listed videos whose path leaves "
            f"the dataset root {listing.root}: {_first_names(listing.outside)}",
            stacklevel=2,
        )
    if missing:
        warnings.warn(
            f"{fmt}: skipped {len(missing)} of {listing.count()} listed videos that do not exist: "
            f"{_first_names(missing)}",
            stacklevel=2,
        )
    if listing.duplicates:
        warnings.warn(
            f"{fmt}: dropped {len(listing.duplicates)} duplicate entries of {listing.count()} listed videos "
            f"(each video is kept once, with its first entry): {_first_names(listing.duplicates)}",
            stacklevel=2,
        )
    index_file = index_path_for(index_cache_dir, root_path)
    metas, failures = probe_all([path for path, _ in listed], index_file, frame_template, progress)
    if failures:
        warnings.warn(
            f"{fmt}: skipped {len(failures)} of {len(listed)} videos that failed to probe: "
            f"{_first_names(failures)}",
            stacklevel=2,
        )
    records = sorted(
        (
            VideoRecord(path, label if labelled else -1, *_meta_fields(metas[path]))
            for path, label in listed
            if path in metas
        ),
        key=lambda record: record.path,
    )
    if not records:
        source = f"annotations {annotation_path}" if annotation_path is not None else f"root {root_path}"
        raise VidsslError(
            f"no usable videos for format {fmt!r}, split {split!r} (split_id {split_id}) "
            f"under root {root_path} with {source} ({len(missing)} missing, {len(listing.outside)} outside the root, "
            f"{len(failures)} failed to probe)"
        )
    return records, class_names


def _meta_fields(meta: VideoMeta) -> tuple[int, float, int, int]:
    return meta.num_frames, meta.fps, meta.height, meta.width


def _first_names(items: Sequence[str]) -> str:
    shown = ", ".join(str(item) for item in items[:_NAMES_IN_WARNINGS])
    return shown + (", ..." if len(items) > _NAMES_IN_WARNINGS else "")


# ---------------------------------------------------------------------------
# Layouts: each returns (listing of videos, missing and outside paths; class names)
# ---------------------------------------------------------------------------


def _list_folder(root: Path, annotations: Path | None, *, split: str, split_id: int, labelled: bool):
    """``root/<class>/<video file or frame folder>``; classes are the sorted folder names.

    With ``labelled=False``, videos and frame folders directly in ``root`` count too.
    """
    if not root.is_dir():
        raise VidsslError(f"{root}: folder format needs a directory of class folders")
    listing = _Listing(root)
    class_names = []
    for item in sorted(root.iterdir()):
        if not labelled and _is_video(item):
            listing.listed.append((str(item.resolve()), -1))
        elif item.is_dir() and not item.name.startswith("."):
            class_names.append(item.name)
    for label, name in enumerate(class_names):
        listing.listed.extend(
            (str(item.resolve()), label) for item in sorted((root / name).iterdir()) if _is_video(item)
        )
    return listing, class_names


def _is_video(path: Path) -> bool:
    """A file with a video extension, or a folder holding frame images."""
    if path.name.startswith("."):
        return False
    if path.is_file():
        return path.suffix.lower() in VIDEO_EXTENSIONS
    if path.is_dir():
        with os.scandir(path) as entries:
            return any(entry.name.lower().endswith(IMAGE_EXTENSIONS) for entry in entries)
    return False


def _list_ucf101(root: Path, annotations: Path | None, *, split: str, split_id: int, labelled: bool):
    """UCF101: ``annotations/classInd.txt`` and ``{train,test}list0{split_id}.txt``.

    classInd lines are ``<1-based index> <ClassName>``; labels here are that
    index minus one, and class names are in classInd order. Split lines are
    ``<ClassName>/<video file> [<label>]``; the class comes from the folder part
    and a trailing 1-based label must agree with classInd.txt. Paths are
    relative to ``root``; ``.avi`` and ``.mp4`` both work, and a frame folder
    named like the file without its extension stands in for a missing file.
    """
    folder = _require_annotations(annotations, "ucf101", "a folder with classInd.txt and trainlist0N.txt")
    check_choice("split", split, ("train", "test"))
    check_choice("split_id", split_id, (1, 2, 3))
    class_names = _read_class_index(folder / "classInd.txt")
    label_of = {name: label for label, name in enumerate(class_names)}
    split_file = folder / f"{split}list0{split_id}.txt"
    listing = _Listing(root)
    for line_number, line in _numbered_lines(split_file):
        relative, given_label = _parse_ucf101_split_line(line, split_file, line_number)
        if listing.refuses(root / relative):
            continue
        class_name = relative.split("/")[0]
        where = f"{split_file}:{line_number}"
        if class_name not in label_of:
            raise VidsslError(f"{where}: class {class_name!r} is not in {folder / 'classInd.txt'}")
        _check_split_label(given_label, class_name, label_of[class_name] + 1, where, folder / "classInd.txt")
        listing.add(root / relative, label_of[class_name], where)
    return listing, class_names


def _check_split_label(given: int | None, class_name: str, class_index: int, where: str, class_file: Path) -> None:
    """A split line's 1-based label, when given, must be its class folder's index in classInd.txt."""
    if given is not None and given != class_index:
        raise VidsslError(f"{where}: label {given} disagrees with {class_file}, where {class_name} is {class_index}")


def _read_class_index(file: Path) -> list[str]:
    """Class names from a UCF101 ``classInd.txt`` (``<1-based index> <name>``), in index order."""
    by_index: dict[int, str] = {}
    for line_number, line in _numbered_lines(file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise VidsslError(f"{file}:{line_number}: expected '<1-based index> <ClassName>', got {line!r}")
        index = int(parts[0])
        if index in by_index:
            raise VidsslError(f"{file}:{line_number}: class index {index} appears twice")
        by_index[index] = parts[1]
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise VidsslError(f"{file}: class indices must be 1..{len(by_index)} without gaps, got {sorted(by_index)}")
    return [by_index[index] for index in range(1, len(by_index) + 1)]


def _parse_ucf101_split_line(line: str, file: Path, line_number: int) -> tuple[str, int | None]:
    """(relative path, 1-based label or None) of a ``<ClassName>/<video file> [<label>]`` line."""
    parts = line.split()
    valid = 1 <= len(parts) <= 2 and "/" in parts[0] and (len(parts) == 1 or _is_int(parts[1]))
    if not valid:
        raise VidsslError(f"{file}:{line_number}: expected '<ClassName>/<video file> [<label>]', got {line!r}")
    return parts[0], int(parts[1]) if len(parts) == 2 else None


def _list_hmdb51(root: Path, annotations: Path | None, *, split: str, split_id: int, labelled: bool):
    """HMDB51: ``annotations/<class>_test_split{split_id}.txt``, lines ``<video> <flag>``.

    Flag 1 = train, 2 = test, 0 = unused. Videos are ``root/<class>/<video>``;
    classes are sorted names, labels 0-based.
    """
    folder = _require_annotations(annotations, "hmdb51", "the folder of <class>_test_split1.txt files")
    check_choice("split", split, ("train", "test"))
    check_choice("split_id", split_id, (1, 2, 3))
    suffix = f"_test_split{split_id}.txt"
    files = sorted(folder.glob(f"*{suffix}"))
    if not files:
        raise VidsslError(f"{folder}: no <class>{suffix} files")
    class_names = sorted(file.name[: -len(suffix)] for file in files)
    wanted_flag = {"train": "1", "test": "2"}[split]
    listing = _Listing(root)
    for label, class_name in enumerate(class_names):
        file = folder / f"{class_name}{suffix}"
        for line_number, line in _numbered_lines(file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise VidsslError(f"{file}:{line_number}: expected '<video file> <0|1|2>', got {line!r}")
            if parts[1] == wanted_flag:
                listing.add(root / class_name / parts[0], label, f"{file}:{line_number}")
    return listing, class_names


def _list_kinetics(root: Path, annotations: Path | None, *, split: str, split_id: int, labelled: bool):
    """Kinetics: a CSV ``label,youtube_id,time_start,time_end,split``.

    Video ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4`` is looked up in
    ``root`` and in ``root/<label>/``. Classes are the sorted labels of the whole
    CSV; rows are kept when their split matches ("val" and "validate" are the
    same). Without a ``split`` column every row is kept; with ``labelled=False``
    the ``label`` column may be absent. Rows without a file (every Kinetics copy
    has some) are reported as missing.
    """
    file = _require_annotations(annotations, "kinetics", "the CSV label,youtube_id,time_start,time_end,split")
    check_choice("split", split, ("train", "val", "validate", "test"))
    wanted_split = _kinetics_split(split)
    required = [column for column in KINETICS_COLUMNS if column != "split" and (labelled or column != "label")]
    rows = list(_read_csv_rows(file, required, expected=",".join(KINETICS_COLUMNS)))
    class_names = sorted({row["label"] for _, row in rows if row.get("label")})
    label_of = {name: label for label, name in enumerate(class_names)}
    listing = _Listing(root)
    for line_number, row in rows:
        if row.get("split") is not None and _kinetics_split(row["split"]) != wanted_split:
            continue
        start = _parse_int_field(row["time_start"], file, line_number, "time_start")
        end = _parse_int_field(row["time_end"], file, line_number, "time_end")
        name = f"{row['youtube_id']}_{start:06d}_{end:06d}.mp4"
        label_name = row.get("label")
        candidates = [root / name] + ([root / label_name / name] if label_name else [])
        label = label_of.get(label_name, -1) if label_name is not None else -1
        listing.add_first_existing(candidates, label, f"{file}:{line_number}")
    return listing, class_names


def _kinetics_split(name: str) -> str:
    name = name.strip().lower()
    return "val" if name == "validate" else name


def _list_sthsth(root: Path, annotations: Path | None, *, split: str, split_id: int, labelled: bool):
    """Something-Something V2: the split JSON (``[{"id", "template", ...}]``), videos ``root/<id>.webm``.

    The label is the template with ``[`` and ``]`` removed. When the sibling
    ``something-something-v2-labels.json`` (template -> id string) exists it fixes
    the class ids; otherwise classes are the sorted templates of this file (pass
    the labels file so train and validation agree). A frame folder ``root/<id>``
    stands in for a missing ``.webm``.
    """
    file = _require_annotations(annotations, "sthsth", "the split JSON, e.g. something-something-v2-train.json")
    entries = _read_json(file)
    if not isinstance(entries, list):
        raise VidsslError(f"{file}: expected a JSON list of {{'id', 'template'}} objects")
    templates = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            raise VidsslError(f"{file}: entry {position} has no 'id'")
        if labelled and "template" not in entry:
            raise VidsslError(f"{file}: entry {position} has no 'template'; use labelled=False for the test split")
        templates.append(str(entry.get("template", "")).replace("[", "").replace("]", ""))
    class_names = _sthsth_class_names(file.parent / STHSTH_LABELS_FILE, templates if labelled else [])
    label_of = {name: label for label, name in enumerate(class_names)}
    listing = _Listing(root)
    for position, (entry, template) in enumerate(zip(entries, templates)):
        label = -1
        if labelled:
            if template not in label_of:
                raise VidsslError(f"{file}: entry {position} template {template!r} is not in {STHSTH_LABELS_FILE}")
            label = label_of[template]
        listing.add(root / f"{entry['id']}.webm", label, f"{file}: entry {position}")
    return listing, class_names


def _sthsth_class_names(labels_file: Path, templates: list[str]) -> list[str]:
    """Class names ordered by the labels file's ids, or the sorted distinct templates."""
    if not labels_file.exists():
        return sorted(set(templates))
    labels = _read_json(labels_file)
    if not isinstance(labels, dict) or not all(_is_int(str(value)) for value in labels.values()):
        raise VidsslError(f"{labels_file}: expected a JSON object mapping template -> id string")
    by_id = {int(value): name for name, value in labels.items()}
    if sorted(by_id) != list(range(len(labels))):
        raise VidsslError(f"{labels_file}: ids must be 0..{len(labels) - 1} without gaps or repeats")
    return [by_id[index] for index in range(len(labels))]


def _list_csv(root: Path, annotations: Path | None, *, split: str, split_id: int, labelled: bool):
    """A CSV with header ``path,label``; relative paths are resolved against the CSV's folder.

    Every path must stay inside ``root`` (the CSV's folder when ``root`` is the CSV).
    Labels may be non-negative integers (class names are then "0".."max") or
    names (sorted, 0-based). With ``labelled=False`` the label column may be absent.
    """
    if annotations is None and root.suffix.lower() == ".csv" and root.is_file():
        annotations = root
    file = _require_annotations(annotations, "csv", "a CSV file with header path,label")
    rows = list(_read_csv_rows(file, ["path", "label"] if labelled else ["path"], expected="path,label"))
    raw_labels = [row.get("label") or "" for _, row in rows] if labelled else []
    for (line_number, _), raw in zip(rows, raw_labels):
        if not raw.strip():
            raise VidsslError(f"{file}:{line_number}: empty label; expected a class name or integer")
    class_names, labels = _csv_labels([raw.strip() for raw in raw_labels])
    listing = _Listing(root if root.is_dir() else root.parent)
    for position, (line_number, row) in enumerate(rows):
        listing.add(file.parent / Path(row["path"]).expanduser(), labels[position] if labelled else -1,
                    f"{file}:{line_number}")
    return listing, class_names


def _csv_labels(raw: list[str]) -> tuple[list[str], list[int]]:
    """Integer labels as given, or names mapped to their index among the sorted names."""
    if raw and all(label.isdigit() for label in raw):
        labels = [int(label) for label in raw]
        return [str(index) for index in range(max(labels) + 1)], labels
    class_names = sorted(set(raw))
    label_of = {name: label for label, name in enumerate(class_names)}
    return class_names, [label_of[name] for name in raw]


_LISTERS: dict[str, Callable[..., tuple[_Listing, list[str]]]] = {
    "folder": _list_folder,
    "ucf101": _list_ucf101,
    "hmdb51": _list_hmdb51,
    "kinetics": _list_kinetics,
    "sthsth": _list_sthsth,
    "csv": _list_csv,
}
FORMATS: tuple[str, ...] = tuple(_LISTERS)
"""The dataset layouts :func:`load_records` reads, one ``_list_<format>`` function each."""


# ---------------------------------------------------------------------------
# Small parsing helpers
# ---------------------------------------------------------------------------


def _require_annotations(annotations: Path | None, fmt: str, what: str) -> Path:
    if annotations is None:
        raise VidsslError(f"format {fmt!r} needs annotations=<{what}>")
    return annotations


def _numbered_lines(file: Path):
    """(1-based line number, stripped line) for each non-blank line of a text file."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise VidsslError(f"{file}: cannot read split file ({err})") from err
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield line_number, line.strip()


def _read_csv_rows(file: Path, required: list[str], *, expected: str):
    """(line number, row dict) of a CSV, after checking the header has ``required`` columns."""
    if not file.is_file():
        raise VidsslError(f"{file}: expected a CSV file with header {expected}")
    with open(file, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        absent = [column for column in required if column not in header]
        if absent:
            raise VidsslError(f"{file}:1: header lacks {', '.join(absent)}; expected {expected}")
        reader.fieldnames = header
        for row in reader:
            if any(row.get(column) is None for column in required):
                raise VidsslError(f"{file}:{reader.line_num}: too few fields; expected {expected}")
            yield reader.line_num, {key: (value.strip() if isinstance(value, str) else value)
                                    for key, value in row.items()}


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise VidsslError(f"{file}: cannot read JSON ({err})") from err


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _parse_int_field(text: str, file: Path, line_number: int, column: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise VidsslError(f"{file}:{line_number}: {column} must be a whole number of seconds, got {text!r}")
    return int(value)


# ---------------------------------------------------------------------------
# Probing with a persistent index
# ---------------------------------------------------------------------------


def default_index_dir() -> Path:
    """``$VIDSSL_CACHE/index``, or ``~/.cache/vidssl/index`` when the variable is unset."""
    base = os.environ.get(CACHE_ENV_VAR)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "vidssl") / "index"


def index_path_for(index_cache_dir: str | os.PathLike | None, root: Path) -> Path:
    """One index file per dataset root."""
    folder = Path(index_cache_dir).expanduser() if index_cache_dir is not None else default_index_dir()
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return folder / f"index_{digest}.json"


# Bumped when probing counts frames differently, so cached probes of older versions are redone: 2 = the count of
# frames that decode (stream-copied cuts' hidden frames left out, B-frame AVIs counted from their first frame).
PROBE_VERSION = 2


def _file_key(path: str, frame_template: str) -> dict[str, Any] | None:
    """What must match for a cached probe to still hold: size, mtime_ns, frame template, probe version."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    template = frame_template if os.path.isdir(path) else None
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "template": template, "probe": PROBE_VERSION}


def probe_all(
    paths: list[str], index_file: Path, frame_template: str, progress: bool
) -> tuple[dict[str, VideoMeta], list[str]]:
    """Metadata of every path (from the index when still valid), and the paths that failed.

    Failures are cached too, so a broken file is not re-probed until it changes.
    """
    index = _load_index(index_file)
    keys = {path: _file_key(path, frame_template) for path in paths}
    todo = [path for path in paths if keys[path] is None or _cached_key(index.get(path)) != keys[path]]
    if todo:
        bar = progress_bar(total=len(todo), desc="probing videos", unit="video", enabled=progress)
        with bar, concurrent.futures.ThreadPoolExecutor(max_workers=_PROBE_THREADS) as pool:
            futures = {pool.submit(_probe_one, path, keys[path], frame_template): path for path in todo}
            for future in concurrent.futures.as_completed(futures):
                index[futures[future]] = future.result()
                bar.update()
        _save_index(index_file, index)
    metas: dict[str, VideoMeta] = {}
    failures = []
    for path in paths:
        entry = index[path]
        if "meta" in entry:
            metas[path] = VideoMeta(*entry["meta"])
        else:
            failures.append(f"{path} ({entry['error']})")
    return metas, failures


def _cached_key(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    return {name: entry.get(name) for name in ("size", "mtime_ns", "template", "probe")}


def _probe_one(path: str, key: dict[str, Any] | None, frame_template: str) -> dict[str, Any]:
    """Index entry for one path: its key plus ``meta`` [frames, fps, h, w] or ``error``."""
    entry: dict[str, Any] = dict(key or {"size": None, "mtime_ns": None, "template": None})
    try:
        if key is not None and key["template"] is not None:
            meta = probe_frames(path, frame_template)
        else:
            meta = probe(path)
    except CorruptVideoError as err:
        entry["error"] = str(err)
    else:
        entry["meta"] = [meta.num_frames, meta.fps, meta.height, meta.width]
    return entry


def _load_index(file: Path) -> dict[str, Any]:
    """The probe index, or an empty one when absent or unreadable (it is only a cache)."""
    try:
        index = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _save_index(file: Path, index: dict[str, Any]) -> None:
    """Write the index atomically; an unwritable cache only costs re-probing next time."""
    try:
        write_json_atomic(file, index)
    except OSError as err:
        reason = getattr(err, "reason", None) or err.strerror or err
        warnings.warn(f"probe index disabled: cannot write {file}: {reason}; videos will be probed again",
                      stacklevel=3)


# ---------------------------------------------------------------------------
# Videos against the clip length
# ---------------------------------------------------------------------------


def warn_short_videos(records: Sequence[VideoRecord], clip_frames: int, short_video: str = "loop") -> int:
    """Warn once when some videos have fewer frames than a clip; returns how many do.

    Call it once per dataset, where its clip length is known. ``short_video``
    names how samplers fill such clips (:func:`vidssl.data.sampling.fit_to_video`).
    """
    lengths = [record.num_frames for record in records if record.num_frames < clip_frames]
    if lengths:
        filled = "looped from their start" if short_video == "loop" else "padded by repeating their last frame"
        warnings.warn(
            f"{len(lengths)} of {len(records)} videos are shorter than a clip of {clip_frames} frames "
            f"(shortest: {min(lengths)} frames); their clips are {filled} (short_video: {short_video})",
            stacklevel=2,
        )
    return len(lengths)


# ---------------------------------------------------------------------------
# The map-style dataset
# ---------------------------------------------------------------------------


class VideoDataset(torch.utils.data.Dataset):
    """Map-style dataset: ``sampler(record, reader, rng)`` plus label and bookkeeping.

    Sample ``i`` of epoch ``e`` uses ``rng = np.random.default_rng([seed, e, i])``,
    so it is the same in any worker, process or run. A video that raises
    :class:`CorruptVideoError` is replaced by the next one (``i + 1``, ``i + 2``,
    ... wrapping around), still drawn with sample ``i``'s rng; the sample's
    ``skipped`` says how many were replaced.

    Each sample is the sampler's dict plus ``label`` (long), ``video_index``
    (long, the video actually used) and ``skipped`` (int).
    """

    def __init__(
        self,
        records: Sequence[LabelledRecord],
        reader: Any,
        sampler: Callable[[Any, Any, np.random.Generator], dict],
        seed: int = 0,
    ) -> None:
        if len(records) == 0:
            raise VidsslError("VideoDataset needs at least one record")
        self.records = list(records)
        self.reader = reader
        self.sampler = sampler
        self.seed = seed
        self.epoch = 0
        self._warned_paths: set[str] = set()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Switch to the rng stream of ``epoch`` (call at the start of every epoch)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        return self.sample(index)

    def sample(self, index: int, *, draw: int = 0) -> dict:
        """Sample ``index``; ``draw`` > 0 gives the same video another independent draw in this epoch
        (rng ``[seed, epoch, index, draw]``), for wrappers that show a sample more than once per epoch."""
        count = len(self.records)
        if not 0 <= index < count:
            raise IndexError(f"index {index} out of range for {count} videos")
        first_error = None
        stream = [self.seed, self.epoch, index] + ([draw] if draw else [])
        for skipped in range(count):
            video_index = (index + skipped) % count
            record = self.records[video_index]
            rng = np.random.default_rng(stream)
            try:
                sample = self.sampler(record, self.reader, rng)
            except CorruptVideoError as err:
                first_error = first_error or err
                self._warn_once(record.path, err)
                continue
            sample["label"] = torch.tensor(record.label, dtype=torch.long)
            sample["video_index"] = torch.tensor(video_index, dtype=torch.long)
            sample["skipped"] = skipped
            return sample
        raise VidsslError(f"every video failed to decode ({count} tried, from index {index}); first: {first_error}")

    def _warn_once(self, path: str, err: Exception) -> None:
        if path not in self._warned_paths:
            self._warned_paths.add(path)
            warnings.warn(f"skipping corrupt video: {err}", stacklevel=3)
