"""Painting: shapes in sprite space, the actor's sprite pyramid, blending it into a frame, backdrops."""

from __future__ import annotations

import math

import cv2
import numpy as np

from vidssl.data.synthmotion.looks import SHAPES, Backdrop, Look
from vidssl.errors import VidsslError

MARKER_START = 0.25  # sprite x beyond which the actor is painted in its marker colour

# Sub-pixel sample offsets for anti-aliased sprite edges (a 2x2 grid per pixel).
_SUBPIXELS = ((-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25))


_TRIANGLE = tuple((0.95 * math.cos(a), 0.95 * math.sin(a)) for a in np.radians([-90.0, 30.0, 150.0]))
_STAR = tuple(
    ((0.95 if k % 2 == 0 else 0.42) * math.cos(a), (0.95 if k % 2 == 0 else 0.42) * math.sin(a))
    for k, a in enumerate(np.radians(-90.0 + 36.0 * np.arange(10)))
)


def _inside_polygon(qx: np.ndarray, qy: np.ndarray, vertices: tuple[tuple[float, float], ...]) -> np.ndarray:
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
    hits = np.zeros(qx.shape, dtype=np.float32)
    for ox, oy in _SUBPIXELS:
        hits += inside_shape(look.shape, qx + ox * step, qy + oy * step).astype(np.float32)
    coverage = hits / len(_SUBPIXELS)
    colour = coverage[..., None] * _sprite_colour(look, qx, qy)
    transmittance = np.repeat(1.0 - coverage[..., None], 3, axis=2)
    levels: list[tuple[np.ndarray, np.ndarray]] = [(colour.astype(np.float32), transmittance.astype(np.float32))]
    while levels[-1][0].shape[0] >= 8:
        half = levels[-1][0].shape[0] // 2
        colour_half, transmittance_half = (
            cv2.resize(image, (half, half), interpolation=cv2.INTER_AREA) for image in levels[-1]
        )
        levels.append((colour_half, transmittance_half))
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
    paint: np.ndarray = cv2.warpAffine(
        colour, to_sprite, box, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
    )
    keep: np.ndarray = cv2.warpAffine(
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
