"""Poses and motions: where the actor is, how big, turned and opaque in every frame.

A motion maps the phases ``u`` of the frames (one unit per cycle) to a
:class:`Pose` on a :class:`Stage`; the pairs of mirror classes share one
motion reflected (see the package docstring for the arrow of time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

CYCLE_FRAMES = 48  # frames one motion cycle lasts at intrinsic speed 1
ZOOM_RANGE = (0.45, 1.6)  # Approach / Recede scale, relative to the base radius
FADE_RANGE = (0.1, 1.0)  # FadeIn / FadeOut opacity
AMPLITUDE_DECAY = 0.3  # Swing / Jump amplitude (Wander step size) left at the end of a cycle
SWINGS_PER_CYCLE = 2  # damped pendulum periods between two kicks


@dataclass(frozen=True)
class Stage:
    """Where a motion plays: frame size and the actor's base radius in pixels."""

    height: int
    width: int
    radius: float

    def bounds(self, axis: str, *, scale: float = 1.0, extra: float = 0.0) -> tuple[float, float]:
        """Range of the actor centre along ``axis`` ("x" or "y") that keeps it fully in the frame."""
        margin = self.radius * scale + 1.0 + extra
        extent = self.width if axis == "x" else self.height
        return margin, extent - margin

    @property
    def short_side(self) -> int:
        return min(self.height, self.width)


@dataclass(frozen=True)
class Pose:
    """Actor state per frame, each an array of shape (T,).

    ``x``, ``y``: centre in pixels (pixel ``i`` spans ``[i, i + 1)``);
    ``scale``: radius relative to the base radius; ``angle``: radians,
    positive = clockwise on screen; ``alpha``: opacity in [0, 1].
    """

    x: np.ndarray
    y: np.ndarray
    scale: np.ndarray
    angle: np.ndarray
    alpha: np.ndarray


Motion = Callable[[np.ndarray, Stage, np.random.Generator], Pose]


def make_pose(u: np.ndarray, *, x: Any, y: Any, scale: Any = 1.0, angle: Any = 0.0, alpha: Any = 1.0) -> Pose:
    """A :class:`Pose` with scalars broadcast to the length of the phase array ``u``."""

    def full(value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), u.shape).copy()

    return Pose(x=full(x), y=full(y), scale=full(scale), angle=full(angle), alpha=full(alpha))


def _frac(u: np.ndarray) -> np.ndarray:
    """Progress within the current cycle, in [0, 1)."""
    return u - np.floor(u)


def _ease_out(s: np.ndarray) -> np.ndarray:
    """Friction over one cycle: progress ``1 - (1 - s)**2`` at cycle phase ``s`` in [0, 1].

    Its rate ``2 (1 - s)`` starts at twice the mean and falls to zero, so a
    motion driven by it decelerates to a stop; played backwards it
    accelerates, which no forward SynthMotion video does.
    """
    return 1.0 - (1.0 - s) ** 2


def _progress(u: np.ndarray) -> np.ndarray:
    """Cycles travelled by phase ``u``: ``floor(u) + ease_out(frac(u))``.

    Continuous and increasing, one unit per cycle: each cycle starts with a
    flick (top speed) and glides to a stop at its end, then is flicked again.
    """
    return np.floor(u) + _ease_out(_frac(u))


def _anchor(stage: Stage, rng: np.random.Generator, *, scale: float = 1.0, extra: float = 0.0) -> tuple[float, float]:
    """A random resting point that keeps an actor of ``scale`` (plus ``extra`` px) inside the frame."""
    x = rng.uniform(*stage.bounds("x", scale=scale, extra=extra))
    y = rng.uniform(*stage.bounds("y", scale=scale, extra=extra))
    return x, y


def _mirror(pose: Pose, stage: Stage, *, axis: str) -> Pose:
    """``pose`` reflected across the frame's centre line, reversing its direction along ``axis``.

    ``axis="x"``: left-right (x -> W - x, screen angle -> pi - angle);
    ``axis="y"``: top-bottom (y -> H - y, angle -> -angle). Both turn a
    clockwise rotation into a counter-clockwise one. Scale and opacity are
    unchanged; the sprite is not redrawn mirrored (the look is class-blind).
    """
    if axis == "x":
        return replace(pose, x=stage.width - pose.x, angle=math.pi - pose.angle)
    return replace(pose, y=stage.height - pose.y, angle=-pose.angle)


def _wrapped(u: np.ndarray, rng: np.random.Generator, *, low: float, high: float) -> np.ndarray:
    """A value sweeping ``low -> high`` once per cycle at the eased rate, re-entering at ``low`` after ``high``.

    The sweep's offset at phase 0 is uniform, so in any single frame the value
    is uniform over [low, high] whatever the phase: a single frame shows
    neither the direction of the sweep nor where the cycle is.
    """
    offset = rng.random()
    return low + (high - low) * _frac(offset + _progress(u))


def move_right(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides left to right on a random lane, crossing the frame once per cycle, slowing down.

    Passing the right end it re-enters at the left end.
    """
    lane = rng.uniform(*stage.bounds("y"))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    x = _wrapped(u, rng, low=stage.bounds("x")[0], high=stage.bounds("x")[1])
    return make_pose(u, x=x, y=lane, angle=angle)


def move_left(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides right to left: the left-right mirror image of :func:`move_right`."""
    return _mirror(move_right(u, stage, rng), stage, axis="x")


def move_down(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides top to bottom on a random lane, crossing the frame once per cycle, slowing down."""
    lane = rng.uniform(*stage.bounds("x"))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    y = _wrapped(u, rng, low=stage.bounds("y")[0], high=stage.bounds("y")[1])
    return make_pose(u, x=lane, y=y, angle=angle)


def move_up(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides bottom to top: the top-bottom mirror image of :func:`move_down`."""
    return _mirror(move_down(u, stage, rng), stage, axis="y")


def approach(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor grows in place (comes closer), fast then settling: log scale sweeps ``ZOOM_RANGE`` once per cycle."""
    x, y = _anchor(stage, rng, scale=ZOOM_RANGE[1])
    angle = rng.uniform(0.0, 2.0 * math.pi)
    low, high = np.log(ZOOM_RANGE)
    return make_pose(u, x=x, y=y, scale=np.exp(_wrapped(u, rng, low=low, high=high)), angle=angle)


def recede(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor shrinks in place: :func:`approach` mirrored in log scale about the middle of ``ZOOM_RANGE``."""
    pose = approach(u, stage, rng)
    return replace(pose, scale=ZOOM_RANGE[0] * ZOOM_RANGE[1] / pose.scale)


def rotate_cw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor spins clockwise in place, one turn per cycle: flicked at each cycle start, slowing to a stop."""
    x, y = _anchor(stage, rng)
    start = rng.random()
    return make_pose(u, x=x, y=y, angle=2.0 * math.pi * (start + _progress(u)))


def rotate_ccw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor spins counter-clockwise: the top-bottom mirror image of :func:`rotate_cw`."""
    return _mirror(rotate_cw(u, stage, rng), stage, axis="y")


def fade_in(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor appears in place, fast then settling: opacity sweeps up ``FADE_RANGE`` once per cycle."""
    x, y = _anchor(stage, rng)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return make_pose(u, x=x, y=y, angle=angle, alpha=_wrapped(u, rng, low=FADE_RANGE[0], high=FADE_RANGE[1]))


def fade_out(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor disappears in place: :func:`fade_in` with opacity mirrored about the middle of ``FADE_RANGE``."""
    pose = fade_in(u, stage, rng)
    return replace(pose, alpha=FADE_RANGE[0] + FADE_RANGE[1] - pose.alpha)


def orbit_cw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor circles a centre clockwise on screen, one lap per cycle, each lap slowing to a stop.

    y points down, so a growing polar angle is clockwise.
    """
    room = min(stage.height, stage.width) / 2.0 - stage.radius - 1.0
    radius = rng.uniform(0.6, 0.9) * room
    cx, cy = _anchor(stage, rng, extra=radius)
    start = rng.random()
    angle = rng.uniform(0.0, 2.0 * math.pi)
    phi = 2.0 * math.pi * (start + _progress(u))
    return make_pose(u, x=cx + radius * np.cos(phi), y=cy + radius * np.sin(phi), angle=angle)


def orbit_ccw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor circles counter-clockwise: the top-bottom mirror image of :func:`orbit_cw`."""
    return _mirror(orbit_cw(u, stage, rng), stage, axis="y")


def _bounce_height(tau: np.ndarray, *, from_apex: bool, arcs: int = 3, restitution: float = 0.55) -> np.ndarray:
    """Height (fraction of the first arc's) of a ball bouncing ``arcs`` times over ``tau`` in [0, 1).

    Arc ``k`` rises to ``restitution**(2k)`` and, as for a ballistic arc
    (height proportional to duration squared), lasts in proportion to
    ``restitution**k``. ``from_apex`` starts at the top of the first arc (a drop).
    """
    durations = restitution ** np.arange(arcs, dtype=np.float64)
    if from_apex:
        durations[0] *= 0.5
    edges = np.concatenate([[0.0], np.cumsum(durations)]) / durations.sum()
    arc = np.clip(np.searchsorted(edges, tau, side="right") - 1, 0, arcs - 1)
    s = (tau - edges[arc]) / (edges[arc + 1] - edges[arc])
    if from_apex:
        s = np.where(arc == 0, 0.5 + 0.5 * s, s)
    return restitution ** (2.0 * arc) * 4.0 * s * (1.0 - s)


def throw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor is thrown across the frame on a parabola, lands and bounces (direction random)."""
    rightward = bool(rng.integers(2))
    top, ground = stage.bounds("y")
    height = rng.uniform(0.7, 1.0) * (ground - top)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    lo, hi = stage.bounds("x")
    tau = _frac(u)
    x = lo + (hi - lo) * (tau if rightward else 1.0 - tau)
    return make_pose(u, x=x, y=ground - height * _bounce_height(tau, from_apex=False), angle=angle)


def bounce(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor drops from high up at a fixed x and bounces, each bounce lower."""
    x = rng.uniform(*stage.bounds("x"))
    top, ground = stage.bounds("y")
    height = rng.uniform(0.7, 1.0) * (ground - top)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return make_pose(u, x=x, y=ground - height * _bounce_height(_frac(u), from_apex=True), angle=angle)


def _decay(u: np.ndarray) -> np.ndarray:
    """Amplitude envelope within each cycle: 1 at its start, falling geometrically to ``AMPLITUDE_DECAY`` at its end."""
    return AMPLITUDE_DECAY ** _frac(u)


def swing(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor swings as a damped pendulum bob hung from a pivot just above the frame.

    ``SWINGS_PER_CYCLE`` periods per cycle whose amplitude decays by
    :func:`_decay`; each cycle starts with a kick as the bob passes the
    bottom. The bob turns with the (invisible) rod: a rod at angle ``phi``
    from the vertical points at screen angle ``pi/2 - phi``.
    """
    left, right = stage.bounds("x")
    _, ground = stage.bounds("y")
    pivot_x = rng.uniform(0.4, 0.6) * stage.width
    pivot_y = -0.1 * stage.height
    length = ground - pivot_y
    room = min(pivot_x - left, right - pivot_x)
    amplitude = min(rng.uniform(0.5, 0.9), math.asin(min(1.0, room / length)))
    start = rng.uniform(0.0, 2.0 * math.pi)
    phi = amplitude * _decay(u) * np.sin(2.0 * math.pi * SWINGS_PER_CYCLE * u)
    return make_pose(u, x=pivot_x + length * np.sin(phi), y=pivot_y + length * np.cos(phi), angle=start - phi)


def jump(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor hops up and down at a fixed x, two hops per cycle, tiring: heights decay by :func:`_decay`."""
    x = rng.uniform(*stage.bounds("x"))
    top, ground = stage.bounds("y")
    height = rng.uniform(0.5, 0.9) * (ground - top)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return make_pose(u, x=x, y=ground - height * _decay(u) * np.abs(np.sin(2.0 * math.pi * u)), angle=angle)


def _knot_path(u: np.ndarray, knots: np.ndarray, *, knots_per_cycle: float) -> np.ndarray:
    """Piecewise-linear path through ``knots`` (N, 2), one knot every ``1 / knots_per_cycle`` of phase.

    Knot ``i`` sits at phase ``floor(min(u)) + i / knots_per_cycle``.
    """
    k = (u - np.floor(u.min())) * knots_per_cycle
    i = np.floor(k).astype(np.int64)
    w = (k - i)[:, None]
    return knots[i] * (1.0 - w) + knots[i + 1] * w


def _knot_count(u: np.ndarray, knots_per_cycle: float) -> int:
    """Knots :func:`_knot_path` needs to cover the phases ``u``."""
    return int(math.floor((u.max() - math.floor(u.min())) * knots_per_cycle)) + 2


def _reflect(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold values into [lo, hi] as a walker bouncing off walls would be."""
    period = 2.0 * (hi - lo)
    folded = np.mod(values - lo, period)
    return lo + np.where(folded > hi - lo, period - folded, folded)


def wander_path(
    u: np.ndarray, stage: Stage, rng: np.random.Generator, *, knots_per_cycle: int, step: float, tiring: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Reflected Brownian walk: Gaussian steps at the knots, linear in between.

    The step into knot ``i`` covers the ``j = (i - 1) mod knots_per_cycle``-th
    stretch of its cycle and has std ``step * tiring**(j / knots_per_cycle)``:
    with ``tiring < 1`` the walker slows within each cycle (1 = no slowing).
    """
    (x_lo, x_hi), (y_lo, y_hi) = stage.bounds("x"), stage.bounds("y")
    start = np.array([rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)])
    count = _knot_count(u, knots_per_cycle)
    steps = rng.normal(0.0, step, size=(count, 2))
    steps[0] = 0.0
    stretch = (np.arange(count) - 1) % knots_per_cycle
    steps *= (tiring ** (stretch / knots_per_cycle))[:, None]
    knots = start + np.cumsum(steps, axis=0)
    knots[:, 0] = _reflect(knots[:, 0], x_lo, x_hi)
    knots[:, 1] = _reflect(knots[:, 1], y_lo, y_hi)
    path = _knot_path(u, knots, knots_per_cycle=knots_per_cycle)
    return path[:, 0], path[:, 1]


def wander(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor drifts over the frame by a reflected Brownian walk, four steps per cycle, slowing within each cycle."""
    angle = rng.uniform(0.0, 2.0 * math.pi)
    x, y = wander_path(u, stage, rng, knots_per_cycle=4, step=0.18 * stage.short_side, tiring=AMPLITUDE_DECAY)
    return make_pose(u, x=x, y=y, angle=angle)


def jitter(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor trembles around a fixed spot: independent random offsets, 16 per cycle (statistically reversible)."""
    amplitude = 0.6 * stage.radius
    x, y = _anchor(stage, rng, extra=amplitude)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    knots = rng.uniform(-amplitude, amplitude, size=(_knot_count(u, 16.0), 2))
    offsets = _knot_path(u, knots, knots_per_cycle=16.0)
    return make_pose(u, x=x + offsets[:, 0], y=y + offsets[:, 1], angle=angle)
