"""Functional core of the clip transforms.

Every op takes a clip as **uint8 numpy (T, H, W, C)**, RGB, and applies the
same parameters to every frame, so a clip stays temporally consistent
(STYLE.md habit 7). Random parameters are drawn by the ``*_params`` functions
from a ``numpy.random.Generator`` passed in, once per clip; the ops
themselves are deterministic.

Speed notes: crops are views (no copy); each frame is resized once with
OpenCV; colour ops run on the small resized clip, treated as one tall
``(T·H, W, C)`` image so OpenCV handles the whole clip in one call, and
brightness/contrast/saturation are fused into one affine pass; pixels stay
uint8 until :func:`normalize_on_device` turns a batch into floats.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from vidssl.checks import check_choice, check_non_negative, check_number_in, check_range_pair
from vidssl.errors import VidsslError

KINETICS_MEAN: tuple[float, float, float] = (0.43216, 0.394666, 0.37645)
"""Per-channel RGB mean of Kinetics in [0, 1], as torchvision's video models."""
KINETICS_STD: tuple[float, float, float] = (0.22803, 0.22145, 0.216989)
"""Per-channel RGB standard deviation of Kinetics in [0, 1]."""

AREA_SHRINK_FACTOR = 3.0
"""Resizes that shrink more than this use INTER_AREA (anti-aliased, ~6× slower); others INTER_LINEAR."""


def check_clip(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """Raise VidsslError unless ``frames`` is a uint8 (T, H, W, 3) array with T, H, W ≥ 1."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        raise VidsslError(
            f"{name} must be a uint8 numpy array (T, H, W, 3), got "
            f"{type(frames).__name__} {getattr(frames, 'dtype', '')} {getattr(frames, 'shape', '')}"
        )
    if frames.shape[3] != 3 or min(frames.shape[:3]) < 1:
        raise VidsslError(f"{name} must have shape (T, H, W, 3) with T, H, W >= 1, got {frames.shape}")
    return frames


def _as_tall_image(frames: np.ndarray) -> np.ndarray:
    """View a contiguous (T, H, W, C) clip as one (T·H, W, C) image (no copy)."""
    frames = np.ascontiguousarray(frames)
    t, h, w, c = frames.shape
    return frames.reshape(t * h, w, c)


# --------------------------------------------------------------------------- geometry


def random_resized_crop_params(
    height: int,
    width: int,
    *,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    rng: np.random.Generator,
    attempts: int = 10,
) -> tuple[int, int, int, int]:
    """Draw a RandomResizedCrop region ``(top, left, h, w)`` in original pixels.

    The region's area is a fraction ``U[scale]`` of the frame and its aspect
    ratio ``w / h`` is log-uniform in ``ratio`` (the usual Inception-style crop).
    After ``attempts`` draws that do not fit, the largest centred region whose
    ratio is clamped into ``ratio`` is used. ``w / h`` of the returned region is
    the "original aspect ratio" label of TransRank §4.3 (ALGORITHMS.md).
    """
    if height < 1 or width < 1:
        raise VidsslError(f"frame size must be positive, got {height}x{width}")
    check_range_pair("scale", scale, at_most=1)
    check_range_pair("ratio", ratio)
    area = height * width
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(attempts):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_low, log_high))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    frame_ratio = width / height
    if frame_ratio < ratio[0]:
        w, h = width, max(1, int(round(width / ratio[0])))
    elif frame_ratio > ratio[1]:
        h, w = height, max(1, int(round(height * ratio[1])))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def crop(frames: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Cut the same region from every frame: a view of shape (T, height, width, C)."""
    if top < 0 or left < 0 or top + height > frames.shape[1] or left + width > frames.shape[2]:
        raise VidsslError(
            f"crop ({top}, {left}, {height}, {width}) does not fit frames of size "
            f"{frames.shape[1]}x{frames.shape[2]}"
        )
    return frames[:, top : top + height, left : left + width]


def interpolation_for(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    """INTER_AREA when shrinking by more than AREA_SHRINK_FACTOR (avoids aliasing), else INTER_LINEAR."""
    shrink = max(src_hw[0] / dst_hw[0], src_hw[1] / dst_hw[1])
    return cv2.INTER_AREA if shrink > AREA_SHRINK_FACTOR else cv2.INTER_LINEAR


def resize(frames: np.ndarray, height: int, width: int, interpolation: int | None = None) -> np.ndarray:
    """Resize every frame to ``height × width`` (one ``cv2.resize`` per frame) → contiguous uint8.

    ``interpolation`` defaults to :func:`interpolation_for`. Works on
    non-contiguous crop views without copying them first.
    """
    t, src_h, src_w, c = frames.shape
    if (src_h, src_w) == (height, width):
        return np.ascontiguousarray(frames)
    if interpolation is None:
        interpolation = interpolation_for((src_h, src_w), (height, width))
    out = np.empty((t, height, width, c), dtype=np.uint8)
    for i in range(t):
        cv2.resize(frames[i], (width, height), dst=out[i], interpolation=interpolation)
    return out


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(h, w) after scaling so the shorter side is ``short``, keeping the aspect ratio."""
    if height <= width:
        return short, max(1, int(round(width * short / height)))
    return max(1, int(round(height * short / width))), short


def resize_short_side(frames: np.ndarray, short: int) -> np.ndarray:
    """Resize every frame so its shorter side is ``short`` pixels (aspect kept)."""
    height, width = short_side_size(frames.shape[1], frames.shape[2], short)
    return resize(frames, height, width)


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Central ``size × size`` region of every frame (a view); frames must be at least that big."""
    h, w = frames.shape[1:3]
    if h < size or w < size:
        raise VidsslError(f"cannot centre-crop {size}x{size} from frames of size {h}x{w}")
    top, left = (h - size) // 2, (w - size) // 2
    return crop(frames, top, left, size, size)


def three_crops(frames: np.ndarray, size: int) -> list[np.ndarray]:
    """Three ``size × size`` crops spread along the long side: start, centre, end (views).

    The test-time "3 crops" of CORP's 10 × 3 protocol (after SlowFast / CVRL):
    left, centre, right for landscape frames (top, centre, bottom for portrait),
    each centred on the short side.
    """
    h, w = frames.shape[1:3]
    if h < size or w < size:
        raise VidsslError(f"cannot crop {size}x{size} from frames of size {h}x{w}")
    if w >= h:
        top = (h - size) // 2
        return [crop(frames, top, left, size, size) for left in (0, (w - size) // 2, w - size)]
    left = (w - size) // 2
    return [crop(frames, top, left, size, size) for top in (0, (h - size) // 2, h - size)]


def hflip(frames: np.ndarray) -> np.ndarray:
    """Mirror every frame left-right (reverses the W axis; a view)."""
    return frames[:, :, ::-1]


def rotate90(frames: np.ndarray, k: int) -> np.ndarray:
    """Rotate every frame by ``k · 90°`` counter-clockwise, as ``np.rot90`` on the (H, W) axes (a view)."""
    return np.rot90(frames, k=k, axes=(1, 2))


# --------------------------------------------------------------------------- colour
#
# Brightness, contrast and saturation are affine maps of the RGB vector, so a
# run of them is composed into one 3×4 matrix and applied in a single
# ``cv2.transform`` pass over the clip (uint8 in, rounded and saturated uint8
# out). Unlike torchvision, values are therefore clipped to [0, 255] once per
# run instead of after every op; the contrast mean is the clip's mean carried
# exactly through the preceding maps (means commute with affine maps).

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
"""ITU-R 601 luma weights of R, G, B (as OpenCV's RGB2GRAY and torchvision's rgb_to_grayscale)."""

_IDENTITY = np.eye(3)
_TO_GRAY = np.tile(LUMA_WEIGHTS, (3, 1))  # every output channel = luma of the input pixel


def _apply_affine(frames: np.ndarray, matrix: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``matrix @ rgb + bias`` for every pixel of the clip, rounded and saturated to uint8 (one OpenCV pass)."""
    affine = np.concatenate([matrix, bias[:, None]], axis=1).astype(np.float32)
    return cv2.transform(_as_tall_image(frames), affine).reshape(frames.shape)


def _clip_mean_rgb(frames: np.ndarray) -> np.ndarray:
    return np.array(cv2.mean(_as_tall_image(frames))[:3])


def _affine_step(name: str, value: float, mean_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine map (matrix, bias) of one colour op, given the clip's current mean colour.

    - brightness b: ``b · x``
    - contrast c: ``c · x + (1 − c) · mean luma of the clip``
    - saturation s: ``s · x + (1 − s) · luma(x)``
    """
    if name == "brightness":
        return value * _IDENTITY, np.zeros(3)
    if name == "contrast":
        return value * _IDENTITY, np.full(3, (1.0 - value) * float(LUMA_WEIGHTS @ mean_rgb))
    if name == "saturation":
        return value * _IDENTITY + (1.0 - value) * _TO_GRAY, np.zeros(3)
    raise ValueError(f"{name} is not an affine colour op")


def _apply_affine_ops(frames: np.ndarray, ops: list[tuple[str, float]]) -> np.ndarray:
    """Compose brightness/contrast/saturation ops (in order) into one map and apply it once."""
    if not ops:
        return frames
    mean_rgb = _clip_mean_rgb(frames)
    matrix, bias = _IDENTITY.copy(), np.zeros(3)
    for name, value in ops:
        step_matrix, step_bias = _affine_step(name, value, matrix @ mean_rgb + bias)
        matrix, bias = step_matrix @ matrix, step_matrix @ bias + step_bias
    return _apply_affine(frames, matrix, bias)


def adjust_brightness(frames: np.ndarray, factor: float) -> np.ndarray:
    """Scale every pixel by ``factor`` (saturating at 255)."""
    return _apply_affine_ops(frames, [("brightness", factor)])


def adjust_contrast(frames: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the clip's mean grey: ``factor · x + (1 − factor) · mean``.

    The mean luma is taken over the whole clip (not per frame), so every frame
    gets the same map — clip-consistent by construction.
    """
    return _apply_affine_ops(frames, [("contrast", factor)])


def adjust_saturation(frames: np.ndarray, factor: float) -> np.ndarray:
    """Blend each pixel with its own grey: ``factor · x + (1 − factor) · luma(x)``, saturating."""
    return _apply_affine_ops(frames, [("saturation", factor)])


def to_grayscale(frames: np.ndarray) -> np.ndarray:
    """Replace RGB by its luma, repeated on 3 channels (ITU-R 601 weights, as cv2)."""
    gray = cv2.cvtColor(_as_tall_image(frames), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB).reshape(frames.shape)


def adjust_hue(frames: np.ndarray, shift: float) -> np.ndarray:
    """Rotate hue by ``shift`` turns (shift in [−0.5, 0.5]) via OpenCV's uint8 HSV (H in [0, 180)).

    The hue is quantised to 2° steps by OpenCV's uint8 HSV. This round trip is
    the costliest colour op, so a shift under one step returns the clip untouched.
    """
    step = int(round(shift * 180)) % 180
    if step == 0:
        return frames
    hsv = cv2.cvtColor(_as_tall_image(frames), cv2.COLOR_RGB2HSV)
    identity = np.arange(256)
    lut = np.stack([(identity + step) % 180, identity, identity], axis=-1).astype(np.uint8)
    hsv = cv2.LUT(hsv, lut.reshape(1, 256, 3))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(frames.shape)


def color_jitter_params(
    *,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    rng: np.random.Generator,
) -> list[tuple[str, float]]:
    """Draw one colour jitter for a clip: ops in random order with their factors.

    Brightness/contrast/saturation factors are ``U[1 − s, 1 + s]`` (floored at
    0), the hue shift ``U[−hue, hue]``; an op with strength 0 is left out.
    Returns e.g. ``[("contrast", 1.2), ("brightness", 0.7), ...]``.
    """
    for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        check_non_negative(name, value)
    check_number_in("hue", hue, 0, 0.5)
    ops: list[tuple[str, float]] = []
    for index in rng.permutation(4):
        name = ("brightness", "contrast", "saturation", "hue")[index]
        strength = (brightness, contrast, saturation, hue)[index]
        if strength == 0:
            continue
        if name == "hue":
            ops.append((name, float(rng.uniform(-strength, strength))))
        else:
            ops.append((name, float(rng.uniform(max(0.0, 1 - strength), 1 + strength))))
    return ops


def color_jitter(frames: np.ndarray, ops: list[tuple[str, float]]) -> np.ndarray:
    """Apply the ops drawn by :func:`color_jitter_params`, in order, to the whole clip.

    The affine ops before and after the hue shift are each fused into one
    pass (see the note above :data:`LUMA_WEIGHTS`), so a jitter costs at most
    two ``cv2.transform`` calls plus the HSV round trip.
    """
    pending: list[tuple[str, float]] = []
    for name, value in ops:
        if name == "hue":
            frames = adjust_hue(_apply_affine_ops(frames, pending), value)
            pending = []
        else:
            pending.append((name, value))
    return _apply_affine_ops(frames, pending)


def gaussian_blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Blur every frame with the same Gaussian (kernel ≈ 6σ+1, odd), frame by frame so edges don't bleed."""
    ksize = max(3, int(2 * math.ceil(3 * sigma) + 1))
    out = np.empty(frames.shape, dtype=np.uint8)
    for i in range(frames.shape[0]):
        cv2.GaussianBlur(frames[i], (ksize, ksize), sigmaX=sigma, sigmaY=sigma, dst=out[i])
    return out


# --------------------------------------------------------------------------- layout and modality


def to_clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 numpy (T, H, W, C) → contiguous uint8 torch (C, T, H, W) (one copy)."""
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(3, 0, 1, 2)))


def rgb_diff(frames: np.ndarray, *, as_uint8: bool = True) -> np.ndarray:
    """T+1 frames → the T consecutive differences ``frame[t+1] − frame[t]`` (RGBDiff modality).

    With ``as_uint8`` (default) the difference d ∈ [−255, 255] is mapped to
    ``(d + 255) // 2`` ∈ [0, 255] (no change → 127), so RGBDiff clips travel
    and normalise like RGB clips; otherwise int16 differences are returned.
    """
    check_clip(frames)
    if frames.shape[0] < 2:
        raise VidsslError(f"rgb_diff needs at least 2 frames, got {frames.shape[0]}")
    diff = frames[1:].astype(np.int16) - frames[:-1].astype(np.int16)
    if not as_uint8:
        return diff
    return ((diff + 255) // 2).astype(np.uint8)


def normalize_on_device(x: torch.Tensor) -> torch.Tensor:
    """uint8 clips (..., C, T, H, W) on any device → float32 ``(x/255 − mean) / std``.

    Mean and std are Kinetics' (:data:`KINETICS_MEAN`, :data:`KINETICS_STD`),
    broadcast on the channel axis (dim −4). Call it after moving the uint8
    batch to the device, so only bytes cross the bus.
    """
    if x.dtype != torch.uint8 or x.dim() < 4 or x.shape[-4] != 3:
        raise VidsslError(f"normalize_on_device expects uint8 (..., 3, T, H, W), got {x.dtype} {tuple(x.shape)}")
    mean = torch.tensor(KINETICS_MEAN, dtype=torch.float32, device=x.device).view(3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD, dtype=torch.float32, device=x.device).view(3, 1, 1, 1)
    return (x.float().div_(255.0) - mean).div_(std)


MODALITIES = ("rgb", "rgbdiff")
"""Network inputs: RGB frames, or RGBDiff (differences of consecutive frames, TransRank §5.3)."""

RGBDIFF_SCALE = 0.225
"""RGBDiff values (frame[t+1] − frame[t]) / 255 are divided by this (≈ Kinetics' RGB std), so
differences and normalised RGB live in comparable ranges (ALGORITHMS.md, TransRank)."""


def check_modality(modality: str) -> str:
    """``modality`` if it is one of :data:`MODALITIES` (the network input: RGB frames or RGBDiff)."""
    return check_choice("modality", modality, MODALITIES)


def frames_for_modality(clip_len: int, modality: str) -> int:
    """Frames a sampler must decode for a ``clip_len``-frame network input: RGBDiff needs one more
    (T+1 frames give T differences, so the input keeps the RGB clip's shape; ALGORITHMS.md)."""
    return clip_len + 1 if check_modality(modality) == "rgbdiff" else clip_len


def to_model_input(x: torch.Tensor, modality: str = "rgb") -> torch.Tensor:
    """uint8 clips (..., C, T', H, W) on the device → the float network input of ``modality``.

    ``rgb``: :func:`normalize_on_device`. ``rgbdiff``: the T' − 1 consecutive
    differences, ``(x[t+1] − x[t]) / 255 / RGBDIFF_SCALE``; a clip sampled with
    :func:`frames_for_modality` frames gives back the configured clip length.
    """
    if check_modality(modality) == "rgb":
        return normalize_on_device(x)
    if x.dtype != torch.uint8 or x.dim() < 4 or x.shape[-4] != 3 or x.shape[-3] < 2:
        raise VidsslError(f"rgbdiff input expects uint8 (..., 3, T+1, H, W), got {x.dtype} {tuple(x.shape)}")
    frames = x.float()
    return (frames[..., 1:, :, :] - frames[..., :-1, :, :]).div_(255.0 * RGBDIFF_SCALE)
