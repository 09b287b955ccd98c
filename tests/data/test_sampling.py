"""Frame-index rules of vidssl.data.sampling against oracles written from TransRank §4.2 / VCOP."""

from fractions import Fraction

import numpy as np
import pytest

from vidssl.data import sampling
from vidssl.data.sampling import (
    clip_span,
    fit_to_video,
    jittered_interval,
    realised_span,
    speed_of,
    spread_offsets,
    transform_indices,
    uniform_clip_starts,
)
from vidssl.errors import VidsslError

# ----------------------------------------------------------------------------- oracles


def oracle_indices(name: str, l: int, rho: int, d: int) -> list[int]:
    """TransRank §4.2 written out term by term (d is the already-scaled interval 2n)."""
    if name in ("0.5x", "1x", "2x", "4x"):
        return [rho + k * d for k in range(l)]
    if name in ("rev", "rev-2x"):
        return [rho + (l - 1 - k) * d for k in range(l)]
    if name == "palindrome":
        # ρ + [0, 2d, …, (l−2)d, (l−1)d, (l−3)d, …, d] for even l; odd l: evens up, odds down.
        forward = list(range(0, l, 2))
        backward = list(range(l - 1 if l % 2 == 0 else l - 2, 0, -2))
        return [rho + k * d for k in forward + backward]
    raise AssertionError(name)


def half_up(x: float) -> int:
    return int(Fraction(x) + Fraction(1, 2)) if x >= 0 else -half_up(-x)


# ----------------------------------------------------------------------------- names and speeds


def test_speed_of_every_transformation():
    expected = {"1x": 1, "2x": 2, "4x": 4, "rev": 1, "rev-2x": 2, "palindrome": 1, "shuffle": 1, "0.5x": 0.5}
    assert set(sampling.TEMPORAL_TRANSFORMS) | {"0.5x"} == set(expected)
    for name, speed in expected.items():
        assert speed_of(name) == speed


def test_unknown_transformation_is_rejected():
    with pytest.raises(VidsslError, match="3x"):
        speed_of("3x")
    with pytest.raises(VidsslError, match="3x"):
        transform_indices("3x", clip_len=4, offset=0, interval=2)


# ----------------------------------------------------------------------------- transform_indices


CASES = [
    (name, l, rho, d)
    for name in ("0.5x", "1x", "2x", "4x", "rev", "rev-2x", "palindrome")
    for l, rho, d in [(16, 0, 2), (16, 7, 4), (8, 3, 8), (5, 11, 3), (1, 4, 2), (2, 0, 1), (15, 2, 5)]
]


@pytest.mark.parametrize("name,l,rho,d", CASES)
def test_indices_match_paper_formulas(name, l, rho, d):
    got = transform_indices(name, clip_len=l, offset=rho, interval=d)
    assert got.dtype == np.int64
    assert got.tolist() == oracle_indices(name, l, rho, d)


def test_palindrome_written_out_for_l16_d4():
    expected = [0, 8, 16, 24, 32, 40, 48, 56, 60, 52, 44, 36, 28, 20, 12, 4]
    got = transform_indices("palindrome", clip_len=16, offset=10, interval=4)
    assert got.tolist() == [10 + v for v in expected]


def test_palindrome_visits_every_multiple_once():
    for l in range(1, 20):
        steps = transform_indices("palindrome", clip_len=l, offset=0, interval=1)
        assert sorted(steps.tolist()) == list(range(l))
        assert steps[0] == 0


def test_rev_is_forward_reversed():
    forward = transform_indices("2x", clip_len=16, offset=5, interval=4)
    backward = transform_indices("rev-2x", clip_len=16, offset=5, interval=4)
    assert backward.tolist() == forward.tolist()[::-1]


def test_shuffle_is_a_permutation_of_1x_and_varies():
    rng = np.random.default_rng(0)
    forward = transform_indices("1x", clip_len=16, offset=3, interval=2).tolist()
    seen = set()
    for _ in range(20):
        got = transform_indices("shuffle", clip_len=16, offset=3, interval=2, rng=rng).tolist()
        assert sorted(got) == forward
        seen.add(tuple(got))
    assert len(seen) > 1
    with pytest.raises(VidsslError, match="rng"):
        transform_indices("shuffle", clip_len=16, offset=3, interval=2)


@pytest.mark.parametrize(
    "kwargs", [{"clip_len": 0}, {"interval": 0}, {"offset": -1}, {"interval": 0.5}, {"interval": float("nan")}]
)
def test_bad_index_arguments_raise(kwargs):
    args = {"clip_len": 4, "offset": 0, "interval": 2} | kwargs
    with pytest.raises(VidsslError):
        transform_indices("1x", **args)


def test_clip_span_is_first_to_last_plus_one():
    for l, d in [(16, 2), (16, 9), (1, 5), (3, 1)]:
        indices = transform_indices("1x", clip_len=l, offset=0, interval=d)
        assert clip_span(l, d) == indices[-1] - indices[0] + 1 == (l - 1) * d + 1


def test_realised_span_is_the_rounded_last_position_plus_one():
    for l, d in [(16, 2), (16, 1.75), (16, 2.37), (8, 9.6), (1, 1.3), (3, 1.0)]:
        indices = transform_indices("1x", clip_len=l, offset=0, interval=d)
        assert realised_span(l, d) == indices[-1] - indices[0] + 1 == half_up((l - 1) * d) + 1
    assert realised_span(16, 2) == clip_span(16, 2)


# ----------------------------------------------------------------------------- jitter


@pytest.mark.parametrize("speed", [1, 2, 4])
def test_jittered_interval_is_uniform_on_the_scaled_range(speed):
    """§4.4: interval = 2n · U[0.8, 1.2], not rounded. 3000 draws: the range ends are approached to within
    0.4·2n/300 (miss probability (1 − 1/300)^3000 < 1e-4 each) and the mean is 2n within 4 standard errors."""
    rng = np.random.default_rng(1)
    draws = np.array([jittered_interval(speed, base_interval=2, jitter=(0.8, 1.2), rng=rng) for _ in range(3000)])
    width = 0.4 * 2 * speed
    assert 1.6 * speed <= draws.min() < 1.6 * speed + width / 300
    assert 2.4 * speed - width / 300 < draws.max() <= 2.4 * speed
    assert abs(draws.mean() - 2 * speed) < 4 * width / np.sqrt(12 * 3000)


def test_jittered_interval_examples_and_minimum():
    rng = np.random.default_rng(0)
    assert {jittered_interval(0.5, base_interval=1, rng=rng) for _ in range(200)} == {1.0}  # floor of 1
    halves = [jittered_interval(0.5, base_interval=2, rng=rng) for _ in range(2000)]
    assert min(halves) == 1.0 and 1.19 < max(halves) <= 1.2  # 1 · U[0.8, 1.2], frames kept distinct
    assert jittered_interval(3, base_interval=5, jitter=(1.0, 1.0), rng=rng) == 15


def test_jittered_interval_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(VidsslError):
        jittered_interval(0, rng=rng)
    with pytest.raises(VidsslError):
        jittered_interval(1, jitter=(1.2, 0.8), rng=rng)
    with pytest.raises(VidsslError):
        jittered_interval(1, base_interval=0, rng=rng)


# ----------------------------------------------------------------------------- spread_offsets


def test_spread_offsets_fit_and_fall_in_their_own_segment():
    rng = np.random.default_rng(2)
    num_frames = 300
    spans = [31, 61, 91, 45]
    n = len(spans)
    for _ in range(500):
        offsets = spread_offsets(num_frames, spans, rng)
        assert len(offsets) == n
        for i, (offset, span) in enumerate(zip(offsets, spans)):
            count = num_frames - span + 1  # admissible starts 0 … num_frames − span
            assert 0 <= offset and offset + span <= num_frames
            assert Fraction(i * count, n) - 1 < offset < Fraction((i + 1) * count, n)


def test_spread_offsets_equal_spans_are_ordered_distinct_and_cover_the_range():
    rng = np.random.default_rng(3)
    num_frames, span, n = 100, 31, 3
    seen = set()
    for _ in range(3000):
        offsets = spread_offsets(num_frames, [span] * n, rng)
        assert offsets[0] < offsets[1] < offsets[2]
        seen.update(offsets)
    assert seen == set(range(num_frames - span + 1))


def test_spread_offsets_short_video_starts_at_zero():
    rng = np.random.default_rng(4)
    assert spread_offsets(10, [31, 5, 10], rng)[0] == 0
    assert spread_offsets(10, [31, 31], rng) == [0, 0]
    assert spread_offsets(10, [10, 10, 10], rng) == [0, 0, 0]


def test_spread_offsets_more_clips_than_starts_still_fit():
    rng = np.random.default_rng(5)
    for _ in range(50):
        offsets = spread_offsets(12, [10] * 5, rng)
        assert all(0 <= o <= 2 for o in offsets)


# ----------------------------------------------------------------------------- fit_to_video


def test_fit_to_video_loop_and_clamp_match_brute_force():
    indices = np.array([0, 3, 7, 12, 30, 61])
    for n in (1, 2, 5, 7, 64):
        assert fit_to_video(indices, n, "loop").tolist() == [i % n for i in indices.tolist()]
        assert fit_to_video(indices, n, "clamp").tolist() == [min(i, n - 1) for i in indices.tolist()]


def test_short_videos_never_crash_for_any_transformation():
    rng = np.random.default_rng(6)
    for num_frames in range(1, 12):
        for name in sampling.TEMPORAL_TRANSFORMS + ("0.5x",):
            interval = jittered_interval(speed_of(name), rng=rng)
            (offset,) = spread_offsets(num_frames, [realised_span(16, interval)], rng)
            raw = transform_indices(name, clip_len=16, offset=offset, interval=interval, rng=rng)
            for rule in ("loop", "clamp"):
                fitted = fit_to_video(raw, num_frames, rule)
                assert fitted.shape == (16,)
                assert fitted.min() >= 0 and fitted.max() < num_frames


def test_fit_to_video_rejects_empty_video_and_unknown_rule():
    with pytest.raises(ValueError):
        fit_to_video(np.arange(4), 0)
    with pytest.raises(VidsslError, match="wrap"):
        fit_to_video(np.arange(4), 3, "wrap")


# ----------------------------------------------------------------------------- uniform_clip_starts


def oracle_vcop_starts(num_frames: int, clip_len: int, num_clips: int) -> list[int]:
    half = Fraction(clip_len, 2)
    if num_clips == 1:
        centres = [half]
    else:
        step = Fraction(num_frames - clip_len, num_clips - 1)
        centres = [half + k * step for k in range(num_clips)]
    return [max(0, int(c - half)) for c in centres]


@pytest.mark.parametrize(
    "num_frames,clip_len,num_clips",
    [(100, 16, 10), (300, 16, 10), (16, 16, 10), (17, 16, 3), (250, 8, 7), (5, 16, 10), (64, 15, 4), (40, 16, 1)],
)
def test_uniform_clip_starts_follow_vcop_linspace(num_frames, clip_len, num_clips):
    got = uniform_clip_starts(num_frames, clip_len=clip_len, num_clips=num_clips)
    assert got.tolist() == oracle_vcop_starts(num_frames, clip_len, num_clips)
    if num_frames >= clip_len:
        assert got[-1] + clip_len <= num_frames


def test_uniform_clip_starts_agree_with_float_linspace_away_from_integers():
    num_frames, clip_len, num_clips = 137, 16, 10
    centres = np.linspace(clip_len / 2, num_frames - clip_len / 2, num_clips)
    expected = [int(c - clip_len / 2) for c in centres]
    assert uniform_clip_starts(num_frames, clip_len=clip_len, num_clips=num_clips).tolist() == expected
