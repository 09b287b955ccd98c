"""The SynthMotion classes: each one's motion, motion type, mirror partner, tempo and own look."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vidssl.data.synthmotion.motions import (
    Motion,
    approach,
    bounce,
    fade_in,
    fade_out,
    jitter,
    jump,
    move_down,
    move_left,
    move_right,
    move_up,
    orbit_ccw,
    orbit_cw,
    recede,
    rotate_ccw,
    rotate_cw,
    swing,
    throw,
    wander,
)
from vidssl.errors import VidsslError

MOTION_TYPES = ("linear", "projectile", "local", "oscillatory", "random_walk")


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
