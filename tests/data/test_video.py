"""Readers against a full sequential reference decode and against frames known by construction."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from videofixtures import (
    decode_all,
    frame_index_of,
    numbered_frames,
    write_empty_video,
    write_frame_folder,
    write_video,
)
from vidssl.data import video
from vidssl.data.datasets import VideoRecord
from vidssl.data.video import (
    CachedReader,
    FrameFolderReader,
    PyAVReader,
    VideoMeta,
    build_frame_cache,
    make_reader,
    probe,
    probe_frames,
    resized_shape,
)
from vidssl.errors import CorruptVideoError, VidsslError

NUM_FRAMES = 60
HEIGHT, WIDTH = 32, 48  # not square, so a swapped height/width shows

# name -> write_video keyword arguments
VIDEO_KINDS = {
    "ffv1_lossless": dict(codec="ffv1", gop=5, suffix=".mkv"),
    "h264_gop4": dict(codec="libx264", gop=4, suffix=".mp4"),
    "h264_gop250": dict(codec="libx264", gop=250, suffix=".mp4"),
}
INDEX_SETS = {
    "sorted": [3, 8, 20, 21, 40],
    "unsorted": [33, 5, 17, 59, 0],
    "repeated": [10, 10, 12, 12, 12, 11],
    "reversed": list(range(47, 31, -1)),
    "palindrome": [20, 22, 24, 26, 24, 22, 20],
    "late": [55, 57, 59],
    "first_only": [0],
    "everything": list(range(NUM_FRAMES)),
}


def has_codec(name: str) -> bool:
    return name in av.codecs_available


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return numbered_frames(NUM_FRAMES, HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def videos(tmp_path_factory, frames) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    written = {}
    for name, kind in VIDEO_KINDS.items():
        options = {key: value for key, value in kind.items() if key != "suffix"}
        written[name] = write_video(folder / f"{name}{kind['suffix']}", frames, **options)
    return written


@pytest.fixture(scope="module")
def references(videos) -> dict[str, np.ndarray]:
    return {name: decode_all(path) for name, path in videos.items()}



# ---------------------------------------------------------------------------
# PyAVReader
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("index_set", INDEX_SETS)
@pytest.mark.parametrize("kind", VIDEO_KINDS)
def test_pyav_reader_matches_full_reference_decode(videos, references, kind, index_set):
    indices = INDEX_SETS[index_set]
    out = PyAVReader().read(videos[kind], indices)
    assert out.dtype == np.uint8 and out.shape == (len(indices), HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(out, references[kind][indices])
    assert [frame_index_of(frame) for frame in out] == indices


def test_pyav_reader_is_exact_on_lossless_video(videos, frames):
    indices = [59, 0, 31, 31, 7]
    np.testing.assert_array_equal(PyAVReader().read(videos["ffv1_lossless"], indices), frames[indices])


@pytest.mark.parametrize("kind,gop", [("h264_gop4", 4), ("ffv1_lossless", 5)])
def test_late_read_seeks_instead_of_decoding_everything(videos, decode_counter, kind, gop):
    first, last = 50, 55
    PyAVReader().read(videos[kind], [last, first, 52])
    # The keyframe before `first` is at most gop - 1 frames earlier; decoding stops at `last`.
    assert decode_counter[0] <= last - first + gop
    assert decode_counter[0] < NUM_FRAMES // 2


def test_read_without_keyframe_to_seek_to_stops_after_last_wanted(videos, decode_counter):
    PyAVReader().read(videos["h264_gop250"], [30, 20])
    assert decode_counter[0] == 31  # frames 0..30: one keyframe, so from the start, then stop


def test_seek_landing_after_first_wanted_frame_falls_back_earlier(videos, references, monkeypatch):
    """Force every seek past the wanted frame; the reader must still return the right frames."""
    passes = []
    original_pts_of = video._FrameClock.pts_of
    original_forward = video._decode_forward

    def too_late(self, index):
        return original_pts_of(self, min(index + 9, NUM_FRAMES - 1))

    def recording_forward(*args, **kwargs):
        result = original_forward(*args, **kwargs)
        passes.append(isinstance(result, list))
        return result

    monkeypatch.setattr(video._FrameClock, "pts_of", too_late)
    monkeypatch.setattr(video, "_decode_forward", recording_forward)
    indices = [41, 40, 45]
    out = PyAVReader().read(videos["h264_gop4"], indices)
    np.testing.assert_array_equal(out, references["h264_gop4"][indices])
    assert passes[0] is False and passes[-1] is True


@pytest.mark.parametrize("indices", [[NUM_FRAMES], [3, NUM_FRAMES + 10], [-1, 2]])
def test_pyav_reader_rejects_frames_outside_the_video(videos, indices):
    with pytest.raises(CorruptVideoError, match="h264_gop4"):
        PyAVReader().read(videos["h264_gop4"], indices)


def test_pyav_reader_on_truncated_file_raises_corrupt(tmp_path, frames):
    path = write_video(tmp_path / "fast.mp4", frames, gop=4, container_options={"movflags": "faststart"})
    data = path.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    assert probe(truncated).num_frames == NUM_FRAMES  # the header still promises every frame
    np.testing.assert_array_equal(PyAVReader().read(truncated, [1]), decode_all(path)[[1]])
    with pytest.raises(CorruptVideoError, match="truncated.mp4"):
        PyAVReader().read(truncated, [NUM_FRAMES - 2])


def test_pyav_reader_on_garbage_raises_corrupt(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptVideoError, match="garbage.mp4"):
        PyAVReader().read(garbage, [0])


def test_pyav_reader_sets_one_decoding_thread(videos, monkeypatch):
    seen = []
    original = video._use_one_decoding_thread

    def spy(stream):
        original(stream)
        seen.append(stream.codec_context.thread_count)

    monkeypatch.setattr(video, "_use_one_decoding_thread", spy)
    PyAVReader().read(videos["h264_gop4"], [5])
    assert seen and all(count == 1 for count in seen)


def test_readers_survive_pickling(videos, references, tmp_path, frames):
    reader = pickle.loads(pickle.dumps(PyAVReader()))
    np.testing.assert_array_equal(reader.read(videos["h264_gop4"], [7]), references["h264_gop4"][[7]])
    folder = write_frame_folder(tmp_path / "frames", frames[:4], "f{:d}.png", 0)
    reader = pickle.loads(pickle.dumps(FrameFolderReader("f{:d}.png", 0)))
    np.testing.assert_array_equal(reader.read(folder, [3]), frames[[3]])


# ---------------------------------------------------------------------------
# probe
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec,suffix",
    [
        ("libx264", ".mp4"),
        ("mpeg4", ".avi"),
        ("ffv1", ".mkv"),
        pytest.param("libvpx", ".webm", marks=pytest.mark.skipif(not has_codec("libvpx"), reason="no VP8 encoder")),
        pytest.param(
            "libvpx-vp9", ".webm", marks=pytest.mark.skipif(not has_codec("libvpx-vp9"), reason="no VP9 encoder")
        ),
    ],
)
def test_probe_reports_true_frame_count_fps_and_size(tmp_path, codec, suffix):
    num_frames = 23
    path = write_video(tmp_path / f"clip{suffix}", numbered_frames(num_frames, HEIGHT, WIDTH), fps=30, codec=codec)
    assert probe(path) == VideoMeta(num_frames=num_frames, fps=30.0, height=HEIGHT, width=WIDTH)


@pytest.mark.skipif(not has_codec("libvpx"), reason="no VP8 encoder")
def test_probe_counts_webm_frames_the_container_does_not_declare(tmp_path):
    path = write_video(tmp_path / "clip.webm", numbered_frames(17, HEIGHT, WIDTH), codec="libvpx")
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # so probe had to count
    assert probe(path).num_frames == 17


def test_probe_rejects_unreadable_files(tmp_path, frames):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    empty_mp4 = write_empty_video(tmp_path / "empty.mp4")
    empty_mkv = write_empty_video(tmp_path / "empty.mkv", codec="ffv1")
    whole = write_video(tmp_path / "whole.mp4", frames).read_bytes()  # index at the end: truncation loses it
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])
    zero_bytes = tmp_path / "zero.mp4"
    zero_bytes.write_bytes(b"")
    for path in (garbage, empty_mp4, empty_mkv, truncated, zero_bytes, tmp_path / "absent.mp4"):
        with pytest.raises(CorruptVideoError, match=path.name):
            probe(path)


# ---------------------------------------------------------------------------
# Frame folders
# ---------------------------------------------------------------------------


def test_frame_folder_round_trip_jpeg(tmp_path, frames):
    folder = write_frame_folder(tmp_path / "v_x", frames[:20])
    indices = [19, 0, 7, 7, 3]
    out = FrameFolderReader().read(folder, indices)
    assert out.dtype == np.uint8 and out.shape == (len(indices), HEIGHT, WIDTH, 3)
    assert [frame_index_of(frame) for frame in out] == indices  # red/blue blocks: a BGR mix-up fails here
    assert np.abs(out.astype(int) - frames[indices].astype(int)).mean() < 4
    assert probe_frames(folder) == VideoMeta(num_frames=20, fps=25.0, height=HEIGHT, width=WIDTH)


def test_frame_folder_round_trip_png_with_other_template(tmp_path, frames):
    folder = write_frame_folder(tmp_path / "clip", frames[:6], "frame{:d}.png", 0)
    indices = [5, 1, 1, 0]
    np.testing.assert_array_equal(FrameFolderReader("frame{:d}.png", 0).read(folder, indices), frames[indices])
    assert probe_frames(folder, "frame{:d}.png", 0).num_frames == 6
    assert make_reader("frames", template="frame{:d}.png", start_index=0).read(folder, [2])[0].tolist() == (
        frames[2].tolist()
    )


def test_frame_folder_missing_frame_raises_corrupt(tmp_path, frames):
    folder = write_frame_folder(tmp_path / "clip", frames[:5])
    with pytest.raises(CorruptVideoError, match="img_00006.jpg"):
        FrameFolderReader().read(folder, [1, 5])
    with pytest.raises(CorruptVideoError, match="img_00001.jpg"):
        probe_frames(tmp_path)  # a folder without frame files
    with pytest.raises(CorruptVideoError, match="absent"):
        probe_frames(tmp_path / "absent")


# ---------------------------------------------------------------------------
# Frame cache
# ---------------------------------------------------------------------------


class FailingReader:
    """A source reader that must not be used (the cache should already hold everything)."""

    def read(self, path, indices):
        raise AssertionError(f"decoded {path} although it is cached")


def cache_records(tmp_path: Path, frames: np.ndarray) -> list[VideoRecord]:
    records = []
    for number, length in enumerate((12, 9)):
        path = write_video(tmp_path / f"src{number}.mkv", frames[:length], codec="ffv1")
        records.append(VideoRecord(str(path), number, length, 25.0, HEIGHT, WIDTH))
    return records


def resized_reference(frames: np.ndarray, short_side: int) -> np.ndarray:
    height, width = resized_shape(frames.shape[1], frames.shape[2], short_side)
    return np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in frames])


def test_frame_cache_round_trip_and_reuse(tmp_path, frames):
    records = cache_records(tmp_path, frames)
    cache_dir = tmp_path / "cache"
    cached = build_frame_cache(records, cache_dir, short_side=16, workers=1, progress=False)
    assert resized_shape(HEIGHT, WIDTH, 16) == (16, 24)
    assert [(r.path, r.label, r.num_frames, r.height, r.width) for r in cached] == [
        (r.path, r.label, r.num_frames, 16, 24) for r in records
    ]
    reader = CachedReader(cache_dir)
    for record in records:
        reference = resized_reference(decode_all(record.path), 16)
        indices = [record.num_frames - 1, 0, 4, 4]
        np.testing.assert_array_equal(reader.read(record.path, indices), reference[indices])
    entries = sorted(cache_dir.glob("*.npy"))
    mtimes = [entry.stat().st_mtime_ns for entry in entries]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = build_frame_cache(records, cache_dir, short_side=16, source_reader=FailingReader(), progress=False)
    assert again == cached
    assert [entry.stat().st_mtime_ns for entry in entries] == mtimes
    assert not list(cache_dir.glob("*.tmp"))


def test_frame_cache_skips_corrupt_videos_with_one_warning(tmp_path, frames):
    records = cache_records(tmp_path, frames)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 50)
    records.insert(1, VideoRecord(str(broken), 5, 10, 25.0, HEIGHT, WIDTH))
    with pytest.warns(UserWarning, match=r"skipped 1 of 3 .*broken.mp4"):
        cached = build_frame_cache(records, tmp_path / "cache", short_side=8, workers=1, progress=False)
    assert [record.path for record in cached] == [records[0].path, records[2].path]


def test_frame_cache_with_process_pool_and_fresh_reader(tmp_path, frames):
    records = cache_records(tmp_path, frames)
    cached = build_frame_cache(records, tmp_path / "cache", short_side=20, workers=2, progress=False)
    assert [(r.height, r.width) for r in cached] == [(20, 30)] * 2
    reader = pickle.loads(pickle.dumps(make_reader("cache", cache_dir=tmp_path / "cache")))
    reference = resized_reference(frames[:12], 20)  # lossless source: decoded frames are the originals
    np.testing.assert_array_equal(reader.read(records[0].path, [11, 2]), reference[[11, 2]])


def test_cached_reader_errors(tmp_path, frames):
    records = cache_records(tmp_path, frames)
    build_frame_cache(records[:1], tmp_path / "cache", short_side=8, workers=1, progress=False)
    reader = CachedReader(tmp_path / "cache")
    with pytest.raises(CorruptVideoError, match="src0"):
        reader.read(records[0].path, [12])
    with pytest.raises(VidsslError, match="src1.mkv: not in frame cache"):
        reader.read(records[1].path, [0])
    broken_cache = tmp_path / "broken_cache"
    broken_cache.mkdir()
    (broken_cache / "manifest.json").write_text("{oops")
    with pytest.raises(VidsslError, match="manifest"):
        CachedReader(broken_cache).read(records[0].path, [0])


# ---------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------


def test_make_reader_builds_each_kind_and_rejects_unknown(tmp_path):
    assert isinstance(make_reader("pyav"), PyAVReader)
    assert isinstance(make_reader("frames", template="x{:03d}.png"), FrameFolderReader)
    assert isinstance(make_reader("cache", cache_dir=tmp_path), CachedReader)
    with pytest.raises(VidsslError, match="pyav, frames, cache"):
        make_reader("decord")
    with pytest.raises(VidsslError, match="'frames'"):
        make_reader("frames", templat="x")
