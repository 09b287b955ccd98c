"""Figures of a run: pretext curves per epoch, retrieval recall bars, accuracy bars, speediness boxes, and
those of the evaluation protocols (recall per layer, retrieval grid, lr sweep, train/held-out curves,
confusion matrix, ROC, t-SNE feature maps, benchmark bars).

Uses matplotlib's object API with the Agg canvas (``Figure`` +
``FigureCanvasAgg``), so no screen is needed and pyplot's global backend is
never switched. PNGs at 120 dpi, tight layout, labelled axes. The STS label
figure is :func:`vidssl.eval.analysis.sts_figure.plot_sts_clip`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vidssl.errors import VidsslError
from vidssl.fileio import atomic_write

DPI = 120
_RECALL_KEY = re.compile(r"^R@(\d+)$")


def _save(fig: Figure, path: str | Path) -> Path:
    """Tight layout, then the PNG through :func:`vidssl.fileio.atomic_write` (no half-written file)."""
    path = Path(path)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, dpi=DPI, format="png")
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
    errors: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Bars grouped by metric (x axis), one colour per model, value printed above each bar.

    ``errors`` (same nesting as ``results``, e.g. standard deviations over
    seeds) adds ± error bars; a model or metric missing from it gets none.
    """
    names = list(results)
    if not names:
        raise VidsslError(f"plot {path}: no results to plot")
    scale = 100.0 if as_percent else 1.0
    x = np.arange(len(metric_keys))
    width = 0.8 / len(names)
    fig = Figure(figsize=(min(16.0, max(5.0, 1.1 * len(metric_keys) * max(1, len(names)) / 1.5)), 3.8))
    ax = fig.add_subplot(1, 1, 1)
    for i, name in enumerate(names):
        missing = [k for k in metric_keys if k not in results[name]]
        if missing:
            raise VidsslError(f"plot {path}: results of {name!r} lack {', '.join(missing)}")
        values = [scale * float(results[name][k]) for k in metric_keys]
        spread = None if errors is None else [scale * float(errors.get(name, {}).get(k, np.nan)) for k in metric_keys]
        bars = ax.bar(x - 0.4 + width * (i + 0.5), values, width, label=name, yerr=spread, capsize=3)
        ax.bar_label(bars, fmt="%.1f" if as_percent else "%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, list(metric_keys), rotation=30 if len(metric_keys) > 6 else 0,
                  ha="right" if len(metric_keys) > 6 else "center")
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
# Figures of the evaluation protocols: recall per layer, retrieval grid, lr
# sweep, train/val curves, confusion matrix, ROC, feature maps, benchmark bars
# ---------------------------------------------------------------------------

HIT_COLOUR = (0, 170, 0)  # RGB border of a retrieved video of the query's class
MISS_COLOUR = (210, 0, 0)  # ... and of one of another class
_BLANK = (255, 255, 255)  # the query's (invisible) border, so every cell is padded alike
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _recall_of(records: Mapping[str, Mapping[str, Any]], key: str, owner: str, path: str | Path) -> dict:
    """``{layer: float(record[key])}``; an error naming the layers of ``owner`` that lack ``key``."""
    missing = [layer for layer, record in records.items() if key not in record]
    if missing:
        raise VidsslError(f"plot {path}: {key} missing for {owner} at {', '.join(missing)}")
    return {layer: float(record[key]) for layer, record in records.items()}


def _layer_lines(
    per_layer: Mapping[str, Mapping[str, Any]], ks: Sequence[int], path: str | Path
) -> tuple[dict[str, dict[str, float]], str]:
    """``({line label: {layer: recall}}, y label)`` of :func:`plot_layer_recall`'s two input shapes."""
    if not all(isinstance(inner, Mapping) and inner for inner in per_layer.values()):
        raise VidsslError(f"plot {path}: expected {{layer: {{'R@1': ...}}}} or {{model: {{layer: {{'R@1': ...}}}}}}")
    leaves = [value for inner in per_layer.values() for value in inner.values()]
    if all(_is_number(value) for value in leaves):  # one model: {layer: {"R@k": x}}
        return {f"R@{k}": _recall_of(per_layer, f"R@{k}", "the model", path) for k in ks}, "recall (%)"
    if all(isinstance(value, Mapping) for value in leaves):  # several models: {model: {layer: {"R@k": x}}}
        key = f"R@{ks[0]}"
        lines = {model: _recall_of(layers, key, f"model {model!r}", path) for model, layers in per_layer.items()}
        return lines, f"{key} (%)"
    raise VidsslError(f"plot {path}: mixed recall table: innermost values must be all numbers or all dicts")


def plot_layer_recall(
    per_layer: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    ks: Sequence[int] = (1, 5, 10),
    title: str = "Retrieval recall per layer",
) -> Path:
    """Retrieval recall (in %) per backbone layer, in the given order (STS Fig. 11: R@1 per pooling layer).

    One model, ``{layer: {"R@1": 0.21, "R@5": ...}}`` (values in [0, 1]): one
    line per k of ``ks``. Several models, ``{model: {layer: {"R@1": ...}}}``: one
    line per model, of R@``ks[0]``; layers in order of first appearance, a gap
    where a model lacks one. The innermost values tell the two apart: all
    numbers (one model) or all dicts (several); a mix is an error.
    """
    if not per_layer:
        raise VidsslError(f"plot {path}: no layers to plot")
    if not ks:
        raise VidsslError(f"plot {path}: expected at least one k")
    lines, ylabel = _layer_lines(per_layer, ks, path)
    layers = list(dict.fromkeys(layer for line in lines.values() for layer in line))
    fig = Figure(figsize=(max(4.5, 0.9 * len(layers) + 2.0), 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for name, line in lines.items():
        ax.plot(range(len(layers)), [100.0 * line.get(layer, np.nan) for layer in layers], marker="o", label=name)
    slanted = max(len(layer) for layer in layers) > 8
    ax.set_xticks(range(len(layers)), layers, rotation=30 if slanted else 0, ha="right" if slanted else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _field(record: Any, key: str, where: str, path: str | Path) -> Any:
    if not isinstance(record, Mapping) or key not in record:
        raise VidsslError(f"plot {path}: {where} lacks {key!r}")
    return record[key]


def _frame_with_border(frame: Any, colour: tuple[int, int, int], where: str, path: str | Path) -> np.ndarray:
    """uint8 (H, W, 3) ``frame`` padded by a solid ``colour`` border of 6 % of its longer side (≥ 2 px)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3 or 0 in frame.shape:
        raise VidsslError(f"plot {path}: {where} frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    width = max(2, round(0.06 * max(frame.shape[:2])))
    framed = np.empty((frame.shape[0] + 2 * width, frame.shape[1] + 2 * width, 3), dtype=np.uint8)
    framed[:] = colour
    framed[width:-width, width:-width] = frame
    return framed


def _retrieval_cell(ax: Any, record: Any, query_label: Any, where: str, path: str | Path) -> None:
    label, similarity = _field(record, "label", where, path), _field(record, "similarity", where, path)
    colour = HIT_COLOUR if label == query_label else MISS_COLOUR
    ax.imshow(_frame_with_border(_field(record, "frame", where, path), colour, where, path))
    text_colour = tuple(0.7 * c / 255 for c in colour)  # darker than the border: never mistaken for it
    ax.set_title(f"{label}\nsim {float(similarity):.3f}", fontsize=7, color=text_colour)


def plot_retrieval_grid(
    rows: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = "Nearest neighbours of query videos"
) -> Path:
    """Query videos and their top-k retrieved videos, one row per query (STS Fig. 12).

    ``rows``: ``[{"query": {"frame", "label"}, "results": [{"frame", "label",
    "similarity"}, ...]}, ...]`` with middle frames uint8 (H, W, 3) of any size.
    A result with the query's label (a hit) gets a :data:`HIT_COLOUR` (green)
    border, any other a :data:`MISS_COLOUR` (red) one, drawn as pixels around
    the frame; it is titled with its label and similarity.
    """
    if not rows:
        raise VidsslError(f"plot {path}: no query rows to plot")
    results = [_field(row, "results", f"row {i}", path) for i, row in enumerate(rows)]
    if not all(len(r) for r in results):
        raise VidsslError(f"plot {path}: every row needs at least one retrieved result")
    columns = 1 + max(len(r) for r in results)
    fig = Figure(figsize=(1.7 * columns, 1.9 * len(rows)))
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for i, (row, row_results) in enumerate(zip(rows, results)):
        query = _field(row, "query", f"row {i}", path)
        label = _field(query, "label", f"row {i} query", path)
        axes[i, 0].imshow(_frame_with_border(_field(query, "frame", f"row {i} query", path), _BLANK,
                                             f"row {i} query", path))
        axes[i, 0].set_title(f"query: {label}", fontsize=8, fontweight="bold")
        for j, record in enumerate(row_results, start=1):
            _retrieval_cell(axes[i, j], record, label, f"row {i} result {j - 1}", path)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(f"{title}\ngreen: same class as the query, red: another class", fontsize=10)
    return _save(fig, path)


def plot_lr_sweep(
    accuracy_by_lr: Mapping[float, float],
    path: str | Path,
    *,
    best: float | None = None,
    title: str = "Learning-rate sweep",
) -> Path:
    """Accuracy (in %) against the learning rate on a log-2 axis, the best one starred (TransRank Fig. 5).

    ``accuracy_by_lr``: ``{lr: accuracy in [0, 1]}``; ``best``: the lr to mark
    (one of the keys; default the most accurate).
    """
    table = {float(lr): float(acc) for lr, acc in accuracy_by_lr.items()}
    if not table:
        raise VidsslError(f"plot {path}: no learning rates to plot")
    if min(table) <= 0:
        raise VidsslError(f"plot {path}: learning rates must be positive, got {min(table):g}")
    lrs = sorted(table)
    if best is None:
        best = max(lrs, key=table.__getitem__)
    matches = [lr for lr in lrs if np.isclose(lr, float(best), rtol=1e-9, atol=0.0)]
    if not matches:
        raise VidsslError(f"plot {path}: best lr {best:g} is not one of the swept {', '.join(f'{x:g}' for x in lrs)}")
    fig = Figure(figsize=(max(4.5, 0.7 * len(lrs) + 2.0), 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(lrs, [100.0 * table[lr] for lr in lrs], marker="o", label="accuracy")
    ax.plot(matches[0], 100.0 * table[matches[0]], linestyle="none", marker="*", markersize=15, color="C3",
            label=f"best: lr {matches[0]:g} ({100.0 * table[matches[0]]:.1f} %)")
    ax.set_xscale("log", base=2)
    ax.margins(x=0.08, y=0.15)  # room for the star at the top
    ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs], minor=False)
    ax.minorticks_off()
    ax.set_xlabel("learning rate (log 2 scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _epoch_series(history: Sequence[Mapping[str, Any]], key: str, path: str | Path) -> tuple[list, list]:
    """(epochs from 1, values) of the rows that have ``key``; an error naming the keys if none does."""
    points = [(float(row.get("epoch", n)) + 1, float(row[key])) for n, row in enumerate(history)
              if row.get(key) is not None]
    if not points:
        available = sorted({k for row in history for k in row})
        raise VidsslError(f"plot {path}: key {key!r} is in no history row; available: {', '.join(available)}")
    xs, ys = zip(*points)
    return list(xs), list(ys)


def plot_train_val_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    train_key: str = "acc",
    val_key: str | None = "test_video_acc",
    title: str = "Finetuning accuracy",
) -> Path:
    """Train and held-out accuracy (in %) per epoch of a finetuning run (TransRank Fig. 2).

    ``history``: ``fit``'s rows, e.g. ``finetune(...)["history"]`` (``epoch``
    0-based, drawn from 1). ``"acc"`` is the epoch's running train accuracy; a
    held-out accuracy is there only if ``fit`` got a ``val_fn`` (``finetune``'s
    ``curve_every`` adds ``"test_video_acc"`` to the tested epochs; rows without
    it are skipped). ``val_key=None`` draws the train curve alone.
    """
    if not history:
        raise VidsslError(f"plot {path}: no history rows to plot")
    curves = {f"train ({train_key})": _epoch_series(history, train_key, path)}
    if val_key is not None:
        curves[f"held-out ({val_key})"] = _epoch_series(history, val_key, path)
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for name, (xs, ys) in curves.items():
        ax.plot(xs, [100.0 * y for y in ys], marker="o", markersize=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _confusion_values(matrix: Any, num_classes: int, normalise: bool, path: str | Path) -> np.ndarray:
    """The (C, C) matrix as floats, each row divided by its sum if ``normalise`` (an empty row stays 0)."""
    values = np.asarray(matrix, dtype=np.float64)
    if num_classes == 0:
        raise VidsslError(f"plot {path}: no class names")
    if values.shape != (num_classes, num_classes):
        raise VidsslError(f"plot {path}: expected a ({num_classes}, {num_classes}) matrix for {num_classes} class "
                          f"names, got shape {values.shape}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise VidsslError(f"plot {path}: confusion counts must be finite and non-negative")
    if not normalise:
        return values
    totals = values.sum(axis=1, keepdims=True)
    return np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)


def plot_confusion(
    matrix: Any,
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str = "Confusion matrix",
    normalise: bool = True,
) -> Path:
    """Confusion matrix, rows = true class, columns = predicted (e.g. the 14 classes of the dynamic-scene SVM).

    ``normalise`` divides each row by its count, so the diagonal holds each
    class's recall; a class without samples stays a zero row, tagged "(no
    samples)". Cell values are printed when there are at most 20 classes.
    """
    names = [str(name) for name in class_names]
    values = _confusion_values(matrix, len(names), normalise, path)
    counts = np.asarray(matrix, dtype=np.float64).sum(axis=1)
    side = max(4.0, 0.45 * len(names) + 2.5)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot(1, 1, 1)
    top = 1.0 if normalise else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=top)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class" if normalise else "count")
    if len(names) <= 20:
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, f"{value:.2f}" if normalise else f"{value:g}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.5 * top else "black")
    rows = [f"{name} (no samples)" if count == 0 else name for name, count in zip(names, counts)]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), rows, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(fig, path)


def _roc_points(name: str, curve: Any, path: str | Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(fpr, tpr, auc) of one curve, checked; the AUC by the trapezoid rule when ``curve`` has none."""
    fpr = np.asarray(_field(curve, "fpr", f"ROC {name!r}", path), dtype=np.float64)
    tpr = np.asarray(_field(curve, "tpr", f"ROC {name!r}", path), dtype=np.float64)
    if fpr.ndim != 1 or fpr.shape != tpr.shape or fpr.size < 2:
        raise VidsslError(f"plot {path}: ROC {name!r} needs fpr and tpr of equal length ≥ 2, got "
                          f"{fpr.shape} and {tpr.shape}")
    if not (np.isfinite(fpr).all() and np.isfinite(tpr).all()) or min(fpr.min(), tpr.min()) < 0 \
            or max(fpr.max(), tpr.max()) > 1:
        raise VidsslError(f"plot {path}: ROC {name!r} rates must lie in [0, 1]")
    if curve.get("auc") is not None:
        return fpr, tpr, float(curve["auc"])
    order = np.argsort(fpr, kind="stable")
    f, t = fpr[order], tpr[order]
    return fpr, tpr, float(np.sum(np.diff(f) * (t[1:] + t[:-1]) / 2.0))


def plot_roc(curves: Mapping[str, Mapping[str, Any]], path: str | Path, *, title: str = "ROC") -> Path:
    """ROC curves with the chance diagonal, AUC in the legend (the ROC figure of the ASLAN paper).

    ``curves``: ``{name: {"fpr": [...], "tpr": [...], "auc": float}}``, rates
    in [0, 1]; without ``"auc"`` it is computed by the trapezoid rule.
    """
    if not curves:
        raise VidsslError(f"plot {path}: no ROC curves to plot")
    fig = Figure(figsize=(4.6, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    for name, curve in curves.items():
        fpr, tpr, auc = _roc_points(name, curve, path)
        ax.plot(fpr, tpr, linewidth=1.6, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.9, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def class_style(label: int) -> tuple[tuple[float, float, float], str]:
    """(colour, marker) of class ``label`` in feature maps: tab10 colours cycled with 8 markers (80 styles)."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    tab10 = colormaps["tab10"]
    assert isinstance(tab10, ListedColormap)  # a qualitative map: a fixed list of colours
    # ten (r, g, b) tuples, which the stubs type as any colour or array
    colours = cast("tuple[tuple[float, float, float], ...]", tab10.colors)
    return colours[label % len(colours)], _MARKERS[(label // len(colours)) % len(_MARKERS)]


def _map_points(name: str, pair: Any, num_classes: int, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(embedding (N, 2) floats, labels (N,) ints in [0, num_classes)) of one panel, checked."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise VidsslError(f"plot {path}: map {name!r} must be a pair (embedding, labels)")
    embedding, labels = np.asarray(pair[0], dtype=np.float64), np.asarray(pair[1])
    if embedding.ndim != 2 or embedding.shape[1] != 2 or len(embedding) == 0 or labels.shape != (len(embedding),):
        raise VidsslError(f"plot {path}: map {name!r} needs an (N, 2) embedding and N labels, got "
                          f"{embedding.shape} and {labels.shape}")
    if not np.isfinite(embedding).all():
        raise VidsslError(f"plot {path}: map {name!r} has non-finite coordinates")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= num_classes:
        raise VidsslError(f"plot {path}: map {name!r} labels must be integers in [0, {num_classes}) "
                          f"(indices into class_names)")
    return embedding, labels.astype(np.int64)


def plot_feature_maps(
    maps: Mapping[str, tuple[np.ndarray, np.ndarray]],
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str = "Feature maps (t-SNE)",
    agreement: Mapping[str, float] | None = None,
) -> Path:
    """2-D feature maps side by side, points coloured by class (SRO Fig. 4: random init vs pretrained).

    ``maps``: ``{panel name: (embedding (N, 2), labels (N,))}``, labels indexing
    ``class_names`` (e.g. from :func:`vidssl.eval.feature_map.feature_maps`).
    Class styles by :func:`class_style`; one shared legend when at most 20
    classes occur. ``agreement`` (``{panel name: float}``, e.g. the kNN label
    agreement) is printed under the panel's name.
    """
    if not maps:
        raise VidsslError(f"plot {path}: no feature maps to plot")
    panels = {name: _map_points(name, pair, len(class_names), path) for name, pair in maps.items()}
    present = sorted({int(c) for _, labels in panels.values() for c in np.unique(labels)})
    fig = Figure(figsize=(4.2 * len(panels) + (2.2 if len(present) <= 20 else 0.0), 4.4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, (embedding, labels)) in zip(axes, panels.items()):
        for c in np.unique(labels):
            colour, marker = class_style(int(c))
            points = embedding[labels == c]
            ax.scatter(points[:, 0], points[:, 1], s=10, color=colour, marker=marker, linewidths=0)
        score = "" if agreement is None or name not in agreement else f"\nkNN label agreement {agreement[name]:.3f}"
        ax.set_title(f"{name}{score}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if len(present) <= 20:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], linestyle="none", marker=class_style(c)[1], color=class_style(c)[0],
                          label=str(class_names[c])) for c in present]
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    fig.suptitle(title if len(present) <= 20 else f"{title} ({len(present)} classes, no legend)")
    return _save(fig, path)


def plot_protocol_bars(
    table: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    title: str = "Evaluation protocols",
    ylabel: str = "score",
    errors: Mapping[str, Mapping[str, float]] | None = None,
    as_percent: bool = False,
    xlabel: str = "metric",
) -> Path:
    """Grouped bars, one group per metric and one colour per model, with optional ± error bars (benchmark report).

    ``table``: ``{model: {metric: value}}``; the metrics are the first model's,
    in order, and every model needs them. ``errors``: ``{model: {metric: std}}``
    (non-negative; absent entries get no bar). ``as_percent`` draws [0, 1] values as %.
    """
    if not table:
        raise VidsslError(f"plot {path}: no results to plot")
    metrics = list(next(iter(table.values())))
    if not metrics:
        raise VidsslError(f"plot {path}: the first model has no metrics")
    if errors is not None:
        unknown = [name for name in errors if name not in table]
        if unknown:
            raise VidsslError(f"plot {path}: errors given for unknown models {', '.join(map(repr, unknown))}")
        if any(float(v) < 0 or not np.isfinite(float(v)) for row in errors.values() for v in row.values()):
            raise VidsslError(f"plot {path}: error bars must be finite and non-negative")
    return _grouped_bars(table, metrics, path, title=title, xlabel=xlabel, ylabel=ylabel, as_percent=as_percent,
                         errors=errors)


def plot_heldout_curves(
    history: Sequence[Mapping[str, Any]], keys: Sequence[str], path: str | Path, *, title: str, columns: int = 4
) -> Path:
    """One panel per pretext metric: its value per epoch on held-out videos (``heldout/<key>``), on the
    training batches (``<key>``, where logged) and its chance level (``chance/<key>``, dashed, where known).

    ``history``: ``fit``'s rows (``epoch`` 0-based, drawn from 1) with the entries of
    :func:`vidssl.engine.heldout.evaluate_pretext`; ``keys`` without prefix, e.g. ``loss``, ``acc``.
    A key never measured held out is an error naming the keys there are.
    """
    if not history:
        raise VidsslError(f"plot {path}: no history rows to plot")
    if not keys:
        raise VidsslError(f"plot {path}: expected at least one key to plot")
    columns = min(columns, len(keys))
    rows = -(-len(keys) // columns)
    fig = Figure(figsize=(3.6 * columns, 3.0 * rows))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, columns, i + 1)
        xs, ys = _epoch_series(history, f"heldout/{key}", path)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label="held-out")
        for name, style in ((key, {"marker": ".", "alpha": 0.7}), (f"chance/{key}", {"linestyle": "--"})):
            if any(row.get(name) is not None for row in history):
                line_xs, line_ys = _epoch_series(history, name, path)
                ax.plot(line_xs, line_ys, linewidth=1.0, label="chance" if name != key else "training", **style)
        ax.set_xlabel("epoch")
        ax.set_title(key, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)
