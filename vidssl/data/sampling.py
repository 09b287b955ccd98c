"""Pure frame-index rules: which frames of a video form a clip.

Nothing here decodes or touches a file; every function maps numbers (frame
counts, offsets, intervals, a ``numpy.random.Generator``) to integer frame
indices, so each rule can be tested against its formula alone.

Vocabulary (TransRank, Duan et al. 2022, §4.2):

- ``clip_len`` (l): number of frames in a clip.
- ``interval`` (d): gap between consecutive sampled frames, already scaled by
  the speed and jittered, i.e. ``d = round(2n · U[0.8, 1.2])`` for ``n×``
  (see :func:`jittered_interval`).
- ``offset`` (ρ): index of the first frame of the clip's span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

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


def check_transform_name(name: str) -> str:
    """Return ``name`` if it is a known temporal transformation, else raise VidsslError."""
    if name not in _SPEEDS:
        raise VidsslError(
            f"unknown temporal transformation {name!r}; expected one of {', '.join(ALL_TRANSFORMS)}"
        )
    return name


def speed_of(name: str) -> float:
    """Speed factor n of a transformation: its frame interval is ``base_interval · n``.

    ``rev`` and ``rev-2x`` play at 1× and 2×; ``palindrome`` and ``shuffle``
    use the 1× interval; ``0.5x`` is half the 1× interval (TransRank footnote 4).
    """
    return _SPEEDS[check_transform_name(name)]


def _check_positive_int(value: int, key: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise VidsslError(f"{key} must be a positive integer, got {value!r}")
    return int(value)


def clip_span(clip_len: int, interval: int) -> int:
    """Number of source frames a clip covers: ``(clip_len − 1) · interval + 1``."""
    clip_len = _check_positive_int(clip_len, "clip_len")
    interval = _check_positive_int(interval, "interval")
    return (clip_len - 1) * interval + 1


def jittered_interval(
    speed: float,
    *,
    base_interval: int = 2,
    jitter: tuple[float, float] = (0.8, 1.2),
    rng: np.random.Generator,
) -> int:
    """Frame interval ``round(base_interval · speed · U[jitter])``, at least 1 (TransRank §4.4).

    Rounding is half-up. With the defaults, 1× always gives 2, 2× gives 3–5,
    4× gives 6–10, and 0.5× gives 1 (one frame per frame, footnote 4).
    """
    low, high = jitter
    if not 0 < low <= high:
        raise VidsslError(f"jitter must be (low, high) with 0 < low <= high, got {jitter!r}")
    factor = rng.uniform(low, high) if high > low else low
    return scaled_interval(speed, base_interval=base_interval, factor=factor)


def scaled_interval(speed: float, *, base_interval: int = 2, factor: float = 1.0) -> int:
    """Frame interval ``round(base_interval · speed · factor)`` (half-up), at least 1.

    ``factor`` is the jitter of :func:`jittered_interval`; 1 gives the exact
    interval of speed n (the speediness probe, TransRank footnote 4).
    """
    base_interval = _check_positive_int(base_interval, "base_interval")
    if not speed > 0:
        raise VidsslError(f"speed must be > 0, got {speed!r}")
    return max(1, int(np.floor(base_interval * speed * factor + 0.5)))


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
    interval: int,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices of one clip under a temporal transformation (TransRank §4.2).

    With d = ``interval`` (already ``2n`` jittered) and ρ = ``offset``:

    - ``n×`` and ``0.5x``: ρ + [0, d, 2d, …, (l−1)d]
    - ``rev``/``rev-n×``: ρ + [(l−1)d, …, d, 0]
    - ``palindrome``: ρ + [0, 2d, …, (l−2)d, (l−1)d, (l−3)d, …, d]
      (odd l: see :func:`_palindrome_steps`)
    - ``shuffle``: a random permutation of the ``1×`` indices (needs ``rng``).

    Indices may exceed the video; :func:`fit_to_video` maps them back in.
    Returns an int64 array of length ``clip_len``.
    """
    check_transform_name(name)
    clip_len = _check_positive_int(clip_len, "clip_len")
    interval = _check_positive_int(interval, "interval")
    if int(offset) != offset or offset < 0:
        raise VidsslError(f"offset must be a non-negative integer, got {offset!r}")
    steps = np.arange(clip_len, dtype=np.int64)
    if name.startswith("rev"):
        steps = steps[::-1]
    elif name == "palindrome":
        steps = _palindrome_steps(clip_len)
    elif name == "shuffle":
        if rng is None:
            raise VidsslError("transform 'shuffle' needs an rng to permute the frames")
        steps = rng.permutation(steps)
    return int(offset) + steps.astype(np.int64) * interval


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
    num_frames = _check_positive_int(num_frames, "num_frames")
    num_clips = len(spans)
    offsets: list[int] = []
    for i, span in enumerate(spans):
        span = _check_positive_int(span, "span")
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
    raise VidsslError(f"short-video rule must be one of {', '.join(FIT_RULES)}, got {rule!r}")


def uniform_clip_starts(num_frames: int, *, clip_len: int, num_clips: int) -> np.ndarray:
    """Start frames of evaluation clips spread evenly over a video (VCOP rule, ALGORITHMS.md §5.2).

    Centres are ``linspace(clip_len/2, num_frames − clip_len/2, num_clips)``
    and ``start = int(centre − clip_len/2)`` (truncation, as VCOP), clamped to
    ≥ 0 for videos shorter than a clip, whose indices ``fit_to_video`` then loops.

    ``centre_k − clip_len/2 = k · (num_frames − clip_len) / (num_clips − 1)``
    is evaluated in exact integer arithmetic, so float rounding in linspace
    cannot move a start down by one frame.
    """
    num_frames = _check_positive_int(num_frames, "num_frames")
    clip_len = _check_positive_int(clip_len, "clip_len")
    num_clips = _check_positive_int(num_clips, "num_clips")
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
    num_frames = _check_positive_int(num_frames, "num_frames")
    clip_len = _check_positive_int(clip_len, "clip_len")
    stride = _check_positive_int(stride, "stride")
    return np.arange(0, max(num_frames - clip_len, 0) + 1, stride, dtype=np.int64)


# --------------------------------------------------------------------------- SRO segments
# Segment sampling-rate and order prediction (TCSVT 2021, §III-B…D, Fig. 1; no public code:
# the rules below are this project's reading, ALGORITHMS.md "SRO").


def random_segment_lengths(total: int, num_segments: int, *, min_length: int = 3, rng: np.random.Generator) -> np.ndarray:
    """Lengths l_1..l_n of the segments of a clip: each ≥ ``min_length``, summing to ``total`` (Fig. 1: T = Σ l_i).

    Uniform over all such compositions (stars and bars: the ``total − n·min_length``
    spare frames are split by n − 1 cut points drawn without replacement).
    """
    total = _check_positive_int(total, "clip_len")
    num_segments = _check_positive_int(num_segments, "num_segments")
    min_length = _check_positive_int(min_length, "min_length")
    spare = total - num_segments * min_length
    if spare < 0:
        raise VidsslError(
            f"cannot split {total} frames into {num_segments} segments of at least {min_length} frames"
        )
    cuts = np.sort(rng.choice(spare + num_segments - 1, size=num_segments - 1, replace=False))
    bounds = np.concatenate([[-1], cuts, [spare + num_segments - 1]])
    return (np.diff(bounds) - 1 + min_length).astype(np.int64)


def segment_span(lengths: Sequence[int], rates: Sequence[int]) -> int:
    """Source frames covered by consecutive segments: see :func:`segment_indices_in_time_order`."""
    lengths, rates = np.asarray(lengths, dtype=np.int64), np.asarray(rates, dtype=np.int64)
    return int(((lengths - 1) * rates).sum() + rates[1:].sum() + 1)


def segment_indices_in_time_order(start: int, lengths: Sequence[int], rates: Sequence[int]) -> list[np.ndarray]:
    """Frame indices of each segment, taken one after another along the video.

    Segment i has ``lengths[i]`` frames ``rates[i]`` apart; the first segment
    starts at ``start`` and each next segment's first frame comes ``rates[i]``
    after the previous segment's last frame, so every gap inside segment i,
    including the one that leads into it, is its own sampling rate.
    """
    if len(lengths) != len(rates) or not len(lengths):
        raise VidsslError(f"segments need one rate per length, got lengths={list(lengths)} rates={list(rates)}")
    segments, first = [], int(start)
    for i, (length, rate) in enumerate(zip(lengths, rates)):
        length, rate = _check_positive_int(length, "segment length"), _check_positive_int(rate, "segment rate")
        if i > 0:
            first = int(segments[-1][-1]) + rate
        segments.append(first + rate * np.arange(length, dtype=np.int64))
    return segments


def permutation_index(order: Sequence[int]) -> int:
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
    n = _check_positive_int(n, "n")
    if not 0 <= index < math.factorial(n):
        raise VidsslError(f"permutation index must be in [0, {math.factorial(n)}) for n={n}, got {index}")
    remaining, order = list(range(n)), []
    for position in range(n):
        block = math.factorial(n - 1 - position)
        order.append(remaining.pop(index // block))
        index %= block
    return order


def max_fitting_rate(num_frames: int, clip_len: int) -> int:
    """The largest rate r such that any clip of ``clip_len`` frames with every rate ≤ r fits in the video.

    With all gaps ≤ r the span is at most (T − 1)·r + 1 frames (:func:`segment_span`),
    so r = ⌊(num_frames − 1) / (T − 1)⌋ (0 when even rate 1 does not fit).
    """
    num_frames = _check_positive_int(num_frames, "num_frames")
    clip_len = _check_positive_int(clip_len, "clip_len")
    return (num_frames - 1) // (clip_len - 1) if clip_len > 1 else num_frames


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
) -> dict[str, np.ndarray | int]:
    """One SRO clip (Fig. 1): n segments of random lengths and rates, taken in video order, then shuffled.

    1. lengths by :func:`random_segment_lengths`, a rate per segment uniform on
       the integers of ``rate_range`` (the frame interval in the raw video),
       capped at :func:`max_fitting_rate` so that the clip fits in the video
       (a looped clip would jump back in time and contradict its order label);
    2. a uniformly random start, so that the segments (:func:`segment_span`)
       fit in the video; videos too short even at the lowest rate start at 0
       and are fitted by :func:`fit_to_video` with ``short_video``;
    3. a random permutation ``order``: position k of the clip shows segment
       ``order[k]`` (segments numbered in time order); ``shuffle=False`` keeps
       time order (with rates fixed to one value: a plain clip, for MoCo).

    Returns ``indices`` (clip_len,) in the order shown; ``order_label``, the
    rank of ``order`` among the n! permutations (:func:`permutation_index`);
    ``rates`` and ``lengths`` per shown position (the regression targets are
    the rates in the order the network sees them); ``order``; ``start``.
    """
    low, high = (int(rate_range[0]), int(rate_range[1]))
    if not 1 <= low <= high:
        raise VidsslError(f"rate_range must be (low, high) integers with 1 <= low <= high, got {rate_range!r}")
    lengths = random_segment_lengths(clip_len, num_segments, min_length=min_length, rng=rng)
    high = max(low, min(high, max_fitting_rate(num_frames, clip_len)))
    rates = rng.integers(low, high + 1, size=num_segments).astype(np.int64)
    room = _check_positive_int(num_frames, "num_frames") - segment_span(lengths, rates)
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


def vcop_tuple_indices(
    num_frames: int,
    *,
    clip_len: int = 16,
    interval: int = 8,
    tuple_len: int = 3,
    short_video: str = "loop",
    rng: np.random.Generator,
) -> dict[str, np.ndarray | int]:
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
    num_frames = _check_positive_int(num_frames, "num_frames")
    clip_len = _check_positive_int(clip_len, "clip_len")
    tuple_len = _check_positive_int(tuple_len, "tuple_len")
    if isinstance(interval, bool) or int(interval) != interval or interval < 0:
        raise VidsslError(f"method.clip_interval must be an integer >= 0, got {interval!r}")
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

CORP_MAX_TRIES = 100
"""Rejection-sampling rounds before the evenly spaced fallback (ALGORITHMS.md "CORP")."""


def corp_min_offset(num_frames: int, *, clip_len: int, dilation: int, num_clips: int) -> float:
    """Equation (3): Δ = min(max((L − D·T) / K, 1), D·T), the smallest start-to-start distance of two clips."""
    num_frames = _check_positive_int(num_frames, "num_frames")
    span = _check_positive_int(clip_len, "clip_len") * _check_positive_int(dilation, "dilation")
    num_clips = _check_positive_int(num_clips, "num_clips")
    return min(max((num_frames - span) / num_clips, 1.0), float(span))


def corp_clip_starts(
    num_frames: int,
    *,
    clip_len: int,
    dilation: int,
    num_clips: int,
    rng: np.random.Generator,
    max_tries: int = CORP_MAX_TRIES,
) -> tuple[np.ndarray, bool]:
    """Starts of K clips of one video, every two at least Δ apart (§3.2, equation 3); returns (starts, fell_back).

    K starts are drawn independently and uniformly from the admissible range
    ``[0, L − span]`` (span = (T − 1)·D + 1 frames) and redrawn until every pair
    is at least Δ = :func:`corp_min_offset` apart, at most ``max_tries`` times.
    Then (or when the video is shorter than a clip) the documented fallback
    places the starts evenly over ``[0, max(L − span, K − 1)]``: as far apart as
    the video allows, so they satisfy the rule whenever any placement can
    (evenly spaced starts maximise the smallest gap), and always distinct, so
    every pair of clips keeps a true temporal order (clips running past the
    end are clamped to the last frame by the sampler, never looped).
    """
    num_clips = _check_positive_int(num_clips, "num_clips")
    delta = corp_min_offset(num_frames, clip_len=clip_len, dilation=dilation, num_clips=num_clips)
    room = num_frames - clip_span(clip_len, dilation)
    if room >= 0:
        for _ in range(max_tries):
            starts = rng.integers(0, room + 1, size=num_clips)
            gaps = np.abs(starts[:, None] - starts[None, :])[np.triu_indices(num_clips, 1)]
            if (gaps >= delta).all():
                return starts.astype(np.int64), False
    last = max(room, num_clips - 1)
    return np.arange(num_clips, dtype=np.int64) * last // max(num_clips - 1, 1), True


# --------------------------------------------------------------------------- STS clips
# Spatio-temporal statistics (TPAMI 2021, §4.2): UCF101 videos are cut into fixed,
# non-overlapping 16-frame clips; Kinetics gives one random consecutive clip per video.


def non_overlapping_clip_starts(num_frames: int, *, clip_len: int) -> np.ndarray:
    """Starts 0, T, 2T, … of every whole T-frame clip of a video; [0] when the video is shorter than one clip."""
    num_frames = _check_positive_int(num_frames, "num_frames")
    clip_len = _check_positive_int(clip_len, "clip_len")
    return np.arange(max(num_frames // clip_len, 1), dtype=np.int64) * clip_len


def random_clip_start(num_frames: int, *, clip_len: int, rng: np.random.Generator) -> int:
    """A uniform start of one consecutive T-frame clip; 0 when the video is shorter than the clip."""
    return int(rng.integers(0, max(num_frames - clip_len, 0) + 1))
