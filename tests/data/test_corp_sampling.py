"""CORP (ICCV 2021) clip placement: the minimum-offset rule of equation (3), its fallback, and the sampler."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidssl.data.pretext.corp import CORPSampler
from vidssl.data.sampling import clip_span, corp_clip_starts, corp_min_offset
from vidssl.data.transforms import ClipAugment
from vidssl.errors import VidsslError


@pytest.mark.parametrize(
    ("frames", "clip_len", "dilation", "clips", "expected"),
    [
        (300, 16, 2, 4, 32.0),   # (300 - 32) / 4 = 67, capped at D*T = 32
        (40, 16, 2, 4, 2.0),     # (40 - 32) / 4 = 2
        (100, 16, 1, 3, 16.0),   # (100 - 16) / 3 = 28, capped at 16
        (60, 16, 1, 4, 11.0),    # (60 - 16) / 4 = 11
        (33, 16, 2, 4, 1.0),     # (33 - 32) / 4 = 0.25, raised to 1
        (20, 16, 2, 2, 1.0),     # shorter than D*T: 1
    ],
)
def test_min_offset_is_equation_3(frames, clip_len, dilation, clips, expected):
    assert corp_min_offset(frames, clip_len=clip_len, dilation=dilation, num_clips=clips) == expected


@pytest.mark.parametrize(("frames", "dilation", "clips"),
                         [(300, 2, 2), (300, 2, 4), (120, 2, 3), (60, 1, 4), (40, 1, 4)])
def test_every_pair_of_starts_is_at_least_delta_apart_inside_the_video(frames, dilation, clips):
    rng = np.random.default_rng(frames + clips)
    delta = corp_min_offset(frames, clip_len=16, dilation=dilation, num_clips=clips)
    last_start = frames - clip_span(16, dilation)
    spread, fallbacks = set(), 0
    for _ in range(200):
        starts, fell_back = corp_clip_starts(frames, clip_len=16, dilation=dilation, num_clips=clips, rng=rng)
        fallbacks += fell_back
        assert starts.shape == (clips,) and starts.min() >= 0 and starts.max() <= last_start
        for a in range(clips):
            for b in range(a + 1, clips):
                assert abs(int(starts[a]) - int(starts[b])) >= delta
        spread.update(starts.tolist())
    assert len(spread) > last_start // 2  # drawn over the whole admissible range, not a fixed placement
    if frames == 300:
        assert fallbacks == 0  # a long video never needs the fallback


def test_fallback_spreads_the_starts_evenly_and_keeps_them_distinct_on_too_short_videos():
    rng = np.random.default_rng(0)
    # no placement exists (4 starts in [0, 5] at least 1.25 apart need 6 frames): evenly, as far apart as can be
    starts, fell_back = corp_clip_starts(21, clip_len=16, dilation=1, num_clips=4, rng=rng)
    assert fell_back and starts.tolist() == [0, 1, 3, 5]
    # shorter than one clip: no admissible start; the starts stay distinct so every pair keeps an order
    starts, fell_back = corp_clip_starts(10, clip_len=16, dilation=2, num_clips=4, rng=rng)
    assert fell_back and starts.tolist() == [0, 1, 2, 3]
    # rare for independent draws (840 of 13^4 tuples: 4 starts in [0, 12] at least 3 apart), but always found
    starts, fell_back = corp_clip_starts(28, clip_len=16, dilation=1, num_clips=4, rng=rng)
    assert not fell_back
    assert np.diff(np.sort(starts)).min() >= corp_min_offset(28, clip_len=16, dilation=1, num_clips=4)


class GradientReader:
    """Frame i: red = i (mod 256) everywhere, green = the column index (shows a horizontal flip)."""

    def __init__(self):
        self.calls = 0

    def read(self, path, indices):
        self.calls += 1
        frames = np.zeros((len(indices), 20, 20, 3), np.uint8)
        frames[..., 0] = (np.asarray(indices) % 256)[:, None, None]
        frames[..., 1] = np.arange(20, dtype=np.uint8)[None, None, :] * 10
        return frames


def test_sampler_clips_hold_their_dilated_frames_and_each_draws_its_own_augmentation():
    augment = ClipAugment(20, scale=(1, 1), ratio=(1, 1), flip_p=0.5, jitter_p=0, grayscale_p=0)
    sampler = CORPSampler(clip_len=4, dilation=3, num_clips=4, augment=augment)
    reader = GradientReader()
    flips = []
    for seed in range(6):
        sample = sampler(SimpleNamespace(path="v.avi", num_frames=90), reader, np.random.default_rng(seed))
        assert sample["clips"].shape == (4, 3, 4, 20, 20)
        starts, indices = sample["starts"], sample["frame_indices"]
        assert torch.equal(indices, starts[:, None] + 3 * torch.arange(4)[None, :])
        assert torch.equal(sample["clips"][:, 0, :, 0, 0].long(), indices)
        assert len(set(starts.tolist())) == 4
        green = sample["clips"][:, 1, 0, 0].float()  # (clips, W)
        flips += [bool(row[0] > row[-1]) for row in green]
    assert reader.calls == 6
    assert any(flips) and not all(flips)  # clips of one video flip independently
    short = sampler(SimpleNamespace(path="v.avi", num_frames=5), reader, np.random.default_rng(0))
    assert short["frame_indices"].max() == 4  # clamped to the last frame, never looped back to the start


def test_sampler_rejects_bad_settings_naming_the_parameter():
    with pytest.raises(VidsslError, match="^num_clips: expected an integer >= 2, got 1$"):
        CORPSampler(num_clips=1)
    with pytest.raises(VidsslError, match="^dilation: "):
        CORPSampler(dilation=0)
