"""SynthMotion: a procedurally generated action dataset whose classes are defined by motion.

Every ``vidssl`` command works on a fresh machine without a download because
:func:`generate_synthmotion` renders this dataset with numpy and writes it as
real H.264 ``.mp4`` files in the UCF101 layout::

    <out>/videos/<Class>/v_<Class>_g<gg>_c<cc>.mp4
    <out>/splits/classInd.txt      "<1-based index> <Class>"
    <out>/splits/trainlist01.txt   "<Class>/v_....mp4 <1-based label>"
    <out>/splits/testlist01.txt    "<Class>/v_....mp4"
    <out>/metadata.json            generator version, arguments, classes, one entry per video

Read it with ``load_records("ucf101", root=<out>/videos, annotations=<out>/splits,
split="train"|"test", split_id=1)``.

A class is a way of moving, never a look: at ``appearance_bias=0`` the actor's
shape, colour, texture and size, the background and the distractors are drawn
independently of the class. Six pairs of classes are mirror pairs: for the
same random draws one class's pose is its partner's reflected (left-right,
top-bottom, or the scale or opacity range turned over; see ``ClassSpec``), so
the two differ only in the direction of motion. Every class belongs to one of
the five motion types of TransRank's motion task (linear, projectile, local,
oscillatory, random; Table 10 of ``papers/transrank.md``).

The arrow of time. TransRank's "rev" transformation (recognise a clip played
backwards; vidssl's demo pretrains with the temporal set {1x, 2x, rev}) can
only be learned where forward and backward video differ. Real video has an
arrow of time (friction, gravity, things settling); so does SynthMotion. The
paired classes advance by ``floor(u) + ease_out(frac(u))`` cycles with
``ease_out(s) = 1 - (1 - s)**2``: flicked at the start of each cycle, the
actor glides to a stop by its end, then is flicked again. Swing is a damped
pendulum and Jump's hops lose height (amplitude falls to ``AMPLITUDE_DECAY``
within each cycle, re-kicked at the next), Throw and Bounce lose height at
every bounce, and Wander's steps shrink within each cycle. Played backwards,
all of these accelerate or gain height, which forward videos never do. Only
Jitter (independent random offsets) is statistically reversible, like a real
scene without a visible arrow. Generator version 1 had time-reverse pairs
instead (MoveLeft(u) == MoveRight(-u)): a reversed MoveLeft clip was a
natural MoveRight clip, and "rev" was learnable on Throw and Bounce only.

What still separates a pair is temporal order, never a single frame: a
crossing, zoom, fade, turn or lap sweeps its whole range once per cycle from
an offset that is uniform per video, so the position, log scale, opacity or
angle in any one frame is uniform over its range for both classes of a pair.
(A bag of a clip's frames, sorted by position, does show where the actor is
slow, and with the arrow of time that gives away the direction: a one-way
motion cannot be irreversible and look the same to such a bag both ways.)

=========  ===========  ===================================================================
Class      Motion type  What moves (screen axes: x right, y down); tempo
=========  ===========  ===================================================================
MoveLeft   linear       actor slides right -> left along a horizontal lane, slowing down; 1.0
MoveRight  linear       actor slides left -> right, slowing down (mirror of MoveLeft); 1.0
MoveUp     linear       actor slides bottom -> top along a vertical lane, slowing down; 0.8
MoveDown   linear       actor slides top -> bottom, slowing down (mirror of MoveUp); 0.8
Throw      projectile   actor flies across on a parabolic arc, lands, bounces twice; 1.6
Bounce     projectile   actor drops from high up in place and bounces, ever lower; 1.25
Approach   local        actor grows in place (comes closer), 0.45x -> 1.6x, fast then settling; 0.63
Recede     local        actor shrinks in place, 1.6x -> 0.45x, fast then settling (mirror of Approach); 0.63
RotateCW   local        actor spins clockwise in place, one turn per cycle, slowing down; 1.4
RotateCCW  local        actor spins counter-clockwise, slowing down (mirror of RotateCW); 1.4
FadeIn     local        actor appears in place, opacity 0.1 -> 1, fast then settling; 0.5
FadeOut    local        actor disappears in place, opacity 1 -> 0.1 (mirror of FadeIn); 0.5
OrbitCW    oscillatory  actor circles clockwise around a centre, one lap per cycle, slowing; 1.1
OrbitCCW   oscillatory  actor circles counter-clockwise, slowing (mirror of OrbitCW); 1.1
Swing      oscillatory  actor swings like a damped pendulum bob hung above the frame; 0.7
Jump       oscillatory  actor hops up and down in place, two hops per cycle, each lower; 1.8
Jitter     random_walk  actor trembles around a fixed spot (fast random offsets); 2.0
Wander     random_walk  actor drifts by a reflected Brownian walk, slowing within a cycle; 0.56
=========  ===========  ===================================================================

Time and speed: frame ``t`` of a video is at motion phase
``u = phase0 + speed * t / CYCLE_FRAMES``; one unit of phase is one cycle of
the class's motion (one crossing, one lap, one turn, one fade, one throw).
A video's intrinsic ``speed`` is its class's ``tempo`` times a per-video
factor, log-uniform in ``speed_range`` (default 0.8-1.25), so speeds span
0.4x-2.5x over the dataset. Actions have natural tempos (a tremble is quicker
than a drift, a hop quicker than a fade; SpeedNet's premise is that judging
playback speed means knowing them), so tempos differ between motions, but the
two classes of a mirror pair share theirs: tempo never separates a pair. A
clip played at 2x moves visibly faster than at 1x, yet a quick class at 1x can
look like a slow one at 2x: only knowing what moves tells the absolute speed.
Generator version 2 drew one speed range (0.5x-2x) for every class, which made
speed a nuisance variable independent of the class: features that learned it
grouped videos by speed, not by motion.
A crossing, zoom or fade that reaches the end of its range re-enters at the
other end (the actor jumps across the frame, back to its smallest size or
faintest opacity) and carries on.

Angles are in radians and positive means clockwise *on screen* (y points
down). Every actor carries a lighter or darker "marker" cap on its local +x side,
so rotation is visible for every shape (a square or disc alone would be
rotation-symmetric).

Each video draws its own frame size and aspect ratio, length, speed, phase,
0-2 distractor sprites that drift slowly (not class-informative), an optional
slow camera pan and an optional flicker of the background's brightness. Videos of one group
(``g<gg>``) share the actor's look and the background's look, and a whole
group goes to one split, as in UCF101, so retrieval cannot match backgrounds
across splits. ``appearance_bias`` is the probability that a group's actor
takes its class's own fixed shape and hue (a Kinetics-like variant where
appearance helps).

Everything is deterministic from ``seed``: a video's seed comes from
``(seed, class name, index within class)`` and a group's from
``(seed, class name, group)``, so the output does not depend on ``workers``
or on which other classes are generated.
"""

from __future__ import annotations

import colorsys
import json
import math
import multiprocessing
import os
import re
import shutil
import uuid
import zlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import av
import cv2
import numpy as np

from vidssl.errors import OutputError, VidsslError
from vidssl.fileio import make_output_dir, process_alive
from vidssl.progress import progress_bar

GENERATOR_VERSION = 3  # 3: class tempos; 2: mirror pairs and an arrow of time (1: time-reverse pairs)
CYCLE_FRAMES = 48  # frames one motion cycle lasts at intrinsic speed 1
KEYFRAME_INTERVAL = 16  # frames between H.264 keyframes, so readers' seeks pay off
CRF = 23
MOTION_TYPES = ("linear", "projectile", "local", "oscillatory", "random_walk")
SHAPES = ("disc", "square", "triangle", "star", "cross")
BACKDROPS = ("noise", "stripes", "checker")
TEXTURES = ("plain", "stripes", "dots", "rings")
CLIPS_PER_GROUP = 4  # UCF101 has 4-7 clips per group
MIN_SIDE = 32  # smallest frame side that leaves room for every motion

ZOOM_RANGE = (0.45, 1.6)  # Approach / Recede scale, relative to the base radius
FADE_RANGE = (0.1, 1.0)  # FadeIn / FadeOut opacity
AMPLITUDE_DECAY = 0.3  # Swing / Jump amplitude (Wander step size) left at the end of a cycle
SWINGS_PER_CYCLE = 2  # damped pendulum periods between two kicks
MARKER_START = 0.25  # sprite x beyond which the actor is painted in its marker colour
MARKER_MIX = 0.6  # how far the marker colour goes from the body colour towards white/black
MIN_CONTRAST = 60.0  # least luma difference between the actor's body colour and the background

# Independent random streams of one seed, one per purpose.
_PLAN, _MOTION, _LOOK, _CLUTTER = 0, 1, 2, 3

# Sub-pixel sample offsets for anti-aliased sprite edges (a 2x2 grid per pixel).
_SUBPIXELS = ((-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25))


# --------------------------------------------------------------------------- poses and motions


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


def _pose(u: np.ndarray, *, x: Any, y: Any, scale: Any = 1.0, angle: Any = 0.0, alpha: Any = 1.0) -> Pose:
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
    return _pose(u, x=x, y=lane, angle=angle)


def move_left(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides right to left: the left-right mirror image of :func:`move_right`."""
    return _mirror(move_right(u, stage, rng), stage, axis="x")


def move_down(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides top to bottom on a random lane, crossing the frame once per cycle, slowing down."""
    lane = rng.uniform(*stage.bounds("x"))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    y = _wrapped(u, rng, low=stage.bounds("y")[0], high=stage.bounds("y")[1])
    return _pose(u, x=lane, y=y, angle=angle)


def move_up(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor slides bottom to top: the top-bottom mirror image of :func:`move_down`."""
    return _mirror(move_down(u, stage, rng), stage, axis="y")


def approach(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor grows in place (comes closer), fast then settling: log scale sweeps ``ZOOM_RANGE`` once per cycle."""
    x, y = _anchor(stage, rng, scale=ZOOM_RANGE[1])
    angle = rng.uniform(0.0, 2.0 * math.pi)
    low, high = np.log(ZOOM_RANGE)
    return _pose(u, x=x, y=y, scale=np.exp(_wrapped(u, rng, low=low, high=high)), angle=angle)


def recede(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor shrinks in place: :func:`approach` mirrored in log scale about the middle of ``ZOOM_RANGE``."""
    pose = approach(u, stage, rng)
    return replace(pose, scale=ZOOM_RANGE[0] * ZOOM_RANGE[1] / pose.scale)


def rotate_cw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor spins clockwise in place, one turn per cycle: flicked at each cycle start, slowing to a stop."""
    x, y = _anchor(stage, rng)
    start = rng.random()
    return _pose(u, x=x, y=y, angle=2.0 * math.pi * (start + _progress(u)))


def rotate_ccw(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor spins counter-clockwise: the top-bottom mirror image of :func:`rotate_cw`."""
    return _mirror(rotate_cw(u, stage, rng), stage, axis="y")


def fade_in(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor appears in place, fast then settling: opacity sweeps up ``FADE_RANGE`` once per cycle."""
    x, y = _anchor(stage, rng)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return _pose(u, x=x, y=y, angle=angle, alpha=_wrapped(u, rng, low=FADE_RANGE[0], high=FADE_RANGE[1]))


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
    return _pose(u, x=cx + radius * np.cos(phi), y=cy + radius * np.sin(phi), angle=angle)


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
    return _pose(u, x=x, y=ground - height * _bounce_height(tau, from_apex=False), angle=angle)


def bounce(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor drops from high up at a fixed x and bounces, each bounce lower."""
    x = rng.uniform(*stage.bounds("x"))
    top, ground = stage.bounds("y")
    height = rng.uniform(0.7, 1.0) * (ground - top)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return _pose(u, x=x, y=ground - height * _bounce_height(_frac(u), from_apex=True), angle=angle)


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
    return _pose(u, x=pivot_x + length * np.sin(phi), y=pivot_y + length * np.cos(phi), angle=start - phi)


def jump(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor hops up and down at a fixed x, two hops per cycle, tiring: heights decay by :func:`_decay`."""
    x = rng.uniform(*stage.bounds("x"))
    top, ground = stage.bounds("y")
    height = rng.uniform(0.5, 0.9) * (ground - top)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return _pose(u, x=x, y=ground - height * _decay(u) * np.abs(np.sin(2.0 * math.pi * u)), angle=angle)


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


def _wander_path(
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
    x, y = _wander_path(u, stage, rng, knots_per_cycle=4, step=0.18 * stage.short_side, tiring=AMPLITUDE_DECAY)
    return _pose(u, x=x, y=y, angle=angle)


def jitter(u: np.ndarray, stage: Stage, rng: np.random.Generator) -> Pose:
    """Actor trembles around a fixed spot: independent random offsets, 16 per cycle (statistically reversible)."""
    amplitude = 0.6 * stage.radius
    x, y = _anchor(stage, rng, extra=amplitude)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    knots = rng.uniform(-amplitude, amplitude, size=(_knot_count(u, 16.0), 2))
    offsets = _knot_path(u, knots, knots_per_cycle=16.0)
    return _pose(u, x=x + offsets[:, 0], y=y + offsets[:, 1], angle=angle)


# --------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class ClassSpec:
    """One SynthMotion class: its motion, motion type, and the look it takes under ``appearance_bias``.

    ``mirror_of`` names the class whose motion this one mirrors (or None): for
    the same random draws, one's pose is the other's reflected left-right
    (MoveLeft/MoveRight), top-bottom (MoveUp/MoveDown, RotateCW/RotateCCW,
    OrbitCW/OrbitCCW), in log scale about the middle of ``ZOOM_RANGE``
    (Approach/Recede) or in opacity about the middle of ``FADE_RANGE``
    (FadeIn/FadeOut). Unlike a time reverse, the mirror keeps the arrow of time.
    ``tempo`` is the class's natural speed, the factor on every video's
    per-video speed; mirror partners share it.
    """

    name: str
    motion_type: str
    motion: Motion
    description: str
    shape: str  # the class's own look, used when a group takes it (appearance_bias)
    hue: float
    mirror_of: str | None = None
    tempo: float = 1.0


SYNTH_CLASSES: tuple[ClassSpec, ...] = (
    # name, motion type, motion, description, own shape, own hue, mirror partner, tempo
    ClassSpec("MoveLeft", "linear", move_left, "slides right to left, slowing down",
              "disc", 0.00, "MoveRight", 1.0),
    ClassSpec("MoveRight", "linear", move_right, "slides left to right, slowing down",
              "square", 0.06, "MoveLeft", 1.0),
    ClassSpec("MoveUp", "linear", move_up, "slides bottom to top, slowing down",
              "triangle", 0.12, "MoveDown", 0.8),
    ClassSpec("MoveDown", "linear", move_down, "slides top to bottom, slowing down",
              "star", 0.18, "MoveUp", 0.8),
    ClassSpec("Throw", "projectile", throw, "parabolic arc across, then bounces",
              "cross", 0.24, None, 1.6),
    ClassSpec("Bounce", "projectile", bounce, "drops in place and bounces lower and lower",
              "disc", 0.30, None, 1.25),
    ClassSpec("Approach", "local", approach, "grows in place, fast then settling",
              "square", 0.36, "Recede", 0.63),
    ClassSpec("Recede", "local", recede, "shrinks in place, fast then settling",
              "triangle", 0.42, "Approach", 0.63),
    ClassSpec("RotateCW", "local", rotate_cw, "spins clockwise in place, slowing down",
              "star", 0.48, "RotateCCW", 1.4),
    ClassSpec("RotateCCW", "local", rotate_ccw, "spins counter-clockwise in place, slowing down",
              "cross", 0.54, "RotateCW", 1.4),
    ClassSpec("FadeIn", "local", fade_in, "appears in place, fast then settling",
              "disc", 0.60, "FadeOut", 0.5),
    ClassSpec("FadeOut", "local", fade_out, "disappears in place, fast then settling",
              "square", 0.66, "FadeIn", 0.5),
    ClassSpec("OrbitCW", "oscillatory", orbit_cw, "circles clockwise, slowing down",
              "triangle", 0.72, "OrbitCCW", 1.1),
    ClassSpec("OrbitCCW", "oscillatory", orbit_ccw, "circles counter-clockwise, slowing down",
              "star", 0.78, "OrbitCW", 1.1),
    ClassSpec("Swing", "oscillatory", swing, "swings like a damped pendulum",
              "cross", 0.84, None, 0.7),
    ClassSpec("Jump", "oscillatory", jump, "hops up and down in place, each hop lower",
              "disc", 0.90, None, 1.8),
    ClassSpec("Jitter", "random_walk", jitter, "trembles around a spot",
              "square", 0.95, None, 2.0),
    ClassSpec("Wander", "random_walk", wander, "drifts by a Brownian walk, slowing down",
              "star", 0.03, None, 0.56),
)

_CLASS_BY_NAME = {spec.name: spec for spec in SYNTH_CLASSES}


def class_names() -> list[str]:
    """Names of all SynthMotion classes, in label order."""
    return [spec.name for spec in SYNTH_CLASSES]


def motion_type_labels(names: Sequence[str]) -> list[int]:
    """Index in ``MOTION_TYPES`` of each SynthMotion class in ``names`` (a class → motion-type map).

    Unknown names raise :class:`VidsslError` (via :func:`class_spec`).
    """
    return [MOTION_TYPES.index(class_spec(name).motion_type) for name in names]


def class_spec(name: str) -> ClassSpec:
    """The :class:`ClassSpec` called ``name``; unknown names raise :class:`VidsslError`."""
    try:
        return _CLASS_BY_NAME[name]
    except KeyError:
        raise VidsslError(f"unknown SynthMotion class {name!r}; expected one of {', '.join(class_names())}") from None


# --------------------------------------------------------------------------- looks


@dataclass(frozen=True)
class Look:
    """How an actor looks: shape, body colour (RGB 0-255), texture, size, and its contrast direction.

    ``away`` is white or black, whichever lies away from the background: the
    texture and the marker cap only push the body colour towards it, so no
    part of the actor is closer to the background than the body colour.
    """

    shape: str
    colour: tuple[float, float, float]
    texture: str
    texture_frequency: float
    texture_angle: float
    texture_amount: float  # at most MARKER_MIX / 2, so textured body and marker stay apart
    size: float  # diameter at scale 1, as a fraction of the frame's short side
    away: tuple[float, float, float] = (255.0, 255.0, 255.0)

    @property
    def marker(self) -> tuple[float, float, float]:
        """Colour of the marker cap: the body colour pushed ``MARKER_MIX`` of the way to ``away``."""
        return tuple(c + MARKER_MIX * (a - c) for c, a in zip(self.colour, self.away))


@dataclass(frozen=True)
class Backdrop:
    """A background pattern mixing two colours, defined in units of the frame's short side."""

    kind: str
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    frequency: float  # pattern cycles per short side
    angle: float
    noise_seed: int


def _hsv(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    """An RGB colour in 0-255 from HSV in [0, 1]."""
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (255.0 * r, 255.0 * g, 255.0 * b)


def luma(colour: Sequence[float]) -> float:
    """BT.601 luma (0-255): what a grayscale augmentation keeps."""
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _colour_with_luma(hue: float, saturation: float, target: float) -> tuple[float, float, float]:
    """A colour of ``hue`` whose luma is exactly ``target`` (0-255).

    Scales the brightest colour of that hue and saturation down, or, when even
    that is too dark, mixes it with white (luma is linear in RGB).
    """
    brightest = np.asarray(_hsv(hue, saturation, 1.0))
    top = luma(brightest)
    if target <= top:
        colour = brightest * (target / top)
    else:
        colour = brightest + (target - top) / (255.0 - top) * (255.0 - brightest)
    return tuple(float(c) for c in colour)


def _random_look(rng: np.random.Generator) -> Look:
    """An actor look drawn independently of the class: vivid colour, any shape, texture and size."""
    return Look(
        shape=SHAPES[rng.integers(len(SHAPES))],
        colour=_hsv(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.0)),
        texture=TEXTURES[rng.integers(len(TEXTURES))],
        texture_frequency=rng.uniform(2.0, 4.0),
        texture_angle=rng.uniform(0.0, math.pi),
        texture_amount=rng.uniform(0.1, 0.3),
        size=rng.uniform(0.18, 0.30),
    )


def _contrasting_backdrop(colour: Sequence[float], rng: np.random.Generator) -> tuple[Backdrop, tuple]:
    """A backdrop whose luma is >= ``MIN_CONTRAST`` away from the actor's ``colour``, and white or black "away".

    The background goes darker or lighter than the actor (whichever side has
    more room), so the actor stays visible even in grayscale.
    """
    actor = luma(colour)
    darker = actor - MIN_CONTRAST >= 255.0 - (actor + MIN_CONTRAST)
    lo, hi = (15.0, actor - MIN_CONTRAST) if darker else (actor + MIN_CONTRAST, 245.0)
    hue = rng.random()
    backdrop = Backdrop(
        kind=BACKDROPS[rng.integers(len(BACKDROPS))],
        colour_a=_colour_with_luma(hue, rng.uniform(0.0, 0.45), rng.uniform(lo, hi)),
        colour_b=_colour_with_luma(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.0, 0.45), rng.uniform(lo, hi)),
        frequency=rng.uniform(1.0, 4.0),
        angle=rng.uniform(0.0, math.pi),
        noise_seed=int(rng.integers(2**31)),
    )
    return backdrop, (255.0, 255.0, 255.0) if darker else (0.0, 0.0, 0.0)


def group_scene(spec: ClassSpec, *, group_seed: int, class_look: bool) -> tuple[Look, Backdrop]:
    """The actor look and backdrop shared by the videos of one group.

    With ``class_look`` the actor takes the class's own shape and hue (fixed
    saturation and value); otherwise both are random. The rest of the draw is
    the same either way.
    """
    rng = np.random.default_rng([group_seed, _LOOK])
    look = _random_look(rng)
    if class_look:
        look = replace(look, shape=spec.shape, colour=_hsv(spec.hue, 0.85, 0.95))
    backdrop, away = _contrasting_backdrop(look.colour, rng)
    return replace(look, away=away), backdrop


# --------------------------------------------------------------------------- painting


_TRIANGLE = tuple((0.95 * math.cos(a), 0.95 * math.sin(a)) for a in np.radians([-90.0, 30.0, 150.0]))
_STAR = tuple(
    ((0.95 if k % 2 == 0 else 0.42) * math.cos(a), (0.95 if k % 2 == 0 else 0.42) * math.sin(a))
    for k, a in enumerate(np.radians(-90.0 + 36.0 * np.arange(10)))
)


def _inside_polygon(qx: np.ndarray, qy: np.ndarray, vertices: Sequence[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule: is each point (qx, qy) inside the polygon?"""
    inside = np.zeros(qx.shape, dtype=bool)
    for (xa, ya), (xb, yb) in zip(vertices, vertices[-1:] + vertices[:-1]):
        if ya == yb:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses = (ya > qy) != (yb > qy)
        x_at = xa + (qy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (qx < x_at)
    return inside


def inside_shape(shape: str, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Is each sprite-space point inside ``shape``? Shapes fit the unit disc, centroid at the origin."""
    if shape == "disc":
        return qx * qx + qy * qy <= 0.9**2
    if shape == "square":
        return np.maximum(np.abs(qx), np.abs(qy)) <= 0.66
    if shape == "triangle":
        return _inside_polygon(qx, qy, _TRIANGLE)
    if shape == "star":
        return _inside_polygon(qx, qy, _STAR)
    if shape == "cross":
        ax, ay = np.abs(qx), np.abs(qy)
        return ((ax <= 0.3) & (ay <= 0.9)) | ((ay <= 0.3) & (ax <= 0.9))
    raise VidsslError(f"unknown SynthMotion shape {shape!r}; expected one of {', '.join(SHAPES)}")


def _texture(look: Look, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Pattern in [0, 1] painted on the actor, in sprite space (so it turns with the actor)."""
    f = math.pi * look.texture_frequency
    if look.texture == "stripes":
        along = qx * math.cos(look.texture_angle) + qy * math.sin(look.texture_angle)
        return 0.5 + 0.5 * np.sin(f * along)
    if look.texture == "dots":
        return (0.5 + 0.5 * np.sin(f * qx)) * (0.5 + 0.5 * np.sin(f * qy))
    if look.texture == "rings":
        return 0.5 + 0.5 * np.sin(f * np.hypot(qx, qy))
    return np.zeros_like(qx)


def _sprite_colour(look: Look, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """RGB (h, w, 3) of the actor at sprite points: textured body, plain marker cap on the +x side."""
    colour, away = np.asarray(look.colour, dtype=np.float32), np.asarray(look.away, dtype=np.float32)
    body = colour + (look.texture_amount * _texture(look, qx, qy))[..., None] * (away - colour)
    return np.where((qx > MARKER_START)[..., None], np.asarray(look.marker, dtype=np.float32), body)


def make_sprite(look: Look, *, max_radius: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The actor drawn once per video: a pyramid of (premultiplied colour, transmittance) images.

    Both are float32 (S, S, 3); transmittance is 1 - coverage, repeated per
    channel so blending needs no broadcasting (much faster on small boxes).
    Sprite point q in [-1, 1]^2 fills the image. Level 0 has four pixels per
    screen pixel of diameter at ``max_radius`` (edges sampled 2x2 per pixel);
    each next level halves the size by area averaging, so :func:`paint_sprite`
    can resample from a level at most 2x finer than the screen.
    """
    size = max(8, 2 * int(math.ceil(2.0 * max_radius)))
    centres = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    qx, qy = np.meshgrid(centres, centres)
    step = 2.0 / size
    coverage = sum(
        inside_shape(look.shape, qx + ox * step, qy + oy * step).astype(np.float32) for ox, oy in _SUBPIXELS
    ) / len(_SUBPIXELS)
    colour = coverage[..., None] * _sprite_colour(look, qx, qy)
    transmittance = np.repeat(1.0 - coverage[..., None], 3, axis=2)
    levels = [(colour.astype(np.float32), transmittance.astype(np.float32))]
    while levels[-1][0].shape[0] >= 8:
        half = levels[-1][0].shape[0] // 2
        levels.append(tuple(cv2.resize(image, (half, half), interpolation=cv2.INTER_AREA) for image in levels[-1]))
    return levels


def paint_sprite(
    frame: np.ndarray,
    sprite: list[tuple[np.ndarray, np.ndarray]],
    *,
    x: float,
    y: float,
    radius: float,
    angle: float,
    alpha: float,
) -> tuple[int, int, np.ndarray] | None:
    """Blend a sprite into ``frame`` (float32 H, W, 3) in place, centred at (x, y), turned by ``angle``.

    A frame pixel at offset d from the centre shows sprite point
    ``q = R(-angle) d / radius`` (bilinear, from the pyramid level with 1-2
    sprite pixels per screen pixel). Returns the blending weight (coverage x
    alpha) of the box it touched as ``(y0, x0, weight)``, or None when the
    sprite is entirely off the frame.
    """
    height, width = frame.shape[:2]
    x, y, radius, angle, alpha = float(x), float(y), float(radius), float(angle), float(alpha)
    x0, x1 = max(int(math.floor(x - radius)) - 1, 0), min(int(math.ceil(x + radius)) + 1, width)
    y0, y1 = max(int(math.floor(y - radius)) - 1, 0), min(int(math.ceil(y + radius)) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    finest = sprite[0][0].shape[0]
    level = min(max(int(math.log2(max(finest / (2.0 * radius), 1.0))), 0), len(sprite) - 1)
    colour, transmittance = sprite[level]
    size = colour.shape[0]
    scale = size / (2.0 * radius)  # sprite pixels per screen pixel
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    # Box pixel (i, j) has its centre at (x0 + i + 0.5, y0 + j + 0.5) on screen;
    # sprite pixel k has its centre at q = (2k + 1) / size - 1.
    dx, dy = x0 + 0.5 - x, y0 + 0.5 - y
    shift = size / 2.0 - 0.5
    to_sprite = np.array([[cos, sin, cos * dx + sin * dy + shift], [-sin, cos, -sin * dx + cos * dy + shift]])
    box = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    paint = cv2.warpAffine(colour, to_sprite, box, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    keep = cv2.warpAffine(
        transmittance, to_sprite, box, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=(1.0, 1.0, 1.0)
    )
    if alpha != 1.0:  # opacity: paint * alpha, keep = 1 - alpha * (1 - keep)
        paint *= alpha
        keep -= 1.0
        keep *= alpha
        keep += 1.0
    region = frame[y0:y1, x0:x1]
    region *= keep
    region += paint
    return y0, x0, 1.0 - keep[..., 0]


def _smooth_noise(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Value noise: smooth interpolation of a periodic ``grid`` at grid coordinates ``ys`` x ``xs``."""
    n = grid.shape[0]
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    wy, wx = ys - y0, xs - x0
    wy, wx = (wy * wy * (3 - 2 * wy))[:, None], (wx * wx * (3 - 2 * wx))[None, :]
    rows0, rows1 = (y0 % n)[:, None], ((y0 + 1) % n)[:, None]
    cols0, cols1 = (x0 % n)[None, :], ((x0 + 1) % n)[None, :]
    top = grid[rows0, cols0] * (1 - wx) + grid[rows0, cols1] * wx
    bottom = grid[rows1, cols0] * (1 - wx) + grid[rows1, cols1] * wx
    return top * (1 - wy) + bottom * wy


def paint_backdrop(backdrop: Backdrop, *, height: int, width: int, unit: float) -> np.ndarray:
    """The backdrop as float32 (height, width, 3); ``unit`` is the frame's short side in pixels."""
    ys = np.arange(height, dtype=np.float64) / unit
    xs = np.arange(width, dtype=np.float64) / unit
    cos, sin = math.cos(backdrop.angle), math.sin(backdrop.angle)
    along = xs[None, :] * cos + ys[:, None] * sin
    across = -xs[None, :] * sin + ys[:, None] * cos
    if backdrop.kind == "noise":
        grid = np.random.default_rng(backdrop.noise_seed).random((16, 16))
        mix = _smooth_noise(grid, ys * backdrop.frequency * 1.5, xs * backdrop.frequency * 1.5)
    elif backdrop.kind == "stripes":
        mix = np.clip(0.5 + 1.5 * np.sin(2.0 * math.pi * backdrop.frequency * along), 0.0, 1.0)
    else:  # checker
        cells = np.floor(along * backdrop.frequency) + np.floor(across * backdrop.frequency)
        mix = np.mod(cells, 2.0)
    a, b = np.asarray(backdrop.colour_a), np.asarray(backdrop.colour_b)
    return (a + mix[..., None] * (b - a)).astype(np.float32)


# --------------------------------------------------------------------------- one video


@dataclass(frozen=True)
class VideoPlan:
    """Everything that decides one video; :func:`render_video` is a pure function of it.

    ``pan_x``/``pan_y``: camera pan in px per frame; ``flicker``: relative
    amplitude of the background's brightness flicker; ``distractors``: number of drifting distractor
    sprites. The motion's own parameters and the textures come from
    ``video_seed`` and ``group_seed``.
    """

    class_name: str
    height: int
    width: int
    num_frames: int
    speed: float = 1.0
    phase0: float = 0.0
    group: int = 1
    clip: int = 1
    split: str = "train"
    class_look: bool = False
    distractors: int = 0
    pan_x: float = 0.0
    pan_y: float = 0.0
    flicker: float = 0.0
    group_seed: int = 0
    video_seed: int = 0

    @property
    def relative_path(self) -> str:
        """Path under ``<out>/videos`` in the UCF101 naming scheme."""
        return f"{self.class_name}/v_{self.class_name}_g{self.group:02d}_c{self.clip:02d}.mp4"


def motion_phases(plan: VideoPlan) -> np.ndarray:
    """Phase of every frame: ``phase0 + speed * t / CYCLE_FRAMES``."""
    return plan.phase0 + plan.speed * np.arange(plan.num_frames, dtype=np.float64) / CYCLE_FRAMES


def actor_pose(plan: VideoPlan, look: Look) -> tuple[Pose, float]:
    """The actor's pose per frame and its base radius in pixels."""
    stage = Stage(plan.height, plan.width, radius=0.5 * look.size * min(plan.height, plan.width))
    rng = np.random.default_rng([plan.video_seed, _MOTION])
    return class_spec(plan.class_name).motion(motion_phases(plan), stage, rng), stage.radius


def _distractor_tracks(plan: VideoPlan, radius: float, rng: np.random.Generator) -> list[tuple[list, Pose, float]]:
    """Slowly drifting distractors (sprite, pose, radius): random look, smaller than the actor, class-blind."""
    tracks = []
    slow = np.arange(plan.num_frames, dtype=np.float64) / (2.0 * CYCLE_FRAMES)
    for _ in range(plan.distractors):
        look = _random_look(rng)
        small = radius * rng.uniform(0.35, 0.6)
        stage = Stage(plan.height, plan.width, radius=small)
        x, y = _wander_path(slow, stage, rng, knots_per_cycle=2, step=0.1 * stage.short_side)
        pose = _pose(slow, x=x, y=y, angle=rng.uniform(0.0, 2.0 * math.pi))
        tracks.append((make_sprite(look, max_radius=small), pose, small))
    return tracks


def _camera(plan: VideoPlan, backdrop: Backdrop, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backdrop canvas with room for the pan, the crop origin (T, 2) per frame, and the flicker gain (T,)."""
    t = np.arange(plan.num_frames, dtype=np.float64)
    margin = int(math.ceil(max(abs(plan.pan_x), abs(plan.pan_y)) * plan.num_frames / 2.0)) + 1
    canvas = paint_backdrop(
        backdrop,
        height=plan.height + 2 * margin,
        width=plan.width + 2 * margin,
        unit=float(min(plan.height, plan.width)),
    )
    centred = t - (plan.num_frames - 1) / 2.0
    origin = np.rint(margin + np.stack([plan.pan_y * centred, plan.pan_x * centred], axis=1)).astype(np.int64)
    period = rng.uniform(8.0, 30.0)
    gain = 1.0 + plan.flicker * np.sin(2.0 * math.pi * t / period + rng.uniform(0.0, 2.0 * math.pi))
    return canvas, origin, gain.astype(np.float32)


def render_video(plan: VideoPlan, *, with_masks: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a video without encoding it: uint8 frames (T, H, W, 3) RGB and what was drawn.

    ``info`` holds the actor's per-frame ``centre`` (T, 2) as (x, y) pixels,
    ``scale``, ``angle`` (clockwise positive) and ``alpha``, plus its base
    ``radius``, ``shape`` and body ``colour``; with ``with_masks`` also
    ``mask`` (T, H, W) float32, the actor's blending weight (coverage x alpha;
    the actor is painted last, so this is exactly where it shows).
    """
    spec = class_spec(plan.class_name)
    look, backdrop = group_scene(spec, group_seed=plan.group_seed, class_look=plan.class_look)
    pose, radius = actor_pose(plan, look)
    sprite = make_sprite(look, max_radius=radius * float(pose.scale.max()))
    clutter_rng = np.random.default_rng([plan.video_seed, _CLUTTER])
    distractors = _distractor_tracks(plan, radius, clutter_rng)
    canvas, origin, gain = _camera(plan, backdrop, clutter_rng)

    height, width = plan.height, plan.width
    frames = np.empty((plan.num_frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((plan.num_frames, height, width), dtype=np.float32) if with_masks else None
    for t in range(plan.num_frames):
        oy, ox = origin[t]
        frame = canvas[oy : oy + height, ox : ox + width] * gain[t]
        for d_sprite, d_pose, d_radius in distractors:
            x, y, angle = d_pose.x[t], d_pose.y[t], d_pose.angle[t]
            paint_sprite(frame, d_sprite, x=x, y=y, radius=d_radius, angle=angle, alpha=1.0)
        x, y, size, angle, alpha = pose.x[t], pose.y[t], radius * pose.scale[t], pose.angle[t], pose.alpha[t]
        painted = paint_sprite(frame, sprite, x=x, y=y, radius=size, angle=angle, alpha=alpha)
        if masks is not None and painted is not None:
            y0, x0, weight = painted
            masks[t, y0 : y0 + weight.shape[0], x0 : x0 + weight.shape[1]] = weight
        frame += 0.5  # round to nearest on the truncating cast below
        np.maximum(frame, 0.0, out=frame)
        frames[t] = np.minimum(frame, 255.0, out=frame)

    info: dict[str, Any] = {
        "centre": np.stack([pose.x, pose.y], axis=1),
        "scale": pose.scale,
        "angle": pose.angle,
        "alpha": pose.alpha,
        "radius": radius,
        "shape": look.shape,
        "colour": look.colour,
    }
    if masks is not None:
        info["mask"] = masks
    return frames, info


def write_mp4(frames: np.ndarray, path: str | os.PathLike, *, fps: int) -> None:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264/yuv420p, a keyframe every ``KEYFRAME_INTERVAL`` frames.

    One encoder thread, so the bytes depend only on the frames.
    """
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise VidsslError(f"{path}: yuv420p needs even frame sizes, got {height}x{width}")
    keyint = KEYFRAME_INTERVAL
    options = {
        "crf": str(CRF),
        "preset": "veryfast",
        "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:threads=1",
    }
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def plan_from_entry(entry: dict[str, Any]) -> VideoPlan:
    """The :class:`VideoPlan` of one ``metadata.json`` video entry, e.g. to re-render it with masks."""
    keys = {f.name for f in fields(VideoPlan)} - {"class_name", "video_seed"}
    try:
        values = {key: entry[key] for key in keys}
        return VideoPlan(class_name=entry["class"], video_seed=entry["seed"], **values)
    except KeyError as missing:
        raise VidsslError(f"SynthMotion metadata entry {entry.get('path')!r}: missing key {missing}") from None


def _render_and_write(job: tuple[VideoPlan, str, int]) -> str:
    """Worker: render one planned video and write it to its path."""
    plan, path, fps = job
    frames, _ = render_video(plan)
    write_mp4(frames, path, fps=fps)
    return path


# --------------------------------------------------------------------------- planning a dataset


def _seed_of(*entropy: int) -> int:
    """A 32-bit seed mixed from integers (numpy's SeedSequence: close inputs give unrelated seeds)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def _name_key(name: str) -> int:
    """A stable integer for a class name, so a class's videos do not depend on which others are generated."""
    return zlib.crc32(name.encode("utf-8"))


def group_sizes(per_class: int) -> list[int]:
    """Clips per group: about ``CLIPS_PER_GROUP`` each, at least two groups when there are two videos."""
    groups = max(1, round(per_class / CLIPS_PER_GROUP))
    if per_class >= 2:
        groups = max(groups, 2)
    return [per_class // groups + (1 if g < per_class % groups else 0) for g in range(groups)]


def count_test_groups(num_groups: int, test_fraction: float) -> int:
    """Groups that go to the test split: ``round(test_fraction * groups)``, at least 1 and at most groups - 1.

    With ``test_fraction == 0`` or a single group, none.
    """
    if test_fraction <= 0.0 or num_groups < 2:
        return 0
    return min(max(round(test_fraction * num_groups), 1), num_groups - 1)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _even_size(rng: np.random.Generator, low: int, high: int) -> int:
    """A random even integer in [low, high] (rounded down to even, never below ``MIN_SIDE``)."""
    return max(MIN_SIDE, 2 * (int(rng.integers(low, high + 1)) // 2))


def plan_class(
    spec: ClassSpec,
    *,
    per_class: int,
    seed: int,
    appearance_bias: float,
    size_range: tuple[tuple[int, int], tuple[int, int]],
    length_range: tuple[int, int],
    speed_range: tuple[float, float],
    test_fraction: float,
) -> list[VideoPlan]:
    """The plans of one class's videos: groups g01.. (the first ``count_test_groups`` ones are test)."""
    key = _name_key(spec.name)
    sizes = group_sizes(per_class)
    test_groups = count_test_groups(len(sizes), test_fraction)
    plans = []
    index = 0
    for g, size in enumerate(sizes):
        group_seed = _seed_of(seed, key, 0, g)
        class_look = bool(np.random.default_rng([group_seed, _PLAN]).random() < appearance_bias)
        for c in range(size):
            video_seed = _seed_of(seed, key, 1, index)
            rng = np.random.default_rng([video_seed, _PLAN])
            pans = rng.random() < 0.5
            flickers = rng.random() < 0.5
            plans.append(
                VideoPlan(
                    class_name=spec.name,
                    height=_even_size(rng, *size_range[0]),
                    width=_even_size(rng, *size_range[1]),
                    num_frames=int(rng.integers(length_range[0], length_range[1] + 1)),
                    speed=spec.tempo * _log_uniform(rng, *speed_range),
                    phase0=float(rng.random()),
                    group=g + 1,
                    clip=c + 1,
                    split="test" if g < test_groups else "train",
                    class_look=class_look,
                    distractors=int(rng.integers(0, 3)),
                    pan_x=float(rng.uniform(-0.3, 0.3)) if pans else 0.0,
                    pan_y=float(rng.uniform(-0.3, 0.3)) if pans else 0.0,
                    flicker=float(rng.uniform(0.02, 0.08)) if flickers else 0.0,
                    group_seed=group_seed,
                    video_seed=video_seed,
                )
            )
            index += 1
    return plans


# --------------------------------------------------------------------------- the dataset on disk


def _check_range(name: str, value: Sequence[float], *, minimum: float, integer: bool) -> tuple:
    """``value`` as a (low, high) tuple with minimum <= low <= high, else VidsslError."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise VidsslError(f"synthmotion: {name} must be a (low, high) pair, got {value!r}") from None
    kind = int if integer else float
    if integer and not all(isinstance(v, (int, np.integer)) for v in (low, high)):
        raise VidsslError(f"synthmotion: {name} must hold integers, got {value!r}")
    if not (minimum <= low <= high):
        raise VidsslError(f"synthmotion: {name} must satisfy {minimum} <= low <= high, got {value!r}")
    return (kind(low), kind(high))


def _resolve_classes(classes: Sequence[str] | None) -> list[ClassSpec]:
    """The chosen classes in SYNTH_CLASSES order (so labels do not depend on the order asked)."""
    if classes is None:
        return list(SYNTH_CLASSES)
    if isinstance(classes, str) or len(classes) == 0:
        raise VidsslError(f"synthmotion: classes must be a non-empty list of class names, got {classes!r}")
    wanted = {class_spec(name).name for name in classes}
    return [spec for spec in SYNTH_CLASSES if spec.name in wanted]


def _arguments(
    *,
    per_class: int,
    seed: int,
    appearance_bias: float,
    size_range: Any,
    length_range: Any,
    speed_range: Any,
    fps: int,
    test_fraction: float,
    classes: Sequence[str] | None,
) -> dict[str, Any]:
    """Validated generation arguments as plain JSON values (what the cache compares)."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise VidsslError(f"per_class={per_class!r} (--per-class / data.synth_per_class): expected a positive integer")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise VidsslError(f"synthmotion: seed must be an integer >= 0, got {seed!r}")
    if not 0.0 <= appearance_bias <= 1.0:
        raise VidsslError(f"synthmotion: appearance_bias must be in [0, 1], got {appearance_bias!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise VidsslError(f"synthmotion: test_fraction must be in [0, 1), got {test_fraction!r}")
    if not isinstance(fps, (int, np.integer)) or fps < 1:
        raise VidsslError(f"synthmotion: fps must be an integer >= 1, got {fps!r}")
    try:
        heights, widths = size_range
    except (TypeError, ValueError):
        expected = "((h_low, h_high), (w_low, w_high))"
        raise VidsslError(f"synthmotion: size_range must be {expected}, got {size_range!r}") from None
    return {
        "per_class": int(per_class),
        "seed": int(seed),
        "appearance_bias": float(appearance_bias),
        "size_range": [
            list(_check_range("size_range heights", heights, minimum=MIN_SIDE, integer=True)),
            list(_check_range("size_range widths", widths, minimum=MIN_SIDE, integer=True)),
        ],
        "length_range": list(_check_range("length_range", length_range, minimum=2, integer=True)),
        "speed_range": list(_check_range("speed_range", speed_range, minimum=1e-3, integer=False)),
        "fps": int(fps),
        "test_fraction": float(test_fraction),
        "classes": [spec.name for spec in _resolve_classes(classes)],
    }


def _other_settings(out: Path, arguments: dict[str, Any]) -> str:
    """``per_class 2 -> 3`` when ``out`` holds a finished dataset of this generator version made with other
    arguments (regenerating it would change the videos existing runs read), else ``""``. Datasets of an older
    generator version, or unfinished ones, are regenerated."""
    try:
        metadata = json.loads((out / "metadata.json").read_text())
    except (OSError, ValueError):
        return ""
    saved = metadata.get("arguments")
    if metadata.get("version") != GENERATOR_VERSION or not isinstance(saved, dict) or saved == arguments:
        return ""
    changed = [f"{key} {saved.get(key)!r} -> {value!r}" for key, value in arguments.items() if saved.get(key) != value]
    return ", ".join(changed[:3])


def _is_complete(out: Path, arguments: dict[str, Any]) -> bool:
    """Does ``out`` hold a finished SynthMotion dataset made by this version with these arguments?"""
    try:
        metadata = json.loads((out / "metadata.json").read_text())
    except (OSError, ValueError):
        return False
    if metadata.get("version") != GENERATOR_VERSION or metadata.get("arguments") != arguments:
        return False
    needed = [out / "splits" / name for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt")]
    needed += [out / "videos" / video["path"] for video in metadata.get("videos", [])]
    return all(path.is_file() for path in needed)


def _is_synthmotion(out: Path) -> bool:
    """Was ``out`` written by this generator (so it may be replaced)?"""
    try:
        return json.loads((out / "metadata.json").read_text()).get("generator") == "synthmotion"
    except (OSError, ValueError, AttributeError):
        return False


def _write_splits(root: Path, specs: list[ClassSpec], plans: list[VideoPlan]) -> None:
    """UCF101 split files: classInd (1-based), trainlist01 with labels, testlist01 without."""
    label = {spec.name: i + 1 for i, spec in enumerate(specs)}
    splits = root / "splits"
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_text("".join(f"{label[s.name]} {s.name}\n" for s in specs))
    train = [f"{p.relative_path} {label[p.class_name]}\n" for p in plans if p.split == "train"]
    test = [f"{p.relative_path}\n" for p in plans if p.split == "test"]
    (splits / "trainlist01.txt").write_text("".join(train))
    (splits / "testlist01.txt").write_text("".join(test))


def _video_entry(plan: VideoPlan, label: int, fps: int) -> dict[str, Any]:
    """One video's metadata record."""
    spec = class_spec(plan.class_name)
    look, _ = group_scene(spec, group_seed=plan.group_seed, class_look=plan.class_look)
    entry = {"path": plan.relative_path, "label": label, "motion_type": spec.motion_type, "fps": fps}
    entry.update({key: value for key, value in asdict(plan).items() if key != "class_name"})
    entry["class"] = plan.class_name
    entry["seed"] = entry.pop("video_seed")
    entry["shape"] = look.shape
    entry["colour"] = [round(c) for c in look.colour]
    return entry


def _metadata(arguments: dict[str, Any], specs: list[ClassSpec], plans: list[VideoPlan]) -> dict[str, Any]:
    label = {spec.name: i + 1 for i, spec in enumerate(specs)}
    return {
        "generator": "synthmotion",
        "version": GENERATOR_VERSION,
        "arguments": arguments,
        "cycle_frames": CYCLE_FRAMES,
        "motion_types": list(MOTION_TYPES),
        "classes": [
            {
                "label": label[spec.name],
                "name": spec.name,
                "motion_type": spec.motion_type,
                "description": spec.description,
                "mirror_of": spec.mirror_of,
            }
            for spec in specs
        ],
        "videos": [_video_entry(plan, label[plan.class_name], arguments["fps"]) for plan in plans],
    }


def _one_thread_each() -> None:
    """Pool initializer: the processes are the parallelism; OpenCV threads would only contend."""
    cv2.setNumThreads(1)


def _render_all(jobs: list[tuple[VideoPlan, str, int]], *, workers: int, progress: bool) -> None:
    """Render and write every job, over ``workers`` processes (inline when workers <= 1)."""
    with progress_bar(total=len(jobs), desc="SynthMotion", unit="video", enabled=progress) as bar:
        if workers <= 1:
            for job in jobs:
                _render_and_write(job)
                bar.update()
            return
        # spawn: the caller may already run threads (torch), which fork does not survive safely.
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_one_thread_each) as pool:
            for _ in pool.imap_unordered(_render_and_write, jobs, chunksize=2):
                bar.update()


def _move_into_place(staging: Path, out: Path, arguments: dict[str, Any]) -> None:
    """Rename the finished ``staging`` dir to ``out``, replacing an older SynthMotion dataset there.

    If another process finished the same dataset first, keep theirs.
    """
    if out.exists():
        if _is_complete(out, arguments):
            return
        retired = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out, retired)
        shutil.rmtree(retired, ignore_errors=True)
    try:
        os.rename(staging, out)
    except OSError:
        if not _is_complete(out, arguments):
            raise


def generate_synthmotion(
    out_dir: str | os.PathLike,
    *,
    per_class: int = 20,
    seed: int = 0,
    appearance_bias: float = 0.0,
    size_range: tuple[tuple[int, int], tuple[int, int]] = ((96, 128), (120, 176)),
    length_range: tuple[int, int] = (48, 120),
    speed_range: tuple[float, float] = (0.8, 1.25),
    fps: int = 25,
    test_fraction: float = 0.3,
    workers: int = 2,
    progress: bool = True,
    classes: Sequence[str] | None = None,
) -> Path:
    """Generate (or reuse) the SynthMotion dataset in ``out_dir``; return ``out_dir`` as a Path.

    ``size_range`` is ((H low, H high), (W low, W high)) in pixels, sizes
    rounded down to even; lengths in frames; ``speed_range`` bounds the
    log-uniform per-video factor on the class's tempo (intrinsic speed =
    tempo x factor). If ``out_dir/metadata.json`` records the same
    version and arguments and every file exists, nothing is written. Otherwise
    everything is written to a hidden sibling directory and renamed into
    place at the end, so an interrupted run never leaves a dataset that looks
    complete. ``out_dir`` must be new, empty, or an earlier SynthMotion output.
    ``workers`` and ``progress`` do not change the output; ``workers`` 0 or 1
    renders in this process.
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise VidsslError(f"workers={workers!r} (--workers): expected an integer >= 0 (0 or 1 = no extra processes)")
    arguments = _arguments(
        per_class=per_class,
        seed=seed,
        appearance_bias=appearance_bias,
        size_range=size_range,
        length_range=length_range,
        speed_range=speed_range,
        fps=fps,
        test_fraction=test_fraction,
        classes=classes,
    )
    out = Path(out_dir).expanduser()
    if _is_complete(out, arguments):
        return out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_synthmotion(out))):
        raise VidsslError(f"{out}: exists and is not a SynthMotion dataset; give a new or empty directory")
    other = _other_settings(out, arguments)
    if other:
        raise VidsslError(f"{out} holds a SynthMotion dataset of other settings ({other}) that runs may read; "
                          f"give another --out (or delete it first)")

    specs = _resolve_classes(arguments["classes"])
    plan_arguments = {key: value for key, value in arguments.items() if key not in ("fps", "classes")}
    plans = [plan for spec in specs for plan in plan_class(spec, **plan_arguments)]
    target = out.resolve()
    make_output_dir(target.parent)
    remove_abandoned_staging(target)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        for spec in specs:
            (staging / "videos" / spec.name).mkdir(parents=True)
        jobs = [(plan, str(staging / "videos" / plan.relative_path), int(fps)) for plan in plans]
        _render_all(jobs, workers=workers, progress=progress)
        _write_splits(staging, specs, plans)
        metadata = _metadata(arguments, specs, plans)
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
        _move_into_place(staging, target, arguments)
    except OSError as err:
        raise OutputError(err.filename or staging, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def remove_abandoned_staging(target: Path) -> None:
    """Delete ``.<name>.partial-<pid>-…`` folders of generations into ``target`` whose process is gone (killed)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.partial-(\d+)-[0-9a-f]{{8}}$")
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and int(match[1]) != os.getpid() and not process_alive(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)
