"""One video: its :class:`VideoPlan` and the frames :func:`render_video` draws from it (no encoding)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from vidssl.data.synthmotion.classes import class_spec
from vidssl.data.synthmotion.looks import Backdrop, Look, group_scene, random_look
from vidssl.data.synthmotion.motions import CYCLE_FRAMES, Pose, Stage, make_pose, wander_path
from vidssl.data.synthmotion.painting import make_sprite, paint_backdrop, paint_sprite
from vidssl.data.synthmotion.seeds import STREAM_CLUTTER, STREAM_MOTION
from vidssl.errors import VidsslError


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
    rng = np.random.default_rng([plan.video_seed, STREAM_MOTION])
    return class_spec(plan.class_name).motion(motion_phases(plan), stage, rng), stage.radius


def _distractor_tracks(plan: VideoPlan, radius: float, rng: np.random.Generator) -> list[tuple[list, Pose, float]]:
    """Slowly drifting distractors (sprite, pose, radius): random look, smaller than the actor, class-blind."""
    tracks = []
    slow = np.arange(plan.num_frames, dtype=np.float64) / (2.0 * CYCLE_FRAMES)
    for _ in range(plan.distractors):
        look = random_look(rng)
        small = radius * rng.uniform(0.35, 0.6)
        stage = Stage(plan.height, plan.width, radius=small)
        x, y = wander_path(slow, stage, rng, knots_per_cycle=2, step=0.1 * stage.short_side)
        pose = make_pose(slow, x=x, y=y, angle=rng.uniform(0.0, 2.0 * math.pi))
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
    clutter_rng = np.random.default_rng([plan.video_seed, STREAM_CLUTTER])
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


def plan_from_entry(entry: dict[str, Any]) -> VideoPlan:
    """The :class:`VideoPlan` of one ``metadata.json`` video entry, e.g. to re-render it with masks."""
    keys = {f.name for f in fields(VideoPlan)} - {"class_name", "video_seed"}
    try:
        values = {key: entry[key] for key in keys}
        return VideoPlan(class_name=entry["class"], video_seed=entry["seed"], **values)
    except KeyError as missing:
        raise VidsslError(f"SynthMotion metadata entry {entry.get('path')!r}: missing key {missing}") from None
