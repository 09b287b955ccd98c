"""STS sampler (vidssl.data.pretext.sts): clip indices, read/resize/crop/flip, flow (computed, cached or
pre-extracted) and labels on exactly the crop the network sees.

Fake readers draw frames whose content is known: the red channel is the frame
index (so a clip tells which frames it holds, even after resizing), or a
textured square moves by a known step per frame over a static textured
background (so its flow, and the block it lies in, are known).
"""
from __future__ import annotations

import os
import pickle
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from vidssl.data.array_cache import ArrayCache
from vidssl.data.flow import FLOW_TEMPLATE, FlowEstimator
from vidssl.data.pretext.sts import ClipRecord, STSSampler, fixed_clip_records, flip_frames_and_flow
from vidssl.data.sampling import non_overlapping_clip_starts, random_clip_start
from vidssl.data.statistics import sts_statistics
from vidssl.data.transforms import functional as F
from vidssl.errors import CorruptVideoError, VidsslError

SMALL = dict(clip_len=4, size=32, resize=(40, 56), flow="dis_ultrafast")


def record(num_frames, path="videos/v_Test_g01_c01.avi", label=3):
    return SimpleNamespace(path=path, label=label, num_frames=num_frames)


def blurred_noise(rng, shape, low, high):
    noise = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.0)
    return cv2.normalize(noise, None, low, high, cv2.NORM_MINMAX)


class IndexReader:
    """Frame i (30×45): red = i everywhere; green and blue = column and row patterns (so crops differ)."""

    def __init__(self, height=30, width=45):
        self.height, self.width = height, width
        self.calls = []

    def frames(self, indices):
        indices = np.asarray(indices)
        frames = np.zeros((len(indices), self.height, self.width, 3), np.uint8)
        frames[..., 0] = (indices % 256)[:, None, None]
        frames[..., 1] = (np.arange(self.width) * 37 % 256)[None, None, :]
        frames[..., 2] = (np.arange(self.height) * 91 % 256)[None, :, None]
        return frames

    def read(self, path, indices):
        self.calls.append(np.asarray(indices).tolist())
        return self.frames(indices)


class MovingSquareReader:
    """Frames (H, W): a static low-contrast texture with a high-contrast textured side×side square whose top-left
    is at ``(top, left) + (i − origin)·(dy, dx)`` in frame i."""

    def __init__(self, top, left, *, height=128, width=171, side=12, dx=4, dy=0, origin=0, seed=0):
        rng = np.random.default_rng(seed)
        self.background = blurred_noise(rng, (height, width, 3), 88, 168)
        self.square = blurred_noise(rng, (side, side, 3), 0, 255)
        self.top, self.left, self.side, self.dx, self.dy, self.origin = top, left, side, dx, dy, origin

    def position(self, index):
        return self.top + self.dy * (index - self.origin), self.left + self.dx * (index - self.origin)

    def read(self, path, indices):
        frames = np.repeat(self.background[None], len(indices), axis=0)
        for frame, index in zip(frames, indices):
            top, left = self.position(int(index))
            frame[top:top + self.side, left:left + self.side] = self.square
        return frames


class SpyEstimator:
    """Wraps the sampler's estimator and counts the clips it computes flow for."""

    def __init__(self, estimator):
        self.estimator, self.method, self.calls = estimator, estimator.method, 0

    def __call__(self, frames):
        self.calls += 1
        return self.estimator(frames)


class ForbiddenEstimator:
    method = "dis_fast"

    def __call__(self, frames):
        raise AssertionError("the estimator must not run when pre-extracted flow is given")


def red_indices(clip: torch.Tensor) -> list[int]:
    """Frame indices a (3, T, S, S) clip of IndexReader frames shows (its red channel is constant per frame)."""
    red = clip[0].long()
    assert (red == red[:, :1, :1]).all()
    return red[:, 0, 0].tolist()


# ---------------------------------------------------------------------------
# Clip records and starts
# ---------------------------------------------------------------------------


def test_fixed_clip_records_are_the_whole_non_overlapping_clips_in_record_order():
    records = [record(50, "a.avi", 1), record(10, "b.avi", 2), record(32, "c.avi", 0)]
    clips = fixed_clip_records(records, clip_len=16)
    assert [(c.path, c.label, c.num_frames, c.start) for c in clips] == [
        ("a.avi", 1, 50, 0), ("a.avi", 1, 50, 16), ("a.avi", 1, 50, 32),  # frames 48, 49 make no whole clip
        ("b.avi", 2, 10, 0),                                              # shorter than a clip: one at 0
        ("c.avi", 0, 32, 0), ("c.avi", 0, 32, 16),
    ]
    assert all(isinstance(c, ClipRecord) for c in clips)


def test_non_overlapping_clip_starts():
    assert non_overlapping_clip_starts(48, clip_len=16).tolist() == [0, 16, 32]
    assert non_overlapping_clip_starts(47, clip_len=16).tolist() == [0, 16]
    assert non_overlapping_clip_starts(16, clip_len=16).tolist() == [0]
    assert non_overlapping_clip_starts(3, clip_len=16).tolist() == [0]


def test_random_clip_start_is_uniform_over_the_whole_clips():
    rng = np.random.default_rng(0)
    starts = np.array([random_clip_start(30, clip_len=16, rng=rng) for _ in range(3000)])
    assert starts.min() >= 0 and starts.max() <= 14
    counts = np.bincount(starts, minlength=15)
    assert len(counts) == 15 and counts.min() > 3000 / 15 * 0.7 and counts.max() < 3000 / 15 * 1.3
    assert {random_clip_start(n, clip_len=16, rng=rng) for n in (1, 10, 16) for _ in range(20)} == {0}


# ---------------------------------------------------------------------------
# Frame indices and pixels
# ---------------------------------------------------------------------------


def test_fixed_mode_shows_the_record_clip_with_one_read():
    sampler = STSSampler(clips="fixed", **SMALL)
    reader = IndexReader()
    for clip in fixed_clip_records([record(14)], clip_len=4):  # starts 0, 4, 8
        sample = sampler(clip, reader, np.random.default_rng(clip.start))
        expected = list(range(clip.start, clip.start + 4))
        assert sample["frame_indices"].tolist() == expected and sample["frame_indices"].dtype == torch.int64
        assert sample["clip"].shape == (3, 4, 32, 32) and sample["clip"].dtype == torch.uint8
        assert red_indices(sample["clip"]) == expected
        assert reader.calls[-1] == expected
    assert len(reader.calls) == 3


def test_random_mode_draws_consecutive_clips_anywhere_inside_the_video():
    sampler = STSSampler(clips="random", **SMALL)
    reader, rng = IndexReader(), np.random.default_rng(0)
    starts = set()
    for _ in range(40):
        sample = sampler(record(12), reader, rng)
        indices = sample["frame_indices"].tolist()
        start = indices[0]
        assert indices == list(range(start, start + 4)) and 0 <= start <= 8
        assert red_indices(sample["clip"]) == indices
        starts.add(start)
    assert starts == set(range(9))
    # rng None: the centre clip
    assert sampler.view(record(12), reader, None).indices.tolist() == [4, 5, 6, 7]


@pytest.mark.parametrize(("rule", "expected"), [("loop", [0, 1, 2, 0]), ("clamp", [0, 1, 2, 2])])
@pytest.mark.parametrize("clips", ["fixed", "random"])
def test_short_videos_follow_the_short_video_rule(rule, expected, clips):
    sampler = STSSampler(clips=clips, short_video=rule, **SMALL)
    reader = IndexReader()
    rec = fixed_clip_records([record(3)], clip_len=4)[0] if clips == "fixed" else record(3)
    sample = sampler(rec, reader, np.random.default_rng(0))
    assert sample["frame_indices"].tolist() == expected
    assert red_indices(sample["clip"]) == expected
    assert reader.calls == [[0, 1, 2]]  # each frame decoded once


def test_clip_is_the_crop_of_the_resized_frames():
    sampler = STSSampler(flip_p=0.0, **SMALL)
    reader, rng = IndexReader(), np.random.default_rng(1)
    corners = set()
    for _ in range(12):
        view = sampler.view(record(20), reader, rng)
        assert 0 <= view.top <= 40 - 32 and 0 <= view.left <= 56 - 32 and not view.flipped
        resized = F.resize(reader.frames(view.indices), 40, 56)
        expected = resized[:, view.top:view.top + 32, view.left:view.left + 32]
        np.testing.assert_array_equal(view.frames, expected)
        corners.add((view.top, view.left))
    assert len(corners) > 6  # the crop is drawn, not fixed
    centre = sampler.view(record(20), reader, None)
    assert (centre.top, centre.left) == (4, 12)
    np.testing.assert_array_equal(centre.frames, F.resize(reader.frames(centre.indices), 40, 56)[:, 4:36, 12:44])
    sample = sampler(record(20), reader, np.random.default_rng(2))
    view = sampler.view(record(20), reader, np.random.default_rng(2))
    assert torch.equal(sample["clip"], torch.from_numpy(view.frames).permute(3, 0, 1, 2))


def test_reader_returning_the_wrong_number_of_frames_is_a_corrupt_video():
    class ShortReader(IndexReader):
        def read(self, path, indices):
            return super().read(path, indices)[:-1]

    with pytest.raises(CorruptVideoError, match="v_Test_g01_c01.avi"):
        STSSampler(**SMALL)(record(20), ShortReader(), np.random.default_rng(0))
    with pytest.raises(CorruptVideoError, match="no frames"):
        STSSampler(**SMALL)(record(0), IndexReader(), np.random.default_rng(0))


# ---------------------------------------------------------------------------
# Labels on exactly the crop the network sees
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "bins"), [("bins", 256), ("triplet", 256), ("bins", 16)])
def test_labels_are_the_statistics_of_the_shown_frames_and_flow(rule, bins):
    sampler = STSSampler(clip_len=4, size=32, resize=(40, 56), flow="dis_ultrafast", dominant_colour=rule,
                         colour_bins=bins)
    reader = MovingSquareReader(14, 16, height=40, width=56, side=8, dx=2, dy=1)
    rec = record(10)
    for seed in range(4):
        view = sampler.view(rec, reader, np.random.default_rng(seed))
        stats = sts_statistics(view.frames, view.flow, dominant_colour=rule, colour_bins=bins)
        np.testing.assert_array_equal(view.statistics.motion_labels, stats.motion_labels)
        np.testing.assert_array_equal(view.statistics.appearance_labels, stats.appearance_labels)
        assert view.statistics.difficulty == stats.difficulty
        # the flow is that of the whole resized clip, cropped (and mirrored) like the frames
        full = FlowEstimator("dis_ultrafast")(F.resize(reader.read(rec.path, view.indices), 40, 56))
        crop = full[:, view.top:view.top + 32, view.left:view.left + 32]
        if view.flipped:
            crop = crop[:, :, ::-1] * np.array([-1, 1], np.float32)
        np.testing.assert_allclose(view.flow, crop, atol=1e-4)
        assert view.flow.shape == (3, 32, 32, 2)
        sample = sampler(rec, reader, np.random.default_rng(seed))
        assert sample["motion_labels"].dtype == torch.int64 and sample["motion_labels"].shape == (14,)
        assert sample["appearance_labels"].dtype == torch.int64 and sample["appearance_labels"].shape == (13,)
        assert sample["motion_labels"].tolist() == stats.motion_labels.tolist()
        assert sample["appearance_labels"].tolist() == stats.appearance_labels.tolist()
        assert sample["difficulty"].dtype == torch.float32
        assert sample["difficulty"].item() == pytest.approx(stats.difficulty, rel=1e-6)


# ---------------------------------------------------------------------------
# Flip
# ---------------------------------------------------------------------------


def test_flip_frames_and_flow_mirrors_and_negates_u():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    flow = rng.normal(size=(2, 6, 7, 2)).astype(np.float32)
    original = flow.copy()
    mirrored_frames, mirrored_flow = flip_frames_and_flow(frames, flow)
    for c in range(7):
        np.testing.assert_array_equal(mirrored_frames[:, :, c], frames[:, :, 6 - c])
        np.testing.assert_array_equal(mirrored_flow[:, :, c, 0], -flow[:, :, 6 - c, 0])
        np.testing.assert_array_equal(mirrored_flow[:, :, c, 1], flow[:, :, 6 - c, 1])
    np.testing.assert_array_equal(flow, original)  # the input is not changed


def test_flip_probability():
    reader = IndexReader()
    flips = {p: [STSSampler(flip_p=p, **SMALL).view(record(10), reader, np.random.default_rng(s)).flipped
                 for s in range(16)] for p in (0.0, 0.5, 1.0)}
    assert not any(flips[0.0]) and all(flips[1.0])
    assert 0 < sum(flips[0.5]) < 16


def test_flipped_clip_is_the_mirror_of_the_same_crop_and_its_labels_follow():
    settings = dict(clip_len=3, size=112, resize=(128, 171), flow="dis_medium")
    reader = MovingSquareReader(50, 70, dx=4, dy=0)  # moves right, always inside any 112² crop
    rec = record(3)
    for seed in range(3):
        plain = STSSampler(flip_p=0.0, **settings).view(rec, reader, np.random.default_rng(seed))
        flipped = STSSampler(flip_p=1.0, **settings).view(rec, reader, np.random.default_rng(seed))
        assert flipped.flipped and not plain.flipped
        assert (flipped.top, flipped.left) == (plain.top, plain.left)
        np.testing.assert_array_equal(flipped.frames, plain.frames[:, :, ::-1])
        mirrored_flow = plain.flow[:, :, ::-1].copy()
        mirrored_flow[..., 0] *= -1
        np.testing.assert_allclose(flipped.flow, mirrored_flow, atol=1e-4)
        expected = sts_statistics(np.ascontiguousarray(plain.frames[:, :, ::-1]), mirrored_flow)
        np.testing.assert_array_equal(flipped.statistics.motion_labels, expected.motion_labels)
        np.testing.assert_array_equal(flipped.statistics.appearance_labels, expected.appearance_labels)
        # the square (in the crop of frame 0) moves right in the plain clip and left in the flipped one
        top, left = 50 - plain.top, 70 - plain.left
        rows, cols = slice(top + 3, top + 9), slice(left + 3, left + 9)
        mirrored_cols = slice(112 - (left + 9), 112 - (left + 3))
        assert np.median(plain.flow[0, rows, cols, 0]) == pytest.approx(4, abs=1)
        assert np.median(flipped.flow[0, rows, mirrored_cols, 0]) == pytest.approx(-4, abs=1)
        assert np.abs(np.median(flipped.flow[0, rows, mirrored_cols, 1])) < 1


# ---------------------------------------------------------------------------
# Known answer end to end: the block of a moving square
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("block", range(16))
def test_square_moving_inside_a_block_of_the_centre_crop_gives_that_block(block):
    """Paper geometry: frames 128×171, centre crop 112² at top 8, left 29 (a wrong crop moves it ~a block)."""
    sampler = STSSampler(clip_len=3, size=112, resize=(128, 171), flow="dis_medium")
    side, step, block_side = 12, 4, 28
    offset = (block_side - side - 2 * step) // 2  # the path of the square is centred in the block
    top = 8 + (block // 4) * block_side + offset
    left = 29 + (block % 4) * block_side + offset
    reader = MovingSquareReader(top, left, side=side, dx=step, dy=step, seed=block)
    view = sampler.view(record(3), reader, None)
    assert (view.top, view.left, view.flipped) == (8, 29, False) and view.indices.tolist() == [0, 1, 2]
    labels = view.statistics.motion_labels
    assert labels[0] == block and labels[2] == block, labels[:4]


# ---------------------------------------------------------------------------
# Difficulty
# ---------------------------------------------------------------------------


def test_difficulty_is_that_of_the_centre_clip_and_crop_without_flip():
    sampler = STSSampler(clip_len=4, size=32, resize=(40, 56), flow="dis_medium", flip_p=1.0)
    reader = MovingSquareReader(12, 14, height=40, width=56, side=8, dx=2, dy=1, origin=18)
    rec = record(40)  # centre clip: frames 18..21
    frames = F.resize(reader.read(rec.path, np.arange(18, 22)), 40, 56)
    flow = FlowEstimator("dis_medium")(frames)
    expected = sts_statistics(np.ascontiguousarray(frames[:, 4:36, 12:44]), np.ascontiguousarray(flow[:, 4:36, 12:44]))
    assert expected.difficulty > 0
    first, second = sampler.difficulty(rec, reader), sampler.difficulty(rec, reader)
    assert first == second == pytest.approx(expected.difficulty, rel=1e-5)
    assert first == sampler.view(rec, reader, None).statistics.difficulty
    fixed = STSSampler(clips="fixed", **SMALL)
    assert fixed.view(ClipRecord(rec.path, 0, 40, 2), IndexReader(), None).indices.tolist() == [2, 3, 4, 5]


# ---------------------------------------------------------------------------
# Flow cache
# ---------------------------------------------------------------------------

UNPICKLED = []


def _unpickled(tag):
    UNPICKLED.append(tag)
    return tag


class Booby:
    """An object whose unpickling runs code (records it in UNPICKLED)."""

    def __reduce__(self):
        return _unpickled, ("booby",)


@pytest.fixture()
def cached(tmp_path):
    video = tmp_path / "v_Cache_g01_c01.avi"
    video.write_bytes(b"not really a video, but a file with a size and an mtime")
    cache = ArrayCache(tmp_path / "cache")

    def make(**overrides):
        settings = dict(SMALL, clips="fixed", flow_cache=cache)
        settings.update(overrides)
        sampler = STSSampler(**settings)
        sampler.estimator = SpyEstimator(sampler.estimator)
        return sampler

    return SimpleNamespace(video=video, cache=cache, folder=tmp_path / "cache", make=make,
                           record=ClipRecord(str(video), 0, 20, 0), reader=IndexReader())


def npy_files(folder):
    return sorted(folder.rglob("*.npy"))


def test_first_call_computes_and_stores_the_flow_and_later_calls_read_it(cached):
    sampler = cached.make()
    first = sampler(cached.record, cached.reader, np.random.default_rng(0))
    assert sampler.estimator.calls == 1
    files = npy_files(cached.folder)
    assert len(files) == 1
    stored = np.load(files[0], allow_pickle=False)
    full = FlowEstimator("dis_ultrafast")(F.resize(cached.reader.frames(np.arange(4)), 40, 56))
    assert stored.shape == (3, 40, 56, 2)
    np.testing.assert_allclose(stored.astype(np.float32), full, atol=2e-2, rtol=2e-3)
    again = sampler(cached.record, cached.reader, np.random.default_rng(0))
    assert sampler.estimator.calls == 1  # read from the cache
    for key in ("motion_labels", "appearance_labels", "frame_indices", "clip"):
        assert torch.equal(first[key], again[key]), key
    # another crop and flip of the same clip reuses the same flow
    sampler(cached.record, cached.reader, np.random.default_rng(7))
    assert sampler.estimator.calls == 1 and len(npy_files(cached.folder)) == 1
    # a second sampler (another worker or run) with the same settings reads it too
    other = cached.make()
    other(cached.record, cached.reader, np.random.default_rng(0))
    assert other.estimator.calls == 0


def test_a_cache_hit_gives_exactly_the_view_of_the_miss_that_filled_it(cached):
    """The miss labels the clip with the flow it stores (float16), so the hit sees the same flow and labels."""
    sampler = cached.make(flow="dis_medium")
    reader = MovingSquareReader(14, 16, height=40, width=56, side=8, dx=2, dy=1)
    miss = sampler.view(cached.record, reader, None)
    hit = sampler.view(cached.record, reader, None)
    assert sampler.estimator.calls == 1
    assert hit.statistics.difficulty == miss.statistics.difficulty
    np.testing.assert_array_equal(hit.flow, miss.flow)


def test_changed_clip_settings_or_video_miss_the_cache(cached):
    rng = np.random.default_rng(0)
    sampler = cached.make()
    sampler(cached.record, cached.reader, rng)
    assert sampler.estimator.calls == 1
    sampler(ClipRecord(cached.record.path, 0, 20, 4), cached.reader, rng)  # other frames
    assert sampler.estimator.calls == 2
    other_method = cached.make(flow="dis_fast")
    other_method(cached.record, cached.reader, rng)
    assert other_method.estimator.calls == 1
    other_size = cached.make(resize=(48, 64))
    other_size(cached.record, cached.reader, rng)
    assert other_size.estimator.calls == 1
    other_frames = cached.make(frame_source={"reader": "pyav", "cache_short_side": 48})  # same file, read smaller
    other_frames(cached.record, cached.reader, rng)
    assert other_frames.estimator.calls == 1
    assert len(npy_files(cached.folder)) == 5
    # the video is replaced: new content and size
    cached.video.write_bytes(b"another video altogether")
    sampler(cached.record, cached.reader, rng)
    assert sampler.estimator.calls == 3
    # same size and bytes, only a new modification time
    stat = cached.video.stat()
    os.utime(cached.video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    sampler(cached.record, cached.reader, rng)
    assert sampler.estimator.calls == 4
    sampler(cached.record, cached.reader, rng)
    assert sampler.estimator.calls == 4


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-shape", "pickled-object"])
def test_a_damaged_cache_file_is_recomputed_and_rewritten(cached, damage):
    sampler = cached.make()
    first = sampler(cached.record, cached.reader, np.random.default_rng(0))
    (path,) = npy_files(cached.folder)
    if damage == "garbage":
        path.write_bytes(b"\x00garbage, not an npy file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "wrong-shape":
        np.save(path, np.zeros((2, 5, 5, 2), np.float16))
    else:
        np.save(path, np.array([Booby()], dtype=object), allow_pickle=True)
    UNPICKLED.clear()
    again = sampler(cached.record, cached.reader, np.random.default_rng(0))
    assert sampler.estimator.calls == 2 and not UNPICKLED
    assert again["motion_labels"].tolist() == first["motion_labels"].tolist()
    assert np.load(path, allow_pickle=False).shape == (3, 40, 56, 2)  # overwritten with good values
    sampler(cached.record, cached.reader, np.random.default_rng(0))
    assert sampler.estimator.calls == 2


def test_cache_never_unpickles_objects(tmp_path):
    cache = ArrayCache(tmp_path)
    description = {"source": "x", "indices": np.arange(3)}
    assert cache.get(description) is None
    path = cache.path_for(description)
    path.parent.mkdir(parents=True)
    np.save(path, np.array([Booby()], dtype=object), allow_pickle=True)
    UNPICKLED.clear()
    assert cache.get(description) is None and not UNPICKLED
    # the file really is dangerous: loading it with pickles allowed runs the object's code
    np.load(path, allow_pickle=True)
    assert UNPICKLED == ["booby"]
    cache.put(description, np.arange(6, dtype=np.float16).reshape(2, 3))
    np.testing.assert_array_equal(cache.get(description), np.arange(6).reshape(2, 3))
    assert cache.get({"source": "x", "indices": np.arange(4)}) is None


def test_sampler_pickles_after_use(cached):
    sampler = STSSampler(clips="fixed", flow_cache=cached.cache, **SMALL)
    sample = sampler(cached.record, cached.reader, np.random.default_rng(0))
    clone = pickle.loads(pickle.dumps(sampler))
    assert torch.equal(clone(cached.record, cached.reader, np.random.default_rng(0))["clip"], sample["clip"])


# ---------------------------------------------------------------------------
# Pre-extracted flow
# ---------------------------------------------------------------------------


def x_value(number):
    return 128 + 10 * number   # file number (1-based) → grey level of flow_x


def y_value(number):
    return 120 - 7 * number


def dequantised(p):
    return p * 40.0 / 255.0 - 20.0


@pytest.fixture()
def flow_root(tmp_path):
    """5 pre-extracted pairs of 20×20 constant flow frames for v_Test_g01_c01."""
    folder = tmp_path / "flows" / "v_Test_g01_c01"
    folder.mkdir(parents=True)
    for number in range(1, 6):
        cv2.imwrite(str(folder / FLOW_TEMPLATE.format("x", number)), np.full((20, 20), x_value(number), np.uint8))
        cv2.imwrite(str(folder / FLOW_TEMPLATE.format("y", number)), np.full((20, 20), y_value(number), np.uint8))
    return tmp_path / "flows"


@pytest.mark.parametrize(("start", "files"), [(0, [1, 2, 3]), (2, [3, 4, 5]), (3, [4, 5, 5])])
def test_pre_extracted_flow_is_read_resized_and_scaled(flow_root, start, files):
    """Frame pair i is file i + 1 (pairs past the 5 extracted repeat the last); 20×20 → 40×60 scales u by 3
    and v by 2."""
    sampler = STSSampler(clip_len=4, size=32, resize=(40, 60), clips="fixed", flow_root=str(flow_root))
    sampler.estimator = ForbiddenEstimator()
    rec = ClipRecord("some/where/v_Test_g01_c01.avi", 0, 8, start)
    view = sampler.view(rec, IndexReader(), np.random.default_rng(start))
    assert view.flow.shape == (3, 32, 32, 2)
    sign = -1.0 if view.flipped else 1.0
    for t, number in enumerate(files):
        np.testing.assert_allclose(view.flow[t, ..., 0], sign * 3 * dequantised(x_value(number)), atol=3 * 40 / 255)
        np.testing.assert_allclose(view.flow[t, ..., 1], 2 * dequantised(y_value(number)), atol=2 * 40 / 255)


def test_missing_pre_extracted_folder_is_a_corrupt_video_naming_it(flow_root):
    sampler = STSSampler(flow_root=str(flow_root), **SMALL)
    sampler.estimator = ForbiddenEstimator()
    with pytest.raises(CorruptVideoError, match="v_Other_g02_c03"):
        sampler(record(8, "v_Other_g02_c03.avi"), IndexReader(), np.random.default_rng(0))
    (flow_root / "v_Empty").mkdir()
    with pytest.raises(CorruptVideoError, match="v_Empty"):
        sampler(record(8, "v_Empty.mp4"), IndexReader(), np.random.default_rng(0))


def test_flow_root_must_be_a_folder(tmp_path):
    not_a_folder = tmp_path / "flows.txt"
    not_a_folder.write_text("x")
    for path in (not_a_folder, tmp_path / "absent"):
        with pytest.raises(VidsslError, match="^flow_root: "):
            STSSampler(flow_root=str(path), **SMALL)


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        (dict(size=30), "size"),
        (dict(size=0), "size"),
        (dict(size=112, resize=(100, 171)), "resize"),
        (dict(size=32, resize=(40, 24)), "resize"),
        (dict(resize=None), "resize"),
        (dict(resize=(40,)), "resize"),
        (dict(flip_p=1.5), "flip_p"),
        (dict(flip_p=-0.1), "flip_p"),
        (dict(clips="all"), "clips"),
        (dict(flow="lucas_kanade"), "flow"),
        (dict(short_video="wrap"), "short_video"),
        (dict(dominant_colour="mode"), "dominant_colour"),
        (dict(colour_bins=100), "colour_bins"),
        (dict(clip_len=1), "clip_len"),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(overrides, parameter):
    settings = dict(SMALL)
    settings.update(overrides)
    with pytest.raises(VidsslError, match=f"^{parameter}: "):
        STSSampler(**settings)


def test_fixed_mode_needs_clip_records():
    sampler = STSSampler(clips="fixed", **SMALL)
    with pytest.raises(VidsslError, match="clips='fixed'"):
        sampler(record(20), IndexReader(), np.random.default_rng(0))
