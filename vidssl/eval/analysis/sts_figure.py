"""The STS label figure of one clip (the visual check of ``vidssl analyze sts``, STS Fig. 9).

:func:`plot_sts_clip` draws a clip's frames, its flow (:func:`flow_to_rgb`),
its motion boundaries and every pattern's labels where they point. Like
:mod:`vidssl.eval.plots` it uses matplotlib's object API with the Agg canvas;
the figure is 12×10.5 inches at 100 dpi with a constrained layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vidssl.errors import VidsslError

STS_DPI = 100
_STS_STYLES = {  # outline colour, line style, inset from the block boundary (px)
    "u": ("#ff2a2a", "-", 0.0),
    "v": ("#ffd400", "-", 2.5),
    "diverse": ("#00e5ff", "--", 5.0),
    "consistent": ("#ff4dff", "--", 5.0),
}
_PATTERN_NAMES = ("pattern 1: 4×4 grid", "pattern 2: 4 rings", "pattern 3: 8 triangles")


def flow_to_rgb(flow: np.ndarray, *, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field (H, W, 2) of (u right, v down) as uint8 RGB (H, W, 3).

    Hue = direction, counter-clockwise on screen from → (0°, red): ↑ 90° is
    yellow-green, ← 180° cyan, ↓ 270° violet; value = magnitude / ``max_magnitude``
    (default: the field's largest), clipped to 1; saturation 1. Zero flow is black.
    """
    from matplotlib.colors import hsv_to_rgb

    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[-1] != 2:
        raise VidsslError(f"flow_to_rgb: expected flow (H, W, 2), got shape {flow.shape}")
    u, v = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(u, v)
    scale = float(magnitude.max()) if max_magnitude is None else float(max_magnitude)
    angle = np.degrees(np.arctan2(-v, u)) % 360.0
    hsv = np.stack([angle / 360.0, np.ones_like(u), np.clip(magnitude / scale, 0, 1) if scale > 0 else 0 * u], -1)
    return np.round(hsv_to_rgb(hsv) * 255).astype(np.uint8)


def _flow_wheel(size: int = 64) -> np.ndarray:
    """RGBA key of :func:`flow_to_rgb`: the colour of a flow pointing from the centre to each pixel."""
    r = np.linspace(-1, 1, size)
    u, v = np.meshgrid(r, r)  # rows go down the screen, as v does
    rgb = flow_to_rgb(np.stack([u, v], -1), max_magnitude=1.0)
    alpha = (np.hypot(u, v) <= 1.0).astype(np.uint8) * 255
    return np.concatenate([rgb, alpha[..., None]], -1)


def _inner(mask: np.ndarray) -> np.ndarray:
    """Distance (px) of every pixel of ``mask`` to the nearest pixel outside it (or outside the image); 0 outside."""
    import cv2

    padded = np.pad(mask.astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]


def _outline(ax: Any, mask: np.ndarray, *, inset: float = 0.0, **style: Any) -> None:
    """Draw the boundary of ``mask`` (S, S), ``inset`` px inside it, on an imshow axis (pixel centres at integers)."""
    field = _inner(mask) - inset if inset > 0 else mask.astype(np.float64) - 0.5
    if field.max() <= 0:
        field = mask.astype(np.float64) - 0.5
    padded = np.pad(field, 1, constant_values=field.min())
    coords = np.arange(-1, mask.shape[0] + 1)
    ax.contour(coords, coords, padded, levels=[0.0], **style)


def _corner_point(mask: np.ndarray, margin: float = 6.0) -> tuple[float, float]:
    """(x, y) of the block's top-left-most pixel at least ``margin`` px from its edge (for a text tag)."""
    depth = _inner(mask)
    rows, cols = np.nonzero(depth >= min(margin, depth.max()))
    best = np.argmin(rows + cols)
    return float(cols[best]), float(rows[best])


def _bottom_point(mask: np.ndarray, margin: float = 6.0) -> tuple[float, float]:
    """(x, y) of the block's bottom-left-most pixel at least ``margin`` px from its edge."""
    depth = _inner(mask)
    rows, cols = np.nonzero(depth >= min(margin, depth.max()))
    best = np.argmin(cols - rows)
    return float(cols[best]), float(rows[best])


def _chord(mask: np.ndarray, direction: tuple[float, float], *, weight: np.ndarray | None = None,
           avoid: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(tail, head) (x, y) of an arrow inside ``mask`` along ``direction`` (dx, dy on screen).

    Candidates are the block's pixels at least 4 px inside it; how far one can
    walk from a candidate both ways inside the block is its half chord. Among the
    candidates whose half chord is at least 60 % of the longest, the arrow is
    centred on the one nearest the ``weight``-weighted centre of the block (where
    the motion is; the deepest one without ``weight``) and spans 75 % of its
    chord. ``avoid`` (another arrow's middle) rules out candidates within 6 px of it.
    """
    size = mask.shape[0]
    depth = _inner(mask)
    rows, cols = np.nonzero(depth >= min(4.0, depth.max()))
    step = max(1, len(rows) // 400)
    points = np.stack([cols, rows], -1)[::step].astype(np.float64)
    d = np.asarray(direction, dtype=np.float64)
    steps = np.arange(0, int(1.5 * size))

    def run(sign: float) -> np.ndarray:
        walk = points[:, None, :] + sign * steps[None, :, None] * d
        x, y = np.round(walk[..., 0]).astype(int), np.round(walk[..., 1]).astype(int)
        inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
        inside[inside] = mask[y[inside], x[inside]]
        return np.argmin(np.concatenate([inside, np.zeros((len(points), 1), bool)], 1), axis=1) - 0.5

    half_chord = np.minimum(run(1.0), run(-1.0))
    eligible = half_chord >= 0.6 * half_chord.max()
    if avoid is not None:
        away = np.hypot(*(points - np.asarray(avoid)).T) >= 6
        eligible = eligible & away if (eligible & away).any() else eligible
    total = 0.0 if weight is None else float(np.where(mask, weight, 0).sum())
    if weight is not None and total > 0:
        ys, xs = np.nonzero(mask)
        w = weight[ys, xs]
        target = np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum()
        cost = np.hypot(*(points - target).T)
    else:
        cost = -depth[points[:, 1].astype(int), points[:, 0].astype(int)]
    best = int(np.argmin(np.where(eligible, cost, np.inf)))
    half = 0.75 * max(float(half_chord[best]), 3.0)
    centre = points[best]
    return centre - half * d, centre + half * d


def _tag(ax: Any, x: float, y: float, text: str, color: str, **kwargs: Any) -> None:
    from matplotlib import patheffects

    ax.text(x, y, text, color=color, fontsize=kwargs.pop("fontsize", 7), ha=kwargs.pop("ha", "left"),
            va=kwargs.pop("va", "top"), path_effects=[patheffects.withStroke(linewidth=2, foreground="black")],
            **kwargs)


def _orientation_vector(bin_index: int) -> tuple[float, float]:
    """On-screen (dx, dy) of orientation bin k: k·45° counter-clockwise from →, y pointing down."""
    angle = np.radians(45.0 * bin_index)
    return float(np.cos(angle)), float(-np.sin(angle))


def _plot_pattern(ax: Any, frame: np.ndarray, masks: np.ndarray, pattern: int, statistics: Any,
                  colour_names: Sequence[str]) -> None:
    """Row 3 panel: ``frame`` with the pattern's blocks, the motion blocks + arrows and the colour blocks."""
    from matplotlib import patheffects

    from vidssl.data.statistics import PATTERN_BLOCKS

    stroke = [patheffects.withStroke(linewidth=3.2, foreground="black")]
    ax.imshow(frame)
    for mask in masks:
        _outline(ax, mask, colors="white", linewidths=0.6, alpha=0.6)
    for index, mask in enumerate(masks):
        _tag(ax, *_corner_point(mask, 4.0), str(index), "white", fontsize=6, alpha=0.9)
    motion, appearance = np.asarray(statistics.motion.labels), np.asarray(statistics.appearance.labels)
    block_mean, iou = statistics.motion.block_mean, statistics.appearance.iou
    starts = np.cumsum((0, *PATTERN_BLOCKS))  # first block of each pattern in the 28 per-block values
    base = 4 * (pattern - 1)
    u_block, u_bin, v_block, v_bin = (int(x) for x in motion[base: base + 4])
    diverse, diverse_colour, consistent, consistent_colour = (int(x) for x in appearance[base: base + 4])
    for name, block, colour in (("diverse", diverse, diverse_colour), ("consistent", consistent, consistent_colour)):
        color, style, inset = _STS_STYLES[name]
        _outline(ax, masks[block], inset=inset, colors=color, linewidths=1.6, linestyles=style)
        _tag(ax, *_bottom_point(masks[block], inset + 3.0), f"{name[0].upper()}: {colour_names[colour]}",
             color, va="bottom")
    arrows = [("u", u_block, u_bin)]
    if v_block != u_block or v_bin != u_bin:
        arrows.append(("v", v_block, v_bin))
    used = None
    for name, block, bin_index in arrows:
        color, style, inset = _STS_STYLES[name]
        if name == "u" or v_block != u_block:
            _outline(ax, masks[block], inset=inset, colors=color, linewidths=2.2, linestyles=style)
        weight = statistics.motion.magnitude[0 if name == "u" else 1]
        tail, head = _chord(masks[block], _orientation_vector(bin_index), weight=weight,
                            avoid=used if block == u_block else None)
        used = (tail + head) / 2
        ax.annotate("", xy=tuple(head), xytext=tuple(tail),
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2.0, "mutation_scale": 12,
                                "path_effects": stroke})
    first = starts[pattern - 1]
    mean_u, mean_v = (float(np.asarray(block_mean)[c, first + block]) for c, block in ((0, u_block), (1, v_block)))
    iou_d, iou_c = (float(np.asarray(iou)[first + block]) for block in (diverse, consistent))
    ax.set_title(_PATTERN_NAMES[pattern - 1], fontsize=10)
    ax.set_xlabel(
        f"u: block {u_block} (mean |M_u| {mean_u:.2f}), orient. {u_bin} ({45 * u_bin}°)\n"
        f"v: block {v_block}{' (= u)' if v_block == u_block else ''} (mean |M_v| {mean_v:.2f}), orient. {v_bin} "
        f"({45 * v_bin}°)\nD: block {diverse}, {colour_names[diverse_colour]}, IoU {iou_d:.3f}   "
        f"C: block {consistent}, {colour_names[consistent_colour]}, IoU {iou_c:.3f}",
        fontsize=8,
    )


def plot_sts_clip(
    frames: np.ndarray,
    flow: np.ndarray,
    statistics: Any,
    path: str | Path,
    *,
    title: str = "STS labels",
    frame_numbers: Sequence[int] | np.ndarray | None = None,
) -> Path:
    """One clip's STS labels drawn on the clip (STS Fig. 9, extended with every pattern's labels).

    Row 1: first, middle and last frame. Row 2: the flow of the middle frame
    pair (:func:`flow_to_rgb`, key in the corner), |M_u| and |M_v| (the summed
    motion boundaries, eq. 2). Row 3, per pattern, the middle frame with the
    pattern's numbered blocks; the block of largest mean |M_u| (red) and |M_v|
    (yellow, drawn only when different) with an arrow along its dominant
    orientation bin k (k·45° counter-clockwise from →); the most (cyan, "D") and
    least (magenta, "C") colour-diverse blocks, tagged with their dominant colour.

    ``frames`` uint8 (T, S, S, 3) RGB and ``flow`` (T−1, S, S, 2) are what the
    labels were computed on; ``statistics`` a
    :class:`vidssl.data.statistics.STSStatistics`; ``frame_numbers`` the clip's
    source frames (for the panel titles). Labels are shown 0-based as the library
    stores them (the paper counts from 1).
    """
    from matplotlib.lines import Line2D

    from vidssl.data.statistics import COLOUR_NAMES, pattern_masks

    frames, flow = np.asarray(frames), np.asarray(flow, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or flow.shape != (len(frames) - 1, *frames.shape[1:3], 2):
        raise VidsslError(f"plot {path}: expected frames (T, S, S, 3) and flow (T-1, S, S, 2), got "
                          f"{frames.shape} and {flow.shape}")
    motion, appearance = statistics.motion, statistics.appearance
    length, size = len(frames), frames.shape[1]
    numbers = list(frame_numbers) if frame_numbers is not None else list(range(length))
    middle, pair = length // 2, max(length // 2 - 1, 0)
    labels_m, labels_a = np.asarray(motion.labels), np.asarray(appearance.labels)
    u_frame, v_frame = int(labels_m[12]), int(labels_m[13])

    fig = Figure(figsize=(12, 10.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 3)
    for ax, t, name in zip(axes[0], (0, middle, length - 1), ("first", "middle", "last")):
        ax.imshow(frames[t])
        ax.set_title(f"{name} frame: clip t={t} (video frame {numbers[t]})", fontsize=10)

    ax = axes[1, 0]
    ax.imshow(flow_to_rgb(flow[pair]))
    peak = float(np.hypot(flow[pair, ..., 0], flow[pair, ..., 1]).max())
    ax.set_title(f"flow t={pair}→{pair + 1} (hue = direction, brightness = speed)", fontsize=10)
    ax.set_xlabel(f"largest displacement {peak:.2f} px", fontsize=8)
    key = ax.inset_axes([0.78, 0.78, 0.2, 0.2])
    key.imshow(_flow_wheel())
    key.set_axis_off()
    for ax, c, name, best in ((axes[1, 1], 0, "u", u_frame), (axes[1, 2], 1, "v", v_frame)):
        image = ax.imshow(motion.magnitude[c], cmap="magma")
        fig.colorbar(image, ax=ax, shrink=0.8)
        mask = pattern_masks(size)[0][int(labels_m[2 * c])]
        color, style, _ = _STS_STYLES[name]
        _outline(ax, mask, colors=color, linewidths=1.6, linestyles=style)
        ax.set_title(f"|M_{name}|: boundaries of {name}, summed over {length - 1} flows", fontsize=10)
        ax.set_xlabel(f"box: largest pattern-1 block ({int(labels_m[2 * c])})\nglobal {name}: flow {best} "
                      f"(t={best}→{best + 1}) has the largest boundaries", fontsize=8)

    middle_frame = frames[middle]
    for pattern, (ax, masks) in enumerate(zip(axes[2], pattern_masks(size)), start=1):
        _plot_pattern(ax, middle_frame, masks, pattern, statistics, COLOUR_NAMES)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])

    fig.suptitle(
        f"{title}\nmotion difficulty f = {float(motion.difficulty):.3f}   ·   global motion: u flow {u_frame}, "
        f"v flow {v_frame}   ·   global colour: {COLOUR_NAMES[int(labels_a[12])]}   ·   labels 0-based (paper: +1)",
        fontsize=11,
    )
    handles = [
        Line2D([], [], color=_STS_STYLES["u"][0], lw=2.2,
               label="largest |M_u| block + arrow: its dominant orientation"),
        Line2D([], [], color=_STS_STYLES["v"][0], lw=2.2,
               label="largest |M_v| block + arrow (if not the u block/orient.)"),
        Line2D([], [], color=_STS_STYLES["diverse"][0], lw=1.6, ls="--",
               label="D: most colour-diverse block (lowest IoU), its dominant colour"),
        Line2D([], [], color=_STS_STYLES["consistent"][0], lw=1.6, ls="--",
               label="C: least colour-diverse block (highest IoU), its dominant colour"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False,
               title="row 3 (middle frame): white numbers = block indices; orientation bin k = k·45° "
                     "counter-clockwise from →", title_fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=STS_DPI, format="png")
    return path
