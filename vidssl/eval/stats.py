"""Uncertainty for every comparison between two arms: paired bootstrap intervals, seeds and verdicts.

A comparison (a pretrained backbone vs the same backbone at random init, a
method vs its negative control, the two arms of a paper's claim) is read from
per-video scores of both arms on the SAME test videos: 0/1 correctness of R@1
or of a probe's prediction, or any float score. Three steps, one function each:

1. :func:`paired_difference`: the observed difference ``mean(arm) -
   mean(baseline)`` (arm minus baseline: positive when the arm is better) and
   a percentile bootstrap interval that resamples test videos with
   replacement, the same videos for both arms (that is what makes it paired).
2. :func:`across_seeds`: over training seeds, mean ± sample std of the
   differences, the sign in each seed, and mean / std.
3. :func:`verdict`: ``"holds"`` when the interval lies above 0,
   ``"does not hold"`` when it lies below 0, ``"inconclusive"`` when it
   touches or spans 0. No verdict is ever drawn from a single difference.

Planning a test set: :func:`interval_width_for` gives the approximate width of
the interval at a given number of test videos. Only numpy and the standard
library are used here, no torch.

Example::

    d = paired_difference(correct_pretrained, correct_random_init, seed=0)
    print(format_difference(d))          # +4.2 points [+1.1, +7.3] (n=288, holds)
    s = across_seeds([d0.diff, d1.diff, d2.diff])
    print(format_seeds(s))               # +3.9 ± 1.2 points over 3 seeds (+ + +)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vidssl.checks import ArgumentError, check_int_at_least, is_finite_number, is_number

__all__ = [
    "DOES_NOT_HOLD",
    "HOLDS",
    "INCONCLUSIVE",
    "RESAMPLE_CHUNK_BYTES",
    "PairedDifference",
    "SeedSummary",
    "Verdict",
    "across_seeds",
    "bootstrap_means",
    "format_difference",
    "format_seeds",
    "interval_width_for",
    "paired_difference",
    "sign_of",
    "verdict",
]

Verdict = Literal["holds", "does not hold", "inconclusive"]
HOLDS: Verdict = "holds"
DOES_NOT_HOLD: Verdict = "does not hold"
INCONCLUSIVE: Verdict = "inconclusive"

#: At most this many bytes of resampled indices (int64) and gathered values
#: (float64) at once: 10k resamples x 50k test videos (8 GB in one go) run in
#: chunks of 83 resamples.
RESAMPLE_CHUNK_BYTES = 64 * 2**20

MIN_RESAMPLES = 100


# --------------------------------------------------------------------------- one comparison


@dataclass(frozen=True)
class PairedDifference:
    """Arm minus baseline on the same test videos, with its bootstrap interval.

    ``diff`` is ``mean(arm) - mean(baseline)`` (a fraction for 0/1 scores:
    0.042 is 4.2 points); ``low``/``high`` bound the ``confidence`` percentile
    bootstrap interval over ``n`` test videos, from ``resamples`` resamples
    drawn with ``np.random.default_rng(seed)``.
    """

    diff: float
    low: float
    high: float
    n: int
    resamples: int
    seed: int
    confidence: float = 0.95

    @property
    def verdict(self) -> Verdict:
        """The claim "arm > baseline" judged by the interval (:func:`verdict`)."""
        return verdict(self.low, self.high)

    @property
    def interval_key(self) -> str:
        """``"ci95"`` for a 95 % interval (``"ci90"``, ``"ci99"``, ``"ci97.5"`` for others)."""
        return f"ci{100 * self.confidence:g}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain numbers: ``{"diff", "ci95": [low, high], "n", "resamples", "seed", ...}``."""
        return {
            "diff": float(self.diff),
            self.interval_key: [float(self.low), float(self.high)],
            "n": int(self.n),
            "resamples": int(self.resamples),
            "seed": int(self.seed),
            "confidence": float(self.confidence),
            "verdict": self.verdict,
        }


def paired_difference(
    scores_arm: Any,
    scores_baseline: Any,
    *,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedDifference:
    """``mean(arm) - mean(baseline)`` over the same test videos and its percentile bootstrap interval.

    ``scores_arm[i]`` and ``scores_baseline[i]`` are the two arms' scores on
    test video ``i`` (0/1 correctness or floats). Each resample draws ``n``
    test videos with replacement and takes the mean of the per-video
    differences, so both arms see the same videos; the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles (numpy's
    linear rule) of the resampled means. Deterministic for a given ``seed``.
    """
    arm, baseline = _paired_scores(scores_arm, scores_baseline)
    resamples = check_int_at_least("resamples", resamples, MIN_RESAMPLES)
    seed = check_int_at_least("seed", seed, 0)
    confidence = _check_confidence(confidence)
    differences = arm - baseline
    means = bootstrap_means(differences, resamples=resamples, seed=seed)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedDifference(
        diff=float(arm.mean() - baseline.mean()),
        low=float(low),
        high=float(high),
        n=len(differences),
        resamples=resamples,
        seed=seed,
        confidence=confidence,
    )


def bootstrap_means(values: np.ndarray, *, resamples: int, seed: int, rows_per_chunk: int | None = None) -> np.ndarray:
    """The means of ``resamples`` bootstrap resamples of ``values`` (1-D float64), in draw order.

    Resample ``r`` is the ``r``-th ``rng.integers(0, n, size=n)`` of
    ``rng = np.random.default_rng(seed)``. They are drawn ``rows_per_chunk``
    at a time (default: as many as fit in :data:`RESAMPLE_CHUNK_BYTES`); numpy's
    generator gives the same indices however the draws are split, so the
    result does not depend on the chunking.
    """
    n = len(values)
    if rows_per_chunk is None:
        rows_per_chunk = max(1, RESAMPLE_CHUNK_BYTES // (16 * n))
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, rows_per_chunk):
        stop = min(start + rows_per_chunk, resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def _paired_scores(scores_arm: Any, scores_baseline: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both arms' scores as 1-D float64 arrays of one length >= 2 with finite values."""
    arm = _as_scores("scores_arm", scores_arm)
    baseline = _as_scores("scores_baseline", scores_baseline)
    if baseline.ndim != 1:
        raise ArgumentError("scores_baseline", f"expected a 1-D array of scores, got shape {baseline.shape}")
    if arm.shape != baseline.shape:
        raise ArgumentError(
            "scores_arm",
            f"expected a 1-D array of the same length as scores_baseline ({len(baseline)}), got shape {arm.shape}",
        )
    if len(arm) < 2:
        raise ArgumentError("scores_arm", f"expected scores of at least 2 test videos, got {len(arm)}")
    return arm, baseline


def _as_scores(name: str, scores: Any) -> np.ndarray:
    """``scores`` as a float64 array, refusing anything that is not finite numbers."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentError(name, f"expected numbers, got {type(scores).__name__}") from None
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array.ravel()))[0])
        raise ArgumentError(name, f"expected finite scores, got {array.ravel()[bad]} at index {bad}")
    return array


def _check_confidence(confidence: Any) -> float:
    """``confidence`` as a float strictly between 0 and 1."""
    if not (is_number(confidence) and 0 < confidence < 1):
        raise ArgumentError("confidence", f"expected a number in (0, 1), got {confidence!r}")
    return float(confidence)


def verdict(interval_low: float, interval_high: float) -> Verdict:
    """The claim "arm > baseline" judged by the interval of ``arm - baseline``.

    ``"holds"`` when the whole interval lies above 0, ``"does not hold"`` when
    it lies below 0, ``"inconclusive"`` when it touches or spans 0. A claim
    stated the other way ("arm < baseline") is judged by swapping the arms.
    """
    for name, bound in (("interval_low", interval_low), ("interval_high", interval_high)):
        if not is_finite_number(bound):
            raise ArgumentError(name, f"expected a finite number, got {bound!r}")
    if interval_low > interval_high:
        raise ArgumentError("interval_low", f"expected at most interval_high ({interval_high}), got {interval_low}")
    if interval_low > 0:
        return HOLDS
    if interval_high < 0:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


# --------------------------------------------------------------------------- across seeds


@dataclass(frozen=True)
class SeedSummary:
    """One difference (arm minus baseline) over training seeds.

    ``std`` is the sample standard deviation (ddof=1), reported as 0.0 for a
    single seed, where it is undefined: check ``n``. ``signs`` holds "+", "-"
    or "0" per seed, in the order given; ``same_sign`` says every seed moved
    the same way (a seed with a zero difference moved no way, so it is False
    then). ``mean_over_std_ratio`` is ``mean / std`` (signed; ``±inf`` when
    std is 0 and mean is not, 0.0 when both are 0); a done-when criterion such
    as "the mean is at least twice its std" reads ``mean_over_std_ratio >= 2``.
    """

    mean: float
    std: float
    n: int
    signs: tuple[str, ...]
    same_sign: bool
    mean_over_std_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain values (an infinite ratio becomes the string "inf" or "-inf")."""
        ratio = self.mean_over_std_ratio
        return {
            "mean": float(self.mean),
            "std": float(self.std),
            "n": int(self.n),
            "signs": list(self.signs),
            "same_sign": bool(self.same_sign),
            "mean_over_std_ratio": float(ratio) if math.isfinite(ratio) else str(ratio),
        }


def across_seeds(differences: Sequence[float | PairedDifference]) -> SeedSummary:
    """Mean, sample std (ddof=1; 0.0 for one seed), signs and mean/std of one difference over seeds.

    Each item is one seed's difference, arm minus baseline: a number or a
    :class:`PairedDifference` (its ``diff`` is used).
    """
    values = _seed_values(differences)
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    signs = tuple(sign_of(value) for value in values)
    same_sign = len(set(signs)) == 1 and signs[0] != "0"
    return SeedSummary(mean, std, len(values), signs, same_sign, _ratio(mean, std))


def sign_of(value: float) -> str:
    """ "+", "-" or "0": the direction of one difference."""
    return "+" if value > 0 else "-" if value < 0 else "0"


def _seed_values(differences: Sequence[float | PairedDifference]) -> list[float]:
    """The per-seed differences as floats; at least one, all finite."""
    if isinstance(differences, (str, bytes)) or not isinstance(differences, Sequence) or not differences:
        raise ArgumentError("differences", f"expected a non-empty sequence of numbers, got {differences!r}")
    values = [item.diff if isinstance(item, PairedDifference) else item for item in differences]
    bad = [value for value in values if not is_finite_number(value)]
    if bad:
        raise ArgumentError("differences", f"expected finite numbers, got {bad[0]!r}")
    return [float(value) for value in values]


def _ratio(mean: float, std: float) -> float:
    """``mean / std``, ±inf for a zero std with a non-zero mean, 0.0 when both are 0."""
    if std > 0:
        return mean / std
    return math.copysign(math.inf, mean) if mean != 0 else 0.0


# --------------------------------------------------------------------------- text


def format_difference(d: PairedDifference, *, percent: bool = True) -> str:
    """One line: ``+4.2 points [+1.1, +7.3] (n=288, holds)``; raw units with ``percent=False``."""
    value, low, high = (_signed(x, percent) for x in (d.diff, d.low, d.high))
    unit = " points" if percent else ""
    return f"{value}{unit} [{low}, {high}] (n={d.n}, {d.verdict})"


def format_seeds(s: SeedSummary, *, percent: bool = True) -> str:
    """One line: ``+3.9 ± 1.2 points over 3 seeds (+ + +)``; one seed shows no ± (it has no std)."""
    unit = " points" if percent else ""
    signs = " ".join(s.signs)
    if s.n == 1:
        return f"{_signed(s.mean, percent)}{unit} over 1 seed ({signs})"
    spread = _signed(s.std, percent)[1:]  # a std has no sign
    return f"{_signed(s.mean, percent)} ± {spread}{unit} over {s.n} seeds ({signs})"


def _signed(value: float, percent: bool) -> str:
    """``value`` with an explicit sign: in points to 1 decimal, or raw to 3; never ``-0.0``."""
    digits = 1 if percent else 3
    rounded = round(100 * value if percent else value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:+.{digits}f}"


# --------------------------------------------------------------------------- planning


def interval_width_for(n: int, p: float = 0.5, confidence: float = 0.95, *, discordance: float | None = None) -> float:
    """Approximate full width (high - low, as a fraction) of the interval of a paired difference of proportions.

    Normal approximation: with per-video differences ``d_i`` in {-1, 0, 1},
    ``Var(d) <= q`` where ``q`` is the discordance (the share of test videos on
    which exactly one arm is right), so the width is ``2 z sqrt(q / n)`` with
    ``z`` the normal quantile at ``(1 + confidence) / 2``. By default
    ``q = 2 p (1 - p)``: both arms right on a share ``p`` of the videos and
    wrong on different ones (independent errors), which is the most
    discordance at ``p = 0.5`` (q = 0.5: width ≈ 0.16 at n = 300, ≈ 0.08 at
    n = 1200). Arms that fail on the same hard videos discord less and get a
    narrower interval; pass a measured ``discordance`` to plan with it.
    """
    n = check_int_at_least("n", n, 2)
    if not (is_number(p) and 0 <= p <= 1):
        raise ArgumentError("p", f"expected a probability in [0, 1], got {p!r}")
    confidence = _check_confidence(confidence)
    if discordance is None:
        discordance = 2 * p * (1 - p)
    elif not (is_number(discordance) and 0 <= discordance <= 1):
        raise ArgumentError("discordance", f"expected a share in [0, 1], got {discordance!r}")
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    return float(2 * z * math.sqrt(discordance / n))
