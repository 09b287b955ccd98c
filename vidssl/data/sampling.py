"""Pure frame-index rules: which frames of a video form a clip.

Nothing here decodes or touches a file; every function maps numbers (frame
counts, offsets, intervals, a ``numpy.random.Generator``) to integer frame
indices, so each rule can be tested against its formula alone.

Vocabulary (TransRank, Duan et al. 2022, §4.2):

- ``clip_len`` (l): number of frames in a clip.
- ``interval`` (d): gap between consecutive sampled frames, already scaled by
  the speed and jittered, i.e. ``d = 2n · U[0.8, 1.2]`` for ``n×``, a real
  number (see :func:`jittered_interval`); frame j of the clip sits at
  ``ρ + round(j · d)`` (§4.4 and ALGORITHMS.md: rounding each position, not d,
  is what lets a 1× clip span 0.8–1.2× of its nominal length).
- ``offset`` (ρ): index of the first frame of the clip's span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from vidssl.checks import (
    ArgumentError,
    check_int_at_least,
    check_int_range_pair,
    check_positive,
    check_positive_int,
    check_range_pair,
    is_finite_number,
)
from vidssl.errors import VidsslError

TEMPORAL_TRANSFORMS: tuple[str, ...] = ("1x", "2x", "4x", "rev", "rev-2x", "palindrome", "shuffle")
"""Temporal transformations usable for pre-training (TransRank §4.2)."""

ANALYSIS_TRANSFORMS: tuple[str, ...] = ("0.5x",)
"""Transformations only used to probe a trained model (TransRank Fig. 4)."""

ALL_TRANSFORMS: tuple[str, ...] = TEMPORAL_TRANSFORMS + ANALYSIS_TRANSFORMS

_SPEEDS: dict[str, float] = {
    "0.5x": 0.5,
    "1x": 1.0,
    "2x": 2.0,
    "4x": 4.0,
    "rev": 1.0,
    "rev-2x": 2.0,
    "palindrome": 1.0,
    "shuffle": 1.0,
}

FIT_RULES: tuple[str, ...] = ("loop", "clamp")


def check_transform_name(name: str, parameter: str = "name") -> str:
    """Return ``name`` if it is a known temporal transformation, else an ArgumentError naming ``parameter``."""
    if name not in _SPEEDS:
        raise ArgumentError(
            parameter, f"unknown temporal transformation {name!r}; expected one of {', '.join(ALL_TRANSFORMS)}"
        )
    return name


def speed_of(name: str) -> float:
    """Speed factor n of a transformation: its frame interval is ``base_interval · n``.

    ``rev`` and ``rev-2x`` play at 1× and 2×; ``palindrome`` and ``shuffle``
    use the 1× interval; ``0.5x`` is half the 1× interval (TransRank footnote 4).
    """
    return _SPEEDS[check_transform_name(name)]


def clip_span(clip_len: int, interval: int) -> int:
    """Number of source frames a clip covers: ``(clip_len − 1) · interval + 1``."""
    clip_len = check_positive_int("clip_len", clip_len)
    interval = check_positive_int("interval", interval)
    return (clip_len - 1) * interval + 1


def jittered_interval(
    speed: float,
    *,
    base_interval: int = 2,
    jitter: tuple[float, float] = (0.8, 1.2),
    rng: np.random.Generator,
) -> float:
    """Fractional frame interval ``base_interval · speed · U[jitter]``, at least 1 (TransRank §4.4).

    Not rounded: :func:`transform_indices` rounds each frame's position, so with
    the defaults 1× takes any interval in [1.6, 2.4], 2× in [3.2, 4.8], 4× in
    [6.4, 9.6]. The floor of 1 keeps frames distinct: 0.5× (one frame per frame,
    footnote 4) takes [1, 1.2].
    """
    low, high = check_range_pair("jitter", jitter)
    base_interval = check_positive_int("base_interval", base_interval)
    check_positive("speed", speed)
    factor = rng.uniform(low, high) if high > low else low
    return max(1.0, base_interval * speed * float(factor))


def scaled_interval(speed: float, *, base_interval: int = 2, factor: float = 1.0) -> int:
    """Frame interval ``round(base_interval · speed · factor)`` (half-up), at least 1.

    ``factor`` 1 gives the exact interval of speed n (the speediness probe,
    TransRank footnote 4). Training clips are not rounded this way: their
    jittered interval stays fractional (:func:`jittered_interval`).
    """
    base_interval = check_positive_int("base_interval", base_interval)
    check_positive("speed", speed)
    return max(1, int(np.floor(base_interval * speed * factor + 0.5)))


def _check_interval(interval: float) -> float:
    """A frame interval is a real number >= 1 (fractional after jitter; below 1 frames would repeat)."""
    if not (is_finite_number(interval) and interval >= 1):
        raise ArgumentError("interval", f"expected a finite number >= 1, got {interval!r}")
    return float(interval)


def rounded_positions(steps: np.ndarray, interval: float) -> np.ndarray:
    """``round(k · interval)`` (half-up) for each multiplier k: where the k-th frame of a 1× clip sits (§4.4)."""
    return np.floor(np.asarray(steps, dtype=np.float64) * _check_interval(interval) + 0.5).astype(np.int64)


def realised_span(clip_len: int, interval: float) -> int:
    """Source frames a clip covers with a fractional interval: ``round((clip_len − 1) · interval) + 1``.

    Equals :func:`clip_span` for an integer interval; the same for every
    transformation, whose multipliers are always a permutation of ``0 … l−1``.
    """
    clip_len = check_positive_int("clip_len", clip_len)
    return int(rounded_positions(np.array([clip_len - 1]), interval)[0]) + 1


def _palindrome_steps(clip_len: int) -> np.ndarray:
    """Multipliers k of the palindrome clip: even k ascending, then odd k descending.

    For even l this is the paper's ``[0, 2, …, l−2, l−1, l−3, …, 1]`` (§4.2).
    For odd l the same rule gives ``[0, 2, …, l−1, l−2, l−4, …, 1]``: the
    clip still goes forward over the even multiples and comes back over the
    odd ones, touching every multiple in ``[0, l)`` exactly once.
    """
    steps = np.arange(clip_len)
    return np.concatenate([steps[0::2], steps[1::2][::-1]])


def transform_indices(
    name: str,
    *,
    clip_len: int,
    offset: int,
    interval: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices of one clip under a temporal transformation (TransRank §4.2, §4.4).

    With d = ``interval`` (already ``2n`` jittered, possibly fractional),
    ρ = ``offset`` and ⌊·⌉ rounding half-up, the k-th frame of the 1× clip is
    ρ + ⌊k·d⌉, and each transformation orders those same positions:

    - ``n×`` and ``0.5x``: ρ + [⌊0⌉, ⌊d⌉, ⌊2d⌉, …, ⌊(l−1)d⌉]
    - ``rev``/``rev-n×``: that list reversed
    - ``palindrome``: multipliers [0, 2, …, l−2, l−1, l−3, …, 1]
      (odd l: see :func:`_palindrome_steps`)
    - ``shuffle``: a random permutation of the ``1×`` indices (needs ``rng``).

    An integer d gives the paper's formulas exactly. Indices may exceed the
    video; :func:`fit_to_video` maps them back in. Returns an int64 array of
    length ``clip_len``.
    """
    check_transform_name(name)
    clip_len = check_positive_int("clip_len", clip_len)
    interval = _check_interval(interval)
    offset = check_int_at_least("offset", offset, 0)
    steps = np.arange(clip_len, dtype=np.int64)
    if name.startswith("rev"):
        steps = steps[::-1]
    elif name == "palindrome":
        steps = _palindrome_steps(clip_len)
    elif name == "shuffle":
        if rng is None:
            raise VidsslError("transform 'shuffle' needs an rng to permute the frames")
        steps = rng.permutation(steps)
    return int(offset) + rounded_positions(steps, interval)


def spread_offsets(num_frames: int, spans: Sequence[int], rng: np.random.Generator) -> list[int]:
    """One start per clip, the clips spread over the whole video (ALGORITHMS.md, TransRank).

    Clip i may start anywhere in ``[0, num_frames − spans[i]]``. That range
    (as integers) is cut into ``len(spans)`` equal consecutive segments and
    clip i starts uniformly at random inside segment i, so clips land in
    different parts of the video with different offsets. Permute ``spans``
    beforehand to shuffle which clip gets which segment.

    A clip longer than the video starts at 0 (then :func:`fit_to_video`
    loops or clamps its indices). If the range has fewer integers than there
    are clips, the empty segments fall back to the start of their segment
    (clamped to the range), so offsets may repeat.
    """
    num_frames = check_positive_int("num_frames", num_frames)
    num_clips = len(spans)
    offsets: list[int] = []
    for i, span in enumerate(spans):
        span = check_positive_int("span", span)
        last_start = num_frames - span
        if last_start <= 0:
            offsets.append(0)
            continue
        num_starts = last_start + 1
        low = i * num_starts // num_clips
        high = (i + 1) * num_starts // num_clips
        if high > low:
            offsets.append(int(rng.integers(low, high)))
        else:
            offsets.append(min(low, last_start))
    return offsets


def fit_to_video(indices: np.ndarray, num_frames: int, rule: str = "loop") -> np.ndarray:
    """Map clip indices into ``[0, num_frames)`` for videos shorter than the clip.

    - ``"loop"``: ``indices mod num_frames`` — the clip wraps around to the
      start of the video and keeps its frame interval.
    - ``"clamp"``: indices past the end repeat the last frame.

    Indices already inside the video are unchanged by both rules.
    ``num_frames < 1`` raises ValueError (a zero-frame video should have been
    rejected when probed).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1 to fit indices, got {num_frames}")
    indices = np.asarray(indices, dtype=np.int64)
    if rule == "loop":
        return np.mod(indices, num_frames)
    if rule == "clamp":
        return np.clip(indices, 0, num_frames - 1)
    raise ArgumentError("rule", f"expected one of {', '.join(FIT_RULES)}, got {rule!r}")


def uniform_clip_starts(num_frames: int, *, clip_len: int, num_clips: int) -> np.ndarray:
    """Start frames of evaluation clips spread evenly over a video (VCOP rule, ALGORITHMS.md §5.2).

    Centres are ``linspace(clip_len/2, num_frames − clip_len/2, num_clips)``
    and ``start = int(centre − clip_len/2)`` (truncation, as VCOP), clamped to
    ≥ 0 for videos shorter than a clip, whose indices ``fit_to_video`` then loops.

    ``centre_k − clip_len/2 = k · (num_frames − clip_len) / (num_clips − 1)``
    is evaluated in exact integer arithmetic, so float rounding in linspace
    cannot move a start down by one frame.
    """
    num_frames = check_positive_int("num_frames", num_frames)
    clip_len = check_positive_int("clip_len", clip_len)
    num_clips = check_positive_int("num_clips", num_clips)
    room = num_frames - clip_len
    if num_clips == 1 or room <= 0:
        return np.zeros(num_clips, dtype=np.int64)
    return np.arange(num_clips, dtype=np.int64) * room // (num_clips - 1)


def sliding_clip_starts(num_frames: int, *, clip_len: int, stride: int) -> np.ndarray:
    """Start frames of every clip that fits, one every ``stride`` frames: 0, stride, 2·stride, …

    The clip placement of STS §6.3–6.4 (after C3D's protocol): "each video is
    split into 16-frame clips with 8 frames overlapped", i.e. ``clip_len=16,
    stride=8``. A clip fits when ``start + clip_len <= num_frames``; a video
    shorter than one clip gives the single start 0 (``fit_to_video`` then loops it).
    """
    num_frames = check_positive_int("num_frames", num_frames)
    clip_len = check_positive_int("clip_len", clip_len)
    stride = check_positive_int("stride", stride)
    return np.arange(0, max(num_frames - clip_len, 0) + 1, stride, dtype=np.int64)


# --------------------------------------------------------------------------- SRO segments
# Segment sampling-rate and order prediction (TCSVT 2021, §III-B…D, Fig. 1; no public code:
# the rules below are this project's reading, ALGORITHMS.md "SRO").


def random_segment_lengths(
    total: int, num_segments: int, *, min_length: int = 3, rng: np.random.Generator
) -> np.ndarray:
    """Lengths l_1..l_n of the segments of a clip: each ≥ ``min_length``, summing to ``total`` (Fig. 1: T = Σ l_i).

    Uniform over all such compositions (stars and bars: the ``total − n·min_length``
    spare frames are split by n − 1 cut points drawn without replacement).
    """
    total = check_positive_int("total", total)
    num_segments = check_positive_int("num_segments", num_segments)
    min_length = check_positive_int("min_length", min_length)
    spare = total - num_segments * min_length
    if spare < 0:
        raise VidsslError(
            f"cannot split {total} frames into {num_segments} segments of at least {min_length} frames"
        )
    cuts = np.sort(rng.choice(spare + num_segments - 1, size=num_segments - 1, replace=False))
    bounds = np.concatenate([[-1], cuts, [spare + num_segments - 1]])
    return (np.diff(bounds) - 1 + min_length).astype(np.int64)


def segment_span(lengths: Sequence[int] | np.ndarray, rates: Sequence[int] | np.ndarray) -> int:
    """Source frames covered by consecutive segments: see :func:`segment_indices_in_time_order`."""
    length_array, rate_array = np.asarray(lengths, dtype=np.int64), np.asarray(rates, dtype=np.int64)
    return int(((length_array - 1) * rate_array).sum() + rate_array[1:].sum() + 1)


def segment_indices_in_time_order(
    start: int, lengths: Sequence[int] | np.ndarray, rates: Sequence[int] | np.ndarray
) -> list[np.ndarray]:
    """Frame indices of each segment, taken one after another along the video.

    Segment i has ``lengths[i]`` frames ``rates[i]`` apart; the first segment
    starts at ``start`` and each next segment's first frame comes ``rates[i]``
    after the previous segment's last frame, so every gap inside segment i,
    including the one that leads into it, is its own sampling rate.
    """
    if len(lengths) != len(rates) or not len(lengths):
        raise VidsslError(f"segments need one rate per length, got lengths={list(lengths)} rates={list(rates)}")
    segments: list[np.ndarray] = []
    first = int(start)
    for i, (length, rate) in enumerate(zip(lengths, rates)):
        length, rate = check_positive_int("lengths", length), check_positive_int("rates", rate)
        if i > 0:
            first = int(segments[-1][-1]) + rate
        segments.append(first + rate * np.arange(length, dtype=np.int64))
    return segments


def permutation_index(order: Sequence[int] | np.ndarray) -> int:
    """Rank of a permutation of 0..n−1 in lexicographic order (the order label, n! classes; Lehmer code)."""
    order = [int(v) for v in order]
    n = len(order)
    if sorted(order) != list(range(n)):
        raise VidsslError(f"expected a permutation of 0..{n - 1}, got {order}")
    rank, remaining = 0, list(range(n))
    for position, value in enumerate(order):
        smaller = remaining.index(value)
        rank += smaller * math.factorial(n - 1 - position)
        remaining.pop(smaller)
    return rank


def permutation_from_index(index: int, n: int) -> list[int]:
    """The permutation of 0..n−1 whose lexicographic rank is ``index`` (inverse of :func:`permutation_index`)."""
    n = check_positive_int("n", n)
    if not 0 <= index < math.factorial(n):
        raise ArgumentError("index", f"expected a rank in [0, {math.factorial(n)}) for n={n}, got {index}")
    remaining, order = list(range(n)), []
    for position in range(n):
        block = math.factorial(n - 1 - position)
        order.append(remaining.pop(index // block))
        index %= block
    return order


RATE_DRAW_TRIES = 32
"""Unconditioned draws :func:`draw_fitting_rates` tries before it enumerates the combinations that fit."""


def span_weights(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """w with :func:`segment_span` = 1 + Σ w_i·r_i: w_i = l_i, but w_1 = l_1 − 1 (the clip's first frame is free)."""
    weights = np.array(lengths, dtype=np.int64)
    weights[0] -= 1
    return weights


def fitting_rate_combinations(
    lengths: Sequence[int] | np.ndarray, num_frames: int, rates: Sequence[int] | np.ndarray, *, distinct: bool
) -> list[tuple[int, ...]]:
    """Every tuple of rates (one per segment, time order) whose clip fits in ``num_frames``, lexicographic.

    Depth first over the segments; a branch stops as soon as it cannot fit even
    with the lowest rate on every remaining segment, so the work grows with the
    number of fitting tuples, not with all of them. ``distinct``: no rate twice.
    """
    weights = span_weights(lengths).tolist()
    rates = sorted(int(rate) for rate in rates)
    budget = int(num_frames) - 1
    found: list[tuple[int, ...]] = []

    def extend(prefix: tuple[int, ...], cost: int) -> None:
        depth = len(prefix)
        if depth == len(weights):
            found.append(prefix)
            return
        cheapest_rest = rates[0] * sum(weights[depth + 1:])
        for rate in rates:
            if distinct and rate in prefix:
                continue
            if cost + weights[depth] * rate + cheapest_rest > budget:
                break  # the rates ascend: every later one costs more
            extend(prefix + (rate,), cost + weights[depth] * rate)

    extend((), 0)
    return found


def draw_fitting_rates(
    lengths: Sequence[int] | np.ndarray,
    num_frames: int,
    *,
    rate_range: tuple[int, int],
    rng: np.random.Generator,
    tries: int = RATE_DRAW_TRIES,
) -> np.ndarray | None:
    """Segment rates (time order) from the paper's draw conditioned on the whole clip fitting in the video.

    The paper's draw (Fig. 1, §III-D): each segment "by the different sample
    rates", i.e. an ordered tuple of distinct integers of ``rate_range``, all
    equally likely. Conditioned on the span (:func:`segment_span`,
    Σ l_i·r_i − r_1 + 1) fitting in ``num_frames``, so a segment never loops
    back in time (which would contradict the order label). Rates repeat only
    when no distinct tuple can: fewer candidate rates than segments, or no
    distinct tuple fits; then tuples with replacement, uniform among those that fit.

    Exact: up to ``tries`` unconditioned draws, the first that fits is kept
    (uniform over the fitting tuples); if none does, one of the enumerated
    :func:`fitting_rate_combinations` is picked uniformly. Returns None when no
    tuple fits, not even every segment at the lowest rate.
    """
    rates = np.arange(int(rate_range[0]), int(rate_range[1]) + 1, dtype=np.int64)
    weights, budget = span_weights(lengths), int(num_frames) - 1
    for distinct in (True, False) if len(weights) <= len(rates) else (False,):
        for _ in range(tries):
            candidate = rng.choice(rates, size=len(weights), replace=not distinct)
            if int(weights @ candidate) <= budget:
                return candidate.astype(np.int64)
        fitting = fitting_rate_combinations(lengths, num_frames, rates, distinct=distinct)
        if fitting:
            return np.array(fitting[int(rng.integers(len(fitting)))], dtype=np.int64)
    return None


class SROClip(TypedDict):
    """One SRO clip as :func:`sro_clip_indices` draws it (a plain dict; the fields are described there)."""

    indices: np.ndarray
    order_label: int
    rates: np.ndarray
    lengths: np.ndarray
    order: np.ndarray
    start: int


def sro_clip_indices(
    num_frames: int,
    *,
    clip_len: int = 16,
    num_segments: int = 3,
    min_length: int = 3,
    rate_range: tuple[int, int] = (1, 8),
    short_video: str = "loop",
    shuffle: bool = True,
    rng: np.random.Generator,
) -> SROClip:
    """One SRO clip (Fig. 1): n segments of random lengths and rates, taken in video order, then shuffled.

    1. lengths by :func:`random_segment_lengths`, then the rates (frame
       intervals in the raw video) by :func:`draw_fitting_rates`: distinct
       integers of ``rate_range`` whenever it has n of them (Fig. 1), uniform
       over the tuples whose clip fits in the video (a looped clip would jump
       back in time and contradict its order label); no rate is capped by the
       video length alone;
    2. a uniformly random start, so that the segments (:func:`segment_span`)
       fit in the video; a video that no tuple fits (shorter than (T − 1)·low
       + 1 frames) keeps the short-video rule: every rate ``low``, start 0,
       indices fitted by :func:`fit_to_video` with ``short_video``;
    3. a random permutation ``order``: position k of the clip shows segment
       ``order[k]`` (segments numbered in time order); ``shuffle=False`` keeps
       time order (with rates fixed to one value: a plain clip, for MoCo).

    Returns ``indices`` (clip_len,) in the order shown; ``order_label``, the
    rank of ``order`` among the n! permutations (:func:`permutation_index`);
    ``rates`` and ``lengths`` per shown position (the regression targets are
    the rates in the order the network sees them); ``order``; ``start``.
    """
    low, high = check_int_range_pair("rate_range", rate_range)
    num_frames = check_positive_int("num_frames", num_frames)
    lengths = random_segment_lengths(clip_len, num_segments, min_length=min_length, rng=rng)
    rates = draw_fitting_rates(lengths, num_frames, rate_range=(low, high), rng=rng)
    if rates is None:  # the short-video rule
        rates = np.full(num_segments, low, dtype=np.int64)
    room = num_frames - segment_span(lengths, rates)
    start = int(rng.integers(0, room + 1)) if room > 0 else 0
    in_time = segment_indices_in_time_order(start, lengths, rates)
    order = rng.permutation(num_segments) if shuffle else np.arange(num_segments)
    shown = np.concatenate([in_time[segment] for segment in order])
    return {
        "indices": fit_to_video(shown, num_frames, short_video),
        "order_label": permutation_index(order),
        "rates": rates[order],
        "lengths": lengths[order],
        "order": order.astype(np.int64),
        "start": start,
    }


# --------------------------------------------------------------------------- VCOP clip tuples
# Video clip order prediction (Xu et al., CVPR 2019, §3.2; public code: xudejing/video-clip-order-prediction).


class VCOPTuple(TypedDict):
    """One VCOP tuple as :func:`vcop_tuple_indices` draws it (a plain dict; the fields are described there)."""

    indices: np.ndarray
    order_label: int
    order: np.ndarray
    starts: np.ndarray


def vcop_tuple_indices(
    num_frames: int,
    *,
    clip_len: int = 16,
    interval: int = 8,
    tuple_len: int = 3,
    short_video: str = "loop",
    rng: np.random.Generator,
) -> VCOPTuple:
    """One VCOP tuple: ``tuple_len`` clips of ``clip_len`` consecutive frames, ``interval`` frames apart, shuffled.

    The tuple covers ``tuple_len · clip_len + (tuple_len − 1) · interval`` frames
    from a uniformly random start; clip k (in time order) starts at
    ``start + k · (clip_len + interval)``. Then a random permutation ``order``:
    position p shows clip ``order[p]``, and the label is the lexicographic rank
    of ``order`` among the ``tuple_len!`` permutations (as VCOP's, which ranks
    the shown order in ``itertools.permutations`` order).

    VCOP leaves videos shorter than a tuple out of its training list; here they
    are kept (a documented choice): the gap between clips shrinks to what fits,
    and when even touching clips do not fit, the clips overlap with evenly
    spread starts over the video (:func:`uniform_clip_starts`), still in time
    order; a video shorter than one clip is fitted by ``short_video``.

    Returns ``indices`` (tuple_len, clip_len) in the shown order, ``order_label``,
    ``order`` and ``starts`` (the time-ordered clip starts).
    """
    num_frames = check_positive_int("num_frames", num_frames)
    clip_len = check_positive_int("clip_len", clip_len)
    tuple_len = check_positive_int("tuple_len", tuple_len)
    interval = check_int_at_least("interval", interval, 0)
    spare = num_frames - tuple_len * clip_len
    if spare >= 0:
        gap = int(interval) if tuple_len == 1 else min(int(interval), spare // (tuple_len - 1))
        room = spare - (tuple_len - 1) * gap
        start = int(rng.integers(0, room + 1))
        starts = start + np.arange(tuple_len, dtype=np.int64) * (clip_len + gap)
    else:
        starts = uniform_clip_starts(num_frames, clip_len=clip_len, num_clips=tuple_len)
    in_time = starts[:, None] + np.arange(clip_len, dtype=np.int64)[None, :]
    order = rng.permutation(tuple_len)
    return {
        "indices": fit_to_video(in_time[order], num_frames, short_video),
        "order_label": permutation_index(order),
        "order": order.astype(np.int64),
        "starts": starts,
    }


# --------------------------------------------------------------------------- CORP clip placement
# Contrast and order (ICCV 2021, §3.2; no public code: ALGORITHMS.md "CORP").

def corp_min_offset(num_frames: int, *, clip_len: int, dilation: int, num_clips: int) -> float:
    """Equation (3): Δ = min(max((L − D·T) / K, 1), D·T), the smallest start-to-start distance of two clips."""
    num_frames = check_positive_int("num_frames", num_frames)
    span = check_positive_int("clip_len", clip_len) * check_positive_int("dilation", dilation)
    num_clips = check_positive_int("num_clips", num_clips)
    return min(max((num_frames - span) / num_clips, 1.0), float(span))


def spaced_sorted_starts(
    room: int, *, num_clips: int, min_gap: int, rng: np.random.Generator
) -> np.ndarray | None:
    """K increasing starts in ``[0, room]``, consecutive ones at least ``min_gap`` apart, uniform over all such sets.

    Stars and bars over the slack: s_i ↦ x_i = s_i − i·(min_gap − 1) maps these
    sets one-to-one onto the K-subsets of {0, …, room − (K − 1)(min_gap − 1)}
    (consecutive s differ by ≥ min_gap exactly when consecutive x differ by ≥ 1),
    so a uniform K-subset, shifted back, is a uniform valid set. None when there
    is no such set. Integer starts are ≥ Δ apart exactly when they are ≥ ⌈Δ⌉ apart.
    """
    values = room - (num_clips - 1) * (min_gap - 1) + 1
    if values < num_clips:
        return None
    subset = np.sort(rng.choice(values, size=num_clips, replace=False))
    return subset.astype(np.int64) + np.arange(num_clips, dtype=np.int64) * (min_gap - 1)


def corp_clip_starts(
    num_frames: int,
    *,
    clip_len: int,
    dilation: int,
    num_clips: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, bool]:
    """Starts of K clips of one video, every two at least Δ apart (§3.2, equation 3); returns (starts, fell_back).

    The paper draws K starts independently and uniformly from ``[0, L − span]``
    (span = (T − 1)·D + 1 frames) and redraws until every pair is at least
    Δ = :func:`corp_min_offset` apart. Conditioned on acceptance, i.i.d. uniform
    draws are uniform over the valid ordered K-tuples, and that is what this
    returns, in one draw (ALGORITHMS.md "CORP"): a valid tuple has K distinct
    starts (Δ ≥ 1), i.e. it is one valid increasing set in one of K! orders, so
    a uniform valid set (:func:`spaced_sorted_starts`) in a uniformly random
    order has exactly that distribution. (A loop capped at 100 draws fell back
    for about half of all Something-Something-length videos with K = 4.)

    The fallback is only for videos where no valid placement exists (shorter
    than a clip, or (K − 1)·⌈Δ⌉ > L − span): the starts are spread evenly over
    ``[0, max(L − span, K − 1)]``, always distinct, so every pair of clips keeps
    a true temporal order (clips running past the end are clamped to the last
    frame by the sampler, never looped).
    """
    num_clips = check_positive_int("num_clips", num_clips)
    delta = corp_min_offset(num_frames, clip_len=clip_len, dilation=dilation, num_clips=num_clips)
    room = num_frames - clip_span(clip_len, dilation)
    if room >= 0:
        increasing = spaced_sorted_starts(room, num_clips=num_clips, min_gap=math.ceil(delta), rng=rng)
        if increasing is not None:
            return rng.permutation(increasing), False
    last = max(room, num_clips - 1)
    return np.arange(num_clips, dtype=np.int64) * last // max(num_clips - 1, 1), True


# --------------------------------------------------------------------------- STS clips
# Spatio-temporal statistics (TPAMI 2021, §4.2): UCF101 videos are cut into fixed,
# non-overlapping 16-frame clips; Kinetics gives one random consecutive clip per video.


def non_overlapping_clip_starts(num_frames: int, *, clip_len: int) -> np.ndarray:
    """Starts 0, T, 2T, … of every whole T-frame clip of a video; [0] when the video is shorter than one clip."""
    num_frames = check_positive_int("num_frames", num_frames)
    clip_len = check_positive_int("clip_len", clip_len)
    return np.arange(max(num_frames // clip_len, 1), dtype=np.int64) * clip_len


def random_clip_start(num_frames: int, *, clip_len: int, rng: np.random.Generator) -> int:
    """A uniform start of one consecutive T-frame clip; 0 when the video is shorter than the clip."""
    return int(rng.integers(0, max(num_frames - clip_len, 0) + 1))
