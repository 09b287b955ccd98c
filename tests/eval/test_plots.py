"""Figures of the evaluation protocols (vidssl.eval.plots): files, pixels of the retrieval grid, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vidssl.errors import VidsslError
from vidssl.eval.plots import (
    DPI,
    HIT_COLOUR,
    MISS_COLOUR,
    _confusion_values,
    _roc_points,
    class_style,
    plot_confusion,
    plot_feature_maps,
    plot_layer_recall,
    plot_lr_sweep,
    plot_protocol_bars,
    plot_retrieval_grid,
    plot_roc,
    plot_train_val_curves,
)

LAYERS = {"res2": {"R@1": 0.1, "R@5": 0.2, "R@10": 0.3}, "res3": {"R@1": 0.2, "R@5": 0.35, "R@10": 0.4},
          "res4": {"R@1": 0.3, "R@5": 0.5, "R@10": 0.6}, "res5": {"R@1": 0.25, "R@5": 0.45, "R@10": 0.55}}


def _image(path) -> np.ndarray:
    """The PNG at ``path`` as uint8 (H, W, 3); fails unless it is a real, non-trivial image."""
    assert path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def _one_line_error(call, match: str) -> None:
    with pytest.raises(VidsslError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def _mask(image: np.ndarray, colour, tolerance: int = 12) -> np.ndarray:
    return (np.abs(image.astype(int) - np.asarray(colour)) <= tolerance).all(axis=-1)


# ---------------------------------------------------------------- files of the right shape


def test_layer_recall_one_model_and_several_models(tmp_path):
    one = _image(plot_layer_recall(LAYERS, tmp_path / "one.png"))
    several = {"pretrained": LAYERS, "random init": {"res2": {"R@1": 0.05}, "res5": {"R@1": 0.08}}}
    many = _image(plot_layer_recall(several, tmp_path / "many.png", ks=(1,)))
    assert one.shape[1] > one.shape[0] and many.shape == one.shape  # same layers on x: same figure size


def test_layer_recall_rejects_bad_tables(tmp_path):
    _one_line_error(lambda: plot_layer_recall({}, tmp_path / "a.png"), "no layers")
    _one_line_error(lambda: plot_layer_recall({"res2": {"R@1": 0.1}}, tmp_path / "b.png"), "R@5 missing .* res2")
    mixed = {"m": {"res2": {"R@1": 0.1}, "R@1": 0.2}}
    _one_line_error(lambda: plot_layer_recall(mixed, tmp_path / "c.png"), "mixed")
    several = {"m": {"res2": {"R@5": 0.1}}}
    _one_line_error(lambda: plot_layer_recall(several, tmp_path / "d.png"), "R@1 missing for model 'm' at res2")


def test_lr_sweep_and_train_val_curves(tmp_path):
    sweep = _image(plot_lr_sweep({0.001: 0.4, 0.004: 0.55, 0.016: 0.5}, tmp_path / "lr.png", best=0.004))
    history = [{"epoch": e, "loss": 1.0 / (e + 1), "acc": 0.1 * e} for e in range(6)]
    for e in (1, 3, 5):  # finetune(curve_every=2) tests after epochs 2, 4 and 6 only
        history[e]["test_video_acc"] = 0.08 * e
    curves = _image(plot_train_val_curves(history, tmp_path / "tv.png"))
    train_only = _image(plot_train_val_curves(history, tmp_path / "t.png", val_key=None))
    assert min(sweep.shape[:2]) > 300 and curves.shape == train_only.shape == (int(3.6 * DPI), int(5.0 * DPI), 3)
    assert not np.array_equal(curves, train_only)  # the held-out line is drawn


def test_lr_sweep_and_curves_reject_bad_input(tmp_path):
    _one_line_error(lambda: plot_lr_sweep({}, tmp_path / "a.png"), "no learning rates")
    _one_line_error(lambda: plot_lr_sweep({0.0: 0.3, 0.1: 0.4}, tmp_path / "b.png"), "positive")
    _one_line_error(lambda: plot_lr_sweep({0.1: 0.3}, tmp_path / "c.png", best=0.2), "not one of the swept")
    history = [{"epoch": 0, "loss": 1.0, "acc": 0.3}]  # finetune's history without curve_every
    _one_line_error(lambda: plot_train_val_curves(history, tmp_path / "d.png"),
                    "'test_video_acc' .* available: acc, epoch, loss")
    _one_line_error(lambda: plot_train_val_curves([], tmp_path / "e.png"), "no history")


def test_confusion_normalises_rows_and_survives_an_empty_row(tmp_path):
    matrix = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 2]])
    values = _confusion_values(matrix, 3, True, "x")
    np.testing.assert_allclose(values, [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    names = ["walk", "run", "jump"]
    assert _image(plot_confusion(matrix, names, tmp_path / "n.png")).ndim == 3
    assert _image(plot_confusion(matrix, names, tmp_path / "c.png", normalise=False)).ndim == 3
    big = np.random.default_rng(0).integers(0, 5, size=(30, 30))
    small, large = _image(tmp_path / "n.png"), _image(plot_confusion(big, [f"c{i}" for i in range(30)],
                                                                     tmp_path / "big.png"))
    assert large.shape[0] > small.shape[0]  # the figure grows with the number of classes
    _one_line_error(lambda: plot_confusion(matrix, names[:2], tmp_path / "d.png"), r"\(2, 2\) matrix")
    _one_line_error(lambda: plot_confusion(-matrix, names, tmp_path / "e.png"), "non-negative")
    _one_line_error(lambda: plot_confusion(np.zeros((0, 0)), [], tmp_path / "f.png"), "no class names")


def test_roc_curves_and_their_auc(tmp_path):
    chance = {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}
    perfect = {"fpr": [0.0, 0.0, 1.0], "tpr": [0.0, 1.0, 1.0]}
    assert _roc_points("a", chance, "x")[2] == pytest.approx(0.5)
    assert _roc_points("b", perfect, "x")[2] == pytest.approx(1.0)
    assert _roc_points("c", {**chance, "auc": 0.61}, "x")[2] == 0.61
    roc = _image(plot_roc({"STS": {**perfect, "auc": 1.0}, "random": chance}, tmp_path / "roc.png"))
    assert roc.shape[:2] == (int(4.4 * DPI), int(4.6 * DPI))
    _one_line_error(lambda: plot_roc({}, tmp_path / "a.png"), "no ROC")
    _one_line_error(lambda: plot_roc({"m": {"fpr": [0, 1], "tpr": [0, 0.5, 1]}}, tmp_path / "b.png"), "equal length")
    _one_line_error(lambda: plot_roc({"m": {"fpr": [0, 1.5], "tpr": [0, 1]}}, tmp_path / "c.png"), r"\[0, 1\]")
    _one_line_error(lambda: plot_roc({"m": {"fpr": [0, 1]}}, tmp_path / "d.png"), "lacks 'tpr'")


def test_feature_maps_colour_points_by_class(tmp_path):
    styles = {(class_style(c)[0], class_style(c)[1]) for c in range(50)}
    assert len(styles) == 50  # 50 classes, 50 distinct colour/marker pairs
    rng = np.random.default_rng(0)
    points = rng.normal(size=(60, 2))
    labels = np.repeat(np.arange(3), 20)
    maps = {"random init": (points, labels), "pretrained": (points * 2, labels)}
    two = _image(plot_feature_maps(maps, ["a", "b", "c"], tmp_path / "two.png", agreement={"pretrained": 0.9}))
    one = _image(plot_feature_maps({"only": (points, np.zeros(60, dtype=int))}, ["a"], tmp_path / "one.png"))
    assert two.shape[1] > one.shape[1]  # side-by-side panels
    assert _mask(one, np.round(255 * np.asarray(class_style(0)[0]))).sum() > 50  # class 0's colour is drawn
    assert not _mask(one, np.round(255 * np.asarray(class_style(1)[0]))).any()  # and no other class's
    many = rng.integers(0, 50, size=60)
    assert _image(plot_feature_maps({"m": (points, many)}, [f"c{i}" for i in range(50)], tmp_path / "m.png")).size


def test_feature_maps_reject_bad_input(tmp_path):
    points, labels = np.zeros((5, 2)), np.zeros(5, dtype=int)
    _one_line_error(lambda: plot_feature_maps({}, ["a"], tmp_path / "a.png"), "no feature maps")
    _one_line_error(lambda: plot_feature_maps({"m": (points, labels + 1)}, ["a"], tmp_path / "b.png"),
                    r"integers in \[0, 1\)")
    _one_line_error(lambda: plot_feature_maps({"m": (np.zeros((5, 3)), labels)}, ["a"], tmp_path / "c.png"),
                    r"\(N, 2\)")
    _one_line_error(lambda: plot_feature_maps({"m": points}, ["a"], tmp_path / "d.png"), "pair")


def test_protocol_bars_with_and_without_errors(tmp_path):
    table = {"TransRank": {"UCF101": 0.87, "HMDB51": 0.58}, "STS": {"UCF101": 0.77, "HMDB51": 0.45}}
    errors = {"TransRank": {"UCF101": 0.01, "HMDB51": 0.02}}
    plain = _image(plot_protocol_bars(table, tmp_path / "p.png", as_percent=True))
    spread = _image(plot_protocol_bars(table, tmp_path / "e.png", errors=errors, as_percent=True))
    assert plain.shape == spread.shape and not np.array_equal(plain, spread)  # the error bars are drawn
    _one_line_error(lambda: plot_protocol_bars({}, tmp_path / "a.png"), "no results")
    _one_line_error(lambda: plot_protocol_bars(table, tmp_path / "b.png", errors={"CORP": {"UCF101": 0.1}}),
                    "unknown models 'CORP'")
    _one_line_error(lambda: plot_protocol_bars(table, tmp_path / "c.png", errors={"STS": {"UCF101": -0.1}}),
                    "non-negative")
    _one_line_error(lambda: plot_protocol_bars({**table, "CORP": {"UCF101": 0.8}}, tmp_path / "d.png"),
                    "'CORP' lack HMDB51")


# ---------------------------------------------------------------- retrieval grid: borders as pixels


def _grey(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), 128, dtype=np.uint8)


def test_retrieval_grid_frames_hits_green_and_misses_red(tmp_path):
    rows = [  # row 0: one hit; row 1: one miss; frames of different sizes
        {"query": {"frame": _grey(40, 60), "label": "walk"},
         "results": [{"frame": _grey(40, 60), "label": "walk", "similarity": 0.91}]},
        {"query": {"frame": _grey(30, 30), "label": "run"},
         "results": [{"frame": _grey(50, 40), "label": "walk", "similarity": 0.52}]},
    ]
    image = _image(plot_retrieval_grid(rows, tmp_path / "grid.png"))
    height, width = image.shape[:2]
    for colour, top_half in ((HIT_COLOUR, True), (MISS_COLOUR, False)):
        ys, xs = np.nonzero(_mask(image, colour))
        assert len(ys) > 100, colour
        assert (ys < height / 2).all() == top_half and (ys >= height / 2).all() != top_half  # in its row only
        assert (xs > width / 2).all()  # in the result column, not the query's
        top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
        middle_y, middle_x = (top + bottom) // 2, (left + right) // 2
        assert _mask(image, colour)[middle_y, left + 1] and _mask(image, colour)[top + 1, middle_x]  # the border
        np.testing.assert_allclose(image[middle_y, middle_x], 128, atol=3)  # around the grey frame
    assert not _mask(image[:, : width // 2], HIT_COLOUR).any()  # queries get no coloured border


def test_retrieval_grid_rejects_bad_rows(tmp_path):
    query = {"frame": _grey(8, 8), "label": "a"}
    result = {"frame": _grey(8, 8), "label": "a", "similarity": 0.5}
    _one_line_error(lambda: plot_retrieval_grid([], tmp_path / "a.png"), "no query rows")
    _one_line_error(lambda: plot_retrieval_grid([{"query": query, "results": []}], tmp_path / "b.png"),
                    "at least one retrieved")
    _one_line_error(lambda: plot_retrieval_grid([{"query": query}], tmp_path / "c.png"), "row 0 lacks 'results'")
    bad = {**result, "frame": np.zeros((8, 8, 3), dtype=np.float32)}
    _one_line_error(lambda: plot_retrieval_grid([{"query": query, "results": [bad]}], tmp_path / "d.png"),
                    r"row 0 result 0 frame must be uint8 \(H, W, 3\)")
    no_sim = {"frame": _grey(8, 8), "label": "a"}
    _one_line_error(lambda: plot_retrieval_grid([{"query": query, "results": [no_sim]}], tmp_path / "e.png"),
                    "lacks 'similarity'")
