"""Clip-consistent transforms: consistency across frames, crops/flips/rotations vs manual references."""

import cv2
import numpy as np
import pytest
import torch

from vidssl.data.transforms import (
    ClipAugment,
    EvalTransform,
    normalize_on_device,
    random_resized_crop_params,
    rgb_diff,
)
from vidssl.data.transforms import functional as F
from vidssl.errors import VidsslError


def smooth_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A colourful frame with structure (gradients + noise) so every op changes it visibly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx + yy) % 256], axis=-1)
    frame = frame + rng.integers(-20, 21, size=frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def varied_clip(t: int, height: int, width: int) -> np.ndarray:
    return np.stack([smooth_frame(height, width, seed) for seed in range(t)])


def no_extra_augment(**kwargs) -> ClipAugment:
    base = dict(flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, rotate=False)
    return ClipAugment(**(base | kwargs))


# ----------------------------------------------------------------------------- clip consistency


def test_identical_frames_stay_identical_under_full_augmentation():
    frame = smooth_frame(48, 64)
    frames = np.repeat(frame[None], 6, axis=0)
    augment = ClipAugment(32, jitter_p=1.0, grayscale_p=0.3, blur_p=0.5, hue=0.1, rotate=True)
    for seed in range(12):
        clip, _ = augment(frames, np.random.default_rng(seed))
        assert clip.dtype == torch.uint8 and clip.shape == (3, 6, 32, 32)
        for t in range(1, 6):
            assert torch.equal(clip[:, t], clip[:, 0])


def test_two_clips_from_one_rng_stream_differ():
    frames = np.repeat(smooth_frame(48, 64)[None], 4, axis=0)
    augment = ClipAugment(32)
    rng = np.random.default_rng(0)
    first, _ = augment(frames, rng)
    second, _ = augment(frames, rng)
    assert not torch.equal(first, second)


def test_same_seed_gives_same_clip():
    frames = varied_clip(4, 48, 64)
    augment = ClipAugment(32, blur_p=0.5, rotate=True)
    a, info_a = augment(frames, np.random.default_rng(7))
    b, info_b = augment(frames, np.random.default_rng(7))
    assert torch.equal(a, b) and info_a == info_b


# ----------------------------------------------------------------------------- crop geometry


def test_crop_params_stay_inside_frame_and_respect_scale_and_ratio():
    rng = np.random.default_rng(1)
    height, width = 120, 160
    for _ in range(500):
        top, left, h, w = random_resized_crop_params(height, width, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), rng=rng)
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        # rounding w and h to whole pixels moves area and ratio by at most about one pixel per side
        assert 0.2 * height * width * 0.95 <= h * w <= height * width
        assert 3 / 4 - 0.02 <= w / h <= 4 / 3 + 0.02


def test_crop_params_fallback_is_centred_and_in_ratio():
    rng = np.random.default_rng(0)
    # A frame far wider than the ratio range with scale 1 can never fit: the fallback is used.
    top, left, h, w = random_resized_crop_params(10, 100, scale=(1.0, 1.0), ratio=(1.0, 1.0), rng=rng)
    assert (top, left, h, w) == (0, 45, 10, 10)


def test_augment_equals_manual_crop_and_resize_and_reports_region_ratio():
    frames = varied_clip(3, 48, 64)
    augment = no_extra_augment(size=32, scale=(0.3, 1.0), ratio=(0.5, 2.0))
    for seed in range(10):
        top, left, h, w = random_resized_crop_params(
            48, 64, scale=(0.3, 1.0), ratio=(0.5, 2.0), rng=np.random.default_rng(seed)
        )
        clip, info = augment(frames, np.random.default_rng(seed))
        assert info["aspect_ratio"] == pytest.approx(w / h)
        assert info["flipped"] is False and info["rotation_k"] == 0
        # shrink factor here is at most 64/32 = 2, so the reference is plain bilinear
        reference = np.stack(
            [
                cv2.resize(
                    np.ascontiguousarray(f[top : top + h, left : left + w]), (32, 32), interpolation=cv2.INTER_LINEAR
                )
                for f in frames
            ]
        )
        assert torch.equal(clip, torch.from_numpy(reference).permute(3, 0, 1, 2))


def test_large_shrink_uses_area_interpolation():
    frames = varied_clip(2, 96, 96)
    out = F.resize(frames, 16, 16)
    reference = np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in frames])
    assert np.array_equal(out, reference)


def test_layout_is_channels_then_time():
    frames = varied_clip(5, 32, 32)
    clip, _ = no_extra_augment(size=32, scale=(1.0, 1.0), ratio=(1.0, 1.0))(frames, np.random.default_rng(0))
    assert clip.dtype == torch.uint8 and clip.shape == (3, 5, 32, 32) and clip.is_contiguous()
    for t in range(5):
        for c in range(3):
            assert np.array_equal(clip[c, t].numpy(), frames[t, :, :, c])


# ----------------------------------------------------------------------------- flip and rotation


def test_flip_reverses_width():
    frames = varied_clip(3, 32, 32)
    augment = no_extra_augment(size=32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.5)
    seen = set()
    for seed in range(16):
        clip, info = augment(frames, np.random.default_rng(seed))
        expected = frames[:, :, ::-1] if info["flipped"] else frames
        assert np.array_equal(clip.permute(1, 2, 3, 0).numpy(), expected)
        seen.add(info["flipped"])
    assert seen == {True, False}


def test_rotation_equals_np_rot90_on_height_width():
    frames = varied_clip(3, 32, 32)
    augment = no_extra_augment(size=32, scale=(1.0, 1.0), ratio=(1.0, 1.0), rotate=True)
    seen = set()
    for seed in range(24):
        clip, info = augment(frames, np.random.default_rng(seed))
        k = info["rotation_k"]
        assert np.array_equal(clip.permute(1, 2, 3, 0).numpy(), np.rot90(frames, k, axes=(1, 2)))
        seen.add(k)
    assert seen == {0, 1, 2, 3}
    # k = 1 is a counter-clockwise quarter turn: the top-right pixel moves to the top-left
    rotated = F.rotate90(frames, 1)
    assert np.array_equal(rotated[:, 0, 0], frames[:, 0, -1])


# ----------------------------------------------------------------------------- colour


def test_brightness_and_contrast_follow_their_formulas():
    frames = varied_clip(2, 8, 8)
    x = frames.astype(np.float64)
    bright = F.adjust_brightness(frames, 1.3).astype(np.float64)
    assert np.abs(bright - np.clip(x * 1.3, 0, 255)).max() <= 1  # OpenCV rounds within one grey level
    assert bright.max() == 255  # saturates instead of wrapping
    mean = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]).mean()
    contrast = F.adjust_contrast(frames, 0.6)
    expected = np.clip(np.floor(0.6 * x + 0.4 * mean + 0.5), 0, 255)
    assert np.abs(contrast.astype(np.float64) - expected).max() <= 1


def test_saturation_and_grayscale():
    frames = varied_clip(2, 8, 8)
    gray = F.to_grayscale(frames)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    x = frames.astype(np.float64)
    luma = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    assert np.abs(gray[..., 0] - luma).max() <= 1
    desaturated = F.adjust_saturation(frames, 0.0).astype(np.float64)
    assert np.abs(desaturated - luma[..., None]).max() <= 1  # OpenCV rounds within one grey level
    assert np.array_equal(F.adjust_saturation(frames, 1.0), frames)
    boosted = F.adjust_saturation(frames, 1.5).astype(np.float64)
    expected = np.clip(1.5 * x - 0.5 * luma[..., None], 0, 255)
    assert np.abs(boosted - expected).max() <= 1  # OpenCV rounds within one grey level


def test_fused_color_jitter_equals_ops_one_by_one():
    # mid-range pixels and mild factors: nothing saturates, so fusing only changes rounding
    rng = np.random.default_rng(3)
    frames = rng.integers(60, 190, size=(4, 8, 8, 3), dtype=np.uint8)
    x = frames.astype(np.float64)
    ops = [("brightness", 1.15), ("contrast", 0.7), ("saturation", 1.2)]
    fused = F.color_jitter(frames, ops).astype(np.float64)
    step1 = 1.15 * x
    step2 = 0.7 * step1 + 0.3 * (step1 @ F.LUMA_WEIGHTS).mean()  # contrast sees the brightened clip's mean
    step3 = 1.2 * step2 - 0.2 * (step2 @ F.LUMA_WEIGHTS)[..., None]
    assert np.abs(fused - step3).max() <= 1  # OpenCV rounds within one grey level
    # with a hue shift in the middle: the affine runs on either side of it
    with_hue = F.color_jitter(frames, [("brightness", 1.1), ("hue", 0.2), ("saturation", 0.5)])
    manual = F.adjust_saturation(F.adjust_hue(F.adjust_brightness(frames, 1.1), 0.2), 0.5)
    assert np.array_equal(with_hue, manual)


def test_hue_shift_of_a_third_turn_maps_red_to_green_to_blue():
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    frames = np.broadcast_to(colours[None, None, :, :], (2, 4, 3, 3)).copy()
    shifted = F.adjust_hue(frames, 1 / 3)
    assert np.array_equal(shifted[0, 0], colours[[1, 2, 0]])
    assert np.array_equal(F.adjust_hue(frames, 0.0), frames)


def test_color_jitter_params_draw_each_op_once_in_range():
    rng = np.random.default_rng(0)
    orders = set()
    for _ in range(50):
        ops = F.color_jitter_params(brightness=0.4, contrast=0.3, saturation=0.2, hue=0.1, rng=rng)
        names = [name for name, _ in ops]
        assert sorted(names) == ["brightness", "contrast", "hue", "saturation"]
        values = dict(ops)
        assert 0.6 <= values["brightness"] <= 1.4 and 0.7 <= values["contrast"] <= 1.3
        assert 0.8 <= values["saturation"] <= 1.2 and -0.1 <= values["hue"] <= 0.1
        orders.add(tuple(names))
    assert len(orders) > 1
    ops = F.color_jitter_params(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0, rng=rng)
    assert "hue" not in dict(ops)


def test_gaussian_blur_is_per_frame_and_keeps_constant_frames():
    frames = np.stack([np.full((16, 16, 3), 40, np.uint8), np.full((16, 16, 3), 200, np.uint8)])
    assert np.array_equal(F.gaussian_blur(frames, 1.5), frames)  # no bleeding between frames
    textured = varied_clip(2, 16, 16)
    blurred = F.gaussian_blur(textured, 1.0)
    assert np.array_equal(blurred[1], cv2.GaussianBlur(textured[1], (7, 7), sigmaX=1.0, sigmaY=1.0))


# ----------------------------------------------------------------------------- eval transform


@pytest.mark.parametrize("height,width", [(40, 60), (60, 40), (20, 30), (32, 32)])
def test_eval_transform_equals_manual_reference(height, width):
    frames = varied_clip(3, height, width)
    short = 32
    if height <= width:
        new_h, new_w = short, int(round(width * short / height))
    else:
        new_h, new_w = int(round(height * short / width)), short
    if (new_h, new_w) == (height, width):
        resized = frames
    else:
        resized = np.stack([cv2.resize(f, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for f in frames])
    top, left = (new_h - 28) // 2, (new_w - 28) // 2
    reference = resized[:, top : top + 28, left : left + 28]
    clip = EvalTransform(28, resize_short=short)(frames)
    assert clip.dtype == torch.uint8 and clip.shape == (3, 3, 28, 28)
    assert np.array_equal(clip.permute(1, 2, 3, 0).numpy(), reference)


def test_eval_transform_rejects_short_side_below_crop():
    with pytest.raises(VidsslError, match="resize_short"):
        EvalTransform(112, resize_short=100)


# ----------------------------------------------------------------------------- RGBDiff and normalisation


def test_rgb_diff_values():
    frames = varied_clip(4, 6, 6)
    diff16 = rgb_diff(frames, as_uint8=False)
    assert diff16.dtype == np.int16 and diff16.shape == (3, 6, 6, 3)
    for t in range(3):
        assert np.array_equal(diff16[t], frames[t + 1].astype(int) - frames[t].astype(int))
    diff8 = rgb_diff(frames)
    assert diff8.dtype == np.uint8
    assert np.array_equal(diff8, (diff16.astype(int) + 255) // 2)
    extremes = rgb_diff(np.stack([np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)]))
    assert extremes.tolist() == [[[[255, 255, 255]]]]


def test_normalize_on_device_matches_formula():
    x = torch.randint(0, 256, (2, 3, 2, 3, 4), dtype=torch.uint8)
    out = normalize_on_device(x)
    assert out.dtype == torch.float32 and out.shape == x.shape
    mean = (0.43216, 0.394666, 0.37645)
    std = (0.22803, 0.22145, 0.216989)
    for b in range(2):
        for c in range(3):
            for t in range(2):
                for i in range(3):
                    for j in range(4):
                        v = (int(x[b, c, t, i, j]) / 255 - mean[c]) / std[c]
                        assert abs(float(out[b, c, t, i, j]) - v) < 1e-5


def test_normalize_on_device_rejects_float_and_wrong_channels():
    with pytest.raises(VidsslError):
        normalize_on_device(torch.zeros(3, 2, 4, 4))
    with pytest.raises(VidsslError):
        normalize_on_device(torch.zeros(4, 2, 4, 4, dtype=torch.uint8))


def test_augment_rejects_bad_input_and_arguments():
    with pytest.raises(VidsslError):
        ClipAugment(32)(np.zeros((2, 8, 8, 3), np.float32), np.random.default_rng(0))
    with pytest.raises(VidsslError):
        ClipAugment(32, flip_p=1.5)
    with pytest.raises(VidsslError):
        ClipAugment(32, scale=(0.5, 0.2))
    with pytest.raises(VidsslError):
        ClipAugment(32, hue=0.7)
