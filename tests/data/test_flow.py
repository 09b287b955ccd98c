"""Optical flow for STS (vidssl.data.flow): on-the-fly estimators, quantised flow frames, resizing.

Known answers come from the construction of the input: a texture translated by
a known integer (dx, dy) has flow (dx, dy) (u right, v down); flow frames are
written here with a known pixel value per file; the dequantisation formula is
the official one written out independently (p·40/255 − 20 for bound 20).
"""
from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from vidssl.data.flow import (
    FLOW_BOUND,
    FLOW_METHODS,
    FLOW_TEMPLATE,
    FlowEstimator,
    check_flow_method,
    count_flow_frames,
    dequantise_flow,
    flow_frame_paths,
    quantise_flow,
    read_flow_frames,
    resize_flow,
    tvl1_available,
)
from vidssl.errors import CorruptVideoError, VidsslError

ON_THE_FLY = ("dis_ultrafast", "dis_fast", "dis_medium", "farneback") + (("tvl1",) if tvl1_available() else ())
HEIGHT, WIDTH, PAD = 72, 96, 12  # H != W so a swapped axis changes the shape
PNG_TEMPLATE = "flow_{}_{:05d}.png"


def smooth_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) RGB: blurred noise stretched to the full range (structure at every location)."""
    noise = rng.integers(0, 256, (height, width), dtype=np.uint8)
    gray = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
    # three different channels (so RGB→gray really mixes them) that all carry the same structure
    return np.stack([gray, 255 - gray, gray // 2 + 64], axis=-1)


def translated_clip(dx: int, dy: int, num_frames: int = 3, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3): frame t is the window of a larger texture moved so the content shifts by t·(dx, dy)."""
    texture = smooth_texture(np.random.default_rng(seed), HEIGHT + 2 * PAD * num_frames, WIDTH + 2 * PAD * num_frames)
    base = PAD * num_frames
    frames = []
    for t in range(num_frames):
        # content at x in frame 0 is at x + t·dx in frame t: the window starts t·dx further left
        top, left = base - t * dy, base - t * dx
        frames.append(texture[top:top + HEIGHT, left:left + WIDTH])
    return np.ascontiguousarray(np.stack(frames))


# ---------------------------------------------------------------------------
# On-the-fly estimators
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ON_THE_FLY)
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-1, 4)])
def test_flow_of_a_translated_texture_is_the_shift(method, dx, dy):
    frames = translated_clip(dx, dy)
    flow = FlowEstimator(method)(frames)
    assert flow.shape == (2, HEIGHT, WIDTH, 2) and flow.dtype == np.float32
    interior = flow[:, 12:-12, 12:-12]  # away from the borders, where content enters or leaves
    for t in range(2):
        median_u, median_v = np.median(interior[t, ..., 0]), np.median(interior[t, ..., 1])
        assert median_u == pytest.approx(dx, abs=0.3), (method, t, median_u, median_v)
        assert median_v == pytest.approx(dy, abs=0.3), (method, t, median_u, median_v)


@pytest.mark.parametrize("method", ON_THE_FLY)
def test_static_clip_has_no_flow(method):
    frames = np.repeat(translated_clip(0, 0, num_frames=1), 2, axis=0)
    flow = FlowEstimator(method)(frames)
    assert np.abs(np.median(flow, axis=(0, 1, 2))).max() < 0.05


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((3, 16, 16, 3), np.float32),   # wrong dtype
        np.zeros((3, 16, 16), np.uint8),        # grayscale, no channel axis
        np.zeros((3, 16, 16, 4), np.uint8),     # RGBA
        np.zeros((1, 16, 16, 3), np.uint8),     # a single frame has no pair
        np.zeros((16, 16, 3), np.uint8),        # one frame without the time axis
    ],
    ids=["float32", "no-channels", "rgba", "single-frame", "no-time-axis"],
)
def test_bad_frames_are_refused(frames):
    with pytest.raises(VidsslError, match="frames"):
        FlowEstimator("dis_ultrafast")(frames)


@pytest.mark.parametrize("method", ON_THE_FLY)
def test_estimator_pickles_after_use_and_still_works(method):
    estimator = FlowEstimator(method)
    frames = translated_clip(2, 1)
    before = estimator(frames)  # creates the OpenCV engine (DIS), which cannot be pickled
    clone = pickle.loads(pickle.dumps(estimator))
    assert clone.method == method and clone._engines == {}
    after = clone(frames)
    np.testing.assert_allclose(after, before, atol=1e-4)
    assert estimator(frames).shape == before.shape  # the original keeps working too


@pytest.mark.parametrize("method", ["dis_fast", "dis_ultrafast"])
def test_flow_of_a_large_clip_does_not_depend_on_a_small_clip_seen_before(method):
    """A DIS engine keeps the finest pyramid scale it picked for a small image; one engine per size avoids it."""
    large = translated_clip(2, 1)
    small = np.ascontiguousarray(large[:, :40, :53])
    fresh = FlowEstimator(method)(large)
    used = FlowEstimator(method)
    used(small)
    np.testing.assert_array_equal(used(large), fresh)


def test_tvl1_without_opencv_contrib_names_the_package():
    if tvl1_available():
        pytest.skip("this OpenCV has cv2.optflow (opencv-contrib): tvl1 is available")
    with pytest.raises(VidsslError, match="opencv-contrib"):
        check_flow_method("tvl1")
    with pytest.raises(VidsslError, match="opencv-contrib"):
        FlowEstimator("tvl1")


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(VidsslError, match="^method: expected one of") as info:
        check_flow_method("lucas_kanade")
    for method in FLOW_METHODS:
        assert method in str(info.value)
    with pytest.raises(VidsslError, match="dis_fast"):
        FlowEstimator("DIS_FAST")
    for method in ON_THE_FLY:
        assert check_flow_method(method) == method


# ---------------------------------------------------------------------------
# Quantisation of flow frames
# ---------------------------------------------------------------------------


def official_dequantise(p):
    """ALGORITHMS.md §1.2: pixel p ∈ [0, 255] of a flow JPEG stands for p·40/255 − 20 pixels."""
    return np.asarray(p, dtype=np.float64) * 40.0 / 255.0 - 20.0


def test_dequantise_is_the_official_formula():
    p = np.arange(256, dtype=np.uint8)
    np.testing.assert_allclose(dequantise_flow(p), official_dequantise(p), atol=1e-5)
    assert dequantise_flow(np.array([0], np.uint8))[0] == pytest.approx(-20.0)
    assert dequantise_flow(np.array([255], np.uint8))[0] == pytest.approx(20.0, abs=1e-5)
    assert dequantise_flow(np.array([127.5]))[0] == pytest.approx(0.0, abs=1e-5)
    assert dequantise_flow(p).dtype == np.float32
    # another bound maps the same range onto [−bound, bound]
    assert dequantise_flow(np.array([0, 255], np.uint8), bound=5.0) == pytest.approx([-5.0, 5.0], abs=1e-5)


@pytest.mark.parametrize("bound", [FLOW_BOUND, 7.5])
def test_quantise_round_trip_is_within_half_a_step(bound):
    flow = np.random.default_rng(0).uniform(-bound, bound, (4, 9, 11, 2)).astype(np.float32)
    flow[0, 0, 0] = (-bound, bound)  # the extremes exactly
    quantised = quantise_flow(flow, bound)
    assert quantised.dtype == np.uint8 and quantised.shape == flow.shape
    error = np.abs(dequantise_flow(quantised, bound) - flow)
    assert error.max() <= bound / 255 + 1e-5  # half of the 2·bound/255 step
    assert quantised[0, 0, 0].tolist() == [0, 255]
    assert set(quantise_flow(np.zeros(3, np.float32), bound).tolist()) <= {127, 128}


def test_quantise_clips_beyond_the_bound():
    flow = np.array([-1000.0, -20.5, 20.5, 33.0, 1e9], np.float32)
    assert quantise_flow(flow).tolist() == [0, 0, 255, 255, 255]
    assert dequantise_flow(quantise_flow(flow)) == pytest.approx([-20, -20, 20, 20, 20], abs=1e-5)


# ---------------------------------------------------------------------------
# Reading pre-extracted flow frames
# ---------------------------------------------------------------------------


def write_pair(folder, number, x, y, template=FLOW_TEMPLATE):
    """Write 1-based pair ``number``'s x and y images (uint8 arrays or constants)."""
    folder.mkdir(parents=True, exist_ok=True)
    for component, image in (("x", x), ("y", y)):
        assert cv2.imwrite(str(folder / template.format(component, number)), image)


def constant_folder(folder, num_pairs, shape=(12, 18), template=FLOW_TEMPLATE):
    """Pair k (1-based) has constant x = 10k + 20 and y = 230 − 10k: every file is told apart by its value."""
    for k in range(1, num_pairs + 1):
        write_pair(folder, k, np.full(shape, 10 * k + 20, np.uint8), np.full(shape, 230 - 10 * k, np.uint8), template)


def test_flow_frame_paths_count_files_from_one(tmp_path):
    x, y = flow_frame_paths(tmp_path, 0)
    assert (x.name, y.name) == ("flow_x_00001.jpg", "flow_y_00001.jpg")
    x, y = flow_frame_paths(tmp_path, 41, PNG_TEMPLATE)
    assert (x.name, y.name) == ("flow_x_00042.png", "flow_y_00042.png") and x.parent == tmp_path


def test_png_flow_frames_read_back_exactly_as_the_dequantised_values(tmp_path):
    rng = np.random.default_rng(1)
    images = {k: (rng.integers(0, 256, (10, 14), dtype=np.uint8), rng.integers(0, 256, (10, 14), dtype=np.uint8))
              for k in range(1, 4)}
    for k, (x, y) in images.items():
        write_pair(tmp_path, k, x, y, PNG_TEMPLATE)
    flow = read_flow_frames(tmp_path, np.array([2, 0]), template=PNG_TEMPLATE)
    assert flow.shape == (2, 10, 14, 2) and flow.dtype == np.float32
    # pair i (0-based) is file i + 1
    for row, number in enumerate((3, 1)):
        x, y = images[number]
        np.testing.assert_allclose(flow[row, ..., 0], official_dequantise(x), atol=1e-5)
        np.testing.assert_allclose(flow[row, ..., 1], official_dequantise(y), atol=1e-5)
    other_bound = read_flow_frames(tmp_path, [1], bound=10.0, template=PNG_TEMPLATE)
    np.testing.assert_allclose(other_bound[0, ..., 0], images[2][0] * 20.0 / 255 - 10.0, atol=1e-5)


def test_jpeg_flow_frames_of_constant_images_read_back_their_value(tmp_path):
    constant_folder(tmp_path, 5)
    flow = read_flow_frames(tmp_path, [0, 4, 2, 2])
    assert flow.shape == (4, 12, 18, 2)
    step = 40.0 / 255  # JPEG keeps a constant image (at worst one grey level off)
    for row, number in enumerate((1, 5, 3, 3)):
        np.testing.assert_allclose(flow[row, ..., 0], official_dequantise(10 * number + 20), atol=step + 1e-5)
        np.testing.assert_allclose(flow[row, ..., 1], official_dequantise(230 - 10 * number), atol=step + 1e-5)


def test_count_flow_frames_counts_consecutive_complete_pairs(tmp_path):
    assert count_flow_frames(tmp_path / "absent") == 0
    constant_folder(tmp_path, 4)
    assert count_flow_frames(tmp_path) == 4
    assert count_flow_frames(tmp_path, PNG_TEMPLATE) == 0  # other file names
    # pair 5 has only its x image, pair 6 is complete: counting stops before 5
    cv2.imwrite(str(tmp_path / FLOW_TEMPLATE.format("x", 5)), np.zeros((12, 18), np.uint8))
    write_pair(tmp_path, 6, np.zeros((12, 18), np.uint8), np.zeros((12, 18), np.uint8))
    assert count_flow_frames(tmp_path) == 4
    cv2.imwrite(str(tmp_path / FLOW_TEMPLATE.format("y", 5)), np.zeros((12, 18), np.uint8))
    assert count_flow_frames(tmp_path) == 6


def test_missing_or_unreadable_flow_file_is_a_corrupt_video_naming_it(tmp_path):
    constant_folder(tmp_path, 2)
    with pytest.raises(CorruptVideoError, match="flow_x_00003.jpg"):
        read_flow_frames(tmp_path, [0, 2])
    (tmp_path / "flow_y_00002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CorruptVideoError, match="flow_y_00002.jpg"):
        read_flow_frames(tmp_path, [1])
    assert read_flow_frames(tmp_path, [0]).shape == (1, 12, 18, 2)


def test_x_and_y_of_different_sizes_are_refused(tmp_path):
    write_pair(tmp_path, 1, np.zeros((12, 18), np.uint8), np.zeros((12, 16), np.uint8))
    with pytest.raises(CorruptVideoError, match="differ in size"):
        read_flow_frames(tmp_path, [0])


def test_no_pairs_asked_for_is_refused(tmp_path):
    constant_folder(tmp_path, 1)
    with pytest.raises(VidsslError, match="no flow pairs"):
        read_flow_frames(tmp_path, np.array([], dtype=np.int64))


# ---------------------------------------------------------------------------
# Resizing flow
# ---------------------------------------------------------------------------


def test_resize_flow_scales_u_with_the_width_and_v_with_the_height():
    flow = np.zeros((3, 20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, 1.0
    resized = resize_flow(flow, 40, 90)
    assert resized.shape == (3, 40, 90, 2) and resized.dtype == np.float32
    np.testing.assert_allclose(resized[..., 0], 6.0, atol=1e-5)  # 90 / 30 = 3
    np.testing.assert_allclose(resized[..., 1], 2.0, atol=1e-5)  # 40 / 20 = 2
    # shrinking scales down; the same size is left as it is
    np.testing.assert_allclose(resize_flow(flow, 10, 15)[..., 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(resize_flow(flow, 10, 15)[..., 1], 0.5, atol=1e-5)
    np.testing.assert_array_equal(resize_flow(flow, 20, 30), flow)


def test_resize_flow_keeps_a_linear_field_linear():
    """u = column and v = row (a zoom about the origin) stay a zoom: resizing by k multiplies both by k."""
    rows, cols = np.mgrid[0:16, 0:24].astype(np.float32)
    flow = np.stack([cols, rows], axis=-1)[None]
    resized = resize_flow(flow, 32, 48)
    # pixel centres: column c of the output sits at (c + 0.5)/2 − 0.5 of the input
    out_rows, out_cols = np.mgrid[0:32, 0:48].astype(np.float32)
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(resized[0][inner][..., 0], 2 * ((out_cols + 0.5) / 2 - 0.5)[inner], atol=1e-4)
    np.testing.assert_allclose(resized[0][inner][..., 1], 2 * ((out_rows + 0.5) / 2 - 0.5)[inner], atol=1e-4)
