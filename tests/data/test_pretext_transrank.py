"""TransRankSampler: exact frames per clip (recovered from pixel values), assignment modes, one read per sample."""

import pickle
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
import torch

from vidssl.data.pretext import TransRankSampler
from vidssl.data.transforms import ClipAugment
from vidssl.errors import VidsslError

CLIP_LEN = 16


@dataclass(frozen=True)
class FakeRecord:
    path: str
    num_frames: int


class IndexEncodingReader:
    """Returns 6×8 frames whose red channel is index % 256 and green index // 256; logs every call."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def read(self, path, indices):
        indices = [int(i) for i in indices]
        self.calls.append(indices)
        frames = np.zeros((len(indices), 6, 8, 3), dtype=np.uint8)
        for row, index in enumerate(indices):
            frames[row, ..., 0] = index % 256
            frames[row, ..., 1] = index // 256
        return frames


class IdentityAugment:
    """(T, H, W, C) → (C, T, H, W) untouched, aspect ratio of the whole frame."""

    def __call__(self, frames, rng):
        clip = torch.from_numpy(frames).permute(3, 0, 1, 2).contiguous()
        return clip, {"aspect_ratio": frames.shape[2] / frames.shape[1]}


def frames_of(clip: torch.Tensor) -> list[int]:
    """Recover the source frame index of every frame of a (C, T, H, W) clip from its pixels."""
    red = clip[0, :, 0, 0].long()
    green = clip[1, :, 0, 0].long()
    assert torch.all(clip[0] == clip[0, :, :1, :1]) and torch.all(clip[1] == clip[1, :, :1, :1])
    return (red + 256 * green).tolist()


def allowed_intervals(speed: float) -> tuple[float, float]:
    """Range of the jittered interval 2·speed·U[0.8, 1.2], at least 1 (§4.4; it is not rounded)."""
    return max(1.0, 1.6 * speed), max(1.0, 2.4 * speed)


def half_up(x: float) -> int:
    return int(Fraction(x) + Fraction(1, 2))


SPEEDS = {"0.5x": 0.5, "1x": 1, "2x": 2, "4x": 4, "rev": 1, "rev-2x": 2, "palindrome": 1, "shuffle": 1}


def paper_indices(name: str, rho: int, d: float) -> list[int]:
    """TransRank §4.2 for an even clip length, frame k of 1× at ρ + round(k·d) (§4.4); independent of the library."""
    l = CLIP_LEN
    if name in ("0.5x", "1x", "2x", "4x", "shuffle"):
        ks = range(l)
    elif name in ("rev", "rev-2x"):
        ks = range(l - 1, -1, -1)
    elif name == "palindrome":
        ks = list(range(0, l, 2)) + list(range(l - 1, 0, -2))
    else:
        raise AssertionError(name)
    return [rho + half_up(k * d) for k in ks]


def check_clip_follows_paper(name: str, indices: list[int]) -> tuple[int, int]:
    """Assert the indices are the paper's for some (ρ, d), d in the jittered range; return (ρ, span)."""
    ordered = sorted(indices)
    rho = ordered[0]
    # round(k·d) = ordered[k] − ρ  ⇔  d ∈ [(q − ½)/k, (q + ½)/k): intersect over k and with the allowed range
    low, high = allowed_intervals(SPEEDS[name])
    for k, position in enumerate(ordered[1:], start=1):
        low, high = max(low, (position - rho - 0.5) / k), min(high, (position - rho + 0.5) / k)
    assert low <= high, (name, indices)
    d = (low + high) / 2
    if name == "shuffle":
        assert ordered == paper_indices("1x", rho, d)
        assert len(set(indices)) == CLIP_LEN
    else:
        assert indices == paper_indices(name, rho, d)
    return rho, ordered[-1] - rho + 1


def sample_with(sampler, num_frames, seed, reader=None):
    reader = reader or IndexEncodingReader()
    return sampler(FakeRecord("video.mp4", num_frames), reader, np.random.default_rng(seed)), reader


# ----------------------------------------------------------------------------- exact frames


@pytest.mark.parametrize(
    "transforms", [("1x", "2x", "rev"), ("1x", "2x", "4x", "rev-2x"), ("palindrome", "shuffle", "0.5x", "rev")]
)
def test_each_clip_holds_exactly_the_papers_frames(transforms):
    sampler = TransRankSampler(transforms=transforms, augment=IdentityAugment())
    num_frames = 400
    n = len(transforms)
    for seed in range(15):
        sample, reader = sample_with(sampler, num_frames, seed)
        assert sample["clips"].shape == (n, 3, CLIP_LEN, 6, 8)
        segments = set()
        for clip, transform_id, recorded in zip(sample["clips"], sample["transform_ids"], sample["frame_indices"]):
            indices = frames_of(clip)
            assert indices == recorded.tolist()
            rho, span = check_clip_follows_paper(transforms[int(transform_id)], indices)
            assert rho + span <= num_frames
            starts = num_frames - span + 1
            segment = [k for k in range(n) if k * starts // n <= rho < (k + 1) * starts // n]
            assert len(segment) == 1
            segments.add(segment[0])
        assert segments == set(range(n)), "clips must spread over different segments of the video"


def test_deterministic_mode_assigns_each_transformation_once():
    sampler = TransRankSampler(transforms=("1x", "2x", "rev", "rev-2x"), augment=IdentityAugment())
    orders = set()
    for seed in range(30):
        sample, _ = sample_with(sampler, 300, seed)
        ids = sample["transform_ids"].tolist()
        assert sorted(ids) == [0, 1, 2, 3]
        orders.add(tuple(ids))
    assert len(orders) > 5


def test_stochastic_mode_draws_independently():
    sampler = TransRankSampler(
        transforms=("1x", "2x", "rev"), num_clips=5, mode="stochastic", augment=IdentityAugment()
    )
    counts = np.zeros(3, dtype=int)
    repeats = 0
    for seed in range(60):
        sample, _ = sample_with(sampler, 300, seed)
        ids = sample["transform_ids"].tolist()
        assert len(ids) == 5 and all(0 <= i < 3 for i in ids)
        for clip, transform_id in zip(sample["clips"], ids):
            check_clip_follows_paper(sampler.transforms[transform_id], frames_of(clip))
        counts += np.bincount(ids, minlength=3)
        repeats += len(set(ids)) < 5
    assert repeats == 60  # 5 clips over 3 transformations always repeat one
    assert counts.min() > 60  # 300 draws: each transformation ~100 times
    single = TransRankSampler(transforms=("1x", "2x", "rev"), num_clips=3, mode="stochastic", augment=IdentityAugment())
    assert any(len(set(sample_with(single, 300, s)[0]["transform_ids"].tolist())) < 3 for s in range(20))


def test_deterministic_mode_needs_one_clip_per_transformation():
    with pytest.raises(VidsslError, match="num_clips"):
        TransRankSampler(transforms=("1x", "2x"), num_clips=3)
    with pytest.raises(VidsslError, match="3x"):
        TransRankSampler(transforms=("1x", "3x"))
    with pytest.raises(VidsslError, match="distinct"):
        TransRankSampler(transforms=("1x", "1x"))
    with pytest.raises(VidsslError, match="short_video"):
        TransRankSampler(short_video="bounce")


# ----------------------------------------------------------------------------- one read per sample


def test_reader_called_once_with_sorted_unique_frames():
    sampler = TransRankSampler(transforms=("1x", "2x", "rev", "palindrome"), augment=IdentityAugment())
    for num_frames in (40, 300):
        reader = IndexEncodingReader()
        sample, _ = sample_with(sampler, num_frames, 3, reader)
        assert len(reader.calls) == 1
        (call,) = reader.calls
        assert call == sorted(set(call))
        assert set(call) == set(sample["frame_indices"].flatten().tolist())


def test_short_video_loops_without_crashing():
    """A 4× clip on 5 frames starts at 0 and wraps: round(k·d) mod 5 for some d in [6.4, 9.6] (grid step 1e-4,
    finer than the 1/210 gap between the d at which any round(k·d), k < 16, changes)."""
    sampler = TransRankSampler(transforms=("4x",), augment=IdentityAugment())
    candidates = np.linspace(*allowed_intervals(4), 32001)
    wrapped = np.mod(np.floor(candidates[:, None] * np.arange(CLIP_LEN) + 0.5), 5).astype(int)
    for seed in range(10):
        sample, reader = sample_with(sampler, 5, seed)
        indices = frames_of(sample["clips"][0])
        assert (wrapped == np.array(indices)).all(axis=1).any(), indices
        assert reader.calls[0] == sorted(set(indices))


def test_short_video_clamp_repeats_the_last_frame():
    sampler = TransRankSampler(transforms=("2x", "rev"), augment=IdentityAugment(), short_video="clamp")
    sample, _ = sample_with(sampler, 7, 0)
    for clip, transform_id in zip(sample["clips"], sample["transform_ids"].tolist()):
        indices = frames_of(clip)
        forward = indices if transform_id == 0 else indices[::-1]
        assert forward[0] == 0 and forward[-1] == 6 and forward == sorted(forward)


# ----------------------------------------------------------------------------- determinism, pickling, real augment


def test_same_seed_same_sample_and_pickle_round_trip():
    sampler = TransRankSampler(augment=ClipAugment(4, hue=0.05, rotate=True))
    first, _ = sample_with(sampler, 200, 11)
    second, _ = sample_with(sampler, 200, 11)
    clone = pickle.loads(pickle.dumps(sampler))
    third, _ = sample_with(clone, 200, 11)
    other, _ = sample_with(sampler, 200, 12)
    for key in first:
        assert torch.equal(first[key], second[key]) and torch.equal(first[key], third[key]), key
    assert not torch.equal(first["frame_indices"], other["frame_indices"])


def test_with_clip_augment_targets_and_dtypes():
    # The crop covers the whole 6×8 frame (ratio fixed to 8/6), so pixel values still encode the index.
    augment = ClipAugment(4, scale=(1.0, 1.0), ratio=(8 / 6, 8 / 6), flip_p=0.5, jitter_p=0.0, grayscale_p=0.0)
    sampler = TransRankSampler(transforms=("1x", "2x", "rev"), augment=augment)
    sample, _ = sample_with(sampler, 250, 5)
    assert sample["clips"].dtype == torch.uint8 and sample["clips"].shape == (3, 3, CLIP_LEN, 4, 4)
    assert sample["transform_ids"].dtype == torch.long
    assert sample["aspect_ratios"].dtype == torch.float32
    assert sample["aspect_ratios"].tolist() == pytest.approx([8 / 6] * 3)
    assert sample["frame_indices"].dtype == torch.long and sample["frame_indices"].shape == (3, CLIP_LEN)
    assert sample["rotations"].tolist() == [0, 0, 0] and sample["flipped"].dtype == torch.bool
    for clip, recorded in zip(sample["clips"], sample["frame_indices"]):
        assert frames_of(clip) == recorded.tolist()


# ----------------------------------------------------------------------------- spatial-task labels (§4.3)


class QuadrantReader:
    """Square 16×16 frames, bright top-left quadrant, the frame index in the blue channel elsewhere."""

    def read(self, path, indices):
        frames = np.zeros((len(indices), 16, 16, 3), dtype=np.uint8)
        for row, index in enumerate(indices):
            frames[row, ..., 2] = int(index) % 256
            frames[row, :8, :8] = 255
        return frames


def test_rotation_label_matches_the_pixels_of_every_frame_of_its_clip():
    augment = ClipAugment(16, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0,
                          rotate=True)
    sampler = TransRankSampler(transforms=("1x", "2x", "rev", "rev-2x"), augment=augment)
    seen = set()
    for seed in range(6):
        sample = sampler(FakeRecord("v", 300), QuadrantReader(), np.random.default_rng(seed))
        for clip, k in zip(sample["clips"], sample["rotations"].tolist()):
            seen.add(k)
            undone = torch.rot90(clip, -k, dims=(2, 3))  # (C, T, H, W): rotate back in the H-W plane
            assert torch.all(undone[0, :, :8, :8] == 255), k  # every frame: bright quadrant back at top-left
            assert torch.all(undone[0, :, 8:, 8:] == 0), k
    assert seen == {0, 1, 2, 3}


def test_aspect_ratio_label_is_the_crop_regions_true_ratio():
    """Recompute each clip's crop from the same rng draws: the label is crop width / crop height."""
    from vidssl.data.transforms import functional as F

    augment = ClipAugment(8, scale=(0.2, 1.0), ratio=(0.5, 2.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0)
    frames = np.zeros((4, 30, 50, 3), dtype=np.uint8)
    for seed in range(10):
        _, info = augment(frames, np.random.default_rng(seed))
        _, _, crop_h, crop_w = F.random_resized_crop_params(30, 50, scale=(0.2, 1.0), ratio=(0.5, 2.0),
                                                            rng=np.random.default_rng(seed))
        assert info["aspect_ratio"] == pytest.approx(crop_w / crop_h)
