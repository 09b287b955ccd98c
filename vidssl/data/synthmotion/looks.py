"""Looks: the actor's shape, colour and texture and the background pattern, drawn once per group."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from vidssl.data.synthmotion.classes import ClassSpec
from vidssl.data.synthmotion.seeds import STREAM_LOOK

SHAPES = ("disc", "square", "triangle", "star", "cross")
BACKDROPS = ("noise", "stripes", "checker")
TEXTURES = ("plain", "stripes", "dots", "rings")
MARKER_MIX = 0.6  # how far the marker colour goes from the body colour towards white/black
MIN_CONTRAST = 60.0  # least luma difference between the actor's body colour and the background


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
        red, green, blue = (c + MARKER_MIX * (a - c) for c, a in zip(self.colour, self.away))
        return (red, green, blue)


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


def luma(colour: Sequence[float] | np.ndarray) -> float:
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
    red, green, blue = (float(c) for c in colour)
    return (red, green, blue)


def random_look(rng: np.random.Generator) -> Look:
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
    rng = np.random.default_rng([group_seed, STREAM_LOOK])
    look = random_look(rng)
    if class_look:
        look = replace(look, shape=spec.shape, colour=_hsv(spec.hue, 0.85, 0.95))
    backdrop, away = _contrasting_backdrop(look.colour, rng)
    return replace(look, away=away), backdrop
