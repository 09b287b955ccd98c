"""Video readers: frame indices in, uint8 RGB frames (T, H, W, 3) out.

Three readers share one method, ``read(path, indices)``:

- :class:`PyAVReader` decodes an encoded file, seeking to the keyframe before
  the first wanted frame and decoding forward only as far as the last one.
- :class:`FrameFolderReader` reads a folder of image files (one per frame).
- :class:`CachedReader` memory-maps frames that :func:`build_frame_cache`
  decoded and resized once into ``.npy`` files.

Indices may repeat and come in any order (palindrome, shuffle, reverse); each
distinct frame is decoded once and then gathered. Readers hold no open files,
so they pickle into DataLoader workers.

Frame ``k`` of an encoded video is the frame on screen ``k / fps`` after the
first frame the decoder shows (to the nearest half frame), so frame 0 is that
first frame even when B-frames or a cut offset the container's start time, and
a variable-frame-rate video is resampled at the stream's rate (``VideoMeta.fps``).
:func:`probe` counts exactly the indices this serves.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import inspect
import json
import math
import multiprocessing
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np

from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.fileio import remove_stale_temporaries, temporary_name, write_json_atomic
from vidssl.progress import progress_bar

# Errors PyAV raises for unreadable input; av.FFmpegError also covers missing files.
_DECODE_ERRORS = (av.FFmpegError, OSError)
# Seek target when the container declares no duration: past the end of any real file.
_FAR_FUTURE_PTS = 2**62
# Packets read from the file start to find the first shown frame; more than any reorder depth.
_MAX_REORDER_PACKETS = 64
# Seeks retried from ever earlier keyframes before decoding from the start.
_MAX_SEEK_RETRIES = 3
# Upper bound on the frames held in memory at once while building the cache.
_CACHE_CHUNK_BYTES = 256 * 1024 * 1024
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class VideoMeta:
    """What a dataset needs to know about a video before sampling from it."""

    num_frames: int
    fps: float
    height: int
    width: int


class Reader(Protocol):
    """Anything with ``read(path, indices) -> uint8 (len(indices), H, W, 3)``."""

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> np.ndarray: ...


# ---------------------------------------------------------------------------
# PyAV: probing and decoding encoded files
# ---------------------------------------------------------------------------


def probe(path: str | os.PathLike) -> VideoMeta:
    """Frame count, fps and size of the first video stream of ``path``.

    ``num_frames`` is how many indices :class:`PyAVReader` serves, so
    ``read(path, range(num_frames))`` succeeds: the time from the first shown
    frame to the end of the last one, times fps. At a constant frame rate that
    is the number of frames the decoder outputs; frames an MP4 edit list hides
    (stream-copied cuts) are not counted.

    Only the first frame is decoded (to check the stream is readable). The
    container's count is used when it equals duration * fps and the first
    frame is shown at the stream's start with nothing hidden before it: the
    ordinary file, probed from its header and first packets. Otherwise the
    count comes from the timestamps of the first packets and, after a seek, of
    the packets from the last keyframe on; without timestamps there, the shown
    packets are counted.

    Raises:
        CorruptVideoError: the file can't be opened, has no video stream,
            no frames, or its first frame does not decode.
    """
    path = str(path)
    try:
        with _open(path) as container:
            stream = _video_stream(container, path)
            _use_one_decoding_thread(stream)
            fps = _frame_rate(stream, path)
            first, plain_start = _first_frame(container, stream, path)
            num_frames = _declared_frame_count(container, stream, fps) if plain_start else None
        if num_frames is None:
            num_frames = _frames_by_time(path, fps)
        if num_frames is None:
            num_frames = _count_shown_packets(path)
    except _DECODE_ERRORS as err:
        raise CorruptVideoError(f"{path}: cannot read video ({err})") from err
    if num_frames <= 0:
        raise CorruptVideoError(f"{path}: video stream has no frames")
    return VideoMeta(num_frames=num_frames, fps=float(fps), height=first.height, width=first.width)


def _first_frame(container: Any, stream: Any, path: str) -> tuple[Any, bool]:
    """The first frame the decoder outputs, and whether the stream starts plainly.

    Plainly: that frame is shown at the stream's start time and no packet
    before it is hidden. A stream-copied cut (``ffmpeg -ss ... -c copy``)
    starts at the keyframe before the cut point and an MP4 edit list hides the
    packets before the cut (the decoder decodes but never outputs them); in
    AVI with B-frames the first frame is shown one frame after the start.
    """
    hidden = False
    for packet in container.demux(stream):
        hidden = hidden or packet.is_discard
        for frame in packet.decode():
            return frame, not hidden and frame.pts == stream.start_time
    raise CorruptVideoError(f"{path}: video stream has no frames")


def _open(path: str) -> Any:
    """Open for reading; undecodable metadata text (common in scraped datasets) is not an error."""
    return av.open(path, metadata_errors="ignore")


def _video_stream(container: Any, path: str) -> Any:
    if not container.streams.video:
        raise CorruptVideoError(f"{path}: no video stream")
    return container.streams.video[0]


def _use_one_decoding_thread(stream: Any) -> None:
    """One thread per decoder: each DataLoader worker decodes its own video in parallel.

    FFmpeg's default frame threading roughly halved throughput on 2 cores with
    2 workers, and frame threads add latency before the first frame.
    """
    stream.codec_context.thread_count = 1
    stream.codec_context.thread_type = "SLICE"


def _frame_rate(stream: Any, path: str) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise CorruptVideoError(f"{path}: video stream has no frame rate")
    return Fraction(rate)


def _declared_frame_count(container: Any, stream: Any, fps: Fraction) -> int | None:
    """``stream.frames`` if it is positive and equals duration * fps (rounded), else None."""
    declared = stream.frames
    if declared <= 0:
        return None
    if stream.duration is not None and stream.time_base is not None:
        seconds = Fraction(stream.duration) * Fraction(stream.time_base)
    elif container.duration is not None:
        seconds = Fraction(container.duration, av.time_base)
    else:
        return None
    return declared if declared == math.floor(seconds * fps + Fraction(1, 2)) else None


def _count_shown_packets(path: str) -> int:
    """Non-empty video packets an edit list does not hide (one per frame for the codecs datasets use)."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        return sum(1 for packet in container.demux(stream) if _is_shown(packet))


def _is_shown(packet: Any) -> bool:
    """A frame's packet the decoder will output: not the end-of-stream marker, not hidden by an edit list."""
    return packet.size > 0 and not packet.is_discard


def _frames_by_time(path: str, fps: Fraction) -> int | None:
    """Frame indices from the first shown frame to the end of the last one; None without timestamps."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        start = _first_shown_pts(container, stream)
        if start is None:
            return None
        clock = _FrameClock(start_pts=start, time_base=Fraction(stream.time_base), fps=fps)
        end = _end_of_last_shown_frame(container, stream, clock)
    return None if end is None else clock.index_of(end)


def _end_of_last_shown_frame(container: Any, stream: Any, clock: _FrameClock) -> int | None:
    """pts + duration of the last shown frame, from the packets after the last keyframe (seeks there).

    None when the file can't seek or no packet there has a timestamp (a
    truncated file's index may point past its data).
    """
    try:
        container.seek(_pts_after_the_end(container, stream), stream=stream, backward=True, any_frame=False)
    except av.FFmpegError:
        return None
    last_pts, last_duration = None, 0
    for packet in container.demux(stream):
        if _is_shown(packet) and packet.pts is not None and (last_pts is None or packet.pts > last_pts):
            last_pts, last_duration = packet.pts, packet.duration
    if last_pts is None:
        return None
    return last_pts + (last_duration or clock.frame_ticks())


def _pts_after_the_end(container: Any, stream: Any) -> int:
    """A timestamp at or past the stream's end: a backward seek to it lands on the last keyframe."""
    start = stream.start_time or 0
    if stream.duration:
        return start + stream.duration
    if container.duration:
        return start + math.ceil(Fraction(container.duration, av.time_base) / Fraction(stream.time_base))
    return _FAR_FUTURE_PTS


class PyAVReader:
    """Decode frames of an encoded video file with PyAV (seek, then decode forward).

    Picklable: it holds no state; every ``read`` opens and closes the file.
    """

    def read(self, path: str | os.PathLike, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames ``indices`` of ``path`` as uint8 RGB (len(indices), H, W, 3).

        Raises:
            CorruptVideoError: the file does not decode or lacks a wanted frame.
        """
        path = str(path)
        order, wanted = _unique_indices(indices, path)
        try:
            decoded = self._decode_wanted(path, wanted)
        except _DECODE_ERRORS as err:
            raise CorruptVideoError(f"{path}: decoding failed ({err})") from err
        return _gather(decoded, wanted, order)

    def _decode_wanted(self, path: str, wanted: np.ndarray) -> list[np.ndarray]:
        """Decode the sorted unique ``wanted`` frames, seeking when the first is not frame 0.

        When the keyframe a seek lands on lies after the first wanted frame
        (B-frames make a keyframe's presentation time later than its decode
        time), seek again before that keyframe; after a few tries decode from
        the start.
        """
        with _open(path) as container:
            stream = _video_stream(container, path)
            _use_one_decoding_thread(stream)
            clock = _FrameClock.of(container, stream, path)
            seek_to = clock.pts_of(int(wanted[0])) if wanted[0] > 0 else None
            for _ in range(_MAX_SEEK_RETRIES):
                if seek_to is None:
                    break
                container.seek(seek_to, stream=stream, backward=True, any_frame=False)
                result = _decode_forward(container, stream, clock, wanted, path, from_start=False)
                if isinstance(result, list):
                    return result
                if result <= clock.start_pts:
                    break
                seek_to = result - 1
        with _open(path) as container:
            stream = _video_stream(container, path)
            _use_one_decoding_thread(stream)
            result = _decode_forward(container, stream, clock, wanted, path, from_start=True)
        assert isinstance(result, list)
        return result


@dataclass(frozen=True)
class _FrameClock:
    """Converts between frame indices and presentation timestamps of one stream.

    Frame 0 is the first frame the decoder shows, whatever the container
    calls the stream start: AVI stores only decode times, so with B-frames the
    first frame is shown one frame after the stream's start time.
    """

    start_pts: int
    time_base: Fraction
    fps: Fraction

    @classmethod
    def of(cls, container: Any, stream: Any, path: str) -> _FrameClock:
        """The clock of ``stream``; reads a few packets, so call it before seeking ``container``."""
        start = _first_shown_pts(container, stream)
        if start is None:
            start = stream.start_time if stream.start_time is not None else 0
        return cls(start_pts=start, time_base=Fraction(stream.time_base), fps=_frame_rate(stream, path))

    def index_of(self, pts: int) -> int:
        """Frame index of a frame shown at ``pts``: round((pts - start) * time_base * fps)."""
        return math.floor((pts - self.start_pts) * self.time_base * self.fps + Fraction(1, 2))

    def frame_ticks(self) -> int:
        """One frame period in ``time_base`` ticks (for frames that carry no duration)."""
        return max(1, round(1 / (self.fps * self.time_base)))

    def pts_of(self, index: int) -> int:
        """Nominal timestamp of frame ``index``: start + index / (fps * time_base), rounded down.

        A backward seek to it lands on the last keyframe at or before the frame;
        if muxer rounding put the frame a tick later, on the keyframe before.
        """
        return self.start_pts + math.floor(Fraction(index) / (self.fps * self.time_base))


def _first_shown_pts(container: Any, stream: Any) -> int | None:
    """Earliest presentation timestamp among the packets the decoder shows, read from the file start.

    Packets come in decode order and none is shown before it is decoded
    (pts >= dts), so once a packet's dts reaches the earliest pts seen, no
    later packet is shown earlier: only the first few packets are read.
    Packets an edit list hides are skipped. None when packets carry no pts.
    """
    earliest, read = None, 0
    for packet in container.demux(stream):
        if packet.size == 0 or read >= _MAX_REORDER_PACKETS:
            break
        if packet.pts is None or not _is_shown(packet):
            continue
        read += 1
        earliest = packet.pts if earliest is None else min(earliest, packet.pts)
        if packet.dts is not None and packet.dts >= earliest:
            break
    return earliest


def _decoded_frames(container: Any, stream: Any) -> Iterator[tuple[Any, int | None]]:
    """Decoded frames in presentation order, each with the dts of the packet that started the pass.

    Tests monkeypatch this to count how many frames a read decodes.
    """
    first_dts = None
    for packet in container.demux(stream):
        if first_dts is None and packet.dts is not None:
            first_dts = packet.dts
        for frame in packet.decode():
            yield frame, first_dts


def _decode_forward(
    container: Any, stream: Any, clock: _FrameClock, wanted: np.ndarray, path: str, *, from_start: bool
) -> list[np.ndarray] | int:
    """Decode from the current position until every wanted frame is seen.

    Returns the frames (aligned with the sorted unique ``wanted``), or — when
    not ``from_start`` and the first decoded frame is already past ``wanted[0]``
    — the dts of the first packet, so the caller can seek earlier. A wanted
    index that falls in a gap between frame timestamps (variable frame rate)
    gets the frame on screen at that time, i.e. the previous one; indices
    before the first frame of the file get the first frame, and indices after
    the last frame's timestamp but within its duration get the last frame.
    """
    out: list[np.ndarray] = []
    held_frame, held_rgb = None, None  # last decoded frame and its RGB array, if converted
    next_index = 0
    for frame, first_dts in _decoded_frames(container, stream):
        if frame.pts is not None:
            index = clock.index_of(frame.pts)
        elif from_start:
            index = next_index  # no timestamps: count frames, valid only from the start
        else:
            return clock.start_pts
        next_index = index + 1
        if held_frame is None:
            if index > wanted[0] and not from_start:
                return first_dts if first_dts is not None else clock.start_pts
            held_frame = frame
        while len(out) < len(wanted) and wanted[len(out)] < index:
            if held_rgb is None:
                held_rgb = held_frame.to_ndarray(format="rgb24")
            out.append(held_rgb)
        held_frame, held_rgb = frame, None
        if len(out) < len(wanted) and wanted[len(out)] == index:
            held_rgb = frame.to_ndarray(format="rgb24")
            out.append(held_rgb)
        if len(out) == len(wanted):
            return out
    if held_frame is not None:  # the last frame stays on screen for its duration
        end = _index_after(held_frame, clock, next_index)
        while len(out) < len(wanted) and wanted[len(out)] < end:
            held_rgb = held_frame.to_ndarray(format="rgb24") if held_rgb is None else held_rgb
            out.append(held_rgb)
        if len(out) == len(wanted):
            return out
    missing = wanted[len(out):]
    last = f"the last decoded frame is {next_index - 1}" if held_frame is not None else "no frame decoded"
    raise CorruptVideoError(
        f"{path}: frames {missing[:5].tolist()}{'...' if len(missing) > 5 else ''} not found ({last})"
    )


def _index_after(frame: Any, clock: _FrameClock, next_index: int) -> int:
    """First index after ``frame`` leaves the screen (its pts + duration); ``next_index`` without pts."""
    if frame.pts is None:
        return next_index
    return clock.index_of(frame.pts + (frame.duration or clock.frame_ticks()))


def _unique_indices(indices: Sequence[int] | np.ndarray, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(position of each request in the sorted unique list, sorted unique indices)."""
    requested = np.asarray(indices)
    if requested.ndim != 1 or requested.size == 0:
        raise ValueError(f"indices must be a non-empty 1-D sequence, got shape {requested.shape}")
    if not np.issubdtype(requested.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {requested.dtype}")
    if requested.min() < 0:
        raise CorruptVideoError(f"{path}: negative frame index {int(requested.min())}")
    wanted, order = np.unique(requested.astype(np.int64), return_inverse=True)
    return order, wanted


def _gather(frames: Sequence[np.ndarray], wanted: np.ndarray, order: np.ndarray) -> np.ndarray:
    unique = np.stack(frames)
    if len(unique) != len(wanted):
        raise AssertionError("decoded frame count does not match wanted frames")
    return unique[order]


# ---------------------------------------------------------------------------
# Frame folders
# ---------------------------------------------------------------------------


class FrameFolderReader:
    """Read frames stored as images ``folder/template.format(start_index + k)`` (OpenCV).

    Args:
        template: file name pattern of frame ``k``, formatted with ``start_index + k``.
        start_index: number of the first frame's file (1 for the common ``img_00001.jpg``).
    """

    def __init__(self, template: str = "img_{:05d}.jpg", start_index: int = 1) -> None:
        self.template = template
        self.start_index = start_index

    def read(self, path: str | os.PathLike, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames ``indices`` of the frame folder ``path`` as uint8 RGB (len(indices), H, W, 3)."""
        folder = Path(path)
        order, wanted = _unique_indices(indices, str(folder))
        frames = [self._read_frame(folder, int(index)) for index in wanted]
        if len({frame.shape for frame in frames}) > 1:
            raise CorruptVideoError(f"{folder}: frame images differ in size")
        return _gather(frames, wanted, order)

    def _read_frame(self, folder: Path, index: int) -> np.ndarray:
        file = folder / self.template.format(self.start_index + index)
        bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CorruptVideoError(f"{folder}: cannot read frame {index} ({file.name})")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def probe_frames(
    folder: str | os.PathLike, template: str = "img_{:05d}.jpg", start_index: int = 1, *, fps: float = 25.0
) -> VideoMeta:
    """Count the consecutive frame files of ``folder`` and read the first one's size.

    Frame folders carry no timing, so ``fps`` is reported as given.

    Raises:
        CorruptVideoError: the folder is missing, has no first frame, or it does not decode.
    """
    folder = Path(folder)
    try:
        names = set(os.listdir(folder))
    except OSError as err:
        raise CorruptVideoError(f"{folder}: cannot list frame folder ({err})") from err
    count = 0
    while template.format(start_index + count) in names:
        count += 1
    if count == 0:
        raise CorruptVideoError(f"{folder}: no frame named {template.format(start_index)}")
    first = FrameFolderReader(template, start_index).read(folder, [0])[0]
    return VideoMeta(num_frames=count, fps=float(fps), height=first.shape[0], width=first.shape[1])


# ---------------------------------------------------------------------------
# Pre-decoded frame cache
# ---------------------------------------------------------------------------


def cache_file_name(path: str | os.PathLike, short_side: int) -> str:
    """Cache entry name: a hash of (absolute path, size, mtime_ns, short_side).

    Raises:
        CorruptVideoError: ``path`` does not exist.
    """
    absolute = os.path.abspath(path)
    try:
        stat = os.stat(absolute)
    except OSError as err:
        raise CorruptVideoError(f"{absolute}: cannot stat ({err})") from err
    key = f"{absolute}\0{stat.st_size}\0{stat.st_mtime_ns}\0{short_side}"
    return hashlib.sha1(key.encode()).hexdigest()[:24] + ".npy"


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) scaled so the shorter side is ``short_side``, keeping the aspect ratio."""
    if height <= width:
        return short_side, max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), short_side


def build_frame_cache(
    records: Sequence[Any],
    cache_dir: str | os.PathLike,
    *,
    short_side: int,
    source_reader: Reader | None = None,
    workers: int = 2,
    progress: bool = True,
) -> list[Any]:
    """Decode every video once, resize its short side to ``short_side``, save one ``.npy`` each.

    A one-off that makes later epochs cheap: :class:`CachedReader` memory-maps
    the files. Entries are named by :func:`cache_file_name` and written
    atomically (temp file + rename), so an existing valid entry is reused and an
    interrupted build leaves no half-written file. ``cache_dir/manifest.json``
    maps each absolute video path to its entry.

    Args:
        records: ``VideoRecord``s (anything with ``path``, ``num_frames`` fields
            that ``dataclasses.replace`` accepts).
        source_reader: reader for the originals; ``PyAVReader()`` when None. It is
            pickled into ``workers`` processes, which must be able to import it.
        workers: processes decoding in parallel; 0 or 1 decodes in this process.

    Returns:
        The records of the cached videos, in input order, still pointing at the
        original paths but with the cached ``num_frames``, ``height``, ``width``.
        Videos that fail to decode are left out, with one warning counting them.
    """
    if short_side <= 0:
        raise VidsslError(f"short_side must be a positive number of pixels, got {short_side}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cache)  # left by a cache build that was killed
    reader = source_reader if source_reader is not None else PyAVReader()
    shapes: dict[int, tuple[int, ...]] = {}
    names: dict[int, str] = {}
    failures: list[str] = []
    todo = []
    for position, record in enumerate(records):
        try:
            names[position] = cache_file_name(record.path, short_side)
        except CorruptVideoError as err:
            failures.append(str(err))
            continue
        shape = _valid_cache_shape(cache / names[position])
        if shape is None:
            todo.append(position)
        else:
            shapes[position] = shape
    jobs = [(str(records[p].path), records[p].num_frames, str(cache / names[p]), short_side, reader) for p in todo]
    for position, outcome in zip(todo, _run_cache_jobs(jobs, workers, progress)):
        if isinstance(outcome, CorruptVideoError):
            failures.append(str(outcome))
        else:
            shapes[position] = outcome
    _update_manifest(cache, {os.path.abspath(records[p].path): names[p] for p in shapes})
    if failures:
        warnings.warn(
            f"frame cache: skipped {len(failures)} of {len(records)} videos that failed to decode; "
            f"first: {failures[0]}",
            stacklevel=2,
        )
    return [
        dataclasses.replace(record, num_frames=shapes[p][0], height=shapes[p][1], width=shapes[p][2])
        for p, record in enumerate(records)
        if p in shapes
    ]


def _valid_cache_shape(file: Path) -> tuple[int, ...] | None:
    """Shape of a readable uint8 (T, H, W, 3) cache entry, or None."""
    if not file.exists():
        return None
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or array.shape[0] == 0:
        return None
    return tuple(array.shape)


def _run_cache_jobs(jobs: list[tuple], workers: int, progress: bool) -> list[tuple[int, ...] | CorruptVideoError]:
    """Run :func:`_cache_one_video` over ``jobs``; corrupt videos come back as their error."""
    outcomes: list[tuple[int, ...] | CorruptVideoError] = []
    if not jobs:
        return outcomes
    bar = progress_bar(total=len(jobs), desc="caching frames", unit="video", enabled=progress)
    with bar:
        if workers <= 1:
            for job in jobs:
                outcomes.append(_outcome(lambda job=job: _cache_one_video(*job)))
                bar.update()
            return outcomes
        # spawn: forking a parent that runs torch/OpenMP threads can deadlock the children.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_cache_one_video, *job) for job in jobs]
            for _done in concurrent.futures.as_completed(futures):
                bar.update()
            outcomes = [_outcome(future.result) for future in futures]
    return outcomes


def _outcome(call: Any) -> tuple[int, ...] | CorruptVideoError:
    try:
        return call()
    except CorruptVideoError as err:
        return err


def _cache_one_video(path: str, num_frames: int, target: str, short_side: int, reader: Reader) -> tuple[int, ...]:
    """Decode ``path`` in chunks, resize (cv2 INTER_AREA), write ``target`` atomically; returns its shape."""
    if num_frames <= 0:
        raise CorruptVideoError(f"{path}: record says it has {num_frames} frames")
    first = reader.read(path, [0])[0]
    height, width = resized_shape(first.shape[0], first.shape[1], short_side)
    chunk = max(1, min(num_frames, _CACHE_CHUNK_BYTES // max(1, first.nbytes)))
    temp = os.path.join(os.path.dirname(target), temporary_name(target))  # open_memmap creates it with the umask
    try:
        out = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=(num_frames, height, width, 3))
        for start in range(0, num_frames, chunk):
            frames = reader.read(path, np.arange(start, min(num_frames, start + chunk)))
            for offset, frame in enumerate(frames):
                out[start + offset] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        out.flush()
        del out
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    return (num_frames, height, width, 3)


def _update_manifest(cache: Path, entries: dict[str, str]) -> None:
    """Merge ``entries`` (absolute video path -> npy name) into the manifest, atomically."""
    manifest = _load_manifest(cache)
    if all(manifest.get(path) == name for path, name in entries.items()):
        return
    manifest.update(entries)
    write_json_atomic(cache / MANIFEST_NAME, manifest)


def _load_manifest(cache: Path) -> dict[str, str]:
    file = cache / MANIFEST_NAME
    if not file.exists():
        return {}
    try:
        manifest = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise VidsslError(f"{file}: unreadable frame-cache manifest ({err}); delete it and rebuild") from err
    if not isinstance(manifest, dict):
        raise VidsslError(f"{file}: expected a JSON object mapping video path -> npy file")
    return manifest




class CachedReader:
    """Read frames that :func:`build_frame_cache` stored in ``cache_dir`` (memory-mapped).

    ``path`` is the ORIGINAL video path; the manifest maps it to its ``.npy``.
    The manifest is loaded on first use and kept (it pickles with the reader).
    """

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.cache_dir = str(cache_dir)
        self._manifest: dict[str, str] | None = None

    def read(self, path: str | os.PathLike, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames ``indices`` of the cached copy of ``path`` as uint8 RGB (len(indices), h, w, 3)."""
        absolute = os.path.abspath(path)
        order, wanted = _unique_indices(indices, absolute)
        file = Path(self.cache_dir) / self._entry(absolute)
        try:
            frames = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CorruptVideoError(f"{absolute}: cached frames {file} unreadable ({err})") from err
        if wanted[-1] >= len(frames):
            raise CorruptVideoError(f"{absolute}: frame {int(wanted[-1])} asked, cache holds {len(frames)}")
        return np.ascontiguousarray(frames[wanted[order]])

    def _entry(self, absolute: str) -> str:
        if self._manifest is None or absolute not in self._manifest:
            self._manifest = _load_manifest(Path(self.cache_dir))
        if absolute not in self._manifest:
            raise VidsslError(
                f"{absolute}: not in frame cache {self.cache_dir}; run build_frame_cache on these records first"
            )
        return self._manifest[absolute]


# ---------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------

READERS = {"pyav": PyAVReader, "frames": FrameFolderReader, "cache": CachedReader}


def make_reader(kind: str, **kwargs: Any) -> Reader:
    """Build a reader by name: "pyav", "frames" (FrameFolderReader) or "cache" (CachedReader).

    Raises:
        VidsslError: unknown ``kind`` or arguments the reader does not take.
    """
    if kind not in READERS:
        raise VidsslError(f"unknown reader kind {kind!r}; expected one of {', '.join(READERS)}")
    reader_class = READERS[kind]
    try:
        inspect.signature(reader_class).bind(**kwargs)
    except TypeError as err:
        raise VidsslError(f"reader {kind!r}: {err} (accepts {inspect.signature(reader_class)})") from err
    return reader_class(**kwargs)
