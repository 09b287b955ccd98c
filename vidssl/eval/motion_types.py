"""The Motion task's labels (TransRank appendix A.1): every action class mapped to one of five motion types.

mHMDB51 (TransRank Table 10, after its reference [47]) maps the 51 HMDB51
classes to linear, projectile, local, oscillatory and random motion;
SynthMotion's classes carry their motion type in their own specification
(:func:`vidssl.data.synthmotion.motion_type_labels`). The task is then a 5-way
finetune on the re-labelled videos (``vidssl eval motion``).
"""
from __future__ import annotations

from collections.abc import Sequence

from vidssl.data.synthmotion import MOTION_TYPES, motion_type_labels
from vidssl.errors import VidsslError

MHMDB51 = {
    "linear": ("brush_hair", "climb", "climb_stairs", "punch", "push", "ride_bike", "ride_horse", "run",
               "shoot_bow", "walk"),
    "projectile": ("cartwheel", "catch", "dive", "flic_flac", "golf", "handstand", "hit", "jump", "shoot_ball",
                   "somersault", "swing_baseball", "throw"),
    "local": ("chew", "drink", "eat", "kiss", "laugh", "pour", "shake_hands", "shoot_gun", "smile", "smoke", "talk",
              "wave"),
    "oscillatory": ("clap", "dribble", "pullup", "pushup", "situp"),
    "random_walk": ("draw_sword", "fall_floor", "fencing", "hug", "kick", "kick_ball", "pick", "sit", "stand",
                    "sword", "sword_exercise", "turn"),
}
"""TransRank Table 10, HMDB51 folder names; the "Random" column is SynthMotion's ``random_walk`` type."""


def _hmdb51_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def mhmdb51_type_labels(names: Sequence[str]) -> list[int]:
    """Index in ``MOTION_TYPES`` of each HMDB51 class in ``names`` (folder names such as ``brush_hair``)."""
    by_class = {cls: MOTION_TYPES.index(kind) for kind, classes in MHMDB51.items() for cls in classes}
    unknown = [name for name in names if _hmdb51_key(name) not in by_class]
    if unknown:
        raise VidsslError(f"motion task: {unknown[0]!r} is not an HMDB51 class of TransRank Table 10's mapping")
    return [by_class[_hmdb51_key(name)] for name in names]


def motion_type_mapping(class_names: Sequence[str], dataset_format: str) -> list[int]:
    """Motion type of every class: HMDB51 by Table 10, SynthMotion by its class specification."""
    if dataset_format == "hmdb51":
        return mhmdb51_type_labels(class_names)
    if dataset_format == "synthmotion":
        return motion_type_labels(class_names)
    raise VidsslError(
        f"motion task: motion types are known for hmdb51 (TransRank Table 10) and synthmotion, not {dataset_format!r}"
    )
