"""Paired bootstrap intervals, verdicts and seed summaries (vidssl.eval.stats) against slow references."""

import json
import math

import numpy as np
import pytest

from vidssl.checks import ArgumentError
from vidssl.eval.stats import (
    PairedDifference,
    across_seeds,
    bootstrap_means,
    format_difference,
    format_seeds,
    interval_width_for,
    paired_difference,
    verdict,
)


def linear_percentile(sorted_values, q):
    """The ``q``-quantile (0..1) of sorted values by linear interpolation between order statistics."""
    position = q * (len(sorted_values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (position - below) * (sorted_values[above] - sorted_values[below])


def brute_force_interval(arm, baseline, *, resamples, seed, confidence=0.95):
    """The paired percentile bootstrap one resample at a time, in plain Python."""
    rng = np.random.default_rng(seed)
    n = len(arm)
    means = []
    for _ in range(resamples):
        picked = rng.integers(0, n, size=n)
        total = 0.0
        for i in picked:
            total += float(arm[i]) - float(baseline[i])
        means.append(total / n)
    means.sort()
    tail = (1 - confidence) / 2
    return linear_percentile(means, tail), linear_percentile(means, 1 - tail)


def unpaired_interval_width(arm, baseline, rng, resamples=2000):
    """Width of the 95 % percentile interval of ``mean(arm) - mean(baseline)`` resampling each arm on its own."""
    n = len(arm)
    means_arm = arm[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    means_baseline = baseline[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.percentile(means_arm - means_baseline, [2.5, 97.5])
    return high - low


# --------------------------------------------------------------------------- the interval


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_interval_equals_a_brute_force_bootstrap(confidence):
    rng = np.random.default_rng(5)
    arm = (rng.random(37) < 0.6).astype(float)
    baseline = rng.random(37)  # float scores are allowed too
    d = paired_difference(arm, baseline, resamples=500, seed=11, confidence=confidence)
    low, high = brute_force_interval(arm, baseline, resamples=500, seed=11, confidence=confidence)
    assert d.low == pytest.approx(low, abs=1e-12)
    assert d.high == pytest.approx(high, abs=1e-12)
    assert d.diff == pytest.approx(arm.mean() - baseline.mean(), abs=1e-15)
    assert (d.n, d.resamples, d.seed, d.confidence) == (37, 500, 11, confidence)


def test_the_difference_is_arm_minus_baseline():
    better, worse = [1, 1, 1, 0, 1, 1], [0, 1, 0, 0, 1, 0]
    assert paired_difference(better, worse, resamples=200).diff == pytest.approx(0.5)
    assert paired_difference(worse, better, resamples=200).diff == pytest.approx(-0.5)


def test_same_seed_same_interval_and_another_seed_another():
    rng = np.random.default_rng(0)
    arm, baseline = rng.random(50), rng.random(50)
    first = paired_difference(arm, baseline, resamples=300, seed=3)
    assert paired_difference(arm, baseline, resamples=300, seed=3) == first
    assert paired_difference(arm, baseline, resamples=300, seed=4) != first


def test_chunked_resampling_equals_one_chunk():
    values = np.random.default_rng(1).normal(size=101)
    whole = bootstrap_means(values, resamples=250, seed=9, rows_per_chunk=250)
    for rows in (1, 7, 64, None):
        np.testing.assert_array_equal(bootstrap_means(values, resamples=250, seed=9, rows_per_chunk=rows), whole)


def test_paired_interval_is_much_narrower_than_resampling_each_arm_alone():
    rng = np.random.default_rng(2)
    difficulty = rng.normal(0, 1, 400)  # both arms score high on easy videos and low on hard ones
    baseline = difficulty
    arm = difficulty + 0.1 + rng.normal(0, 0.02, 400)
    paired = paired_difference(arm, baseline, resamples=2000, seed=0)
    assert paired.high - paired.low < unpaired_interval_width(arm, baseline, rng) / 10
    assert paired.low < 0.1 < paired.high


def test_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    p_arm, p_baseline, n = 0.7, 0.6, 200
    covered = 0
    for simulation in range(400):
        arm = (rng.random(n) < p_arm).astype(float)
        baseline = (rng.random(n) < p_baseline).astype(float)
        d = paired_difference(arm, baseline, resamples=1000, seed=simulation)
        covered += d.low <= p_arm - p_baseline <= d.high
    assert 0.92 <= covered / 400 <= 0.98


def test_to_dict_is_json_ready():
    d = paired_difference(np.ones(10), np.r_[np.zeros(5), np.ones(5)], resamples=100, seed=0)
    record = json.loads(json.dumps(d.to_dict()))
    assert record["diff"] == pytest.approx(0.5)
    assert record["ci95"] == [d.low, d.high]
    assert record["n"] == 10 and record["resamples"] == 100 and record["seed"] == 0
    assert record["verdict"] == "holds"
    assert "ci90" in paired_difference(np.ones(10), np.zeros(10), resamples=100, confidence=0.9).to_dict()


# --------------------------------------------------------------------------- verdicts and seeds


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.01, 0.07, "holds"),
        (-0.07, -0.01, "does not hold"),
        (-0.02, 0.05, "inconclusive"),
        (0.0, 0.05, "inconclusive"),  # touching 0 is not lying above it
        (-0.05, 0.0, "inconclusive"),
    ],
)
def test_verdict_of_the_interval(low, high, expected):
    assert verdict(low, high) == expected


def test_across_seeds_on_known_numbers():
    s = across_seeds([0.03, 0.05, 0.04])
    assert s.mean == pytest.approx(0.04)
    assert s.std == pytest.approx(0.01)  # sqrt(((-0.01)² + 0.01² + 0) / 2)
    assert s.n == 3 and s.signs == ("+", "+", "+") and s.same_sign
    assert s.mean_over_std_ratio == pytest.approx(4.0)
    mixed = across_seeds([0.02, -0.01, 0.0])
    assert mixed.signs == ("+", "-", "0") and not mixed.same_sign
    assert mixed.std == pytest.approx(math.sqrt(((0.02 - 1 / 300) ** 2 + (0.01 + 1 / 300) ** 2 + (1 / 300) ** 2) / 2))


def test_across_seeds_takes_paired_differences():
    d = PairedDifference(diff=-0.02, low=-0.05, high=0.01, n=100, resamples=1000, seed=0)
    s = across_seeds([d, -0.04])
    assert s.mean == pytest.approx(-0.03) and s.signs == ("-", "-") and s.same_sign
    assert s.mean_over_std_ratio < 0


def test_one_seed_has_zero_std_and_an_infinite_ratio():
    s = across_seeds([0.05])
    assert (s.mean, s.std, s.n, s.signs, s.same_sign) == (0.05, 0.0, 1, ("+",), True)
    assert s.mean_over_std_ratio == math.inf
    assert json.loads(json.dumps(s.to_dict()))["mean_over_std_ratio"] == "inf"
    assert across_seeds([0.0, 0.0]).mean_over_std_ratio == 0.0


def test_formatting():
    d = PairedDifference(diff=0.042, low=0.011, high=0.073, n=288, resamples=10_000, seed=0)
    assert format_difference(d) == "+4.2 points [+1.1, +7.3] (n=288, holds)"
    assert format_difference(d, percent=False) == "+0.042 [+0.011, +0.073] (n=288, holds)"
    assert format_seeds(across_seeds([0.026, 0.039, 0.052])) == "+3.9 ± 1.3 points over 3 seeds (+ + +)"
    assert format_seeds(across_seeds([-0.0001])) == "+0.0 points over 1 seed (-)"  # rounds to 0, never "-0.0"


# --------------------------------------------------------------------------- planning


def test_planned_width_matches_the_bootstrap_width_at_300_videos():
    rng = np.random.default_rng(7)
    widths = []
    for seed in range(20):
        arm, baseline = (rng.random((2, 300)) < 0.5).astype(float)
        d = paired_difference(arm, baseline, resamples=1000, seed=seed)
        widths.append(d.high - d.low)
    planned = interval_width_for(300)
    assert planned == pytest.approx(np.mean(widths), rel=0.2)
    assert interval_width_for(1200) == pytest.approx(planned / 2)
    assert interval_width_for(300, discordance=0.125) == pytest.approx(planned / 2)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "arm, baseline, kwargs, message",
    [
        ([1, 0, 1], [1, 0], {}, "scores_arm: expected a 1-D array of the same length as scores_baseline (2)"),
        ([[1, 0]], [1, 0], {}, "scores_arm: expected a 1-D array of the same length as scores_baseline (2)"),
        ([1, 0], [[1, 0]], {}, "scores_baseline: expected a 1-D array of scores, got shape (1, 2)"),
        ([1, float("nan")], [1, 0], {}, "scores_arm: expected finite scores, got nan at index 1"),
        ([1, 0], [1, math.inf], {}, "scores_baseline: expected finite scores, got inf at index 1"),
        (["a", "b"], [1, 0], {}, "scores_arm: expected numbers, got list"),
        ([1], [0], {}, "scores_arm: expected scores of at least 2 test videos, got 1"),
        ([1, 0], [1, 0], {"resamples": 99}, "resamples: expected an integer >= 100, got 99"),
        ([1, 0], [1, 0], {"seed": -1}, "seed: expected an integer >= 0, got -1"),
        ([1, 0], [1, 0], {"confidence": 1.0}, "confidence: expected a number in (0, 1), got 1.0"),
        ([1, 0], [1, 0], {"confidence": 0}, "confidence: expected a number in (0, 1), got 0"),
    ],
)
def test_bad_inputs_give_one_line_errors(arm, baseline, kwargs, message):
    with pytest.raises(ArgumentError) as caught:
        paired_difference(arm, baseline, **kwargs)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_bad_verdict_seed_and_planning_inputs():
    with pytest.raises(ArgumentError, match=r"^interval_low: expected at most interval_high \(0.1\), got 0.2$"):
        verdict(0.2, 0.1)
    with pytest.raises(ArgumentError, match=r"^interval_high: expected a finite number, got nan$"):
        verdict(0.0, float("nan"))
    with pytest.raises(ArgumentError, match=r"^differences: expected a non-empty sequence of numbers, got \[\]$"):
        across_seeds([])
    with pytest.raises(ArgumentError, match=r"^differences: expected finite numbers, got nan$"):
        across_seeds([0.1, float("nan")])
    with pytest.raises(ArgumentError, match=r"^n: expected an integer >= 2, got 1$"):
        interval_width_for(1)
    with pytest.raises(ArgumentError, match=r"^p: expected a probability in \[0, 1\], got 1.5$"):
        interval_width_for(100, p=1.5)
