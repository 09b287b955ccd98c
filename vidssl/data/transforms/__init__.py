"""Clip-consistent augmentation.

Functional ops live in :mod:`vidssl.data.transforms.functional` (uint8 numpy
(T, H, W, C) in, parameters drawn once per clip); :mod:`.clip` wraps them as
:class:`ClipAugment` (training) and :class:`EvalTransform` (evaluation), both
returning uint8 torch (C, T, H, W). Batches become floats on the device with
:func:`normalize_on_device`.
"""

from vidssl.data.transforms.clip import ClipAugment, EvalTransform
from vidssl.data.transforms.functional import (
    KINETICS_MEAN,
    KINETICS_STD,
    normalize_on_device,
    random_resized_crop_params,
    rgb_diff,
)

__all__ = [
    "KINETICS_MEAN",
    "KINETICS_STD",
    "ClipAugment",
    "EvalTransform",
    "normalize_on_device",
    "random_resized_crop_params",
    "rgb_diff",
]
