"""Two-stream (RGB + RGBDiff) evaluation, TransRank §5.3 "R + RD" rows, appendix C.2, Table 12 / Table 7:
retrieval with averaged cosine similarities, finetuning with averaged video probabilities, and ``--fuse``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from videofixtures import TINY_RUN_OVERRIDES, make_ucf101
from vidssl.data.datasets import VideoRecord
from vidssl.data.transforms import EvalTransform, frames_for_modality, to_model_input
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.eval import retrieval
from vidssl.eval.features import EvalClips, EvalClipSampler, Features
from vidssl.eval.finetune import VideoProbs, evaluate_classifier, fused_video_accuracy
from vidssl.eval.retrieval import evaluate_retrieval_streams

# the tiny backbone at 1/8 width: nothing here depends on the width, and each run's checkpoints shrink 4x
TINY = [*TINY_RUN_OVERRIDES, "model.width=0.125"]

# ---------------------------------------------------------------- retrieval


class FeatureTable:
    """Stand-in backbone: its query (test) and gallery (train) features are given, not computed."""

    def __init__(self, queries: Features, gallery: Features):
        self.queries, self.gallery = queries, gallery
        self.clips_seen: list[EvalClips] = []


@pytest.fixture
def table_features(monkeypatch):
    """``extract_features`` reads a :class:`FeatureTable`: train records are ``g*``, test records ``q*``."""

    def fake_extract(backbone, records, reader, clips, **kwargs):
        backbone.clips_seen.append(clips)
        return backbone.gallery if records[0].startswith("g") else backbone.queries

    monkeypatch.setattr(retrieval, "extract_features", fake_extract)


def _features(feats: np.ndarray, labels, valid=None) -> Features:
    valid = np.ones(len(feats), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    feats = np.asarray(feats, dtype=np.float32).copy()
    feats[~valid] = 0.0  # as extract_features leaves a video that failed to decode
    return Features(by_layer={"pool": feats}, labels=np.asarray(labels, dtype=np.int64), valid=valid)


def _brute_force_fused_recall(streams, q_labels, g_labels, ks) -> dict[str, float]:
    """Reference: per stream normalise and take cosine similarities, average the matrices, then for every
    query rank the gallery by (−similarity, index) in a Python loop."""
    sims = []
    for q, g in streams:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        sims.append(qn.astype(np.float64) @ gn.astype(np.float64).T)
    sim = np.mean(sims, axis=0)
    out = {}
    for k in ks:
        hits = 0
        for i in range(sim.shape[0]):
            order = sorted(range(sim.shape[1]), key=lambda j: (-sim[i, j], j))
            hits += int(q_labels[i] in [g_labels[j] for j in order[:k]])
        out[f"R@{k}"] = hits / sim.shape[0]
    return out


def _at_angles(degrees) -> np.ndarray:
    """2-D unit vectors: cosine similarity of two rows = cos(angle between them)."""
    radians = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def test_fusion_finds_a_neighbour_neither_stream_ranks_first(table_features):
    # query (class 2) at 0°. RGB: g0 identical (sim 1), g1 opposite (−1), g2 at 25° (0.906).
    # RGBDiff: g0 opposite, g1 identical, g2 at −25°. Averaged: g0 0, g1 0, g2 0.906 → g2, the query's class.
    query, labels = _at_angles([0]), [2]
    rgb = FeatureTable(_features(query, labels), _features(_at_angles([0, 180, 25]), [0, 1, 2]))
    diff = FeatureTable(_features(query, labels), _features(_at_angles([180, 0, -25]), [0, 1, 2]))
    rgb_clips, diff_clips = EvalClips(num_clips=2, modality="rgb"), EvalClips(num_clips=2, modality="rgbdiff")
    result = evaluate_retrieval_streams(
        {"rgb": (rgb, rgb_clips), "rgbdiff": (diff, diff_clips)}, ["g0", "g1", "g2"], ["q0"], None, ks=(1, 2),
        progress=False,
    )
    assert result["streams"]["rgb"]["R@1"] == 0.0 and result["streams"]["rgbdiff"]["R@1"] == 0.0
    assert result["fused"]["R@1"] == 1.0
    assert result["streams"]["rgb"]["R@2"] == 1.0  # g0 (1), then g2 (0.906)
    assert rgb.clips_seen == [rgb_clips, rgb_clips] and diff.clips_seen == [diff_clips, diff_clips]


def test_fused_recall_equals_brute_force_and_skips_videos_invalid_in_any_stream(table_features):
    rng = np.random.default_rng(0)
    num_q, num_g, classes = 12, 20, 4
    q_labels, g_labels = rng.integers(0, classes, num_q), rng.integers(0, classes, num_g)
    q_rgb, g_rgb = rng.normal(size=(num_q, 6)), rng.normal(size=(num_g, 6))
    q_diff, g_diff = rng.normal(size=(num_q, 3)), rng.normal(size=(num_g, 3))  # streams may differ in width
    q_valid_diff = np.ones(num_q, dtype=bool)
    q_valid_diff[[2, 7]] = False
    g_valid_rgb = np.ones(num_g, dtype=bool)
    g_valid_rgb[5] = False
    streams = {
        "rgb": (FeatureTable(_features(q_rgb, q_labels), _features(g_rgb, g_labels, g_valid_rgb)), EvalClips()),
        "rgbdiff": (FeatureTable(_features(q_diff, q_labels, q_valid_diff), _features(g_diff, g_labels)),
                    EvalClips(modality="rgbdiff")),
    }
    ks = (1, 3, 5, 50)
    coarse = [0, 0, 1, 1]
    records_g, records_q = [f"g{i}" for i in range(num_g)], [f"q{i}" for i in range(num_q)]
    result = evaluate_retrieval_streams(streams, records_g, records_q, None, ks=ks, progress=False, chunk=5,
                                        coarse_labels=coarse)

    qv, gv = q_valid_diff, g_valid_rgb  # the videos valid in both streams
    rgb_pair, diff_pair = (q_rgb[qv], g_rgb[gv]), (q_diff[qv], g_diff[gv])
    expect = {
        "rgb": _brute_force_fused_recall([rgb_pair], q_labels[qv], g_labels[gv], ks),
        "rgbdiff": _brute_force_fused_recall([diff_pair], q_labels[qv], g_labels[gv], ks),
        "fused": _brute_force_fused_recall([rgb_pair, diff_pair], q_labels[qv], g_labels[gv], ks),
    }
    to_group = np.array(coarse)
    expect_coarse = _brute_force_fused_recall(
        [rgb_pair, diff_pair], to_group[q_labels[qv]], to_group[g_labels[gv]], ks
    )
    got = {**result["streams"], "fused": result["fused"]}
    for name, recalls in expect.items():
        assert {k: got[name][k] for k in recalls} == pytest.approx(recalls), name
        assert got[name]["num_queries"] == num_q - 2 and got[name]["num_gallery"] == num_g - 1
    assert result["fused"]["coarse"] == pytest.approx(expect_coarse)
    assert expect["fused"] != expect["rgb"] or expect["fused"] != expect["rgbdiff"]  # fusion mattered here


def test_retrieval_streams_errors(table_features):
    gallery = _features(_at_angles([0]), [0])
    first_only = FeatureTable(_features(_at_angles([0, 90]), [0, 0], [True, False]), gallery)
    second_only = FeatureTable(_features(_at_angles([0, 90]), [0, 0], [False, True]), gallery)
    with pytest.raises(VidsslError, match="at least one"):
        evaluate_retrieval_streams({}, ["g0"], ["q0", "q1"], None, progress=False)
    with pytest.raises(VidsslError, match="no test \\(query\\) video decoded in every stream"):
        evaluate_retrieval_streams(
            {"a": (first_only, EvalClips()), "b": (second_only, EvalClips())}, ["g0"], ["q0", "q1"], None,
            progress=False,
        )


# ---------------------------------------------------------------- finetune


def test_fused_video_accuracy_by_hand():
    labels = np.array([0, 1, 2, 1, 0])
    rgb = np.array([
        [0.6, 0.3, 0.1],  # says 0; fused (0.6+0.1)/2=.35, (0.3+0.7)/2=.5 → 1: wrong, label 0
        [0.2, 0.5, 0.3],  # says 1; fused [.3, .4, .3] → 1: right (though RGBDiff alone says 0)
        [0.5, 0.1, 0.4],  # says 0; fused [.3, .1, .6] → 2: right (fusion fixes it)
        [0.0, 0.0, 0.0],  # failed to decode in RGB: left out
        [0.9, 0.05, 0.05],  # says 0; fused [.7, .15, .15] → 0: right
    ], dtype=np.float32)
    diff = np.array([
        [0.1, 0.7, 0.2],
        [0.4, 0.3, 0.3],
        [0.1, 0.1, 0.8],
        [0.1, 0.8, 0.1],
        [0.5, 0.25, 0.25],
    ], dtype=np.float32)
    a = VideoProbs(rgb, labels, np.array([True, True, True, False, True]))
    b = VideoProbs(diff, labels, np.array([True, True, True, True, True]))
    assert fused_video_accuracy([a, b]) == {"video_acc": 3 / 4, "num_test_videos": 4, "skipped": 1}
    assert fused_video_accuracy([b])["video_acc"] == pytest.approx(3 / 5)  # one stream: its own accuracy

    with pytest.raises(VidsslError, match="at least one"):
        fused_video_accuracy([])
    with pytest.raises(VidsslError, match="shape"):
        fused_video_accuracy([a, VideoProbs(diff[:4], labels[:4], b.valid[:4])])
    with pytest.raises(VidsslError, match="other videos"):
        fused_video_accuracy([a, VideoProbs(diff, np.roll(labels, 1), b.valid)])
    with pytest.raises(VidsslError, match="no test video decoded in every stream"):
        fused_video_accuracy([a, VideoProbs(diff, labels, np.array([False, False, False, True, False]))])


class ValueReader:
    """Fake reader: frame i of video ``v<n>`` is a uniform image of value 10·n + 3·i; ``bad`` paths fail."""

    def read(self, path, indices):
        if path == "bad":
            raise CorruptVideoError("bad: cannot decode")
        n = int(path[1:])
        values = (10 * n + 3 * np.asarray(indices)) % 256
        return np.broadcast_to(values.astype(np.uint8)[:, None, None, None], (len(indices), 8, 8, 3)).copy()


class TinyClassifier(nn.Module):
    """Mean colour of the clip per channel and over time halves → 4 class logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):  # (B, 3, T, H, W)
        half = x.shape[2] // 2
        stats = torch.cat([x[:, :, :half].mean(dim=(2, 3, 4)), x[:, :, half:].mean(dim=(2, 3, 4))], dim=1)
        return 5.0 * self.fc(stats)


@pytest.mark.parametrize("modality", ["rgb", "rgbdiff"])
def test_evaluate_classifier_probs_are_the_softmax_mean_over_clips(modality):
    records = [VideoRecord(f"v{n}", n % 4, 40 + n, 25.0, 8, 8) for n in range(5)]
    records.insert(3, VideoRecord("bad", 1, 40, 25.0, 8, 8))
    clips = EvalClips(num_clips=3, clip_len=4, interval=2, size=8, resize_short=8, modality=modality)
    model = TinyClassifier()
    with pytest.warns(UserWarning, match="1 of 6 videos failed"):
        result = evaluate_classifier(model, records, ValueReader(), clips, batch_size=4, workers=0, progress=False,
                                     return_probs=True)
    sampler = EvalClipSampler(num_clips=3, clip_len=frames_for_modality(4, modality), interval=2,
                              transform=EvalTransform(size=8, resize_short=8))
    expect = np.zeros((len(records), 4), dtype=np.float32)
    with torch.no_grad():
        for i, record in enumerate(records):
            if record.path != "bad":
                logits = model(to_model_input(sampler(record, ValueReader())["clips"], modality))  # (3, 4)
                expect[i] = logits.softmax(dim=1).mean(dim=0).numpy()
    probs = result["video_probs"]
    np.testing.assert_allclose(probs.probs, expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(probs.valid, [True, True, True, False, True, True])
    np.testing.assert_array_equal(probs.labels, [r.label for r in records])
    right = expect.argmax(axis=1) == probs.labels
    assert result["video_acc"] == pytest.approx(right[probs.valid].mean())

    plain = evaluate_classifier(model, records[:3], ValueReader(), clips, workers=0, progress=False)
    assert set(plain) == {"video_acc", "clip_acc", "num_test_videos", "skipped"}  # unchanged without return_probs


# ---------------------------------------------------------------- command line



@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A tiny UCF101-layout dataset and two one-epoch pretraining runs on it, RGB and RGBDiff."""
    from vidssl.cli.main import main

    base = tmp_path_factory.mktemp("two_stream")
    ucf = make_ucf101(base / "ucf")
    data = ["data.format=ucf101", f"data.root={ucf.root}", f"data.annotations={ucf.annotations}"]
    runs = {}
    for modality in ("rgb", "rgbdiff"):
        runs[modality] = base / f"run_{modality}"
        assert main(["pretrain", "quickstart", *data, *TINY, f"model.modality={modality}",
                     "--out", str(runs[modality])]) == 0
    return ucf, runs


def _cli(args, capsys):
    from vidssl.cli.main import main

    code = main(args)
    return code, capsys.readouterr().err


def test_cli_fuse_retrieval_and_finetune(two_runs, capsys):
    ucf, runs = two_runs
    rgb, diff = runs["rgb"], runs["rgbdiff"]
    num_test, num_train = len(ucf.expected["test"]), len(ucf.expected["train"])

    code, err = _cli(["eval", "retrieval", str(rgb), "--fuse", str(diff)], capsys)
    assert code == 0, err
    results = json.loads((rgb / "eval_retrieval_fused_run_rgbdiff.json").read_text())
    assert set(results) == {"streams", "fused"} and set(results["streams"]) == {"rgb", "rgbdiff"}
    assert results["streams"]["rgbdiff"]["modality"] == "rgbdiff" and results["streams"]["rgbdiff"]["run"] == str(diff)
    for recalls in (*results["streams"].values(), results["fused"]):
        assert recalls["num_queries"] == num_test and recalls["num_gallery"] == num_train
        assert all(0.0 <= recalls[f"R@{k}"] <= 1.0 for k in (1, 5, 10, 20, 50))
        assert recalls["R@10"] == 1.0  # 8 gallery videos over 3 classes
    assert not (rgb / "eval_retrieval.json").exists()  # the single-stream result is a different file

    code, err = _cli(["eval", "finetune", str(rgb), "--fuse", str(diff)], capsys)
    assert code == 0, err
    tuned = json.loads((rgb / "eval_finetune_fused_run_rgbdiff.json").read_text())
    assert set(tuned["streams"]) == {"rgb", "rgbdiff"}
    for name, stream in tuned["streams"].items():
        assert stream["modality"] == name and 0.0 <= stream["video_acc"] <= 1.0
        assert "video_probs" not in stream and "history" not in stream
        assert (rgb / f"finetune_{name}" / "checkpoints" / "last.pt").is_file()
    assert set(tuned["fused"]) == {"video_acc", "num_test_videos", "skipped"}
    assert tuned["fused"]["num_test_videos"] == num_test and 0.0 <= tuned["fused"]["video_acc"] <= 1.0


def test_cli_fuse_same_modality_is_an_ensemble_named_by_run(two_runs, tmp_path, capsys):
    _, runs = two_runs
    twin = tmp_path / "twin"
    shutil.copytree(runs["rgb"], twin)
    code, err = _cli(["eval", "retrieval", str(runs["rgb"]), "--fuse", str(twin), "--out", str(tmp_path)], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "eval_retrieval_fused_twin.json").read_text())
    assert set(results["streams"]) == {"run_rgb", "twin"}
    # the same backbone twice: the averaged similarity is the similarity itself
    for k in (1, 5, 10, 20, 50):
        assert results["fused"][f"R@{k}"] == pytest.approx(results["streams"]["twin"][f"R@{k}"])


def test_cli_fuse_needs_a_run_folder(two_runs, tmp_path, capsys):
    _, runs = two_runs
    for target, needle in ((tmp_path / "nope", "not found"), (tmp_path, "config.yaml not found")):
        code, err = _cli(["eval", "retrieval", str(runs["rgb"]), "--fuse", str(target)], capsys)
        assert code == 2 and err.strip().splitlines()[-1].startswith("error: --fuse"), err
        assert needle in err
    (tmp_path / "config.yaml").write_text((runs["rgbdiff"] / "config.yaml").read_text())
    code, err = _cli(["eval", "retrieval", str(runs["rgb"]), "--fuse", str(tmp_path)], capsys)
    assert code == 2 and "backbone.pt not found" in err, err
