"""Figures of a run: pretext curves per epoch, retrieval recall bars, accuracy bars.

Uses matplotlib's object API with the Agg canvas (``Figure`` +
``FigureCanvasAgg``), so no screen is needed and pyplot's global backend is
never switched. PNGs at 120 dpi, tight layout, labelled axes.
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
