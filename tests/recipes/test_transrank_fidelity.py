"""TransRank fidelity to the paper: fractional temporal jitter (§4.4), no flip in the paper presets (§4.4),
and an aspect-ratio label that describes the rotated clip the network sees (§4.3, eq. 3)."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from vidssl.data.pretext import TransRankSampler
from vidssl.data.sampling import transform_indices
from vidssl.data.transforms import ClipAugment
from vidssl.recipes.configs import load_run_config, packaged_config_names

CLIP_LEN = 16
SPEEDS = {"0.5x": 0.5, "1x": 1, "2x": 2, "4x": 4, "rev": 1, "rev-2x": 2, "palindrome": 1, "shuffle": 1}


# ----------------------------------------------------------------------------- 1. temporal jitter (§4.4)


def test_fractional_interval_positions_written_out():
    """Frame j sits at ρ + round(j · d) (half-up); d = 1.75 and 3.5 are exact in binary, so no float doubt."""
    forward = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16, 18, 19, 21, 23, 25, 26]  # round(k · 1.75), k = 0 … 15
    assert transform_indices("1x", clip_len=16, offset=10, interval=1.75).tolist() == [10 + p for p in forward]
    assert transform_indices("rev", clip_len=16, offset=10, interval=1.75).tolist() == [10 + p for p in forward[::-1]]
    palindrome = [0, 4, 7, 11, 14, 18, 21, 25, 26, 23, 19, 16, 12, 9, 5, 2]  # even k up, odd k down (§4.2)
    assert transform_indices("palindrome", clip_len=16, offset=0, interval=1.75).tolist() == palindrome
    shuffled = transform_indices("shuffle", clip_len=16, offset=10, interval=1.75, rng=np.random.default_rng(0))
    assert sorted(shuffled.tolist()) == [10 + p for p in forward]
    twice = [0, 4, 7, 11, 14, 18, 21, 25, 28, 32, 35, 39, 42, 46, 49, 53]  # round(k · 3.5)
    assert transform_indices("2x", clip_len=16, offset=0, interval=3.5).tolist() == twice
    assert transform_indices("rev-2x", clip_len=16, offset=0, interval=3.5).tolist() == twice[::-1]


def extent_cdf(extent: int, speed: float, *, base: int = 2, low: float = 0.8, high: float = 1.2) -> float:
    """P(E ≤ extent) for E = round((l−1) · max(1, base · speed · f)), f ~ U[low, high] (half-up rounding).

    E ≤ e  ⇔  (l−1) · d < e + ½  ⇔  d < (e + ½)/(l−1); the floor d ≥ 1 makes it 0 below l−1.
    """
    bound = (extent + 0.5) / (CLIP_LEN - 1)
    if bound <= 1:
        return 0.0
    return float(np.clip((bound / (base * speed) - low) / (high - low), 0.0, 1.0))


def extents_of(name: str, draws: int, seed: int, num_frames: int = 100_000) -> np.ndarray:
    """max − min frame index of ``draws`` clips of one transformation, on a video long enough to never wrap."""
    sampler = TransRankSampler(transforms=(name,), clip_len=CLIP_LEN, base_interval=2)
    rng = np.random.default_rng(seed)
    rows = [sampler.clip_indices(num_frames, np.zeros(1, dtype=np.int64), rng)[0] for _ in range(draws)]
    return np.array([row.max() - row.min() for row in rows])


@pytest.mark.parametrize("name", list(SPEEDS))
def test_realised_extent_follows_the_jittered_interval(name):
    """Over 4000 seeded clips, the empirical CDF of the extent is within 0.03 of the exact one everywhere.

    Tolerance: by the Dvoretzky–Kiefer–Wolfowitz inequality P(sup |F_n − F| > ε) ≤ 2 exp(−2nε²) = 0.0015
    for n = 4000, ε = 0.03. The rounded integer interval gave 1×, rev, palindrome and shuffle a single extent
    (30); the paper's 1× spans 0.8–1.2× of 30, i.e. every integer from 24 to 36.
    """
    speed = SPEEDS[name]
    extents = extents_of(name, 4000, seed=7)
    nominal = (CLIP_LEN - 1) * 2 * speed
    lowest, highest = int(np.floor(max(CLIP_LEN - 1, 0.8 * nominal) + 0.5)), int(np.floor(1.2 * nominal + 0.5))
    assert (extents.min(), extents.max()) == (lowest, highest)
    values = np.arange(lowest, highest + 1)
    assert set(extents.tolist()) == set(values.tolist())  # every integer in between is realised
    empirical = np.array([(extents <= e).mean() for e in values])
    exact = np.array([extent_cdf(int(e), speed) for e in values])
    assert np.abs(empirical - exact).max() < 0.03


def interval_range(positions: list[int]) -> tuple[float, float]:
    """The d with floor(k·d + ½) = positions[k] for every k ≥ 1 (positions[0] = 0) form [low, high)."""
    ks = np.arange(1, len(positions))
    q = np.asarray(positions[1:], dtype=float)
    return float(((q - 0.5) / ks).max()), float(((q + 0.5) / ks).min())


def multipliers(name: str) -> list[int]:
    """Which k of the 1× positions each frame of the clip shows (§4.2), for an even clip length."""
    if name.startswith("rev"):
        return list(range(CLIP_LEN - 1, -1, -1))
    if name == "palindrome":
        return list(range(0, CLIP_LEN, 2)) + list(range(CLIP_LEN - 1, 0, -2))
    return list(range(CLIP_LEN))


@pytest.mark.parametrize("name", [n for n in SPEEDS if n != "shuffle"])
def test_every_clip_is_one_jittered_interval_in_its_transformations_order(name):
    """Each clip is ρ + round(k · d) over its multipliers k for ONE d in 2n · [0.8, 1.2] (at least 1)."""
    speed = SPEEDS[name]
    sampler = TransRankSampler(transforms=(name,), clip_len=CLIP_LEN)
    rng = np.random.default_rng(3)
    for _ in range(300):
        row = sampler.clip_indices(10_000, np.zeros(1, dtype=np.int64), rng)[0].tolist()
        rho = min(row)
        by_k = {k: p - rho for k, p in zip(multipliers(name), row)}
        low, high = interval_range([by_k[k] for k in range(CLIP_LEN)])
        assert low < high, row
        assert low < 2 * speed * 1.2 and high > max(1.0, 2 * speed * 0.8), row


def test_clip_fits_when_its_realised_span_does():
    """A 37-frame video holds every 1× clip (extent ≤ 36): no clip may wrap, the start leaves room for it."""
    sampler = TransRankSampler(transforms=("1x", "rev"), clip_len=CLIP_LEN)
    rng = np.random.default_rng(4)
    extents = set()
    for _ in range(500):
        for row in sampler.clip_indices(37, rng.permutation(2), rng):
            ordered = sorted(row.tolist())
            assert ordered == sorted(set(ordered)) and 0 <= ordered[0] and ordered[-1] < 37
            assert row.tolist() in (ordered, ordered[::-1])  # ascending or descending: never wrapped
            extents.add(ordered[-1] - ordered[0])
    assert min(extents) == 24 and max(extents) == 36


# ----------------------------------------------------------------------------- 2. no flip in the paper presets


def transrank_paper_presets() -> list[str]:
    """Packaged run configs of method transrank, the CPU demo ``quickstart`` left out (it is no paper preset)."""
    names = [n for n in packaged_config_names() if n != "quickstart"]
    return [n for n in names if load_run_config(n).method.name == "transrank"]


def test_every_transrank_paper_preset_has_no_flip():
    """§4.4 lists RandomResizedCrop, RandomGrayScale, RandomColorJitter (+ RandomRotate): no horizontal flip."""
    presets = transrank_paper_presets()
    assert {"transrank_t_r3d18", "transrank_st_r3d18", "transcls_r3d18", "speednet_r3d18",
            "rotnet3d_r3d18", "table3/rank_1x_2x", "table3/cls_1x_2x_rev_rev2x"} <= set(presets)
    assert len([n for n in presets if n.startswith("table3/")]) == 12
    flipping = {name: load_run_config(name).clip.flip_p for name in presets}
    assert {name: p for name, p in flipping.items() if p != 0} == {}


# ----------------------------------------------------------------------------- 3. aspect label under rotation


@dataclass(frozen=True)
class FakeRecord:
    path: str
    num_frames: int


class CoordinateReader:
    """180×240 frames whose red value is the pixel's column and green its row: the content's geometry is legible."""

    def read(self, path, indices):
        rows, cols = np.mgrid[0:180, 0:240]
        frame = np.stack([cols, rows, np.zeros_like(rows)], axis=-1).astype(np.uint8)
        return np.repeat(frame[None], len(indices), axis=0)


def shown_ratio(clip: torch.Tensor) -> float:
    """Width / height of the source region as displayed: the source distance spanned along the clip's W axis
    over the one spanned along its H axis (C, T, H, W; source position = (red, green))."""
    position = clip[:2].double()  # (2, T, H, W): (column, row) in the source frame
    across = (position[..., -1] - position[..., 0]).mean(dim=(1, 2))  # left → right edge, mean over T and H
    down = (position[:, :, -1, :] - position[:, :, 0, :]).mean(dim=(1, 2))  # top → bottom edge
    return float(across.norm() / down.norm())


def test_aspect_label_is_the_ratio_the_network_sees_on_pixels():
    """A crop of aspect r rotated by 90° or 270° shows aspect 1/r: the label must be what is shown (§4.3, eq. 3).

    Tolerance 4 %: a crop side is ≥ 65 source pixels (area ≥ 0.2 of 180×240, ratio ≤ 2), so the two
    uint8-rounded edge averages are off by well under 1 % each; a flip changes the direction, not the length.
    """
    augment = ClipAugment(32, scale=(0.2, 1.0), ratio=(0.5, 2.0), flip_p=0.5, jitter_p=0.0, grayscale_p=0.0,
                          rotate=True)
    sampler = TransRankSampler(transforms=("1x", "2x", "rev", "rev-2x"), clip_len=4, augment=augment)
    turned_far_from_square, pairs = 0, 0
    for seed in range(12):
        sample = sampler(FakeRecord("v", 300), CoordinateReader(), np.random.default_rng(seed))
        shown = [shown_ratio(clip) for clip in sample["clips"]]
        labels = sample["aspect_ratios"].tolist()
        for label, seen, k in zip(labels, shown, sample["rotations"].tolist()):
            assert label == pytest.approx(seen, rel=0.04), (label, seen, k)
            turned_far_from_square += k % 2 == 1 and abs(np.log(seen)) > 0.3
        for i in range(len(shown)):  # eq. 3 ranks the labels: their order is the order of what is shown
            for j in range(len(shown)):
                if shown[i] < shown[j] / 1.1:
                    pairs += 1
                    assert labels[i] < labels[j]
    assert turned_far_from_square >= 5 and pairs >= 20  # the test does see quarter turns of clearly oblong crops
