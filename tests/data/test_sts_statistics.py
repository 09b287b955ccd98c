"""STS labels (vidssl.data.statistics): known-answer tests on inputs built so the answer is known.

Every expected value comes from the construction of the input or from an
oracle written here from the spec text (ALGORITHMS.md, STS §1.3–§1.7; paper
§3.2–§3.4) — never from the library's own pattern helpers. Conventions under
test: 0-based labels; orientation bins counter-clockwise on screen (x right,
y up: +x = bin 0, up = bin 2, left = bin 4, down = bin 6), bin k centred at
k·45° with soft voting; true (not mirrored) Prewitt gradients with the edge
pixel repeated at the border.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import pytest
from scipy.ndimage import correlate

from vidssl.data.flow import FlowEstimator
from vidssl.data.statistics import (
    APPEARANCE_LABELS,
    COLOUR_NAMES,
    MOTION_LABELS,
    appearance_statistics,
    colour_codes,
    colour_histograms,
    colour_iou,
    motion_label_specs,
    motion_statistics,
    orientation_histograms,
    partition,
    pattern_masks,
    polar,
    prewitt_gradients,
    sts_statistics,
    two_d_targets,
)
from vidssl.errors import VidsslError

S = 112
BLOCK = S // 4
PREWITT_X = np.array([[-1, 0, 1]] * 3, dtype=np.float64)  # correlation kernel: f[c+1] − f[c−1], 3 rows
PREWITT_Y = PREWITT_X.T                                    # f[r+1] − f[r−1] (rows grow downwards)

PURE_COLOURS = {
    "blue": (0, 0, 255), "cyan": (0, 255, 255), "magenta": (255, 0, 255), "white": (255, 255, 255),
    "black": (0, 0, 0), "green": (0, 255, 0), "red": (255, 0, 0), "yellow": (255, 255, 0),
}
RED, GREEN, MAGENTA = (COLOUR_NAMES.index(name) for name in ("red", "green", "magenta"))
# 16 frames of pure colours, red in half of them: R, G and B all jump between 0 and 255.
FLICKER_SEQUENCE = ["red", "green", "red", "blue", "red", "yellow", "red", "cyan"] * 2
GREENISH = ((0, 100), (150, 255), (0, 100))    # (low, high) per R, G, B: every pixel in the "green" bin
MAGENTAISH = ((150, 255), (0, 100), (150, 255))


# ---------------------------------------------------------------------------
# Spec oracles (ALGORITHMS.md §1.5), written from the text, pixel by pixel
# ---------------------------------------------------------------------------


def spec_block(r: int, c: int, size: int = S) -> int:
    """Pattern 1: 4·⌊r/(S/4)⌋ + ⌊c/(S/4)⌋, row-major from the top-left."""
    return 4 * (r // (size // 4)) + c // (size // 4)


def spec_ring(r: int, c: int, size: int = S) -> int:
    """Pattern 2 from d = min(r, c, S−1−r, S−1−c): d ≥ 3w → 0 (centre), ≥ 2w → 1, ≥ w → 2, else 3; w = S/8."""
    d, w = min(r, c, size - 1 - r, size - 1 - c), size // 8
    return 0 if d >= 3 * w else 1 if d >= 2 * w else 2 if d >= w else 3


def spec_triangles(r: int, c: int, size: int = S) -> frozenset[int]:
    """Pattern 3 by the table of §1.5 (0-based idx): quadrant, then the local-coordinate inequality."""
    half = size // 2
    lr, lc = r % half, c % half
    top, left = r < half, c < half
    if top and left:
        pair = (lr >= lc, lc >= lr)                           # 0 touches the left edge, 1 the top
        ids = (0, 1)
    elif top:
        pair = (lr + lc <= half - 1, lr + lc >= half - 1)     # 2 touches the top edge, 3 the right
        ids = (2, 3)
    elif left:
        pair = (lr + lc <= half - 1, lr + lc >= half - 1)     # 4 touches the left edge, 5 the bottom
        ids = (4, 5)
    else:
        pair = (lr >= lc, lc >= lr)                           # 6 touches the bottom edge, 7 the right
        ids = (6, 7)
    return frozenset(i for i, inside in zip(ids, pair) if inside)


# Angular sector (degrees, counter-clockwise from +x, y up, seen from the centre) of each triangle, §1.5 table.
TRIANGLE_SECTORS = [(135, 180), (90, 135), (45, 90), (0, 45), (180, 225), (225, 270), (270, 315), (315, 360)]


@functools.cache
def spec_masks(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(16, S, S), (4, S, S), (8, S, S) bool masks built pixel by pixel from the spec oracles."""
    p1, p2, p3 = (np.zeros((n, size, size), dtype=bool) for n in (16, 4, 8))
    for r in range(size):
        for c in range(size):
            p1[spec_block(r, c, size), r, c] = True
            p2[spec_ring(r, c, size), r, c] = True
            for t in spec_triangles(r, c, size):
                p3[t, r, c] = True
    return p1, p2, p3


def block_slices(block: int, size: int = S) -> tuple[slice, slice]:
    side = size // 4
    r0, c0 = (block // 4) * side, (block % 4) * side
    return slice(r0, r0 + side), slice(c0, c0 + side)


# ---------------------------------------------------------------------------
# Flow builders and brute-force motion oracles
# ---------------------------------------------------------------------------


def square_flow(top: int, left: int, side: int, *, num_flows: int = 3, u: float = 2.0, v: float = -3.0,
                size: int = S) -> np.ndarray:
    """(num_flows, S, S, 2) flow: (u, v) constant inside one side×side square, 0 elsewhere, in every flow frame."""
    flow = np.zeros((num_flows, size, size, 2), dtype=np.float32)
    flow[:, top:top + side, left:left + side] = (u, v)
    return flow


def centred_square_top_left(block: int, side: int) -> tuple[int, int]:
    rows, cols = block_slices(block)
    return rows.start + (BLOCK - side) // 2, cols.start + (BLOCK - side) // 2


def square_in_one_region_of_every_pattern(block: int, side: int = 4) -> tuple[int, int, int, int]:
    """(top, left, ring, triangle): a square in pattern-1 ``block`` whose Prewitt footprint (the square grown
    by one pixel) lies in that block, in a single ring and in a single triangle (no diagonal pixel)."""
    rows, cols = block_slices(block)
    for top in range(rows.start + 1, rows.stop - side):
        for left in range(cols.start + 1, cols.stop - side):
            footprint = [(r, c) for r in range(top - 1, top + side + 1) for c in range(left - 1, left + side + 1)]
            rings = {spec_ring(r, c) for r, c in footprint}
            triangles = {spec_triangles(r, c) for r, c in footprint}
            if len(rings) == 1 and len(triangles) == 1 and len(next(iter(triangles))) == 1:
                return top, left, rings.pop(), next(iter(triangles.pop()))
    raise AssertionError(f"no such square in block {block}")


def half_plane_step(direction: int, centre: tuple[int, int], size: int = S) -> np.ndarray:
    """(S, S) field stepping from 0 to 1 across a straight edge through ``centre`` (row, col), rising towards
    screen angle direction·45° (counter-clockwise, y up) and staying 1 up to the image border."""
    theta = math.radians(45 * direction)
    r, c = np.mgrid[0:size, 0:size]
    x, y_up = c - centre[1], centre[0] - r
    along = math.cos(theta) * x + math.sin(theta) * y_up
    return (np.round(along, 9) >= 0).astype(np.float32)


def brute_force_boundary_magnitude(component_frames: np.ndarray) -> np.ndarray:
    """|M| of eq. (2) with scipy: Prewitt correlation ('nearest' = edge replicate), summed over flow frames."""
    mx = sum(correlate(f.astype(np.float64), PREWITT_X, mode="nearest") for f in component_frames)
    my = sum(correlate(f.astype(np.float64), PREWITT_Y, mode="nearest") for f in component_frames)
    return np.hypot(mx, my)


def brute_force_difficulty(flow: np.ndarray) -> float:
    """f of eq. (6): max over u, v of (Σ|M| in the largest pattern-1 block) / (Σ|M| over the frame)."""
    ratios = []
    for component in range(2):
        magnitude = brute_force_boundary_magnitude(flow[..., component])
        block_sums = [magnitude[block_slices(b)].sum() for b in range(16)]
        total = magnitude.sum()
        ratios.append(max(block_sums) / total if total > 0 else 0.0)
    return max(ratios)


# ---------------------------------------------------------------------------
# Frame builders
# ---------------------------------------------------------------------------


def random_texture(rng: np.random.Generator, shape: tuple[int, ...], ranges=((0, 255),) * 3) -> np.ndarray:
    """uint8 (..., 3) with channel k uniform in ranges[k] (inclusive)."""
    channels = [rng.integers(lo, hi + 1, shape, dtype=np.uint8) for lo, hi in ranges]
    return np.stack(channels, axis=-1)


def static_clip(rng: np.random.Generator, ranges=GREENISH, num_frames: int = 16) -> np.ndarray:
    """The same random texture in every frame: every block's per-frame histograms are equal (IoU 1)."""
    return np.repeat(random_texture(rng, (S, S), ranges)[None], num_frames, axis=0)


def mildly_flickering_clip(rng: np.random.Generator, ranges=GREENISH, num_frames: int = 16) -> np.ndarray:
    """A fresh random texture from the same colour ranges every frame: IoU clearly below 1 everywhere."""
    return random_texture(rng, (num_frames, S, S), ranges)


def paint_flicker(frames: np.ndarray, mask: np.ndarray, sequence=FLICKER_SEQUENCE) -> np.ndarray:
    """Fill ``mask`` of frame t with the pure colour sequence[t]."""
    frames = frames.copy()
    for t, name in enumerate(sequence[:len(frames)]):
        frames[t][mask] = PURE_COLOURS[name]
    return frames


def blurred_noise(rng: np.random.Generator, shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.0)
    return cv2.normalize(noise, None, low, high, cv2.NORM_MINMAX)


def moving_square_frames(block: int, rng: np.random.Generator, *, num_frames: int = 3, side: int = 12,
                         step: int = 4) -> np.ndarray:
    """RGB frames: a high-contrast textured square moving ``step`` px right and down per frame, staying
    inside pattern-1 ``block``, over a static low-contrast textured background (on a flat background DIS
    spreads the square's flow over the whole flat area and the boundary lands in other blocks)."""
    frames = np.repeat(blurred_noise(rng, (S, S, 3), 88, 168)[None], num_frames, axis=0)
    square = blurred_noise(rng, (side, side, 3), 0, 255)
    rows, cols = block_slices(block)
    start = (BLOCK - side - step * (num_frames - 1)) // 2
    for t in range(num_frames):
        offset = start + step * t
        top, left = rows.start + offset, cols.start + offset
        frames[t, top:top + side, left:left + side] = square
    return frames


def neighbouring_blocks(a: int, b: int) -> bool:
    return abs(a // 4 - b // 4) <= 1 and abs(a % 4 - b % 4) <= 1


# ===========================================================================
# Label specs and class counts
# ===========================================================================


def test_motion_and_appearance_label_class_counts():
    assert [spec.num_classes for spec in MOTION_LABELS] == [16, 8, 16, 8, 4, 8, 4, 8, 8, 8, 8, 8, 15, 15]
    assert [spec.num_classes for spec in motion_label_specs(15)] == [16, 8, 16, 8, 4, 8, 4, 8, 8, 8, 8, 8, 15, 15]
    assert [spec.num_classes for spec in motion_label_specs(7)][-2:] == [7, 7]
    assert [spec.num_classes for spec in APPEARANCE_LABELS] == [16, 8, 16, 8, 4, 8, 4, 8, 8, 8, 8, 8, 8]


# ===========================================================================
# Patterns (§1.5)
# ===========================================================================


@pytest.mark.parametrize("size", [32, 64, 112])
def test_pattern_masks_match_the_spec_pixel_by_pixel(size):
    for library, oracle in zip(pattern_masks(size), spec_masks(size)):
        np.testing.assert_array_equal(library, oracle)


@pytest.mark.parametrize("size", [32, 64, 112])
def test_pattern_areas_scale_with_the_crop(size):
    p1, p2, p3 = pattern_masks(size)
    assert p1.sum(axis=(1, 2)).tolist() == [(size // 4) ** 2] * 16
    quarter = size // 4
    assert p2.sum(axis=(1, 2)).tolist() == [quarter ** 2, (2 * quarter) ** 2 - quarter ** 2,
                                            (3 * quarter) ** 2 - (2 * quarter) ** 2, size ** 2 - (3 * quarter) ** 2]
    half = size // 2
    assert p3.sum(axis=(1, 2)).tolist() == [half * (half + 1) // 2] * 8
    areas = np.concatenate([m.sum(axis=(1, 2)) for m in (p1, p2, p3)])
    np.testing.assert_array_equal(partition(size).block_area, areas)


def test_pattern_areas_at_112_are_the_official_ones():
    _, p2, p3 = pattern_masks(112)
    assert p2.sum(axis=(1, 2)).tolist() == [784, 2352, 3920, 5488]
    assert p3.sum(axis=(1, 2)).tolist() == [1596] * 8  # 56·57/2


def test_pattern1_is_numbered_row_major():
    p1 = pattern_masks(S)[0]
    for block, (r, c) in {0: (0, 0), 3: (0, 111), 4: (28, 0), 6: (40, 60), 12: (111, 0), 15: (111, 111),
                          1: (27, 28), 5: (28, 28)}.items():
        assert np.flatnonzero(p1[:, r, c]).tolist() == [block]


@pytest.mark.parametrize("pixel, ring", [((0, 0), 3), ((56, 56), 0), ((41, 56), 1), ((27, 56), 2), ((13, 56), 3),
                                         ((42, 56), 0), ((28, 56), 1), ((14, 56), 2), ((69, 69), 0), ((70, 70), 1),
                                         ((111, 111), 3), ((56, 97), 2), ((56, 98), 3)])
def test_pattern2_ring_of_specific_pixels(pixel, ring):
    assert np.flatnonzero(pattern_masks(S)[1][:, pixel[0], pixel[1]]).tolist() == [ring]


@pytest.mark.parametrize("pixel, triangle", [
    ((50, 2), 0),    # left edge, above the centre row
    ((2, 50), 1),    # top edge, left of the centre column
    ((2, 60), 2),    # top edge, right of centre
    ((50, 109), 3),  # right edge, above centre
    ((60, 2), 4),    # left edge, below centre
    ((109, 50), 5),  # bottom edge, left of centre
    ((109, 60), 6),  # bottom edge, right of centre
    ((60, 109), 7),  # right edge, below centre
])
def test_pattern3_triangle_of_specific_pixels(pixel, triangle):
    assert np.flatnonzero(pattern_masks(S)[2][:, pixel[0], pixel[1]]).tolist() == [triangle]


@pytest.mark.parametrize("pixel, pair", [((0, 0), [0, 1]), ((55, 55), [0, 1]), ((0, 111), [2, 3]),
                                         ((55, 56), [2, 3]), ((111, 0), [4, 5]), ((56, 55), [4, 5]),
                                         ((56, 56), [6, 7]), ((111, 111), [6, 7])])
def test_pattern3_diagonal_pixels_are_in_both_triangles_of_their_quadrant(pixel, pair):
    assert np.flatnonzero(pattern_masks(S)[2][:, pixel[0], pixel[1]]).tolist() == pair


def test_pattern3_matches_the_angular_sectors_seen_from_the_centre():
    """Off the diagonals every pixel is in exactly the one triangle whose sector holds its angle; diagonal
    pixels (r = c or r + c = S − 1) are in exactly the two sectors that meet at that diagonal."""
    p3 = pattern_masks(S)[2]
    centre = (S - 1) / 2
    for r in range(S):
        for c in range(S):
            members = np.flatnonzero(p3[:, r, c]).tolist()
            angle = math.degrees(math.atan2(centre - r, c - centre)) % 360
            if r == c or r + c == S - 1:
                diagonal = round(angle / 45) * 45 % 360
                expected = sorted(t for t, (lo, hi) in enumerate(TRIANGLE_SECTORS) if diagonal in (lo, hi % 360))
            else:
                expected = [t for t, (lo, hi) in enumerate(TRIANGLE_SECTORS) if lo < angle < hi]
            assert members == expected, (r, c, angle)
    assert int(p3.sum()) == S * S + 2 * S  # the 224 diagonal pixels are counted twice


@pytest.mark.parametrize("size", [100, 12, 4, 0])
def test_crop_side_not_a_multiple_of_8_is_refused(size):
    with pytest.raises(VidsslError):
        pattern_masks(size)
    if size:
        with pytest.raises(VidsslError):
            motion_statistics(np.zeros((2, size, size, 2), np.float32))
        with pytest.raises(VidsslError):
            appearance_statistics(np.zeros((2, size, size, 3), np.uint8))


# ===========================================================================
# Motion boundaries (eq. 1–2): Prewitt gradients and polar form
# ===========================================================================


def test_prewitt_of_a_ramp_in_x_is_6_inside_and_3_at_the_side_borders():
    ramp = np.tile(np.arange(S, dtype=np.float32), (S, 1))  # f = x = column
    dx, dy = prewitt_gradients(ramp)
    np.testing.assert_array_equal(dx[:, 1:-1], 6.0)  # positive: a true gradient, not the mirrored kernel
    np.testing.assert_array_equal(dx[:, 0], 3.0)
    np.testing.assert_array_equal(dx[:, -1], 3.0)
    np.testing.assert_array_equal(dy, 0.0)


def test_prewitt_of_a_ramp_in_y_is_6_inside_and_3_at_top_and_bottom():
    ramp = np.tile(np.arange(S, dtype=np.float32)[:, None], (1, S))  # f = y = row (down)
    dx, dy = prewitt_gradients(ramp)
    np.testing.assert_array_equal(dy[1:-1], 6.0)
    np.testing.assert_array_equal(dy[0], 3.0)
    np.testing.assert_array_equal(dy[-1], 3.0)
    np.testing.assert_array_equal(dx, 0.0)


def test_prewitt_matches_scipy_correlation_with_edge_replicate_on_batched_fields():
    fields = np.random.default_rng(0).normal(size=(2, 3, 16, 24)).astype(np.float32)
    dx, dy = prewitt_gradients(fields)
    assert dx.shape == dy.shape == fields.shape
    for index in np.ndindex(2, 3):
        f = fields[index].astype(np.float64)
        np.testing.assert_allclose(dx[index], correlate(f, PREWITT_X, mode="nearest"), atol=1e-4)
        np.testing.assert_allclose(dy[index], correlate(f, PREWITT_Y, mode="nearest"), atol=1e-4)


@pytest.mark.parametrize("dx, dy, angle", [(1, 0, 0), (1, -1, 45), (0, -1, 90), (-1, -1, 135), (-1, 0, 180),
                                           (-1, 1, 225), (0, 1, 270), (1, 1, 315)])
def test_polar_angles_are_counter_clockwise_on_screen(dx, dy, angle):
    """dy is the derivative down the rows, so "up" on screen is dy < 0 and must come out at 90°."""
    magnitude, angles = polar(np.array([dx], np.float32) * 2, np.array([dy], np.float32) * 2)
    np.testing.assert_allclose(magnitude, [2 * math.hypot(dx, dy)], rtol=1e-6)
    np.testing.assert_allclose(angles, [angle], atol=1e-4)


def test_global_pan_has_no_motion_boundary():
    flow = np.zeros((15, S, S, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.5, -2.0
    stats = motion_statistics(flow)
    np.testing.assert_array_equal(stats.magnitude, 0.0)
    np.testing.assert_array_equal(stats.frame_magnitude, 0.0)
    assert stats.difficulty == 0.0
    np.testing.assert_array_equal(stats.labels, 0)  # every tie goes to the first index


def test_a_pan_added_to_a_moving_object_changes_nothing():
    top, left = centred_square_top_left(9, 10)
    flow = square_flow(top, left, 10)
    panned = flow + np.array([4.0, -1.5], np.float32)
    a, b = motion_statistics(flow), motion_statistics(panned)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.magnitude, b.magnitude, atol=1e-4)
    assert a.difficulty == pytest.approx(b.difficulty)


def test_linear_flow_gives_a_uniform_small_boundary_compared_with_a_step():
    num_flows, slope_x, slope_y = 4, 0.02, 0.01
    r, c = np.mgrid[0:S, 0:S].astype(np.float32)
    linear = np.zeros((num_flows, S, S, 2), np.float32)
    linear[..., 0] = slope_x * c - slope_y * r      # u grows right and up (screen)
    stats = motion_statistics(linear)
    interior = stats.magnitude[0, 1:-1, 1:-1]
    np.testing.assert_allclose(interior, num_flows * 6 * math.hypot(slope_x, slope_y), rtol=1e-4)
    expected_angle = math.degrees(math.atan2(slope_y, slope_x))
    np.testing.assert_allclose(stats.angle[0, 1:-1, 1:-1], expected_angle, atol=1e-2)

    step = np.zeros_like(linear)  # same range of u, but as a jump in the middle
    step[..., 56:, 0] = float(linear[0, ..., 0].max() - linear[0, ..., 0].min())
    step_peak = motion_statistics(step).magnitude[0].max()
    assert stats.magnitude[0].max() < step_peak / 20


# ===========================================================================
# Motion location labels (pattern 1, 2, 3)
# ===========================================================================


@pytest.mark.parametrize("block", range(16))
def test_square_centred_in_a_block_gives_that_block(block):
    top, left = centred_square_top_left(block, 10)
    labels = motion_statistics(square_flow(top, left, 10)).labels
    assert labels[0] == block and labels[2] == block


@pytest.mark.parametrize("block", range(16))
def test_square_inside_one_region_of_each_pattern_gives_its_block_ring_and_triangle(block):
    top, left, ring, triangle = square_in_one_region_of_every_pattern(block)
    stats = motion_statistics(square_flow(top, left, 4))
    labels = stats.labels
    assert (labels[0], labels[2]) == (block, block)
    assert (labels[4], labels[6]) == (ring, ring)
    assert (labels[8], labels[10]) == (triangle, triangle)
    assert stats.difficulty == pytest.approx(1.0)  # all of the boundary is inside the block


def test_pattern2_compares_mean_magnitude_not_sum():
    """Two squares in the outer ring (twice the sum) lose to one in the 7× smaller centre square."""
    flow = square_flow(52, 52, 6)                           # centre ring 0
    flow += square_flow(2, 50, 6) + square_flow(100, 50, 6)  # both in ring 3
    stats = motion_statistics(flow)
    ring_sums = stats.block_mean[0, 16:20] * np.array([784, 2352, 3920, 5488])
    assert ring_sums[3] > ring_sums[0]
    assert stats.labels[4] == 0 and stats.labels[6] == 0


@pytest.mark.parametrize("block", range(16))
def test_dis_medium_flow_of_a_rendered_moving_square_locates_its_block(block):
    frames = moving_square_frames(block, np.random.default_rng(block))
    labels = motion_statistics(FlowEstimator("dis_medium")(frames)).labels
    assert labels[0] == block and labels[2] == block


def test_dis_fast_flow_of_a_rendered_moving_square_lands_on_or_next_to_its_block():
    """dis_fast works at 1/4 resolution with 8-px patches (32 px at 112²), so a 12-px square is located only
    approximately: always within one block, exactly for 28–32 of the 32 labels over ten seed sets tried."""
    estimator = FlowEstimator("dis_fast")
    exact = 0
    for block in range(16):
        frames = moving_square_frames(block, np.random.default_rng(block))
        labels = motion_statistics(estimator(frames)).labels
        for found in (labels[0], labels[2]):
            assert neighbouring_blocks(int(found), block), (block, labels[:4])
            exact += int(found == block)
    assert exact >= 24  # of 32


# ===========================================================================
# Orientation labels (8 soft-voted bins)
# ===========================================================================


@pytest.mark.parametrize("block", [0, 6, 9, 15])
@pytest.mark.parametrize("direction", range(8))
def test_edge_rising_towards_each_direction_gives_that_orientation(direction, block):
    """u steps 0 → 1 across an edge through the block's centre, rising towards direction·45°; v does the
    same towards (direction + 3)·45°: every pattern's orientation label is that bin."""
    rows, cols = block_slices(block)
    centre = (rows.start + BLOCK // 2, cols.start + BLOCK // 2)
    u, v = half_plane_step(direction, centre), half_plane_step((direction + 3) % 8, centre)
    flow = np.stack([np.stack([u, v], axis=-1)] * 2)
    labels = motion_statistics(flow).labels
    assert [labels[1], labels[5], labels[9]] == [direction] * 3
    assert [labels[3], labels[7], labels[11]] == [(direction + 3) % 8] * 3
    changes = (np.diff(u, axis=1, prepend=u[:, :1]) != 0) | (np.diff(u, axis=0, prepend=u[:1]) != 0)
    edge_blocks = {spec_block(r, c) for r, c in zip(*np.nonzero(changes))}
    assert labels[0] in edge_blocks


def single_pixel_histograms(angle_degrees: float, magnitude: float = 2.0, pixel=(40, 70)) -> np.ndarray:
    mag, ang = np.zeros((S, S)), np.zeros((S, S))
    mag[pixel], ang[pixel] = magnitude, angle_degrees
    return orientation_histograms(mag, ang, partition(S))


def blocks_holding(pixel) -> list[int]:
    """Rows of the (28, …) block arrays (16 blocks, 4 rings, 8 triangles) that contain ``pixel``."""
    r, c = pixel
    return [spec_block(r, c), 16 + spec_ring(r, c)] + [20 + t for t in sorted(spec_triangles(r, c))]


@pytest.mark.parametrize("angle, expected", [
    (22.5, {0: 1.0, 1: 1.0}),           # half-way between the bin centres 0° and 45°
    (350.0, {0: 14 / 9, 7: 4 / 9}),     # 10° below 360°: 7/9 to bin 0, 2/9 to bin 7
    (0.0, {0: 2.0}), (45.0, {1: 2.0}), (90.0, {2: 2.0}), (180.0, {4: 2.0}), (270.0, {6: 2.0}),
    (100.0, {2: 2 * 35 / 45, 3: 2 * 10 / 45}),
])
def test_soft_voting_of_a_single_pixel(angle, expected):
    histograms = single_pixel_histograms(angle)
    want = np.zeros(8)
    for k, value in expected.items():
        want[k] = value
    holders = blocks_holding((40, 70))
    for row in range(28):
        np.testing.assert_allclose(histograms[row], want if row in holders else 0.0, atol=1e-9)


# ===========================================================================
# Global motion label (eq. 3)
# ===========================================================================


@pytest.mark.parametrize("frame", [0, 1, 7, 13, 14])
def test_only_frame_with_a_moving_object_is_the_global_label(frame):
    flow = np.zeros((15, S, S, 2), np.float32)
    flow[frame] = square_flow(30, 70, 12, num_flows=1)[0]
    labels = motion_statistics(flow).labels
    assert labels[12] == frame and labels[13] == frame


@pytest.mark.parametrize("frame", [0, 5, 14])
def test_frame_with_the_largest_boundary_is_the_global_label(frame):
    flow = square_flow(30, 70, 12, num_flows=15, u=1.0, v=0.5)
    flow[frame] *= 3.0
    labels = motion_statistics(flow).labels
    assert labels[12] == frame and labels[13] == frame


def test_global_labels_of_u_and_v_are_independent():
    flow = np.zeros((15, S, S, 2), np.float32)
    flow[4, 10:30, 10:30, 0] = 2.0
    flow[11, 60:80, 60:80, 1] = 2.0
    labels = motion_statistics(flow).labels
    assert (labels[12], labels[13]) == (4, 11)


# ===========================================================================
# Difficulty f (eq. 6)
# ===========================================================================


def test_difficulty_of_a_single_object_matches_brute_force():
    flow = square_flow(35, 63, 14)  # fully inside block 6
    assert motion_statistics(flow).difficulty == pytest.approx(brute_force_difficulty(flow), rel=1e-5)
    assert motion_statistics(flow).difficulty == pytest.approx(1.0)


def test_difficulty_of_an_object_split_across_two_blocks_is_lower():
    inside = motion_statistics(square_flow(35, 63, 14)).difficulty
    flow = square_flow(35, 49, 14)  # columns 49..62: half in block 5, half in block 6
    split = motion_statistics(flow).difficulty
    assert split == pytest.approx(brute_force_difficulty(flow), rel=1e-5)
    assert 0.4 < split < 0.6 < inside


def test_difficulty_of_two_objects_is_the_share_of_the_stronger():
    """Identical squares with u = 3 (block 3) and u = 1 (block 12), v = 0: f = 3 / (3 + 1)."""
    flow = square_flow(8, 92, 10, u=3.0, v=0.0) + square_flow(92, 8, 10, u=1.0, v=0.0)
    stats = motion_statistics(flow)
    assert stats.labels[0] == 3
    assert stats.difficulty == pytest.approx(0.75, rel=1e-5)


def test_difficulty_is_the_max_over_u_and_v():
    flow = square_flow(8, 92, 10, u=3.0, v=0.0) + square_flow(92, 8, 10, u=1.0, v=0.0)  # f_u = 0.75
    flow += square_flow(40, 40, 10, u=0.0, v=1.0)                                      # f_v = 1
    assert motion_statistics(flow).difficulty == pytest.approx(1.0)
    assert motion_statistics(flow).difficulty == pytest.approx(brute_force_difficulty(flow), rel=1e-5)


def test_difficulty_of_zero_flow_is_zero():
    assert motion_statistics(np.zeros((15, S, S, 2), np.float32)).difficulty == 0.0


# ===========================================================================
# Colour diversity (eqs. 4–5)
# ===========================================================================


@pytest.mark.parametrize("size, frames", [(32, 4), (112, 3)])
def test_colour_histograms_match_a_per_block_bincount_loop(size, frames):
    clip = np.random.default_rng(size).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    histograms = colour_histograms(clip, partition(size))
    masks = np.concatenate(spec_masks(size))
    assert histograms.shape == (28, frames, 3, 256)
    for block, mask in enumerate(masks):
        for t in range(frames):
            for channel in range(3):
                expected = np.bincount(clip[t][mask][:, channel], minlength=256)
                np.testing.assert_array_equal(histograms[block, t, channel], expected)


def test_colour_iou_matches_a_literal_loop_over_bins():
    histograms = np.random.default_rng(1).integers(0, 6, (5, 4, 3, 256)).astype(np.float64)
    iou = colour_iou(histograms)
    for block in range(5):
        per_channel = []
        for channel in range(3):
            overlap = union = 0.0
            for value in range(256):
                counts = [histograms[block, t, channel, value] for t in range(4)]
                overlap += min(counts)
                union += max(counts)
            per_channel.append(overlap / union)
        assert iou[block] == pytest.approx(sum(per_channel) / 3)


def test_iou_of_a_static_block_is_1_and_of_a_pure_colour_flicker_is_0():
    frames = static_clip(np.random.default_rng(0))
    frames = paint_flicker(frames, spec_masks(S)[0][5])
    iou = appearance_statistics(frames).iou
    assert iou[5] == pytest.approx(0.0)  # every channel jumps between 0 and 255 in all 784 pixels
    np.testing.assert_allclose(np.delete(iou[:16], 5), 1.0)


@pytest.mark.parametrize("block", range(16))
def test_flickering_block_is_the_most_diverse_of_pattern1(block):
    frames = paint_flicker(static_clip(np.random.default_rng(block)), spec_masks(S)[0][block])
    labels = appearance_statistics(frames).labels
    assert labels[0] == block
    assert labels[1] == RED                                         # red in 8 of 16 frames
    assert labels[2] == (1 if block == 0 else 0)                    # all others tie at IoU 1: first wins
    assert labels[3] == GREEN


@pytest.mark.parametrize("block", [0, 5, 10, 15, 3, 12])
def test_only_static_block_is_the_least_diverse_of_pattern1(block):
    rng = np.random.default_rng(block)
    frames = mildly_flickering_clip(rng)
    frames[:, spec_masks(S)[0][block]] = static_clip(rng, MAGENTAISH)[:, spec_masks(S)[0][block]]
    labels = appearance_statistics(frames).labels
    assert labels[2] == block
    assert labels[3] == MAGENTA


RINGS_AND_TRIANGLES = [(2, ring) for ring in range(4)] + [(3, triangle) for triangle in range(8)]


@pytest.mark.parametrize("pattern, block", RINGS_AND_TRIANGLES)
def test_flickering_ring_or_triangle_is_the_most_diverse_of_its_pattern(pattern, block):
    frames = paint_flicker(static_clip(np.random.default_rng(block)), spec_masks(S)[pattern - 1][block])
    labels = appearance_statistics(frames).labels
    slot = 4 * (pattern - 1)
    assert labels[slot] == block and labels[slot + 1] == RED


@pytest.mark.parametrize("pattern, block", RINGS_AND_TRIANGLES)
def test_only_static_ring_or_triangle_is_the_least_diverse_of_its_pattern(pattern, block):
    rng = np.random.default_rng(block)
    mask = spec_masks(S)[pattern - 1][block]
    frames = mildly_flickering_clip(rng)
    frames[:, mask] = static_clip(rng, MAGENTAISH)[:, mask]
    labels = appearance_statistics(frames).labels
    slot = 4 * (pattern - 1) + 2
    assert labels[slot] == block and labels[slot + 1] == MAGENTA


# ===========================================================================
# Dominant colours
# ===========================================================================


def test_colour_codes_of_the_eight_pure_colours_follow_colour_names():
    names = list(PURE_COLOURS)
    pixels = np.array([[PURE_COLOURS[name] for name in names]], dtype=np.uint8)
    assert colour_codes(pixels)[0].tolist() == [COLOUR_NAMES.index(name) for name in names]
    assert list(COLOUR_NAMES) == ["blue", "cyan", "magenta", "white", "black", "green", "red", "yellow"]


def test_colour_code_threshold_is_128():
    pixels = np.array([[[127, 127, 127], [128, 128, 128], [128, 127, 127], [127, 128, 127], [127, 127, 128]]],
                      dtype=np.uint8)
    assert [COLOUR_NAMES[k] for k in colour_codes(pixels)[0]] == ["black", "white", "red", "green", "blue"]


@pytest.mark.parametrize("rule", ["bins", "triplet"])
@pytest.mark.parametrize("name", list(PURE_COLOURS))
def test_block_mostly_one_pure_colour_gets_that_colour(name, rule):
    rng = np.random.default_rng(7)
    frames = random_texture(rng, (4, S, S))
    rows, cols = block_slices(9)
    frames[:, rows.start:rows.start + 21, cols] = PURE_COLOURS[name]  # 3/4 of block 9
    stats = appearance_statistics(frames, dominant_colour=rule)
    assert stats.colours[9] == COLOUR_NAMES.index(name)


@pytest.mark.parametrize("rule", ["bins", "triplet"])
@pytest.mark.parametrize("name", list(PURE_COLOURS))
def test_clip_mostly_one_pure_colour_gets_that_global_colour(name, rule):
    frames = random_texture(np.random.default_rng(3), (4, S, S))
    frames[:, :84] = PURE_COLOURS[name]
    assert appearance_statistics(frames, dominant_colour=rule).labels[12] == COLOUR_NAMES.index(name)


@pytest.mark.parametrize("rule", ["bins", "triplet"])
def test_colour_label_of_the_most_diverse_block_follows_the_rule(rule):
    frames = paint_flicker(static_clip(np.random.default_rng(0)), spec_masks(S)[0][10],
                           ["yellow"] * 6 + ["blue"] * 10)
    labels = appearance_statistics(frames, dominant_colour=rule).labels
    assert labels[0] == 10 and labels[1] == COLOUR_NAMES.index("blue")


def many_slightly_different_reds_and_one_repeated_blue(rng, num_pixels: int) -> np.ndarray:
    """(num_pixels, 3): 70% reds with random R∈[200,255], G,B∈[0,50] (few exact repeats), 30% exactly (0,0,255)."""
    reds = num_pixels * 7 // 10
    pixels = np.empty((num_pixels, 3), np.uint8)
    pixels[:reds] = random_texture(rng, (reds,), ((200, 255), (0, 50), (0, 50)))
    pixels[reds:] = PURE_COLOURS["blue"]
    return rng.permutation(pixels)


def test_bins_and_triplet_rules_differ_for_varied_reds_against_one_exact_blue():
    rng = np.random.default_rng(11)
    frames = static_clip(rng, num_frames=4)
    rows, cols = block_slices(13)
    frames[:, rows, cols] = many_slightly_different_reds_and_one_repeated_blue(rng, 4 * BLOCK * BLOCK).reshape(
        4, BLOCK, BLOCK, 3)
    assert appearance_statistics(frames, dominant_colour="bins").colours[13] == RED
    assert appearance_statistics(frames, dominant_colour="triplet").colours[13] == COLOUR_NAMES.index("blue")


def test_bins_and_triplet_rules_differ_for_the_global_colour():
    rng = np.random.default_rng(12)
    frames = many_slightly_different_reds_and_one_repeated_blue(rng, 4 * S * S).reshape(4, S, S, 3)
    assert appearance_statistics(frames, dominant_colour="bins").labels[12] == RED
    assert appearance_statistics(frames, dominant_colour="triplet").labels[12] == COLOUR_NAMES.index("blue")


def test_unknown_dominant_colour_rule_is_refused():
    with pytest.raises(VidsslError):
        appearance_statistics(np.zeros((2, S, S, 3), np.uint8), dominant_colour="mode")


# ===========================================================================
# 2D regression targets (§3.5.2)
# ===========================================================================


def spec_triangle_grid() -> dict[int, tuple[int, int]]:
    """(row, col) of each triangle from its centroid: column 1/2 = left/right of the centre, row = rank of the
    centroid's height among the four triangles of that column (1 = top)."""
    p3 = spec_masks(S)[2]
    centroids = {t: np.argwhere(p3[t]).mean(axis=0) for t in range(8)}
    grid = {}
    for side in (1, 2):
        members = [t for t in range(8) if (centroids[t][1] < (S - 1) / 2) == (side == 1)]
        for rank, t in enumerate(sorted(members, key=lambda t: centroids[t][0]), start=1):
            grid[t] = (rank, side)
    return grid


def test_two_d_targets_split_pattern1_blocks_and_add_one_elsewhere():
    motion = np.array([6, 1, 0, 2, 3, 4, 0, 5, 1, 6, 7, 7, 9, 14])
    appearance = np.array([15, 2, 6, 3, 1, 4, 2, 5, 4, 0, 5, 1, 7])
    m2, a2 = two_d_targets(motion, appearance)
    assert m2.shape == (18,) and a2.shape == (17,)
    grid = spec_triangle_grid()
    assert m2.tolist() == [2, 3, 2, 1, 1, 3, 4, 5, 1, 6, *grid[1], 7, *grid[7], 8, 10, 15]
    assert a2.tolist() == [4, 4, 3, 2, 3, 4, 2, 5, 3, 6, *grid[4], 1, *grid[5], 2, 8]


def test_two_d_pattern3_grid_follows_the_centroids():
    grid = spec_triangle_grid()
    assert grid == {1: (1, 1), 0: (2, 1), 4: (3, 1), 5: (4, 1), 2: (1, 2), 3: (2, 2), 7: (3, 2), 6: (4, 2)}
    for triangle in range(8):
        motion = np.zeros(14, np.int64)
        motion[8] = motion[10] = triangle
        m2, _ = two_d_targets(motion, np.zeros(13, np.int64))
        assert tuple(m2[10:12]) == grid[triangle] and tuple(m2[13:15]) == grid[triangle]


def test_two_d_targets_work_on_batches():
    rng = np.random.default_rng(0)
    motion = np.stack([rng.integers(0, n.num_classes, 5) for n in MOTION_LABELS], axis=-1)
    appearance = np.stack([rng.integers(0, n.num_classes, 5) for n in APPEARANCE_LABELS], axis=-1)
    m2, a2 = two_d_targets(motion, appearance)
    assert m2.shape == (5, 18) and a2.shape == (5, 17)
    for i in range(5):
        single_m, single_a = two_d_targets(motion[i], appearance[i])
        np.testing.assert_array_equal(m2[i], single_m)
        np.testing.assert_array_equal(a2[i], single_a)
    np.testing.assert_array_equal(m2[:, :2], np.stack([motion[:, 0] // 4 + 1, motion[:, 0] % 4 + 1], axis=-1))


# ===========================================================================
# Everything for one clip
# ===========================================================================


def test_sts_statistics_combines_both_and_checks_the_flow_shape():
    rng = np.random.default_rng(5)
    frames = paint_flicker(static_clip(rng, num_frames=4), spec_masks(S)[0][7])
    top, left = centred_square_top_left(2, 10)
    flow = square_flow(top, left, 10)
    stats = sts_statistics(frames, flow)
    assert stats.motion_labels[0] == 2 and stats.appearance_labels[0] == 7
    assert stats.difficulty == pytest.approx(1.0)
    with pytest.raises(VidsslError):
        sts_statistics(frames, flow[:2])
    with pytest.raises(VidsslError):
        sts_statistics(frames, flow[:, :56, :56])
