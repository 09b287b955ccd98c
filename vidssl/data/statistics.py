"""STS labels: spatio-temporal motion and appearance statistics of a clip (Wang et al., TPAMI 2021, §3.2–§3.4).

Pure numpy, run in DataLoader workers. Given the clip the network sees —
``frames`` uint8 (T, S, S, 3) RGB and the flow between its consecutive frames,
``flow`` float32 (T−1, S, S, 2) holding (u, v) — :func:`sts_statistics`
returns the 14 motion labels, the 13 appearance labels and the curriculum
difficulty f (eq. 6). Every label is a 0-based class index inside the library
(the paper and the official code count from 1; the regression targets of
:mod:`vidssl.losses.sts` add the 1 back).

Order and class counts (:data:`MOTION_LABELS`, :data:`APPEARANCE_LABELS`), as in
the authors' code (ALGORITHMS.md, STS §1.6–§1.7):

====  ==========================================  =======
#     motion label                                classes
====  ==========================================  =======
0–3   pattern 1: u block, u orientation, v block,  16, 8, 16, 8
      v orientation
4–7   pattern 2 (rings), same four                4, 8, 4, 8
8–11  pattern 3 (triangles), same four            8, 8, 8, 8
12    u, flow frame with the largest boundary      T−1
13    v, same (eq. 3)                             T−1
====  ==========================================  =======

====  ==========================================  =======
#     appearance label                            classes
====  ==========================================  =======
0–3   pattern 1: most diverse block, its colour,  16, 8, 16, 8
      least diverse block, its colour
4–7   pattern 2, same four                        4, 8, 4, 8
8–11  pattern 3, same four                        8, 8, 8, 8
12    dominant colour of the whole clip           8
====  ==========================================  =======

How each is computed:

- **Motion boundaries** (eq. 1): the Prewitt x- and y-derivatives of u and of v
  per flow frame, border mode "reflect" (edge pixel repeated), as the official
  code; **summed** over the T−1 flows (eq. 2) into M_u, M_v, then polar form.
- **Orientation** (8 bins, magnitude-weighted, soft-voted between the two nearest
  bin centres k·45°, ALGORITHMS.md §1.4) in the block with the largest **mean**
  magnitude (equal to the largest sum for patterns 1 and 3, whose blocks have
  equal areas; pattern 2's rings do not).
- **Global motion** (eq. 3): the flow frame whose Σ √(d_x² + d_y²) is largest.
- **Colour diversity** (eqs. 4–5): per block and channel, 256-bin histograms per
  frame; IoU = Σ_bins min_t / Σ_bins max_t, averaged over R, G, B. Most diverse
  = smallest IoU, least diverse = largest IoU.
- **Dominant colour** (8 bins: each channel low < 128 ≤ high): the bin holding
  most of the block's pixels over all frames.
- **Difficulty** f (eq. 6): max over u, v of (Σ magnitude in the pattern-1 block
  with the largest motion) / (Σ magnitude over the frame); 0 for a clip without
  any motion boundary. Large f = easy.

Where this deviates from the official code on purpose (ALGORITHMS.md,
"Conventions"), following the paper's intent:

- Derivatives are true gradients (the official code convolves, which mirrors the
  Prewitt kernel and turns every orientation by 180°).
- Angles are counted **counter-clockwise as seen on screen** (x right, y up;
  "up" is 90°, bin 2), as the paper's Fig. 2 numbers its pieces; the official
  angles are clockwise (image y points down).
- The dominant colour is the 8-bin majority the paper describes (§3.3); the
  official code first takes the single most frequent exact RGB triplet and bins
  only that (``dominant_colour="triplet"`` reproduces it, ties included: the
  smallest B-major key b·256² + g·256 + r wins, as the official
  ``np.ravel_multi_index((b, g, r))`` + ``bincount().argmax()``; ties are
  common in noisy blocks, and an R-major key would pick a different colour).
- Block masks count only the block's pixels (the official code zero-fills and
  subtracts the fill from bin 0 — the same — except for its 56×56-ring typo,
  ALGORITHMS.md §1.9, which is not reproduced).
- Ties go to the first index everywhere; pattern 1 of an all-zero field gives
  block 0 (the official code returns an out-of-range 0 label there).

Patterns (ALGORITHMS.md §1.5) scale with the crop size S (a multiple of 8;
112 in the paper): pattern 1 is a 4×4 grid of S/4 blocks numbered row-major;
pattern 2 four concentric rings S/8 wide, centre first; pattern 3 the eight
triangles cut by the centre lines and the diagonals, numbered quadrant by
quadrant (TL, TR, BL, BR), each including its quadrant's diagonal, so diagonal
pixels belong to two triangles.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from vidssl.checks import ArgumentError, check_choice, is_integer
from vidssl.errors import VidsslError
from vidssl.ops.sts_grid import pattern3_coordinates

NUM_ORIENTATIONS = 8
NUM_COLOURS = 8
PATTERN_BLOCKS = (16, 4, 8)
"""Blocks of patterns 1, 2, 3."""

COLOUR_NAMES = ("blue", "cyan", "magenta", "white", "black", "green", "red", "yellow")
"""Colour bin k (0-based) of the official table: (R, G, B) high/low at 128 — see :func:`colour_codes`."""


class LabelSpec(NamedTuple):
    name: str
    num_classes: int
    kind: str  # "location1" | "location2" | "location3" | "orientation" | "frame" | "colour"


def motion_label_specs(num_flows: int = 15) -> tuple[LabelSpec, ...]:
    """The 14 motion labels in order; the global ones have one class per flow frame (15 for 16-frame clips)."""
    specs = []
    for pattern, blocks in zip((1, 2, 3), PATTERN_BLOCKS):
        for component in ("u", "v"):
            specs.append(LabelSpec(f"p{pattern}_{component}_block", blocks, f"location{pattern}"))
            specs.append(LabelSpec(f"p{pattern}_{component}_orientation", NUM_ORIENTATIONS, "orientation"))
    specs.append(LabelSpec("global_u_frame", num_flows, "frame"))
    specs.append(LabelSpec("global_v_frame", num_flows, "frame"))
    return tuple(specs)


def appearance_label_specs() -> tuple[LabelSpec, ...]:
    """The 13 appearance labels in order."""
    specs = []
    for pattern, blocks in zip((1, 2, 3), PATTERN_BLOCKS):
        for which in ("diverse", "consistent"):
            specs.append(LabelSpec(f"p{pattern}_{which}_block", blocks, f"location{pattern}"))
            specs.append(LabelSpec(f"p{pattern}_{which}_colour", NUM_COLOURS, "colour"))
    specs.append(LabelSpec("global_colour", NUM_COLOURS, "colour"))
    return tuple(specs)


MOTION_LABELS = motion_label_specs(15)
APPEARANCE_LABELS = appearance_label_specs()


# ---------------------------------------------------------------------------
# Partitioning patterns
# ---------------------------------------------------------------------------


def check_square_size(size: int, name: str = "size") -> int:
    """The crop side S as an int: the 4×4 blocks and the patterns' 8×8 atoms need a multiple of 8."""
    if not is_integer(size) or size < 8 or size % 8:
        raise ArgumentError(name, f"STS patterns need a square crop whose side is a multiple of 8, got {size!r}")
    return int(size)


def pattern1_blocks(size: int) -> np.ndarray:
    """(S, S) int: pixel (r, c) is in block 4·⌊4r/S⌋ + ⌊4c/S⌋ of the 4×4 grid (0 top-left, 15 bottom-right)."""
    rows = np.arange(size) * 4 // size
    return (4 * rows[:, None] + rows[None, :]).astype(np.int64)


def pattern2_rings(size: int) -> np.ndarray:
    """(S, S) int: 0 = centre square, 3 = outer ring; rings are S/8 wide (14 px at 112)."""
    r = np.arange(size)
    edge = np.minimum(r, size - 1 - r)
    distance = np.minimum(edge[:, None], edge[None, :])
    return (3 - np.minimum(distance // (size // 8), 3)).astype(np.int64)


def pattern3_masks(size: int) -> np.ndarray:
    """(8, S, S) bool: the eight triangles of ALGORITHMS.md §1.5, diagonals in both triangles of a quadrant."""
    half = size // 2
    r, c = np.meshgrid(np.arange(half), np.arange(half), indexing="ij")
    below, above = r >= c, c >= r                              # main diagonal of a quadrant
    upper_anti, lower_anti = r + c <= half - 1, r + c >= half - 1  # anti-diagonal
    masks = np.zeros((8, size, size), dtype=bool)
    quadrant = {"tl": (slice(0, half), slice(0, half)), "tr": (slice(0, half), slice(half, size)),
                "bl": (slice(half, size), slice(0, half)), "br": (slice(half, size), slice(half, size))}
    layout = [("tl", below), ("tl", above), ("tr", upper_anti), ("tr", lower_anti),
              ("bl", upper_anti), ("bl", lower_anti), ("br", below), ("br", above)]
    for index, (name, triangle) in enumerate(layout):
        masks[index][quadrant[name]] = triangle
    return masks


def pattern_masks(size: int) -> list[np.ndarray]:
    """Per pattern, (blocks, S, S) bool membership masks."""
    size = check_square_size(size)
    p1 = pattern1_blocks(size)
    p2 = pattern2_rings(size)
    return [p1[None] == np.arange(16)[:, None, None], p2[None] == np.arange(4)[:, None, None], pattern3_masks(size)]


@dataclass(frozen=True)
class Partition:
    """All 28 blocks of the three patterns, factored through "atoms" for one-bincount histograms.

    An atom is a set of pixels that belong to exactly the same blocks. A per-pixel
    quantity is histogrammed once per atom (one ``np.bincount``), and a block's
    histogram is then a sum of atoms: ``membership @ atom_histogram``.
    """

    size: int
    atom_of_pixel: np.ndarray  # (S*S,) int64
    membership: np.ndarray     # (28, atoms) float64, 1 where the atom lies in the block
    block_area: np.ndarray     # (28,) pixels per block
    starts: tuple[int, ...]    # first row of each pattern in ``membership``: (0, 16, 20, 28)

    @property
    def num_atoms(self) -> int:
        return self.membership.shape[1]

    def pattern_rows(self, pattern: int) -> slice:
        """Rows of ``membership`` that are the blocks of pattern 1, 2 or 3."""
        return slice(self.starts[pattern - 1], self.starts[pattern])


@functools.lru_cache(maxsize=8)
def partition(size: int) -> Partition:
    """The :class:`Partition` of an S×S crop (cached per size)."""
    masks = np.concatenate(pattern_masks(size)).reshape(28, -1)
    atoms, atom_of_pixel = np.unique(masks.T, axis=0, return_inverse=True)
    membership = atoms.T.astype(np.float64)
    starts = tuple(int(s) for s in np.cumsum((0,) + PATTERN_BLOCKS))
    return Partition(size, atom_of_pixel.reshape(-1).astype(np.int64), membership, masks.sum(1).astype(np.float64),
                     starts)


def block_sums(values: np.ndarray, part: Partition) -> np.ndarray:
    """(28,) sums of an (S, S) map over every block of the three patterns."""
    per_atom = np.bincount(part.atom_of_pixel, weights=values.reshape(-1), minlength=part.num_atoms)
    return part.membership @ per_atom


# ---------------------------------------------------------------------------
# Motion statistics (§3.2)
# ---------------------------------------------------------------------------


def prewitt_gradients(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx, d/dy) of fields (..., H, W) with the Prewitt kernels; edge pixels repeated at the border (eq. 1).

    d/dx at (r, c) = Σ over rows r−1..r+1 of f[·, c+1] − f[·, c−1]; d/dy likewise
    over columns, +y pointing down the rows. A ramp f = x gives 6 inside, 3 at
    the left and right borders.
    """
    pad = [(0, 0)] * (field.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(field.astype(np.float32, copy=False), pad, mode="edge")
    across_x = p[..., 2:] - p[..., :-2]            # (.., H+2, W)
    across_y = p[..., 2:, :] - p[..., :-2, :]      # (.., H, W+2)
    dx = across_x[..., :-2, :] + across_x[..., 1:-1, :] + across_x[..., 2:, :]
    dy = across_y[..., :-2] + across_y[..., 1:-1] + across_y[..., 2:]
    return dx, dy


def polar(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(magnitude, angle in degrees [0, 360)) with angles counter-clockwise on screen: +x 0°, up 90°."""
    magnitude = np.sqrt(dx * dx + dy * dy)
    angle = np.degrees(np.arctan2(-dy, dx))
    angle[angle < 0] += 360.0  # [-180, 180] -> [0, 360)
    return magnitude, angle


def orientation_histograms(magnitude: np.ndarray, angle: np.ndarray, part: Partition) -> np.ndarray:
    """(28, 8) magnitude-weighted orientation histograms of every block, soft-voted (ALGORITHMS.md §1.4).

    A pixel at angle a adds m·(1 − r) to bin k = ⌊a/45⌋ and m·r to bin k+1 (mod 8),
    r = (a mod 45)/45: bin k is centred at k·45°.
    """
    scaled = angle.reshape(-1) / (360.0 / NUM_ORIENTATIONS)
    lower = np.floor(scaled).astype(np.int64) % NUM_ORIENTATIONS
    upper_share = scaled - np.floor(scaled)
    weights = magnitude.reshape(-1)
    key = part.atom_of_pixel * NUM_ORIENTATIONS
    bins = part.num_atoms * NUM_ORIENTATIONS
    per_atom = (
        np.bincount(key + lower, weights=weights * (1.0 - upper_share), minlength=bins)
        + np.bincount(key + (lower + 1) % NUM_ORIENTATIONS, weights=weights * upper_share, minlength=bins)
    )
    return part.membership @ per_atom.reshape(part.num_atoms, NUM_ORIENTATIONS)


@dataclass
class MotionStatistics:
    """The motion labels of one clip and what they were computed from (for plots and the curriculum)."""

    labels: np.ndarray          # (14,) int64, 0-based
    difficulty: float           # f of eq. (6)
    magnitude: np.ndarray       # (2, S, S): |M_u|, |M_v|
    angle: np.ndarray           # (2, S, S) degrees
    block_mean: np.ndarray      # (2, 28): mean magnitude of every block, for u and v
    frame_magnitude: np.ndarray  # (2, T−1): Σ per-frame boundary magnitude, for u and v


def motion_statistics(flow: np.ndarray) -> MotionStatistics:
    """The 14 motion labels of ``flow`` (T−1, S, S, 2) float (u, v) and the difficulty f (eqs. 1–3, 6)."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 4 or flow.shape[-1] != 2 or flow.shape[1] != flow.shape[2] or flow.shape[0] < 1:
        raise VidsslError(f"flow: expected (T-1, S, S, 2) with T-1 >= 1, got shape {flow.shape}")
    part = partition(flow.shape[1])
    components = np.moveaxis(flow, -1, 0)                 # (2, T−1, S, S)
    dx, dy = prewitt_gradients(components)                # per frame boundaries m_u, m_v
    frame_magnitude = np.sqrt(dx * dx + dy * dy).sum(axis=(2, 3))
    magnitude, angle = polar(dx.sum(axis=1), dy.sum(axis=1))  # M_u, M_v (eq. 2)

    labels = np.zeros(14, dtype=np.int64)
    block_mean = np.zeros((2, 28))
    ratios = []
    for c in range(2):
        sums = block_sums(magnitude[c], part)
        block_mean[c] = sums / part.block_area
        histograms = orientation_histograms(magnitude[c], angle[c], part)
        for p in range(3):
            rows = part.pattern_rows(p + 1)
            block = int(np.argmax(block_mean[c, rows]))
            labels[4 * p + 2 * c] = block
            labels[4 * p + 2 * c + 1] = int(np.argmax(histograms[rows][block]))
        total = magnitude[c].sum()
        ratios.append(sums[labels[2 * c]] / total if total > 0 else 0.0)
    labels[12:14] = np.argmax(frame_magnitude, axis=1)
    return MotionStatistics(labels, float(max(ratios)), magnitude, angle, block_mean, frame_magnitude)


# ---------------------------------------------------------------------------
# Appearance statistics (§3.3)
# ---------------------------------------------------------------------------


def colour_codes(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) colour bin 0…7 of every RGB pixel, in the order of :data:`COLOUR_NAMES`.

    With each channel "high" at ≥ 128: bin = 4·(B low) + 2·(R high) + (G high) —
    blue 0, cyan 1, magenta 2, white 3, black 4, green 5, red 6, yellow 7 (the
    official table, ALGORITHMS.md §1.7, counted from 0).
    """
    high = frames >= 128
    return (4 * (~high[..., 2]) + 2 * high[..., 0] + high[..., 1]).astype(np.int64)


def check_colour_bins(bins: int, name: str = "bins") -> int:
    """Histogram bins per channel: a power of two from 2 to 256 (each bin then spans 256 / bins values)."""
    if not is_integer(bins) or not 2 <= bins <= 256 or bins & (bins - 1):
        raise ArgumentError(name, f"expected a power of two from 2 to 256, got {bins!r}")
    return int(bins)


def colour_histograms(frames: np.ndarray, part: Partition, bins: int = 256) -> np.ndarray:
    """(28, T, 3, bins) per-frame, per-channel colour histograms of every block: one bincount over atoms.

    ``bins`` = 256 counts every value (the official code); fewer bins group
    256 / bins neighbouring values. The flat histogram is laid out (frame,
    channel, atom, value) and filled plane by plane, so each frame-channel's
    counts stay in cache while they grow.
    """
    t = frames.shape[0]
    bins = check_colour_bins(bins)
    planes = np.ascontiguousarray(frames.reshape(t, -1, 3).transpose(0, 2, 1))  # (T, 3, S·S)
    if bins < 256:
        planes = planes >> int(np.log2(256 // bins))
    counts = np.bincount((_histogram_offsets(part.size, t, bins) + planes).reshape(-1),
                         minlength=t * 3 * part.num_atoms * bins)
    per_atom = counts.reshape(t * 3, part.num_atoms, bins).astype(np.float32)  # exact below 2**24 pixels
    membership = part.membership.astype(np.float32)
    return np.matmul(membership, per_atom).reshape(t, 3, 28, bins).transpose(2, 0, 1, 3)


@functools.lru_cache(maxsize=16)
def _histogram_offsets(size: int, frames: int, bins: int) -> np.ndarray:
    """(T, 3, S·S) int32: where pixel p of frame t, channel c starts in the flat (t, c, atom, value) histogram."""
    part = partition(size)
    plane = np.arange(frames)[:, None, None] * 3 + np.arange(3)[None, :, None]
    return ((plane * part.num_atoms + part.atom_of_pixel[None, None, :]) * bins).astype(np.int32)


def colour_iou(histograms: np.ndarray) -> np.ndarray:
    """(blocks,) IoU of eqs. (4)–(5): per channel Σ_bins min over frames / Σ_bins max over frames, averaged."""
    overlap = histograms.min(axis=1).sum(axis=-1)
    union = histograms.max(axis=1).sum(axis=-1)
    return (overlap / np.maximum(union, 1e-12)).mean(axis=-1)


def colour_counts(codes: np.ndarray, part: Partition) -> np.ndarray:
    """(atoms, 8) pixels of each colour bin per atom, over all frames of ``codes`` (T, S, S)."""
    keys = part.atom_of_pixel[None] * NUM_COLOURS + codes.reshape(codes.shape[0], -1)
    return np.bincount(keys.reshape(-1), minlength=part.num_atoms * NUM_COLOURS).reshape(part.num_atoms, NUM_COLOURS)


def b_major_keys(pixels: np.ndarray) -> np.ndarray:
    """(N,) int64 key b·256² + g·256 + r of RGB ``pixels`` (N, 3): the official ``np.ravel_multi_index((b, g, r))``."""
    return (pixels[:, 2].astype(np.int64) << 16) | (pixels[:, 1].astype(np.int64) << 8) | pixels[:, 0]


def triplet_mode_colour(pixels: np.ndarray) -> int:
    """The official rule: the colour bin of the single most frequent exact triplet of RGB ``pixels`` (N, 3).

    Ties go to the smallest B-major key (:func:`b_major_keys`), as the official
    ``bincount().argmax()`` over OpenCV's (b, g, r) order (ALGORITHMS.md §1.7).
    """
    values, counts = np.unique(b_major_keys(pixels), return_counts=True)
    mode = values[np.argmax(counts)]  # sorted keys: the first of the tied modes is the smallest key
    rgb = np.array([[mode & 255, (mode >> 8) & 255, (mode >> 16) & 255]], dtype=np.uint8)
    return int(colour_codes(rgb)[0])


@dataclass
class AppearanceStatistics:
    labels: np.ndarray   # (13,) int64, 0-based
    iou: np.ndarray      # (28,) colour IoU of every block (patterns 1, 2, 3 in turn)
    colours: np.ndarray  # (28,) dominant colour bin of every block


DOMINANT_COLOUR_RULES = ("bins", "triplet")


def appearance_statistics(
    frames: np.ndarray, *, dominant_colour: str = "bins", colour_bins: int = 256
) -> AppearanceStatistics:
    """The 13 appearance labels of ``frames`` uint8 (T, S, S, 3) RGB (eqs. 4–5 and the dominant colours).

    ``dominant_colour``: ``"bins"`` (the paper: majority of the 8 colour bins) or
    ``"triplet"`` (the official code: bin of the most frequent exact RGB value).
    ``colour_bins``: histogram bins per channel for the IoU (256, every value, in
    the official code). With 256 bins, a background whose brightness drifts by a
    level per frame (noise, compression, SynthMotion's lighting) has almost no
    overlap over 16 frames and every block's IoU is near 0; coarser bins
    (e.g. 16) make the diversity labels describe what visibly changes.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] != frames.shape[2] or frames.dtype != np.uint8:
        raise VidsslError(f"frames: expected uint8 (T, S, S, 3), got {frames.dtype} {frames.shape}")
    check_choice("dominant_colour", dominant_colour, DOMINANT_COLOUR_RULES)
    part = partition(frames.shape[1])
    iou = colour_iou(colour_histograms(frames, part, colour_bins))
    if dominant_colour == "bins":
        counts = colour_counts(colour_codes(frames), part)
        colours = np.argmax(part.membership @ counts, axis=1)
        global_colour = int(np.argmax(counts.sum(axis=0)))
    else:
        colours = _triplet_colours(frames, part)
        global_colour = triplet_mode_colour(frames.reshape(-1, 3))
    labels = np.zeros(13, dtype=np.int64)
    for p in range(3):
        rows = part.pattern_rows(p + 1)
        diverse, consistent = int(np.argmin(iou[rows])), int(np.argmax(iou[rows]))
        labels[4 * p: 4 * p + 4] = (diverse, colours[rows][diverse], consistent, colours[rows][consistent])
    labels[12] = global_colour
    return AppearanceStatistics(labels, iou, colours)


def _triplet_colours(frames: np.ndarray, part: Partition) -> np.ndarray:
    pixels = frames.reshape(frames.shape[0], -1, 3)
    masks = part.membership[:, part.atom_of_pixel] > 0
    return np.array([triplet_mode_colour(pixels[:, mask].reshape(-1, 3)) for mask in masks])


# ---------------------------------------------------------------------------
# Everything for one clip
# ---------------------------------------------------------------------------


@dataclass
class STSStatistics:
    motion: MotionStatistics
    appearance: AppearanceStatistics

    @property
    def motion_labels(self) -> np.ndarray:
        return self.motion.labels

    @property
    def appearance_labels(self) -> np.ndarray:
        return self.appearance.labels

    @property
    def difficulty(self) -> float:
        return self.motion.difficulty


def sts_statistics(
    frames: np.ndarray, flow: np.ndarray, *, dominant_colour: str = "bins", colour_bins: int = 256
) -> STSStatistics:
    """All 27 labels of a clip: ``frames`` uint8 (T, S, S, 3) RGB and its ``flow`` (T−1, S, S, 2)."""
    if flow.shape[0] != frames.shape[0] - 1 or flow.shape[1:3] != frames.shape[1:3]:
        raise VidsslError(
            f"flow: expected {frames.shape[0] - 1} flows of {frames.shape[1]}x{frames.shape[2]} for "
            f"{frames.shape[0]} frames, got shape {flow.shape}"
        )
    appearance = appearance_statistics(frames, dominant_colour=dominant_colour, colour_bins=colour_bins)
    return STSStatistics(motion_statistics(flow), appearance)


# ---------------------------------------------------------------------------
# 2D location labels (§3.5.2)
# ---------------------------------------------------------------------------


def two_d_targets(motion: np.ndarray, appearance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based regression targets of the 2D-label design: 18 motion and 17 appearance values (§3.5.2).

    Every pattern-1 block b becomes (row, col) = (b // 4 + 1, b % 4 + 1) (block 7
    → (2, 3), the paper's example) and every pattern-3 triangle its row and
    column of :func:`pattern3_coordinates`; all other labels stay one value + 1.
    Works on (…, 14) / (…, 13) arrays.
    """
    motion, appearance = np.asarray(motion), np.asarray(appearance)
    tri = pattern3_coordinates()

    def expand(labels: np.ndarray, p1_slots: tuple[int, ...], p3_slots: tuple[int, ...]) -> np.ndarray:
        columns = []
        for index in range(labels.shape[-1]):
            value = labels[..., index]
            if index in p1_slots:
                columns += [value // 4 + 1, value % 4 + 1]
            elif index in p3_slots:
                columns += [tri[value, 0], tri[value, 1]]
            else:
                columns.append(value + 1)
        return np.stack(columns, axis=-1)

    return expand(motion, (0, 2), (8, 10)), expand(appearance, (0, 2), (8, 10))
