"""The embedding engine of ``vidssl embed`` and ``vidssl search``: a trained backbone on any folder of videos.

``embed CKPT VIDEOS_DIR --out features.npy`` gives every video under
VIDEOS_DIR one vector. The folder is searched recursively for files with a video
extension (:data:`vidssl.data.datasets.VIDEO_EXTENSIONS`) and for frame folders
(folders of image files and no video file, frames named by
``data.frame_template``). A vector is computed as the retrieval protocol computes it
(:func:`vidssl.eval.features.extract_features`): ``clips`` clips of ``frames``
frames spread uniformly over the video, each resized and centre-cropped to
``size``, the backbone tap ``layer`` pooled, the clips' vectors averaged
(:class:`EmbedSettings`; :mod:`vidssl.recipes.embed` reads them from a run's
config and resolves the checkpoint).

Two files come out, and neither holds a pickle:

- ``features.npy``: float32 (N, D), one row per readable video;
- ``features.json`` (the index): ``videos``, the paths relative to VIDEOS_DIR in
  row order; ``skipped``, the unreadable videos and why; the checkpoint and its
  SHA-256; the settings; the vidssl version.

Resuming: videos are embedded in chunks, and each finished chunk is written
atomically to ``<out>.partial/`` (``chunk_NNNNNN.npy``, then its
``chunk_NNNNNN.json``). Rerunning a killed command embeds only the videos that no
chunk holds yet. The final file is assembled at the end, and then the partial
folder is removed. A finished output with the same settings is reused: if the
videos are the same there is nothing to do, and if videos were added only the new
ones are embedded. Skipped videos count as done. ``--force`` ignores a finished
output (to recompute it all, for example after repairing videos) and partial work
made with other settings.

``search features.npy QUERY -k 10`` lists the k videos most similar to QUERY by
cosine similarity (:func:`vidssl.eval.retrieval.similarity_topk`). QUERY is either
a video of the index, which is then left out of the results and uses its stored
row, or any other video. Another video is embedded with the index's settings and
checkpoint, or with ``--ckpt`` if that names the same weights moved elsewhere.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vidssl import __version__
from vidssl.data.datasets import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoRecord, index_path_for, probe_all
from vidssl.data.transforms import EvalTransform, frames_for_modality
from vidssl.data.video import FrameFolderReader, PyAVReader, probe, probe_frames
from vidssl.engine.distributed import resolve_device
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.eval.features import POOLINGS, EvalClips, EvalClipSampler, extract_features
from vidssl.eval.retrieval import similarity_topk
from vidssl.fileio import atomic_write, make_output_dir, write_json_atomic
from vidssl.models.resnet3d import check_taps
from vidssl.progress import bars_wanted, progress_bar

OUTPUT_SUFFIXES = (".npy", ".parquet")
NPY_MAGIC = b"\x93NUMPY"
NOT_FEATURES = "not a features file written by vidssl embed"
DEFAULT_CHUNK = 128
PARTIAL_SUFFIX = ".partial"
SETTINGS_FILE = "settings.json"
DECODE_FAILED = "failed to decode"


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedSettings:
    """How a video becomes its vector. The index stores these, so that ``search`` embeds a new query the same way.

    Two outputs are compatible when every field matches. ``checkpoint_sha256``
    names the weights, so a run folder that has been moved still matches.
    """

    checkpoint_sha256: str
    layer: str
    pooling: str
    clips: int
    frames: int
    interval: int
    size: int
    resize_short: int
    modality: str
    frame_template: str

    @property
    def eval_clips(self) -> EvalClips:
        return EvalClips(
            num_clips=self.clips, clip_len=self.frames, interval=self.interval, size=self.size,
            resize_short=self.resize_short, modality=self.modality,
        )

    @classmethod
    def from_index(cls, index: dict, where: str) -> EmbedSettings:
        names = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in names if name not in index]
        if missing:
            raise VidsslError(f"{where}: lacks {', '.join(missing)} (expected an index written by vidssl embed)")
        return cls(**{name: index[name] for name in names})

    def differences(self, old: dict) -> list[str]:
        """The settings in which ``old`` (an index or settings dict) differs from these, as ``name old → new``."""
        return [
            f"{field.name} {old.get(field.name)!r} → {getattr(self, field.name)!r}"
            for field in dataclasses.fields(self) if old.get(field.name) != getattr(self, field.name)
        ]




def check_settings(settings: EmbedSettings) -> None:
    """Reject bad settings before any video is read, with the errors the library itself raises."""
    check_taps((settings.layer,))
    if settings.pooling not in POOLINGS:
        raise VidsslError(f"eval.pooling: expected one of {POOLINGS}, got {settings.pooling!r}")
    EvalClipSampler(
        num_clips=settings.clips, clip_len=frames_for_modality(settings.frames, settings.modality),
        interval=settings.interval, transform=EvalTransform(settings.size, resize_short=settings.resize_short),
    )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()



# ---------------------------------------------------------------------------
# Finding, probing and reading the videos of a folder
# ---------------------------------------------------------------------------


def find_videos(root: Path) -> list[str]:
    """The POSIX paths of the videos under ``root``, relative to it and sorted.

    A video is a file with a video extension, or a frame folder: a folder below
    ``root`` that holds image files and no video file, whose sub-folders are not
    searched. Hidden files and folders are left out, and symlinked folders are
    not followed.
    """
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        visible = [name for name in files if not name.startswith(".")]
        videos = [name for name in visible if name.lower().endswith(VIDEO_EXTENSIONS)]
        here = Path(folder)
        if here != root and not videos and any(name.lower().endswith(IMAGE_EXTENSIONS) for name in visible):
            found.append(here.relative_to(root).as_posix())
            subfolders[:] = []
        else:
            found.extend((here / name).relative_to(root).as_posix() for name in videos)
    return sorted(found)


class VideoOrFramesReader:
    """Reads video files with PyAV and frame folders with :class:`FrameFolderReader` (``template``)."""

    def __init__(self, template: str) -> None:
        self.files = PyAVReader()
        self.frames = FrameFolderReader(template)

    def read(self, path: str, indices: Sequence[int]) -> np.ndarray:
        return (self.frames if os.path.isdir(path) else self.files).read(path, indices)


def probe_videos(root: Path, relative: Sequence[str], template: str) -> tuple[list[VideoRecord], dict[str, str]]:
    """Records of the videos that probe (label -1), in order, and ``{relative path: reason}`` for those that do not.

    The probe index of :func:`vidssl.data.datasets.load_records` for ``root`` is
    shared, so videos that a pretraining run already probed are not probed again.
    """
    paths = [str(root / rel) for rel in relative]
    metas, failures = probe_all(paths, index_path_for(None, root), template, progress=False)
    failed = [(rel, path) for rel, path in zip(relative, paths) if path not in metas]
    reasons = {rel: _reason(failure, path) for (rel, path), failure in zip(failed, failures)}
    records = [
        VideoRecord(path, -1, metas[path].num_frames, metas[path].fps, metas[path].height, metas[path].width)
        for path in paths if path in metas
    ]
    return records, reasons


def _reason(failure: str, path: str) -> str:
    """Drop the video's path from a probe failure ``"<path> (<path>: <why>)"``, which leaves ``<why>``."""
    text = failure[len(path) + 2:-1] if failure.startswith(f"{path} (") and failure.endswith(")") else failure
    return text[len(path) + 2:] if text.startswith(f"{path}: ") else text


def probe_one(path: Path, template: str) -> VideoRecord:
    """The record of one video file or frame folder. If it cannot be read, this raises CorruptVideoError."""
    meta = probe_frames(path, template) if path.is_dir() else probe(path)
    return VideoRecord(str(path), -1, meta.num_frames, meta.fps, meta.height, meta.width)


# ---------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------


@dataclass
class EmbedRun:
    """What embedding needs besides the videos: the backbone, the settings and how to run it."""

    backbone: nn.Module
    settings: EmbedSettings
    device: Any = "cpu"
    batch_size: int = 16
    workers: int = 2
    progress: bool = True


def embed_videos(
    run: EmbedRun, root: Path, relative: Sequence[str]
) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """Embed ``relative`` (paths under ``root``). Returns (the videos embedded, their float32 rows, ``{video: reason}``
    for the ones skipped).

    A video is skipped when it fails to probe or to decode, and that is never fatal.
    """
    records, skipped = probe_videos(root, relative, run.settings.frame_template)
    if not records:
        return [], np.zeros((0, 0), dtype=np.float32), skipped
    valid, rows = embed_records(run, records)
    relative_of = dict(zip((str(root / rel) for rel in relative), relative))
    embedded = [relative_of[record.path] for record, ok in zip(records, valid) if ok]
    skipped.update({relative_of[record.path]: DECODE_FAILED for record, ok in zip(records, valid) if not ok})
    return embedded, rows, skipped


def embed_records(run: EmbedRun, records: Sequence[VideoRecord]) -> tuple[np.ndarray, np.ndarray]:
    """(bool (N,) decoded, float32 rows of the decoded records only): :func:`extract_features` with ``run``'s
    settings."""
    s = run.settings
    with warnings.catch_warnings():  # decode failures are counted and reported by the caller
        warnings.filterwarnings("ignore", message="feature extraction:")
        features = extract_features(
            run.backbone, records, VideoOrFramesReader(s.frame_template), s.eval_clips, layers=(s.layer,),
            pooling=s.pooling, device=run.device, batch_size=run.batch_size, workers=run.workers,
            progress=run.progress,
        )
    return features.valid, np.ascontiguousarray(features.by_layer[s.layer][features.valid], dtype=np.float32)


def sidecar_path(out: Path) -> Path:
    """The index of ``features.npy`` is ``features.json``."""
    return out.with_suffix(".json")


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def check_output_path(out: Path) -> None:
    """``.npy``, or ``.parquet`` if pyarrow is installed. No dependency is added for this."""
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise VidsslError(f"--out {out}: expected a .npy file (or .parquet with pyarrow installed)")
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise VidsslError(f"--out {out}: .parquet needs pyarrow, which is not installed; use --out "
                              f"{out.with_suffix('.npy')}") from None


# A video already handled: its row, or the reason it was skipped.
Done = dict[str, "np.ndarray | str"]


def prepare_output(out: Path, chunk: int) -> None:
    """Check ``out`` and ``chunk`` and create ``out``'s folder, before any video is looked at."""
    check_output_path(out)
    make_output_dir(out.parent)
    if chunk < 1:
        raise VidsslError(f"--chunk: expected a positive number of videos, got {chunk}")


def list_folder_videos(videos_dir: str | Path) -> tuple[Path, list[str]]:
    """(the resolved folder, the videos under it as :func:`find_videos` lists them); an error when there are none."""
    root = Path(videos_dir).expanduser()
    if root.is_file():
        raise VidsslError(f"{root}: is a file, but vidssl embed wants a folder of videos (put a single video in a "
                          f"folder of its own; vidssl search embeds a single query video)")
    if not root.is_dir():
        raise VidsslError(f"{root}: videos folder not found")
    root = root.resolve()
    videos = find_videos(root)
    if not videos:
        raise VidsslError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) or frame folders found")
    return root, videos


def write_embeddings(
    root: Path,
    videos: list[str],
    out: Path,
    settings: EmbedSettings,
    *,
    weights: Path,
    load_backbone: Callable[[], nn.Module],
    device: Any = "cpu",
    batch_size: int = 16,
    workers: int = 2,
    progress: bool = True,
    chunk: int = DEFAULT_CHUNK,
    force: bool = False,
) -> dict:
    """Embed ``videos`` (under ``root``) into ``out`` and its index; resumable (module docstring).

    ``weights`` is the checkpoint file the index records; ``load_backbone`` is
    called only when some video still needs embedding. Returns a summary:
    ``out``, ``index``, ``num_videos``, ``num_embedded``, ``skipped``
    (``[{"path", "reason"}]``), ``dim``, ``reused`` (videos taken from earlier
    work), ``computed`` and ``up_to_date``.
    """
    identity = {**dataclasses.asdict(settings), "videos_dir": str(root)}
    partial = partial_dir(out)
    done = load_partial(partial, identity, force=force)  # partial work with other settings: error, or gone
    resuming = (partial / SETTINGS_FILE).is_file()  # ... so this is a run with these settings to finish
    finished = None if force else load_finished(out, identity, fail=not resuming)
    if finished is not None:
        if set(finished) == set(videos):
            if partial.is_dir():
                shutil.rmtree(partial)  # left by a run killed after writing its output
            return summarize(out, videos, finished, reused=len(videos), computed=0, up_to_date=True)
        done = {**finished, **done}
    todo = [rel for rel in videos if rel not in done]
    if todo:
        run = EmbedRun(load_backbone(), settings, device=device, batch_size=batch_size, workers=workers,
                       progress=progress)
        if done:
            state = f"resuming: {len(videos) - len(todo)} of {len(videos)} videos already embedded in {partial}"
            if not resuming:
                state = f"updating {out}: {len(todo)} of {len(videos)} videos are new"
            print(state, flush=True)
        embed_in_chunks(run, root, todo, partial, identity, done, chunk=chunk)
    embedded = [rel for rel in videos if not isinstance(done[rel], str)]
    if not embedded:
        shutil.rmtree(partial, ignore_errors=True)  # nothing worth keeping; a rerun tries every video again
        first = videos[0]
        raise VidsslError(f"{root}: all {len(videos)} videos are unreadable (first: {first}: {done[first]})")
    write_output(out, np.stack([done[rel] for rel in embedded]), embedded, videos, done, identity, weights)
    shutil.rmtree(partial, ignore_errors=True)
    return summarize(out, videos, done, reused=len(videos) - len(todo), computed=len(todo), up_to_date=False)


def embed_in_chunks(
    run: EmbedRun, root: Path, todo: list[str], partial: Path, identity: dict, done: Done, *, chunk: int
) -> None:
    """Embed ``todo`` ``chunk`` videos at a time; each finished chunk goes to ``partial`` and into ``done``."""
    if not (partial / SETTINGS_FILE).is_file():
        write_json_atomic(partial / SETTINGS_FILE, identity, indent=2)
    number = next_chunk_number(partial)
    starts = range(0, len(todo), chunk)
    log_chunks = not bars_wanted(run.progress)  # one line per chunk in log files, where no bar is drawn
    with progress_bar(total=len(todo), desc="embedding", unit="video", enabled=run.progress) as bar:
        for position, start in enumerate(starts, start=1):
            names = todo[start:start + chunk]
            embedded, rows, skipped = embed_videos(run, root, names)
            write_chunk(partial, number, embedded, rows, skipped)
            number += 1
            done.update(zip(embedded, rows))
            done.update(skipped)
            bar.update(len(names))
            if log_chunks and run.progress:
                print(f"chunk {position}/{len(starts)}: {min(start + chunk, len(todo))}/{len(todo)} videos",
                      flush=True)


def write_chunk(partial: Path, number: int, embedded: list[str], rows: np.ndarray, skipped: dict[str, str]) -> None:
    """``chunk_NNNNNN.npy`` first, then ``chunk_NNNNNN.json``. The JSON marks the chunk as finished."""
    stem = partial / f"chunk_{number:06d}"
    with atomic_write(stem.with_suffix(".npy"), "wb") as handle:
        np.save(handle, rows, allow_pickle=False)
    write_json_atomic(stem.with_suffix(".json"), {
        "rows": len(embedded), "videos": embedded,
        "skipped": [{"path": rel, "reason": reason} for rel, reason in skipped.items()],
    })


def next_chunk_number(partial: Path) -> int:
    suffixes = (file.stem.split("_", 1)[1] for file in partial.glob("chunk_*.json"))
    numbers = [int(suffix) for suffix in suffixes if suffix.isdigit()]
    return max(numbers, default=-1) + 1


def load_partial(partial: Path, identity: dict, *, force: bool) -> Done:
    """The videos that finished chunks of ``partial`` hold, when it was made with these settings.

    Partial work made with other settings is an error, unless ``force`` is given; then it is deleted.
    A chunk whose files are missing or do not agree with each other is ignored, and its videos are embedded again.
    """
    settings_file = partial / SETTINGS_FILE
    if not settings_file.is_file():
        return {}
    old = read_json(settings_file)
    if old != identity:
        if not force:
            changed = describe_changes(identity, old)
            raise VidsslError(f"{partial}: partial work with other settings ({changed}); rerun with the same "
                              f"settings to finish it, or give --force to discard it")
        shutil.rmtree(partial)
        return {}
    done: Done = {}
    for index_file in sorted(partial.glob("chunk_*.json")):
        try:
            entry = read_json(index_file)
            rows = np.load(index_file.with_suffix(".npy"), allow_pickle=False)
        except (VidsslError, OSError, ValueError):
            continue
        if rows.ndim != 2 or rows.shape[0] != len(entry.get("videos", [])):
            continue
        done.update(zip(entry["videos"], rows))
        done.update({item["path"]: item["reason"] for item in entry.get("skipped", [])})
    return done


def load_finished(out: Path, identity: dict, *, fail: bool) -> Done | None:
    """The rows and skipped videos of a finished ``out`` made with these settings, or None when there is none.

    If ``out`` exists but was made with other settings (or has no index that fits it),
    that is an error when ``fail`` is set. Otherwise the output is simply not reused,
    because a matching partial run is about to replace it.
    """
    index_file = sidecar_path(out)
    if not out.exists():
        return None
    problem, rows = "", None
    try:
        index = read_json(index_file)
        changes = describe_changes(identity, index)
        if changes:
            problem = f"made with other settings ({changes})"
        else:
            rows = read_matrix(out)
            if rows.shape[0] != len(index.get("videos", [])):
                problem = f"with {rows.shape[0]} rows but {len(index.get('videos', []))} videos in {index_file.name}"
    except VidsslError as err:
        problem = f"but its index cannot be used ({err})"
    if problem:
        if fail:
            raise VidsslError(f"{out}: exists, {problem}; give --force to overwrite it, or another --out")
        return None
    assert rows is not None  # no problem: the index matched and its rows were read
    done: Done = dict(zip(index["videos"], rows))
    done.update({item["path"]: item["reason"] for item in index.get("skipped", [])})
    return done


def describe_changes(identity: dict, old: dict) -> str:
    """``name old → new`` for every setting (and the videos folder) in which ``old`` differs; empty when none."""
    changes = [f"{key} {old.get(key)!r} → {value!r}" for key, value in identity.items() if old.get(key) != value]
    return ", ".join(changes)


def write_output(
    out: Path, rows: np.ndarray, embedded: list[str], videos: list[str], done: Done, identity: dict, weights: Path,
) -> None:
    """The features first, then the index, each written atomically."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if out.suffix.lower() == ".parquet":
        write_parquet(out, rows, embedded)
    else:
        with atomic_write(out, "wb") as handle:
            np.save(handle, rows, allow_pickle=False)
    index = {
        "vidssl_version": __version__,
        "features": out.name,
        "rows": int(rows.shape[0]),
        "dim": int(rows.shape[1]),
        "dtype": "float32",
        "checkpoint": str(weights),
        **identity,
        "videos": embedded,
        "skipped": [{"path": rel, "reason": done[rel]} for rel in videos if isinstance(done[rel], str)],
    }
    write_json_atomic(sidecar_path(out), index, indent=1)


def write_parquet(out: Path, rows: np.ndarray, embedded: list[str]) -> None:
    """Columns ``path`` (string) and ``embedding`` (fixed-size list of float32)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1])
    with atomic_write(out, "wb") as handle:
        pq.write_table(pa.table({"path": embedded, "embedding": vectors}), handle)


def read_matrix(path: Path) -> np.ndarray:
    """A float32 (N, D) feature matrix from ``.npy`` (no pickles) or ``.parquet``.

    Anything else (another file type, text, an object or string array) is an error saying the file is not features.
    """
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        index_hint = f"; {path.name} looks like an index: give the features file next to it" \
            if path.suffix.lower() == ".json" else ""
        raise VidsslError(f"{path}: {NOT_FEATURES} (expected a .npy or .parquet file){index_hint}")
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            column = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
            matrix = column.flatten().to_numpy().reshape(len(column), -1)
        else:
            with open(path, "rb") as handle:
                if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
                    raise VidsslError(f"{path}: {NOT_FEATURES} (no .npy header)")
            matrix = np.load(path, allow_pickle=False)
    except ImportError:
        raise VidsslError(f"{path}: reading .parquet needs pyarrow, which is not installed") from None
    except (ValueError, EOFError) as err:  # numpy's text mentions unsafe loading options: never pass that on
        kind = "holds Python objects" if "pickle" in str(err) else "is damaged"
        raise VidsslError(f"{path}: {NOT_FEATURES} (it {kind}, not a float matrix)") from None
    except (OSError, KeyError) as err:
        raise VidsslError(f"{path}: cannot read the features ({type(err).__name__}: {err})") from None
    if matrix.ndim != 2 or matrix.dtype.kind not in "fiu":
        raise VidsslError(f"{path}: {NOT_FEATURES} (expected a (videos, dim) float matrix, got {matrix.dtype} "
                          f"of shape {matrix.shape})")
    return np.asarray(matrix, dtype=np.float32)


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise VidsslError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise VidsslError(f"{path}: expected a JSON object")
    return data


def summarize(out: Path, videos: list[str], done: Done, *, reused: int, computed: int, up_to_date: bool) -> dict:
    skipped = [{"path": rel, "reason": done[rel]} for rel in videos if isinstance(done[rel], str)]
    dims = {int(row.shape[0]) for row in (done[rel] for rel in videos) if not isinstance(row, str)}
    return {
        "out": str(out), "index": str(sidecar_path(out)), "num_videos": len(videos),
        "num_embedded": len(videos) - len(skipped), "skipped": skipped, "dim": dims.pop() if dims else 0,
        "reused": reused, "computed": computed, "up_to_date": up_to_date,
    }


# ---------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------


def load_features(features: str | Path) -> tuple[np.ndarray, dict]:
    """(float32 (N, D) matrix, its index) of a ``vidssl embed`` output."""
    path = Path(features)
    if not path.is_file():
        raise VidsslError(f"{path}: features file not found (vidssl embed writes it)")
    matrix = read_matrix(path)
    index_file = sidecar_path(path)
    if not index_file.is_file():
        raise VidsslError(f"{index_file}: index of {path.name} not found (vidssl embed writes it next to the features)")
    index = read_json(index_file)
    videos = index.get("videos")
    if not isinstance(videos, list) or len(videos) != matrix.shape[0] or "videos_dir" not in index:
        count = len(videos) if isinstance(videos, list) else "no"
        raise VidsslError(f"{index_file}: {count} videos listed for {matrix.shape[0]} rows of {path.name} "
                          f"(expected the index vidssl embed wrote with it)")
    return matrix, index


def find_in_index(query: str, index: dict) -> int | None:
    """The row of QUERY: a path as the index lists it, or a path on disk that lies under the indexed folder."""
    position = {rel: row for row, rel in enumerate(index["videos"])}
    if query in position:
        return position[query]
    path = Path(query)
    if not path.exists():
        return None
    try:
        relative = path.resolve().relative_to(Path(index["videos_dir"]).resolve()).as_posix()
    except ValueError:
        return None
    return position.get(relative)


def embed_one(path: Path, settings: EmbedSettings, load_backbone: Callable[[], nn.Module]) -> np.ndarray:
    """The vector of one video file or frame folder, on the best device; an unreadable video is an error (found
    before ``load_backbone`` is called)."""
    record = probe_one(path, settings.frame_template)
    run = EmbedRun(load_backbone(), settings, device=resolve_device("auto"), batch_size=1, workers=0, progress=False)
    valid, rows = embed_records(run, [record])
    if not valid[0]:
        raise VidsslError(f"{path}: {DECODE_FAILED}")
    return rows[0]


def search_features(
    features: str | Path, query: str, *, embed_new: Callable[[Path, dict, str], np.ndarray], k: int = 10,
    sheet: str | Path | None = None,
) -> dict:
    """The ``k`` videos most similar to ``query`` by cosine similarity (module docstring).

    A query the index does not hold is embedded by ``embed_new(path, index, index
    file name)``, with the index's settings and checkpoint. Returns ``{"query",
    "row" (None for a new video), "results": [{"rank", "similarity", "path"}],
    "sheet"}``. Paths are as the index lists them.
    """
    if k < 1:
        raise VidsslError(f"-k: expected a positive number of results, got {k}")
    matrix, index = load_features(features)
    where = sidecar_path(Path(features)).name
    row = find_in_index(query, index)
    if row is not None:
        vector = matrix[row]
    else:
        skipped = {item["path"]: item["reason"] for item in index.get("skipped", [])}
        if query in skipped:
            raise VidsslError(f"{query}: skipped when the features were made ({skipped[query]})")
        path = Path(query)
        if not path.exists():
            raise VidsslError(f"{query}: not a video of {where} and not found on disk")
        vector = embed_new(path, index, where)
        if vector.shape[0] != matrix.shape[1]:
            raise VidsslError(
                f"{query}: embedded to {vector.shape[0]}-d, but {Path(features).name} is {matrix.shape[1]}-d"
            )
    if row is not None and matrix.shape[0] == 1:
        raise VidsslError(f"{where}: holds no video besides the query")
    wanted = min(k + (row is not None), matrix.shape[0])
    similarities, rows = similarity_topk([(vector[None], matrix)], wanted)
    hits = [(int(r), float(s)) for r, s in zip(rows[0], similarities[0]) if int(r) != row][:k]
    results = [{"rank": rank, "similarity": s, "path": index["videos"][r]} for rank, (r, s) in enumerate(hits, start=1)]
    summary = {"query": query, "row": row, "results": results, "sheet": None}
    if sheet is not None:
        query_path = Path(index["videos_dir"]) / index["videos"][row] if row is not None else Path(query)
        summary["sheet"] = str(plot_contact_sheet(
            query_path, results, Path(index["videos_dir"]), Path(sheet),
            template=index.get("frame_template", "img_{:05d}.jpg"),
        ))
    return summary


def middle_frame(path: Path, template: str) -> np.ndarray | None:
    """The middle frame (H, W, 3) uint8 of a video file or frame folder, or None if it cannot be read."""
    try:
        record = probe_one(path, template)
        return VideoOrFramesReader(template).read(str(path), [record.num_frames // 2])[0]
    except CorruptVideoError:
        return None


def plot_contact_sheet(
    query: Path, results: list[dict], root: Path, out: Path, *, template: str, columns: int = 6
) -> Path:
    """A PNG: the query's middle frame, then each result's, captioned with rank, similarity and file name (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tiles = [(query, f"query\n{_short(query.name)}", "tab:red")]
    tiles += [(root / r["path"], f"{r['rank']}: {r['similarity']:.3f}\n{_short(Path(r['path']).name)}", "black")
              for r in results]
    columns = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    fig = Figure(figsize=(2.2 * columns, 2.5 * rows))
    for number, (path, caption, colour) in enumerate(tiles, start=1):
        ax = fig.add_subplot(rows, columns, number)
        frame = middle_frame(path, template)
        if frame is None:
            ax.text(0.5, 0.5, "unreadable", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.imshow(frame)
        ax.set_title(caption, fontsize=8, color=colour)
        ax.axis("off")
    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_write(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    return out


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
