"""Clip transforms: thin wrappers that draw parameters once per clip and call the functional ops.

Input: uint8 numpy (T, H, W, C) RGB frames. Output: uint8 torch (C, T, H, W).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vidssl.checks import (
    ArgumentError,
    check_int_at_least,
    check_positive_int,
    check_probability,
    check_range_pair,
    is_int_at_least,
)
from vidssl.data.transforms import functional as F


class ClipAugment:
    """Training augmentation with one set of random parameters per clip (TransRank §4.4).

    In order: RandomResizedCrop (crop cut from the original frames, then one
    resize per frame to ``size × size``) — or, with ``resize=(h, w)``, a resize
    of every frame to h × w followed by a random ``size × size`` crop (C3D-style,
    SRO §IV-D: 128×171 then 112; ``scale`` and ``ratio`` are then unused) —, colour jitter with probability
    ``jitter_p`` (brightness, contrast, saturation, hue in random order; ``hue=0``
    skips the costly HSV round trip), grayscale with probability
    ``grayscale_p``, Gaussian blur (σ ~ U[``blur_sigma``]) with probability
    ``blur_p``, horizontal flip with probability ``flip_p``, and — if
    ``rotate`` — a rotation by k·90°, k uniform in {0, 1, 2, 3}.

    ``__call__(frames, rng)`` returns ``(clip, info)``: ``clip`` is uint8 torch
    (C, T, size, size); ``info`` has ``"aspect_ratio"`` (w/h of the crop region
    in original pixels, the label of TransRank's aspect-ratio task),
    ``"flipped"`` (bool) and ``"rotation_k"`` (int, 0 without ``rotate``).

    Example::

        augment = ClipAugment(112, hue=0.0)
        clip, info = augment(frames_thwc_uint8, np.random.default_rng(0))
    """

    def __init__(
        self,
        size: int = 112,
        *,
        scale: tuple[float, float] = (0.2, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.0,
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        rotate: bool = False,
        resize: tuple[int, int] | None = None,
    ) -> None:
        self.size = check_positive_int("size", size)
        self.scale = check_range_pair("scale", scale, at_most=1)
        self.ratio = check_range_pair("ratio", ratio)
        self.blur_sigma = check_range_pair("blur_sigma", blur_sigma)
        if resize is not None:
            if len(resize) != 2 or not all(is_int_at_least(v, size) for v in resize):
                raise ArgumentError("resize", f"expected (height, width) integers >= size {size}, got {resize!r}")
            resize = (int(resize[0]), int(resize[1]))
        self.resize = resize
        self.flip_p = check_probability("flip_p", flip_p)
        self.jitter_p = check_probability("jitter_p", jitter_p)
        self.grayscale_p = check_probability("grayscale_p", grayscale_p)
        self.blur_p = check_probability("blur_p", blur_p)
        self.rotate = bool(rotate)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)
        # Validate the jitter strengths now rather than on the first clip.
        F.color_jitter_params(
            brightness=self.brightness,
            contrast=self.contrast,
            saturation=self.saturation,
            hue=self.hue,
            rng=np.random.default_rng(0),
        )

    def __repr__(self) -> str:
        return (
            f"ClipAugment(size={self.size}, scale={self.scale}, ratio={self.ratio}, flip_p={self.flip_p}, "
            f"brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, "
            f"hue={self.hue}, jitter_p={self.jitter_p}, grayscale_p={self.grayscale_p}, "
            f"blur_p={self.blur_p}, blur_sigma={self.blur_sigma}, rotate={self.rotate}, resize={self.resize})"
        )

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
        F.check_clip(frames)
        if self.resize is None:
            clip, aspect_ratio = self._random_resized_crop(frames, rng)
        else:
            clip, aspect_ratio = self._resize_then_random_crop(frames, self.resize, rng)
        if self.jitter_p > 0 and rng.random() < self.jitter_p:
            ops = F.color_jitter_params(
                brightness=self.brightness,
                contrast=self.contrast,
                saturation=self.saturation,
                hue=self.hue,
                rng=rng,
            )
            clip = F.color_jitter(clip, ops)
        if self.grayscale_p > 0 and rng.random() < self.grayscale_p:
            clip = F.to_grayscale(clip)
        if self.blur_p > 0 and rng.random() < self.blur_p:
            clip = F.gaussian_blur(clip, float(rng.uniform(*self.blur_sigma)))
        flipped = bool(self.flip_p > 0 and rng.random() < self.flip_p)
        if flipped:
            clip = F.hflip(clip)
        rotation_k = int(rng.integers(0, 4)) if self.rotate else 0
        if rotation_k:
            clip = F.rotate90(clip, rotation_k)
        info = {"aspect_ratio": aspect_ratio, "flipped": flipped, "rotation_k": rotation_k}
        return F.to_clip_tensor(clip), info


    def _random_resized_crop(self, frames: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """Crop region drawn by scale and ratio, resized to size × size; also its w/h in original pixels."""
        height, width = frames.shape[1:3]
        top, left, crop_h, crop_w = F.random_resized_crop_params(
            height, width, scale=self.scale, ratio=self.ratio, rng=rng
        )
        return F.resize(F.crop(frames, top, left, crop_h, crop_w), self.size, self.size), crop_w / crop_h

    def _resize_then_random_crop(
        self, frames: np.ndarray, resize: tuple[int, int], rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """Every frame resized to ``resize``, then one random size × size crop; also its w/h in original pixels."""
        height, width = frames.shape[1:3]
        resized_h, resized_w = resize
        top = int(rng.integers(0, resized_h - self.size + 1))
        left = int(rng.integers(0, resized_w - self.size + 1))
        clip = F.crop(F.resize(frames, resized_h, resized_w), top, left, self.size, self.size)
        return np.ascontiguousarray(clip), (width / resized_w) / (height / resized_h)


class EvalTransform:
    """Deterministic evaluation transform: resize the short side to ``resize_short``, centre-crop ``size``.

    ``__call__(frames)`` takes uint8 numpy (T, H, W, C) and returns uint8 torch
    (C, T, size, size). Frames smaller than ``resize_short`` are upscaled.
    With ``crops=3``, :meth:`views` gives the three crops along the long side
    (:func:`vidssl.data.transforms.functional.three_crops`) as (3, C, T, size, size).
    """

    def __init__(self, size: int = 112, *, resize_short: int = 128, crops: int = 1) -> None:
        self.size = check_positive_int("size", size)
        self.resize_short = check_int_at_least("resize_short", resize_short, self.size)
        if crops not in (1, 3):
            raise ArgumentError("crops", f"expected 1 (centre) or 3 (along the long side), got {crops!r}")
        self.crops = int(crops)

    def __repr__(self) -> str:
        return f"EvalTransform(size={self.size}, resize_short={self.resize_short}, crops={self.crops})"

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        F.check_clip(frames)
        resized = F.resize_short_side(frames, self.resize_short)
        return F.to_clip_tensor(F.center_crop(resized, self.size))

    def views(self, frames: np.ndarray) -> torch.Tensor:
        """(crops, C, T, size, size): the centre crop alone, or the three crops along the long side."""
        if self.crops == 1:
            return self(frames)[None]
        F.check_clip(frames)
        resized = F.resize_short_side(frames, self.resize_short)
        return torch.stack([F.to_clip_tensor(view) for view in F.three_crops(resized, self.size)])
