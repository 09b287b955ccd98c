"""Action similarity labelling on ASLAN (STS §6.4): the 12 measures, the split reader and the 10-fold SVM."""
import math
import re
from pathlib import Path

import numpy as np
import pytest

from aslan_fixtures import write_aslan_fixture
from vidssl.data.aslan import read_aslan_pairs
from vidssl.data.datasets import VideoRecord, index_path_for, probe_all
from vidssl.errors import VidsslError
from vidssl.eval import action_similarity as asim
from vidssl.eval.action_similarity import (
    MEASURE_NAMES,
    action_similarity,
    leave_one_fold_out,
    pair_measures,
    similarity_features,
    ten_fold_svm,
)

# ---------------------------------------------------------------------------
# The 12 measures against a slow per-pair oracle
# ---------------------------------------------------------------------------


def oracle_six(a, b):
    """dot, l1, euclidean, chi2, intersection, cosine of two lists of floats, one element at a time."""
    dot = sum(x * y for x, y in zip(a, b))
    l1 = sum(abs(x - y) for x, y in zip(a, b))
    euclidean = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    chi2 = sum((x - y) ** 2 / (abs(x) + abs(y)) for x, y in zip(a, b) if abs(x) + abs(y) > 0)
    intersection = sum(min(x, y) for x, y in zip(a, b))
    norm_a, norm_b = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    cosine = dot / (norm_a * norm_b) if norm_a > 0 and norm_b > 0 else 0.0
    return [dot, l1, euclidean, chi2, intersection, cosine]


def oracle_twelve(a, b):
    root = lambda v: [math.copysign(math.sqrt(abs(x)), x) for x in v]  # noqa: E731
    return oracle_six(a, b) + oracle_six(root(a), root(b))


def test_measures_match_a_per_pair_loop_on_signed_vectors_with_zeros():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(9, 6))
    b = rng.normal(size=(9, 6))
    a[0] = 0.0  # a zero vector: cosine 0, chi2 terms partly 0/0
    b[1] = 0.0
    a[2] = b[2] = 0.0  # both zero: every term 0/0
    a[3, :3] = b[3, :3] = 0.0  # shared zero entries
    a[4] = np.abs(a[4])  # non-negative, as after a ReLU
    b[4] = np.abs(b[4])
    got = pair_measures(a, b)
    expected = np.array([oracle_twelve(list(x), list(y)) for x, y in zip(a, b)])
    assert got.shape == (9, len(MEASURE_NAMES)) == (9, 12)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got).all()


def test_measures_of_a_hand_computed_3d_pair():
    got = dict(zip(MEASURE_NAMES, pair_measures(np.array([[1.0, 0, 0]]), np.array([[0.6, 0.8, 0]]))[0]))
    r6, r8 = math.sqrt(0.6), math.sqrt(0.8)
    expected = {
        "dot": 0.6, "l1": 0.4 + 0.8, "euclidean": math.sqrt(0.16 + 0.64), "chi2": 0.16 / 1.6 + 0.64 / 0.8,
        "intersection": 0.6, "cosine": 0.6,
        # signed square roots: (1, 0, 0) and (√0.6, √0.8, 0)
        "sqrt_dot": r6, "sqrt_l1": (1 - r6) + r8, "sqrt_euclidean": math.sqrt((1 - r6) ** 2 + 0.8),
        "sqrt_chi2": (1 - r6) ** 2 / (1 + r6) + 0.8 / r8, "sqrt_intersection": r6,
        "sqrt_cosine": r6 / math.sqrt(0.6 + 0.8),
    }
    assert got == pytest.approx(expected, rel=1e-12)


def test_identical_vectors_have_no_distance_and_cosine_one():
    a = np.random.default_rng(1).normal(size=(5, 8))
    got = dict(zip(MEASURE_NAMES, pair_measures(a, a.copy()).T))
    for name in ("l1", "euclidean", "chi2", "sqrt_l1", "sqrt_euclidean", "sqrt_chi2"):
        np.testing.assert_allclose(got[name], 0.0, atol=1e-12)
    np.testing.assert_allclose(got["cosine"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(got["sqrt_cosine"], 1.0, rtol=1e-12)


def test_similarity_features_l2_normalise_each_layer_and_concatenate_in_layer_order():
    rng = np.random.default_rng(2)
    by_layer = {"pool3": rng.normal(size=(6, 5)), "pool5": np.abs(rng.normal(size=(6, 3)))}
    by_layer["pool3"][4] = 0.0  # a zero video stays zero, no NaN
    pairs = np.array([[0, 1], [2, 4], [5, 3]])
    got = similarity_features(by_layer, pairs)
    assert got.shape == (3, 24)
    for block, feats in enumerate(by_layer.values()):
        unit = [list(row / np.linalg.norm(row)) if np.linalg.norm(row) > 0 else list(row) for row in feats]
        expected = [oracle_twelve(unit[i], unit[j]) for i, j in pairs]
        np.testing.assert_allclose(got[:, 12 * block: 12 * (block + 1)], expected, rtol=1e-10, atol=1e-12)
    rescaled = {name: feats * 7.5 for name, feats in by_layer.items()}
    np.testing.assert_allclose(similarity_features(rescaled, pairs), got, rtol=1e-10, atol=1e-12)


def test_similarity_features_reject_mismatched_layers_and_bad_indices():
    with pytest.raises(VidsslError, match="disagree"):
        similarity_features({"a": np.zeros((3, 2)), "b": np.zeros((4, 2))}, np.array([[0, 1]]))
    with pytest.raises(VidsslError, match="0..2"):
        similarity_features({"a": np.ones((3, 2))}, np.array([[0, 3]]))
    with pytest.raises(VidsslError, match="NaN"):
        similarity_features({"a": np.full((3, 2), np.nan)}, np.array([[0, 1]]))


# ---------------------------------------------------------------------------
# Reading the split files
# ---------------------------------------------------------------------------


def touch(path, class_index, video_index):
    """A stand-in video: the reader only checks that files exist."""
    path.write_bytes(b"")


def class_of(path):
    return re.search(r"class(\d+)_v", path).group(1)


def test_fixture_round_trip_gives_balanced_folds_of_unseen_classes(tmp_path):
    root, annotations = write_aslan_fixture(tmp_path, num_classes=20, videos_per_class=4, pairs_per_fold=8,
                                            seed=3, make_video=touch)
    got = read_aslan_pairs(annotations, root)
    on_disk = {str(path.resolve()) for path in root.glob("class*/*.mp4")}
    assert len(on_disk) == 80 and set(got.videos) <= on_disk and got.videos == sorted(set(got.videos))
    np.testing.assert_array_equal(np.unique(got.pairs), np.arange(len(got.videos)))  # only videos in pairs
    assert got.pairs.shape == (80, 2) and got.same.dtype == bool
    np.testing.assert_array_equal(np.bincount(got.fold), [8] * 10)
    classes = np.array([[class_of(got.videos[i]), class_of(got.videos[j])] for i, j in got.pairs])
    np.testing.assert_array_equal(got.same, classes[:, 0] == classes[:, 1])
    assert (got.pairs[:, 0] != got.pairs[:, 1]).all()
    seen = [set(classes[got.fold == k].ravel()) for k in range(10)]
    for k in range(10):
        assert got.same[got.fold == k].sum() == 4
        assert len(seen[k]) == 2 and all(not seen[k] & seen[j] for j in range(10) if j != k)


def test_fixture_is_reproducible_from_its_seed(tmp_path):
    texts = []
    for seed in (5, 5, 6):
        _, annotations = write_aslan_fixture(tmp_path / str(len(texts)), num_classes=4, videos_per_class=3,
                                             pairs_per_fold=4, seed=seed, make_video=touch)
        texts.append([(annotations / f"split{k}.txt").read_text() for k in range(1, 11)])
    assert texts[0] == texts[1] and texts[0] != texts[2]


def write_splits(annotations, lines_by_split, *, padded=False):
    annotations.mkdir(parents=True, exist_ok=True)
    for k in range(1, 11):
        name = f"split{k:02d}.txt" if padded else f"split{k}.txt"
        (annotations / name).write_text("".join(lines_by_split.get(k, ["a.avi b.avi 1\n", "a.avi c/d.avi 0\n"])))


@pytest.fixture
def videos(tmp_path):
    root = tmp_path / "videos"
    (root / "c").mkdir(parents=True)
    for name in ("a.avi", "b.avi", "c/d.avi"):
        (root / name).write_bytes(b"")
    (root / "e").mkdir()  # a frame folder for the listed e.avi
    (root / "e" / "img_00001.jpg").write_bytes(b"")
    return root


def test_path_tokens_comments_padded_names_and_minus_one_labels(tmp_path, videos):
    lines = ["# header comment\n", "\n", "a.avi   e.avi  -1   # trailing comment\n", "c/d.avi\tb.avi 1\n"]
    write_splits(tmp_path / "ann", {3: lines}, padded=True)
    got = read_aslan_pairs(tmp_path / "ann", videos)
    assert got.videos == sorted(str((videos / name).resolve()) for name in ("a.avi", "b.avi", "c/d.avi", "e"))
    fold2 = got.fold == 2
    named = [(Path(got.videos[i]).name, Path(got.videos[j]).name) for i, j in got.pairs[fold2]]
    assert named == [("a.avi", "e"), ("d.avi", "b.avi")]
    np.testing.assert_array_equal(got.same[fold2], [False, True])
    assert len(got.same) == 20 and got.same.sum() == 10


def test_index_tokens_read_names_txt_one_based(tmp_path, videos):
    annotations = tmp_path / "ann"
    write_splits(annotations, {k: ["1 3 0\n", "2 1 1\n"] for k in range(1, 11)})
    (annotations / "names.txt").write_text("# names\nc/d.avi\n\na.avi\nb.avi\n")
    got = read_aslan_pairs(annotations, videos)
    first = [(Path(got.videos[i]).name, Path(got.videos[j]).name) for i, j in got.pairs[:2]]
    assert first == [("d.avi", "b.avi"), ("a.avi", "d.avi")]
    np.testing.assert_array_equal(got.same[:2], [False, True])


@pytest.mark.parametrize(
    "line, names, message",
    [
        ("a.avi b.avi\n", None, "expected '<video_a> <video_b> <label>'"),
        ("a.avi b.avi 1 extra\n", None, "expected '<video_a> <video_b> <label>'"),
        ("a.avi b.avi 2\n", None, "label must be 1"),
        ("a.avi b.avi same\n", None, "label must be 1"),
        ("1 2 1\n", None, "names.txt is missing"),
        ("1 4 1\n", "a.avi\nb.avi\nc/d.avi\n", "outside 1..3"),
        ("a.avi ./a.avi 0\n", None, "with itself"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, videos, line, names, message):
    annotations = tmp_path / "ann"
    write_splits(annotations, {4: ["a.avi b.avi 1\n", "# fine\n", line]})
    if names is not None:
        (annotations / "names.txt").write_text(names)
    with pytest.raises(VidsslError) as err:
        read_aslan_pairs(annotations, videos)
    assert str(err.value).startswith(f"{annotations / 'split4.txt'}:3: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_videos_are_reported_together(tmp_path, videos):
    annotations = tmp_path / "ann"
    write_splits(annotations, {k: [f"a.avi gone{k}.avi 1\n", "a.avi b.avi 0\n"] for k in range(1, 11)})
    with pytest.raises(VidsslError, match=r"10 of 12 listed videos do not exist .*gone1.avi, gone10.avi, "
                                          r"gone2.avi, \.\.\.$"):
        read_aslan_pairs(annotations, videos)


def test_missing_or_doubled_split_files_and_empty_splits_are_errors(tmp_path, videos):
    annotations = tmp_path / "ann"
    write_splits(annotations, {})
    (annotations / "split7.txt").unlink()
    with pytest.raises(VidsslError, match="missing split7.txt"):
        read_aslan_pairs(annotations, videos)
    (annotations / "split7.txt").write_text("# nothing\n")
    with pytest.raises(VidsslError, match="split7.txt: no pairs"):
        read_aslan_pairs(annotations, videos)
    (annotations / "split7.txt").write_text("a.avi b.avi 1\n")
    (annotations / "split07.txt").write_text("a.avi b.avi 1\n")
    with pytest.raises(VidsslError, match="split 7 is given twice"):
        read_aslan_pairs(annotations, videos)


# ---------------------------------------------------------------------------
# The 10-fold SVM
# ---------------------------------------------------------------------------


def balanced_folds(pairs_per_fold, folds=10):
    same = np.tile(np.arange(pairs_per_fold) % 2 == 0, folds)
    return same, np.repeat(np.arange(folds), pairs_per_fold)


class RecordingSvm:
    """Wraps the protocol's SVM and keeps what each fit and prediction saw."""

    def __init__(self, calls, svm):
        self.svm, self.calls = svm, calls

    def fit(self, x, y):
        self.calls.append({"train": x.copy(), "labels": y.copy()})
        self.svm.fit(x, y)
        return self

    def decision_function(self, x):
        self.calls[-1]["test"] = x.copy()
        return self.svm.decision_function(x)


@pytest.fixture
def recorded(monkeypatch):
    calls = []
    real = asim.linear_svm
    monkeypatch.setattr(asim, "linear_svm", lambda C: RecordingSvm(calls, real(C)))
    return calls


def test_one_fit_per_fold_on_the_other_nine_folds(recorded):
    same, fold = balanced_folds(12)
    x = np.column_stack([fold, np.random.default_rng(4).normal(size=len(fold))])
    result = ten_fold_svm(x, same, fold)
    assert len(recorded) == 10 and result["num_folds"] == 10 and result["num_pairs"] == 120
    for call in recorded:
        assert len(call["train"]) == 108 and len(call["test"]) == 12
        test_ids = np.unique(call["test"][:, 0])  # the fold-id column, standardised by one affine map per fold
        train_ids = np.unique(call["train"][:, 0].round(9))
        assert len(test_ids) == 1 and len(train_ids) == 9 and test_ids.round(9)[0] not in train_ids
    assert sorted(k for k, _, test in leave_one_fold_out(fold)) == list(range(10))
    for _, train, test in leave_one_fold_out(fold):
        assert not set(train) & set(test) and len(train) + len(test) == 120


def test_zscore_statistics_come_from_the_training_folds_only(recorded):
    same, fold = balanced_folds(10)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100, 3)) + 100.0 * fold[:, None]  # each fold far from the others
    x[:, 2] = np.where(fold == 0, 4.0, 1.0)  # constant on fold 0's training folds
    ten_fold_svm(x, same, fold)
    for k, call in enumerate(recorded):
        train, test = x[fold != k], x[fold == k]
        np.testing.assert_allclose(call["train"][:, :2].mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(call["train"][:, :2].std(axis=0), 1.0, rtol=1e-9)
        expected = (test[:, :2] - train[:, :2].mean(axis=0)) / train[:, :2].std(axis=0)
        np.testing.assert_allclose(call["test"][:, :2], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(recorded[0]["train"][:, 2], 0.0)  # only centred, no NaN
    np.testing.assert_allclose(recorded[0]["test"][:, 2], 3.0)


def test_separable_pairs_score_perfectly_and_noise_scores_chance():
    same, fold = balanced_folds(60)
    rng = np.random.default_rng(6)
    separable = rng.normal(size=(600, 4))
    separable[:, 1] += np.where(same, 3.0, -3.0)
    perfect = ten_fold_svm(separable, same, fold)
    assert perfect["accuracy"] == 1.0 and perfect["fold_accuracies"] == [1.0] * 10
    assert perfect["std"] == 0.0 and perfect["auc"] == 1.0
    noise = ten_fold_svm(rng.normal(size=(600, 36)), same, fold)
    assert abs(noise["accuracy"] - 0.5) < 0.08 and abs(noise["auc"] - 0.5) < 0.08
    assert noise["std"] == pytest.approx(np.std(noise["fold_accuracies"], ddof=1))
    assert noise["accuracy"] == pytest.approx(np.mean(noise["fold_accuracies"]))
    roc = noise["roc"]
    assert 2 <= len(roc["fpr"]) == len(roc["tpr"]) <= 200
    assert roc["fpr"][0] == roc["tpr"][0] == 0.0 and roc["fpr"][-1] == roc["tpr"][-1] == 1.0
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    area = np.sum(np.diff(roc["fpr"]) * (np.array(roc["tpr"][1:]) + roc["tpr"][:-1]) / 2)
    assert area == pytest.approx(noise["auc"], abs=0.02)  # the downsampled curve still traces the pooled ROC


def test_training_folds_with_a_single_label_are_an_error():
    fold = np.repeat(np.arange(10), 4)
    same = fold == 0  # fold 0's training folds are all "not same"
    with pytest.raises(VidsslError, match="fold 0 hold only one label"):
        ten_fold_svm(np.random.default_rng(7).normal(size=(40, 3)), same, fold)


# ---------------------------------------------------------------------------
# The whole protocol
# ---------------------------------------------------------------------------


def per_video_features(pairs, dims, *, spread, seed):
    """Per layer: class centre (fixed per class) plus Gaussian noise of scale ``spread``, non-negative."""
    classes = np.array([int(class_of(video)) for video in pairs.videos])
    rng = np.random.default_rng(seed)
    by_layer = {}
    for name, dim in dims.items():
        centres = rng.normal(size=(classes.max() + 1, dim))
        by_layer[name] = np.maximum(centres[classes] + spread * rng.normal(size=(len(classes), dim)), 0.0)
    return by_layer


@pytest.fixture
def aslan(tmp_path):
    root, annotations = write_aslan_fixture(tmp_path, num_classes=20, videos_per_class=6, pairs_per_fold=20,
                                            seed=8, make_video=touch)
    return read_aslan_pairs(annotations, root)


def test_close_same_class_videos_are_labelled_well(aslan):
    dims = {"pool3": 16, "pool4": 12, "pool5": 8}
    result = action_similarity(per_video_features(aslan, dims, spread=0.3, seed=9), aslan)
    assert result["accuracy"] > 0.9 and result["auc"] > 0.95
    assert result["num_pairs"] == 200 and result["num_folds"] == 10
    assert len(result["feature_names"]) == 36 and result["feature_names"][12] == "pool4/dot"
    assert list(result["layers"]) == ["pool3", "pool4", "pool5"]
    assert all(layer["accuracy"] > 0.8 for layer in result["layers"].values())


def test_noise_features_label_at_chance(aslan):
    rng = np.random.default_rng(10)
    by_layer = {name: rng.normal(size=(len(aslan.videos), 16)) for name in ("pool3", "pool4", "pool5")}
    result = action_similarity(by_layer, aslan)
    assert abs(result["accuracy"] - 0.5) < 0.15


def test_features_must_have_one_row_per_listed_video(aslan):
    with pytest.raises(VidsslError, match="videos, the pairs list"):
        action_similarity({"pool5": np.ones((len(aslan.videos) - 1, 4))}, aslan)


def test_default_fixture_videos_are_real_and_probe_into_records(tmp_path):
    root, annotations = write_aslan_fixture(tmp_path, num_classes=2, videos_per_class=2, pairs_per_fold=2, seed=11)
    pairs = read_aslan_pairs(annotations, root)
    metas, failures = probe_all(pairs.videos, index_path_for(tmp_path / "index", root), "img_{:05d}.jpg", False)
    records = [VideoRecord(path, -1, metas[path].num_frames, metas[path].fps, metas[path].height,
                           metas[path].width) for path in pairs.videos]
    assert not failures and len(records) == 4
    assert {(r.num_frames, r.height, r.width) for r in records} == {(20, 32, 32)}
