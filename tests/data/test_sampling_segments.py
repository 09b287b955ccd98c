"""SRO segment rules (segment sampling-rate and order prediction, TCSVT 2021, Fig. 1; ALGORITHMS.md "SRO")."""
import itertools
import math

import numpy as np
import pytest

from vidssl.data.sampling import (
    permutation_from_index,
    permutation_index,
    random_segment_lengths,
    segment_indices_in_time_order,
    segment_span,
    sro_clip_indices,
)
from vidssl.errors import VidsslError


def test_segment_lengths_cover_every_composition_and_respect_the_minimum():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3000):
        lengths = random_segment_lengths(16, 3, min_length=3, rng=rng)
        assert lengths.sum() == 16 and lengths.min() >= 3
        seen.add(tuple(lengths.tolist()))
    # 16 − 9 = 7 spare frames over 3 segments: C(7 + 2, 2) = 36 compositions, all reachable
    expected = {c for c in itertools.product(range(3, 11), repeat=3) if sum(c) == 16}
    assert len(expected) == 36 and seen == expected
    assert random_segment_lengths(9, 3, min_length=3, rng=rng).tolist() == [3, 3, 3]
    assert random_segment_lengths(16, 1, min_length=3, rng=rng).tolist() == [16]
    with pytest.raises(VidsslError, match="cannot split 16 frames into 6 segments of at least 3"):
        random_segment_lengths(16, 6, min_length=3, rng=rng)


def test_segments_follow_each_other_at_their_own_rates():
    segments = segment_indices_in_time_order(10, [5, 6, 5], [1, 4, 2])
    assert segments[0].tolist() == [10, 11, 12, 13, 14]
    assert segments[1].tolist() == [18, 22, 26, 30, 34, 38]  # 14 + 4, then every 4th frame
    assert segments[2].tolist() == [40, 42, 44, 46, 48]
    assert segment_span([5, 6, 5], [1, 4, 2]) == 48 - 10 + 1


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_permutation_index_is_the_lexicographic_rank(n):
    perms = list(itertools.permutations(range(n)))
    assert [permutation_index(p) for p in perms] == list(range(math.factorial(n)))
    assert [tuple(permutation_from_index(i, n)) for i in range(len(perms))] == perms
    with pytest.raises(VidsslError):
        permutation_index([0, 0, 1])
    with pytest.raises(VidsslError):
        permutation_from_index(math.factorial(n), n)


def test_sro_clip_is_the_shuffled_time_ordered_segments():
    rng = np.random.default_rng(3)
    for _ in range(200):
        clip = sro_clip_indices(300, clip_len=16, num_segments=3, rng=rng)
        order = clip["order"].tolist()
        assert clip["order_label"] == permutation_index(order)
        assert len(clip["indices"]) == 16 and clip["lengths"].sum() == 16
        assert clip["rates"].min() >= 1 and clip["rates"].max() <= 8
        # undo the shuffle: segment order[k] sits at position k
        parts = np.split(clip["indices"], np.cumsum(clip["lengths"])[:-1])
        lengths_in_time = [0] * 3
        rates_in_time = [0] * 3
        by_time = [None] * 3
        for position, segment in enumerate(order):
            by_time[segment] = parts[position]
            lengths_in_time[segment] = int(clip["lengths"][position])
            rates_in_time[segment] = int(clip["rates"][position])
        expected = segment_indices_in_time_order(clip["start"], lengths_in_time, rates_in_time)
        assert all(np.array_equal(a, b) for a, b in zip(by_time, expected))
        assert np.all(np.diff(np.concatenate(by_time)) > 0) and np.concatenate(by_time).max() < 300


def test_sro_clip_in_a_short_video_loops_and_bad_ranges_are_errors():
    rng = np.random.default_rng(0)
    clip = sro_clip_indices(20, clip_len=16, num_segments=3, rate_range=(4, 8), rng=rng)
    assert clip["start"] == 0 and clip["indices"].min() >= 0 and clip["indices"].max() < 20
    with pytest.raises(VidsslError, match="rate_range"):
        sro_clip_indices(100, rate_range=(0, 8), rng=rng)


def test_clips_fit_so_they_never_loop_back_in_time():
    rng = np.random.default_rng(7)
    for num_frames in (16, 31, 74, 90, 117, 500):
        for _ in range(100):
            clip = sro_clip_indices(num_frames, clip_len=16, num_segments=3, rate_range=(1, 8), rng=rng)
            # rates are not capped as if every segment ran at the highest one: the whole clip fits
            shown_at = np.argsort(clip["order"])  # the position each segment is shown at, in time order
            assert segment_span(clip["lengths"][shown_at], clip["rates"][shown_at]) <= num_frames
            assert clip["indices"].max() < num_frames
            # put the shown segments back in time order: strictly increasing, so the order label is the truth
            segments = np.split(clip["indices"], np.cumsum(clip["lengths"])[:-1])
            in_time = [None] * 3
            for position, segment in zip(clip["order"], segments):
                in_time[position] = segment
            assert np.all(np.diff(np.concatenate(in_time)) > 0)
    # long videos still draw the whole range
    rates = {int(r) for _ in range(200) for r in sro_clip_indices(500, clip_len=16, rng=rng)["rates"]}
    assert rates == set(range(1, 9))
