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
    MODALITIES,
    check_modality,
    frames_for_modality,
    normalize_on_device,
    random_resized_crop_params,
    rgb_diff,
    to_model_input,
)

__all__ = [
    "KINETICS_MEAN",
    "KINETICS_STD",
    "ClipAugment",
    "EvalTransform",
    "MODALITIES",
    "check_modality",
    "frames_for_modality",
    "normalize_on_device",
    "to_model_input",
    "random_resized_crop_params",
    "rgb_diff",
]
