"""Figures of a run: pretext curves per epoch, retrieval recall bars, accuracy bars.

Uses matplotlib's object API with the Agg canvas (``Figure`` +
``FigureCanvasAgg``), so no screen is needed and pyplot's global backend is
never switched. PNGs at 120 dpi, tight layout, labelled axes (the STS label
figure of :func:`plot_sts_clip`: 12×10.5 inches at 100 dpi, constrained layout).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vidssl.errors import VidsslError

DPI = 120
_RECALL_KEY = re.compile(r"^R@(\d+)$")


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    return path


def plot_curves(
    history_rows: Sequence[Mapping[str, Any]], keys: Sequence[str], path: str | Path, title: str
) -> Path:
    """One panel per key (e.g. ``loss``, ``acc``) of its value per epoch.

    ``history_rows``: one dict per epoch (``fit``'s history, whose ``epoch`` is
    0-based); the x axis numbers epochs from 1, as the training log prints them.
    Rows without a key are skipped in its panel; a key in no row is an error.
    """
    if not history_rows:
        raise VidsslError(f"plot {path}: no history rows to plot")
    if not keys:
        raise VidsslError(f"plot {path}: expected at least one key to plot")
    fig = Figure(figsize=(4.2 * len(keys), 3.4))
    for i, key in enumerate(keys):
        points = [
            (float(row.get("epoch", n)) + 1, float(row[key]))
            for n, row in enumerate(history_rows)
            if row.get(key) is not None
        ]
        if not points:
            available = sorted({k for row in history_rows for k in row})
            raise VidsslError(f"plot {path}: key {key!r} is in no history row; available: {', '.join(available)}")
        ax = fig.add_subplot(1, len(keys), i + 1)
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def _grouped_bars(
    results: Mapping[str, Mapping[str, float]],
    metric_keys: Sequence[str],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    as_percent: bool,
) -> Path:
    """Bars grouped by metric (x axis), one colour per model, value printed above each bar."""
    names = list(results)
    if not names:
        raise VidsslError(f"plot {path}: no results to plot")
    scale = 100.0 if as_percent else 1.0
    x = np.arange(len(metric_keys))
    width = 0.8 / len(names)
    fig = Figure(figsize=(max(5.0, 1.1 * len(metric_keys) * max(1, len(names)) / 1.5), 3.8))
    ax = fig.add_subplot(1, 1, 1)
    for i, name in enumerate(names):
        missing = [k for k in metric_keys if k not in results[name]]
        if missing:
            raise VidsslError(f"plot {path}: results of {name!r} lack {', '.join(missing)}")
        values = [scale * float(results[name][k]) for k in metric_keys]
        bars = ax.bar(x - 0.4 + width * (i + 0.5), values, width, label=name)
        ax.bar_label(bars, fmt="%.1f" if as_percent else "%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, list(metric_keys))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if as_percent:
        ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_recall_bars(
    results: Mapping[str, Mapping[str, float]], path: str | Path, *, title: str = "Video retrieval"
) -> Path:
    """Grouped bars of R@k (in %) per k, one colour per model (e.g. pretrained vs random init).

    ``results``: ``{model name: {"R@1": 0.23, "R@5": ..., ...}}`` (other keys are
    ignored). The ks are those of the first model, in increasing order.
    """
    if not results:
        raise VidsslError(f"plot {path}: no results to plot")
    first = next(iter(results.values()))
    ks = sorted(int(m.group(1)) for m in map(_RECALL_KEY.match, first) if m)
    if not ks:
        raise VidsslError(f"plot {path}: results have no 'R@k' keys")
    return _grouped_bars(
        results, [f"R@{k}" for k in ks], path, title=title, xlabel="k nearest neighbours",
        ylabel="recall (%)", as_percent=True,
    )


def plot_accuracy_bars(
    results: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    keys: Sequence[str] = ("clip_acc", "video_acc"),
    title: str = "Action recognition",
) -> Path:
    """Grouped bars of accuracies (in %), e.g. clip and video accuracy, one colour per model."""
    return _grouped_bars(
        results, list(keys), path, title=title, xlabel="metric", ylabel="accuracy (%)", as_percent=True
    )


def _quantile_boxes(
    ax: Any, groups: Sequence[np.ndarray], positions: Sequence[float], *, width: float, colors: Sequence[Any]
) -> None:
    """Fig. 4 boxes: whiskers at the 5 %/95 % quantiles, box 25 %/75 %, a line at the median, no outliers."""
    boxes = ax.boxplot(
        [np.asarray(values, dtype=np.float64) for values in groups], positions=list(positions), widths=width,
        whis=(5, 95), showfliers=False, patch_artist=True, medianprops={"color": "black", "linewidth": 1.5},
    )
    for patch, color in zip(boxes["boxes"], colors):
        patch.set_facecolor(color)
        patch.set_alpha(0.75)


def plot_speediness(
    by_speed: Mapping[str, np.ndarray], path: str | Path, *, title: str = "Speediness distribution"
) -> Path:
    """TransRank Figure 4: one box per speed (``{"0.5x": normalised scores, …}``, in that order).

    Whiskers 5 %/95 %, boxes 25 %/75 %, median line; dashed lines at 0 and 1,
    the mean normalised scores of the 1× and 2× clips (footnote 5).
    """
    speeds = [name for name, values in by_speed.items() if len(values)]
    if not speeds:
        raise VidsslError(f"plot {path}: no speediness scores to plot")
    fig = Figure(figsize=(max(4.0, 1.1 * len(speeds) + 1.5), 3.8))
    ax = fig.add_subplot(1, 1, 1)
    colors = [f"C{i}" for i in range(len(speeds))]
    _quantile_boxes(ax, [by_speed[s] for s in speeds], range(len(speeds)), width=0.6, colors=colors)
    for level in (0.0, 1.0):
        ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(speeds)), speeds)
    ax.set_xlabel("playback speed of the clips")
    ax.set_ylabel("speediness score (normalised)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_speediness_per_class(
    by_class: Mapping[str, Mapping[str, np.ndarray]],
    path: str | Path,
    *,
    title: str = "Speediness per class (unnormalised)",
) -> Path:
    """TransRank Figure 7: one group per class, one box per speed (raw ``s_2x − s_1x``), colour = speed.

    ``by_class``: ``{class name: {"0.5x": scores, "1x": …}}``; the speeds of the
    first class set the colours and the legend. Boxes as in :func:`plot_speediness`.
    """
    classes = list(by_class)
    if not classes:
        raise VidsslError(f"plot {path}: no classes to plot")
    speeds = list(by_class[classes[0]])
    width = 0.8 / max(1, len(speeds))
    fig = Figure(figsize=(max(6.0, 0.6 * len(classes) + 2.0), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for i, speed in enumerate(speeds):
        present = [(c, by_class[name][speed]) for c, name in enumerate(classes) if len(by_class[name].get(speed, ()))]
        if not present:
            continue
        positions = [c - 0.4 + width * (i + 0.5) for c, _ in present]
        _quantile_boxes(ax, [values for _, values in present], positions, width=0.9 * width,
                        colors=[f"C{i}"] * len(present))
        ax.plot([], [], color=f"C{i}", linewidth=6, alpha=0.75, label=speed)  # legend entry
    slanted = len(classes) > 4
    ax.set_xticks(range(len(classes)), classes, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_xlim(-0.6, len(classes) - 0.4)
    ax.set_xlabel("class")
    ax.set_ylabel("speediness score s_2x − s_1x")
    ax.set_title(title)
    ax.legend(title="speed", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_view_grid(
    inputs: torch.Tensor, views: torch.Tensor, path: str | Path, *, frames: int = 4, title: str | None = None
) -> Path:
    """Input clips above their synthesised views (SRO §III-G): per sample, a row of ``frames`` evenly
    spaced input frames and the row of the same frames of its view.

    ``inputs`` and ``views``: (N, 3, T, H, W), uint8 or floats in [0, 1].
    """
    def as_images(x: torch.Tensor) -> np.ndarray:
        x = x.detach().cpu()
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return x.clamp(0, 1).permute(0, 2, 3, 4, 1).numpy()  # (N, T, H, W, C)

    shown_in, shown_view = as_images(inputs), as_images(views)
    samples, length = shown_in.shape[0], min(shown_in.shape[1], shown_view.shape[1])
    picks = np.linspace(0, length - 1, num=min(frames, length)).round().astype(int)
    fig = Figure(figsize=(1.6 * len(picks), 1.6 * 2 * samples))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 * samples, len(picks), squeeze=False)
    for sample in range(samples):
        for row, (name, clip) in enumerate((("input", shown_in), ("view", shown_view))):
            for col, t in enumerate(picks):
                ax = axes[2 * sample + row, col]
                ax.imshow(clip[sample, t])
                ax.set_xticks([])
                ax.set_yticks([])
                if col == 0:
                    ax.set_ylabel(f"{sample}: {name}", fontsize=8)
                if sample == 0 and row == 0:
                    ax.set_title(f"frame {t}", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# ---------------------------------------------------------------------------
# STS labels of one clip (the visual check of ``vidssl analyze sts``, STS Fig. 9)
# ---------------------------------------------------------------------------

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
    if total > 0:
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
    frame_numbers: Sequence[int] | None = None,
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
