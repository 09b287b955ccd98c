"""Dynamic scene recognition (STS §6.3): sliding clips, L2 normalisation, leave-one-out linear SVM."""
import numpy as np
import pytest
from sklearn.svm import SVC

from vidssl.data.sampling import sliding_clip_starts
from vidssl.errors import VidsslError
from vidssl.eval import dynamic_scenes
from vidssl.eval.dynamic_scenes import (
    dynamic_scene_recognition,
    leave_one_out_svm,
    video_level_features,
)


def clustered_features(num_classes, per_class, dim, rng, spread=0.05):
    """Videos of each class scattered tightly around its own random direction."""
    centres = rng.normal(size=(num_classes, dim))
    labels = np.repeat(np.arange(num_classes), per_class)
    feats = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    return feats, labels


def confusion_from(labels, predictions, num_classes):
    """Count (true, predicted) pairs one by one."""
    table = [[0] * num_classes for _ in range(num_classes)]
    for true, predicted in zip(labels, predictions):
        table[true][predicted] += 1
    return table


# ---------------------------------------------------------------------------
# sliding_clip_starts (vidssl.data.sampling; the oracle test is in test_eval_protocols.py)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "num_frames, clip_len, stride, expected",
    [
        (40, 16, 8, [0, 8, 16, 24]),
        (16, 16, 8, [0]),
        (10, 16, 8, [0]),
        (24, 16, 8, [0, 8]),
        (45, 16, 8, [0, 8, 16, 24]),
        (1, 16, 8, [0]),
        (10, 4, 5, [0, 5]),
    ],
)
def test_sliding_clip_starts_table(num_frames, clip_len, stride, expected):
    assert sliding_clip_starts(num_frames, clip_len=clip_len, stride=stride).tolist() == expected


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"num_frames": True}, "num_frames"),
        ({"num_frames": 10, "clip_len": 0}, "clip_len"),
        ({"num_frames": 10, "stride": 0}, "stride"),
        ({"num_frames": 10, "stride": -8}, "stride"),
    ],
)
def test_sliding_clip_starts_bad_arguments(kwargs, name):
    with pytest.raises(VidsslError, match=name):
        sliding_clip_starts(**{"clip_len": 16, "stride": 8, **kwargs})


# ---------------------------------------------------------------------------
# video_level_features
# ---------------------------------------------------------------------------


def test_video_level_features_unit_norm_and_zero_row_stays_zero():
    feats = np.random.default_rng(0).normal(size=(5, 7)) * np.array([[1e-3], [1.0], [1e3], [5.0], [0.0]])
    out = video_level_features(feats.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(out[:4], axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out[:4] * np.linalg.norm(feats[:4], axis=1, keepdims=True), feats[:4], rtol=1e-5)
    assert np.all(out[4] == 0) and np.isfinite(out).all()


# ---------------------------------------------------------------------------
# leave_one_out_svm
# ---------------------------------------------------------------------------


def test_one_fit_per_video_and_never_on_the_left_out_video(monkeypatch):
    fitted_sizes = []

    class CountingSVC(SVC):
        def fit(self, X, y, sample_weight=None):
            fitted_sizes.append(len(y))
            return super().fit(X, y, sample_weight=sample_weight)

    monkeypatch.setattr(dynamic_scenes, "SVC", CountingSVC)
    feats, labels = clustered_features(3, 4, 6, np.random.default_rng(1))
    result = leave_one_out_svm(video_level_features(feats), labels)
    assert result["num_folds"] == result["num_videos"] == len(labels) == len(fitted_sizes)
    assert fitted_sizes == [len(labels) - 1] * len(labels)


def test_separable_clusters_are_all_recognised():
    feats, labels = clustered_features(5, 6, 16, np.random.default_rng(2))
    result = leave_one_out_svm(video_level_features(feats), labels)
    assert result["accuracy"] == 1.0
    assert result["predictions"] == labels.tolist()
    assert result["per_class_accuracy"] == [1.0] * 5


def test_random_labels_on_noise_are_near_chance_although_the_svm_fits_its_training_set():
    rng = np.random.default_rng(3)
    feats = video_level_features(rng.normal(size=(45, 64)))
    labels = rng.permutation(np.repeat(np.arange(3), 15))
    # With D > N the SVM separates its training set, so a left-out video leaking into training would be right.
    assert SVC(C=100.0, kernel="linear").fit(feats, labels).score(feats, labels) == 1.0
    assert leave_one_out_svm(feats, labels, C=100.0)["accuracy"] < 0.6


def test_one_outlier_is_the_only_mistake():
    rng = np.random.default_rng(4)
    feats, labels = clustered_features(3, 6, 8, rng)
    outlier = feats[labels == 1].mean(axis=0)  # sits in class 1's cluster but is labelled 0
    feats, labels = np.vstack([feats, outlier]), np.append(labels, 0)
    n = len(labels)
    result = leave_one_out_svm(video_level_features(feats), labels)
    assert result["accuracy"] == pytest.approx((n - 1) / n, abs=1e-15)
    assert result["predictions"][-1] == 1
    assert result["per_class_accuracy"] == [6 / 7, 1.0, 1.0]
    assert result["confusion"][0][1] == 1


def test_confusion_counts_every_video_once_and_matches_predictions():
    rng = np.random.default_rng(5)
    feats, labels = clustered_features(4, 5, 10, rng, spread=1.5)  # overlapping: some mistakes
    result = leave_one_out_svm(video_level_features(feats), labels)
    confusion = np.array(result["confusion"])
    assert confusion.sum() == len(labels)
    assert result["confusion"] == confusion_from(labels, result["predictions"], 4)
    assert np.trace(confusion) / len(labels) == pytest.approx(result["accuracy"])
    assert result["accuracy"] < 1.0


def test_a_single_video_class_is_always_wrong_when_left_out():
    feats, labels = clustered_features(3, 5, 8, np.random.default_rng(6))
    labels = labels.copy()
    labels[0] = 3  # class 3 has one video, which the training set never contains
    result = leave_one_out_svm(video_level_features(feats), labels)
    assert result["predictions"][0] != 3
    assert result["per_class_accuracy"][3] == 0.0


def test_class_without_videos_has_no_accuracy():
    feats, labels = clustered_features(2, 4, 6, np.random.default_rng(7))
    result = leave_one_out_svm(video_level_features(feats), labels * 2)  # classes 0 and 2
    assert result["per_class_accuracy"][1] is None
    assert len(result["confusion"]) == 3


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 0, 1, 1, 1], "shape"),
        ([0, 0, 0, 0, 0, 0], "at least 2"),
        ([0, 0, 0, 0, 0, 1], "leaving out video 5"),
        ([0, 0, 1, 1, 2, -1], "labels"),
        ([0.0, 0.0, 1.0, 1.0, 2.0, 2.0], "labels"),
    ],
)
def test_leave_one_out_bad_labels(labels, message):
    feats = np.random.default_rng(8).normal(size=(6, 4))
    with pytest.raises(VidsslError, match=message):
        leave_one_out_svm(feats, np.array(labels))


def test_leave_one_out_bad_features_and_C():
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(VidsslError, match="features"):
        leave_one_out_svm(np.zeros(4), labels)
    with pytest.raises(VidsslError, match="NaN"):
        leave_one_out_svm(np.full((4, 3), np.nan), labels)
    with pytest.raises(VidsslError, match="C"):
        leave_one_out_svm(np.eye(4), labels, C=0.0)


# ---------------------------------------------------------------------------
# dynamic_scene_recognition
# ---------------------------------------------------------------------------


def test_best_layer_is_the_separable_one():
    rng = np.random.default_rng(9)
    separable, labels = clustered_features(3, 6, 12, rng)
    noise = rng.normal(size=separable.shape)
    result = dynamic_scene_recognition({"layer3": noise, "pool": separable}, labels, progress=True)
    assert result["best_layer"] == "pool"
    assert result["accuracy"] == result["layers"]["pool"]["accuracy"] == 1.0
    assert result["layers"]["layer3"]["accuracy"] < 1.0


def test_layer_features_are_l2_normalised_before_the_svm():
    rng = np.random.default_rng(10)
    feats, labels = clustered_features(3, 6, 12, rng, spread=1.0)
    scales = rng.uniform(1e-2, 1e2, size=(len(labels), 1))
    scaled = dynamic_scene_recognition({"pool": feats * scales}, labels)["layers"]["pool"]
    assert scaled == leave_one_out_svm(video_level_features(feats), labels)


def test_dynamic_scene_recognition_bad_inputs():
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(VidsslError, match="at least one layer"):
        dynamic_scene_recognition({}, labels)
    with pytest.raises(VidsslError, match="shape"):
        dynamic_scene_recognition({"pool": np.eye(4), "layer4": np.eye(5)}, labels)
