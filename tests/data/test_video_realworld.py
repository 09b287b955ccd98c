"""Probe and PyAVReader on files as datasets ship them: cuts, B-frame AVI, late starts, variable frame rate.

Every file is built here with PyAV from frames that carry their own index
(:func:`videofixtures.numbered_frames`), so each test knows exactly which
source frame an index must return.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from videofixtures import (
    count_packets,
    decode_all,
    frame_index_of,
    has_reordered_frames,
    numbered_frames,
    write_delayed_copy,
    write_stream_copy_cut,
    write_vfr_video,
    write_video,
)
from vidssl.data import video
from vidssl.data.datasets import VideoRecord
from vidssl.data.video import PyAVReader, build_frame_cache, probe
from vidssl.errors import CorruptVideoError

NUM_FRAMES = 80
HEIGHT, WIDTH = 32, 48
GOP = 16
NO_SCENECUT = {"sc_threshold": "0"}  # keyframes exactly every GOP frames, so hidden counts are known

# name -> (cut frame, x264 options); keyframes sit at 0, 16, 32, ... of the source
CUTS = {
    "bframes_12_hidden": (28, NO_SCENECUT),
    "bframes_1_hidden": (17, NO_SCENECUT),  # the container's count and duration differ by one frame only
    "no_bframes_12_hidden": (44, {**NO_SCENECUT, "bf": "0"}),
}


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return numbered_frames(NUM_FRAMES, HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def cuts(tmp_path_factory, frames) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cuts")
    written = {}
    for name, (cut, options) in CUTS.items():
        source = write_video(folder / f"{name}_source.mp4", frames, gop=GOP, options=options)
        written[name] = write_stream_copy_cut(source, folder / f"{name}.mp4", cut)
    return written


@pytest.fixture(scope="module")
def bframe_avi(tmp_path_factory, frames) -> Path:
    path = tmp_path_factory.mktemp("avi") / "v_Basketball_g01_c01.avi"
    write_video(path, frames, codec="mpeg4", gop=12, options={"bf": "2"})
    assert has_reordered_frames(path)  # otherwise this would not test B-frames at all
    return path



def hidden_frames(name: str) -> int:
    cut = CUTS[name][0]
    return cut - cut // GOP * GOP


def test_probe_of_an_ordinary_mp4_reads_only_its_header(tmp_path, frames, monkeypatch):
    """The container's count is trusted for a plain constant-rate file: no seek to its end, no packet count."""
    path = write_video(tmp_path / "plain.mp4", frames, gop=GOP)

    def must_not_run(*args):
        raise AssertionError("probe scanned a plain file")

    monkeypatch.setattr(video, "_frames_by_time", must_not_run)
    monkeypatch.setattr(video, "_count_shown_packets", must_not_run)
    assert probe(path).num_frames == NUM_FRAMES


# ---------------------------------------------------------------------------
# Stream-copied cuts (MP4 edit list hides the frames before the cut point)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CUTS)
def test_cut_fixture_hides_the_frames_before_the_cut(cuts, name):
    assert has_reordered_frames(cuts[name]) == name.startswith("bframes")
    assert count_packets(cuts[name], hidden=True) == hidden_frames(name)
    assert count_packets(cuts[name], hidden=False) == NUM_FRAMES - CUTS[name][0]


@pytest.mark.parametrize("name", CUTS)
def test_probe_of_a_cut_counts_the_frames_that_decode(cuts, name):
    shown = NUM_FRAMES - CUTS[name][0]
    assert len(decode_all(cuts[name])) == shown
    meta = probe(cuts[name])
    assert (meta.num_frames, meta.fps, meta.height, meta.width) == (shown, 25.0, HEIGHT, WIDTH)


@pytest.mark.parametrize("name", CUTS)
def test_every_probed_frame_of_a_cut_reads_back_starting_at_the_cut(cuts, name):
    cut = CUTS[name][0]
    num_frames = probe(cuts[name]).num_frames
    out = PyAVReader().read(cuts[name], range(num_frames))
    assert [frame_index_of(frame) for frame in out] == list(range(cut, NUM_FRAMES))
    np.testing.assert_array_equal(out, decode_all(cuts[name]))


@pytest.mark.parametrize("name", CUTS)
def test_late_read_of_a_cut_seeks_and_is_exact(cuts, name, decode_counter):
    cut = CUTS[name][0]
    last = probe(cuts[name]).num_frames - 1
    indices = [last, last - 5, last - 3]
    out = PyAVReader().read(cuts[name], indices)
    assert [frame_index_of(frame) for frame in out] == [cut + index for index in indices]
    np.testing.assert_array_equal(out, decode_all(cuts[name])[indices])
    assert decode_counter[0] <= 5 + GOP  # from the keyframe before last - 5, not from the start


def test_frame_cache_keeps_a_cut(cuts, tmp_path):
    path = cuts["bframes_12_hidden"]
    meta = probe(path)
    record = VideoRecord(str(path), 0, meta.num_frames, meta.fps, meta.height, meta.width)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped video warns
        cached = build_frame_cache([record], tmp_path / "cache", short_side=HEIGHT, workers=1, progress=False)
    assert [(r.path, r.num_frames) for r in cached] == [(str(path), NUM_FRAMES - 28)]


# ---------------------------------------------------------------------------
# AVI (MPEG-4 Part 2) with B-frames, as in UCF101 / HMDB51
# ---------------------------------------------------------------------------


def test_bframe_avi_reads_frame_k_at_index_k(bframe_avi):
    assert probe(bframe_avi).num_frames == NUM_FRAMES
    out = PyAVReader().read(bframe_avi, range(NUM_FRAMES))
    assert [frame_index_of(frame) for frame in out] == list(range(NUM_FRAMES))
    np.testing.assert_array_equal(out, decode_all(bframe_avi))


def test_bframe_avi_single_frame_reads_agree_with_a_full_decode(bframe_avi):
    """Each index alone (a seek, then a short decode) gives the frame a decode from the start gives."""
    reference = decode_all(bframe_avi)
    reader = PyAVReader()
    got = [reader.read(bframe_avi, [index])[0] for index in range(NUM_FRAMES)]
    assert [frame_index_of(frame) for frame in got] == list(range(NUM_FRAMES))
    np.testing.assert_array_equal(np.stack(got), reference)


def test_bframe_avi_late_read_seeks(bframe_avi, decode_counter):
    out = PyAVReader().read(bframe_avi, [70, 66, 79])
    assert [frame_index_of(frame) for frame in out] == [70, 66, 79]
    assert decode_counter[0] <= 79 - 66 + 12 + 2  # keyframe before 66, a reorder delay, up to 79


# ---------------------------------------------------------------------------
# Streams whose first frame is not at t=0
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix,codec,options",
    [(".mp4", "libx264", None), (".avi", "mpeg4", {"bf": "2"})],
    ids=["mp4", "avi_bframes"],
)
def test_stream_starting_late_reads_its_first_frame_at_index_0(tmp_path, frames, suffix, codec, options):
    source = write_video(tmp_path / f"source{suffix}", frames[:40], codec=codec, gop=8, options=options)
    path = write_delayed_copy(source, tmp_path / f"late{suffix}", delay_frames=30)
    assert probe(path).num_frames == 40
    out = PyAVReader().read(path, [39, 0, 1, 20])
    assert [frame_index_of(frame) for frame in out] == [39, 0, 1, 20]


# ---------------------------------------------------------------------------
# Variable frame rate: index k is the frame on screen at time k / fps
# ---------------------------------------------------------------------------

# 20 frames at 12.5 fps, then 20 at 25 fps; the last frame lasts 40 ms, so the video ends at 2.4 s.
VFR_TIMES_MS = [80 * i for i in range(20)] + [1600 + 40 * i for i in range(20)]
VFR_END_MS = 2400


def frame_on_screen(times_ms: list[int], fps: Fraction, index: int) -> int:
    """Oracle: the first frame whose time rounds to ``index`` frame periods, else the one still on screen."""
    rounded = [math.floor(Fraction(time, 1000) * fps + Fraction(1, 2)) for time in times_ms]
    if index in rounded:
        return rounded.index(index)
    return max(number for number, value in enumerate(rounded) if value < index)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_vfr_indices_follow_presentation_time_to_the_end(tmp_path, frames, suffix):
    path = write_vfr_video(tmp_path / f"vfr{suffix}", frames[:40], VFR_TIMES_MS)
    meta = probe(path)
    fps = Fraction(meta.fps)
    assert meta.num_frames == math.floor(Fraction(VFR_END_MS, 1000) * fps + Fraction(1, 2))
    out = PyAVReader().read(path, range(meta.num_frames))
    expected = [frame_on_screen(VFR_TIMES_MS, fps, index) for index in range(meta.num_frames)]
    assert [frame_index_of(frame) for frame in out] == expected
    assert expected[-1] == 39  # the whole video is reachable, up to its last frame
    with pytest.raises(CorruptVideoError, match=f"vfr{suffix}"):
        PyAVReader().read(path, [meta.num_frames])


def test_last_frame_is_read_for_as_long_as_it_stays_on_screen(tmp_path, frames):
    """A last frame shown 200 ms at 25 fps covers indices 9..13; index 14 is past the end."""
    path = write_vfr_video(tmp_path / "held.mkv", frames[:10], [40 * i for i in range(10)], last_duration_ms=200)
    assert probe(path).num_frames == 14
    out = PyAVReader().read(path, [13, 9, 11, 0])
    assert [frame_index_of(frame) for frame in out] == [9, 9, 9, 0]
    with pytest.raises(CorruptVideoError, match="held.mkv"):
        PyAVReader().read(path, [14])


def test_an_index_of_an_older_probe_is_probed_again(cuts, tmp_path):
    """Indexes written before the cut fix hold the wrong count; the probe version in the key renews them."""
    import json

    from vidssl.data.datasets import PROBE_VERSION, probe_all

    path = str(cuts["bframes_12_hidden"])
    index_file = tmp_path / "index.json"
    metas, _ = probe_all([path], index_file, "img_{:05d}.jpg", progress=False)
    right = metas[path].num_frames
    index = json.loads(index_file.read_text())
    index[path]["meta"][0] = right + 12  # what the old probe stored
    index[path].pop("probe")
    index_file.write_text(json.dumps(index))
    metas, _ = probe_all([path], index_file, "img_{:05d}.jpg", progress=False)
    assert metas[path].num_frames == right
    assert json.loads(index_file.read_text())[path]["probe"] == PROBE_VERSION
