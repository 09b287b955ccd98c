"""Evaluation protocols: retrieval recall, label subsets, eval clip positions, features, finetune, plots."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from videofixtures import decode_all, write_video
from vidssl.data.datasets import VideoRecord
from vidssl.data.transforms import EvalTransform, normalize_on_device
from vidssl.data.video import PyAVReader, probe
from vidssl.engine import TrainConfig
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.eval.features import EvalClips, EvalClipSampler, extract_features, pool_feature
from vidssl.eval.finetune import evaluate_classifier, finetune, label_subset
from vidssl.eval.plots import plot_accuracy_bars, plot_curves, plot_recall_bars
from vidssl.eval.retrieval import evaluate_retrieval, retrieval_recall, retrieval_recall_multi, similarity_topk
from vidssl.models import build_backbone

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- retrieval


def _cosine_matrix(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    return qn.astype(np.float64) @ gn.astype(np.float64).T


def _brute_force_recall(sim: np.ndarray, q_labels, g_labels, ks) -> dict[str, float]:
    """Reference: rank every gallery item for every query by (−similarity, index), loop over ks."""
    out = {}
    for k in ks:
        hits = 0
        for i in range(sim.shape[0]):
            order = sorted(range(sim.shape[1]), key=lambda j: (-sim[i, j], j))
            hits += any(g_labels[j] == q_labels[i] for j in order[:k])
        out[f"R@{k}"] = hits / sim.shape[0]
    return out


def _random_problem(seed: int, num_q: int = 37, num_g: int = 53, dim: int = 12, classes: int = 6):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(num_q, dim)).astype(np.float32),
        rng.integers(0, classes, num_q),
        rng.normal(size=(num_g, dim)).astype(np.float32),
        rng.integers(0, classes, num_g),
    )


@pytest.mark.parametrize("chunk", [1, 5, 37, 4096])
def test_recall_matches_brute_force_for_every_chunk_size(chunk):
    q, ql, g, gl = _random_problem(0)
    ks = (1, 2, 5, 10, 20, 50)
    expected = _brute_force_recall(_cosine_matrix(q, g), ql, gl, ks)
    assert retrieval_recall(q, ql, g, gl, ks=ks, chunk=chunk) == expected


def test_block_memory_budget_lowers_the_chunk_without_changing_results(monkeypatch):
    from vidssl.eval import retrieval

    q, ql, g, gl = _random_problem(0)  # 37 queries, 53 gallery items
    ks = (1, 2, 5, 10, 20, 50)
    sim = _cosine_matrix(q, g)
    expected_idx = np.array([sorted(range(g.shape[0]), key=lambda j: (-row[j], j))[:10] for row in sim])
    block_rows = []
    original = retrieval._similarity_block

    def spy(pairs, start, stop, buffer):
        block_rows.append(stop - start)
        return original(pairs, start, stop, buffer)

    monkeypatch.setattr(retrieval, "_similarity_block", spy)
    monkeypatch.setattr(retrieval, "BLOCK_BYTES", 4 * 53 * 3)  # room for 3 queries' similarities
    assert retrieval_recall(q, ql, g, gl, ks=ks, chunk=4096) == _brute_force_recall(sim, ql, gl, ks)
    assert block_rows == [3] * 12 + [1]
    block_rows.clear()
    values, indices = similarity_topk([(q, g)], 10, chunk=2)  # chunk below the budget's 3 is kept
    assert block_rows == [2] * 18 + [1]
    np.testing.assert_array_equal(indices, expected_idx)
    np.testing.assert_allclose(values, np.take_along_axis(sim, expected_idx, axis=1), atol=1e-5)
    monkeypatch.setattr(retrieval, "BLOCK_BYTES", 1)  # smaller than one row: one query per block
    block_rows.clear()
    assert retrieval_recall(q, ql, g, gl, ks=ks) == _brute_force_recall(sim, ql, gl, ks)
    assert block_rows == [1] * 37


def test_random_problem_is_not_degenerate():
    # guards the brute-force comparison above: recall must vary with k on these features
    q, ql, g, gl = _random_problem(0)
    recall = retrieval_recall(q, ql, g, gl, ks=(1, 5, 50))
    assert 0.0 < recall["R@1"] < recall["R@5"] <= recall["R@50"]


def test_query_equal_to_gallery_item_of_its_class_is_found_at_rank_one():
    rng = np.random.default_rng(2)
    g = rng.normal(size=(20, 8)).astype(np.float32)
    gl = np.arange(20) % 5
    picks = np.array([3, 7, 11, 19])
    q = g[picks] * 3.0  # cosine ignores the scale
    assert retrieval_recall(q, gl[picks], g, gl, ks=(1,)) == {"R@1": 1.0}


def _fan(angles_deg) -> np.ndarray:
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def test_class_first_seen_at_rank_three():
    gallery = _fan([0, 10, 20, 30, 40, 50])  # rank of item j for a query at 0° is j + 1
    gallery_labels = [1, 2, 0, 3, 0, 4]
    query = _fan([0])
    recall = retrieval_recall(query, [0], gallery, gallery_labels, ks=(1, 2, 3, 5))
    assert recall == {"R@1": 0.0, "R@2": 0.0, "R@3": 1.0, "R@5": 1.0}
    values, indices = similarity_topk([(query, gallery)], 4)
    assert indices.tolist() == [[0, 1, 2, 3]]
    np.testing.assert_allclose(values[0], np.cos(np.deg2rad([0, 10, 20, 30])), atol=1e-6)


def test_ties_rank_lower_gallery_index_first():
    same = np.ones((10, 4), dtype=np.float32)
    labels = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1])  # the query's class only at index 7
    recall = retrieval_recall(same[:1], [0], same, labels, ks=(1, 5, 7, 8, 10))
    assert recall == {"R@1": 0.0, "R@5": 0.0, "R@7": 0.0, "R@8": 1.0, "R@10": 1.0}
    _, indices = similarity_topk([(same[:3], same)], 5, chunk=2)
    assert indices.tolist() == [[0, 1, 2, 3, 4]] * 3


def test_ties_across_the_cut_with_distinct_leaders():
    # Gallery 0 is best; 1..6 tie; top-3 must be [0, 1, 2] whatever topk picks among the ties.
    gallery = np.concatenate([_fan([0]), np.repeat(_fan([45]), 6, axis=0)])
    _, indices = similarity_topk([(_fan([0]), gallery)], 3)
    assert indices.tolist() == [[0, 1, 2]]


def test_k_larger_than_gallery_is_clamped():
    gallery = _fan([0, 30, 60])
    recall = retrieval_recall(_fan([0, 0]), [2, 9], gallery, [0, 1, 2], ks=(1, 3, 50))
    # Query of class 2 finds it at rank 3; class 9 is not in the gallery at all.
    assert recall == {"R@1": 0.0, "R@3": 0.5, "R@50": 0.5}
    values, indices = similarity_topk([(_fan([0]), gallery)], 50)
    assert indices.shape == values.shape == (1, 3)


def test_two_modalities_average_the_similarity_matrices():
    q1, ql, g1, gl = _random_problem(3, dim=12)
    rng = np.random.default_rng(4)
    q2 = rng.normal(size=(q1.shape[0], 5)).astype(np.float32)
    g2 = rng.normal(size=(g1.shape[0], 5)).astype(np.float32)
    averaged = (_cosine_matrix(q1, g1) + _cosine_matrix(q2, g2)) / 2
    ks = (1, 5, 10)
    for chunk in (1, 8, 4096):
        got = retrieval_recall_multi([(q1, g1), (q2, g2)], ql, gl, ks=ks, chunk=chunk)
        assert got == _brute_force_recall(averaged, ql, gl, ks)
    values, indices = similarity_topk([(q1, g1), (q2, g2)], 7, chunk=10)
    expected_idx = np.array([sorted(range(g1.shape[0]), key=lambda j: (-row[j], j))[:7] for row in averaged])
    np.testing.assert_array_equal(indices, expected_idx)
    np.testing.assert_allclose(values, np.take_along_axis(averaged, expected_idx, axis=1), atol=1e-5)
    # and averaging differs from either modality alone (the test would catch ignoring one)
    assert not np.array_equal(similarity_topk([(q1, g1)], 7)[1], indices)


def test_retrieval_rejects_bad_input():
    q, ql, g, gl = _random_problem(5)
    with pytest.raises(VidsslError, match="dim"):
        retrieval_recall(q, ql, g[:, :5], gl)
    with pytest.raises(VidsslError, match="labels"):
        retrieval_recall(q, ql[:-1], g, gl)
    with pytest.raises(VidsslError, match="NaN"):
        bad = q.copy()
        bad[0, 0] = np.nan
        retrieval_recall(bad, ql, g, gl)
    with pytest.raises(VidsslError, match="chunk"):
        retrieval_recall(q, ql, g, gl, chunk=0)
    with pytest.raises(VidsslError, match="ks"):
        retrieval_recall(q, ql, g, gl, ks=(0, 5))


# ---------------------------------------------------------------- label subsets


def _records(labels) -> list[VideoRecord]:
    return [VideoRecord(f"v{i}.mp4", int(c), 40, 25.0, 32, 32) for i, c in enumerate(labels)]


def test_label_subset_is_class_balanced_deterministic_and_ordered():
    labels = [0] * 10 + [1] * 4 + [2] * 1 + [3] * 7
    rng = np.random.default_rng(0)
    records = _records(rng.permutation(labels))
    subset = label_subset(records, 0.3, seed=11)
    counts = Counter(r.label for r in subset)
    # max(1, round-half-up(0.3 · n_c)): 10 → 3, 4 → 1.2 → 1, 1 → 0.3 → 1, 7 → 2.1 → 2
    assert counts == {0: 3, 1: 1, 2: 1, 3: 2}
    positions = [records.index(r) for r in subset]
    assert positions == sorted(positions)  # original order kept
    assert label_subset(records, 0.3, seed=11) == subset
    assert label_subset(records, 0.3, seed=12) != subset
    assert Counter(r.label for r in label_subset(records, 0.5, seed=0)) == {0: 5, 1: 2, 2: 1, 3: 4}
    assert label_subset(records, 1.0, seed=3) == records


def test_label_subset_rejects_bad_input():
    with pytest.raises(VidsslError, match="label_fraction"):
        label_subset(_records([0, 1]), 0.0, seed=0)
    with pytest.raises(VidsslError, match="labelled"):
        label_subset(_records([0, -1]), 0.5, seed=0)


# ---------------------------------------------------------------- eval clip positions


class FrameIndexReader:
    """Fake reader: frame i is a uniform image of value i; records every call."""

    def __init__(self, num_frames: int, size: int = 8):
        self.num_frames = num_frames
        self.size = size
        self.calls: list[np.ndarray] = []

    def read(self, path, indices):
        indices = np.asarray(indices)
        self.calls.append(indices.copy())
        if indices.min() < 0 or indices.max() >= self.num_frames:
            raise CorruptVideoError(f"{path}: frame index out of range")
        return np.broadcast_to(
            indices.astype(np.uint8)[:, None, None, None], (len(indices), self.size, self.size, 3)
        ).copy()


def _vcop_positions(num_frames: int, num_clips: int, clip_len: int, interval: int) -> np.ndarray:
    """VCOP (ALGORITHMS.md §5.2): centres linspace(s/2, L − s/2, n), start int(centre − s/2),
    s = clip span; start clamped at 0 and indices looped for videos shorter than the span."""
    span = (clip_len - 1) * interval + 1
    rows = []
    for centre in np.linspace(span / 2, num_frames - span / 2, num_clips):
        start = max(int(centre - span / 2), 0)
        rows.append([(start + t * interval) % num_frames for t in range(clip_len)])
    return np.array(rows)


@pytest.mark.parametrize(
    "num_frames, num_clips, clip_len, interval",
    [(100, 10, 16, 1), (37, 10, 16, 1), (16, 3, 16, 1), (10, 4, 16, 1), (60, 5, 4, 3), (9, 2, 4, 2)],
)
def test_eval_clip_sampler_positions_follow_the_vcop_rule(num_frames, num_clips, clip_len, interval):
    reader = FrameIndexReader(num_frames)
    sampler = EvalClipSampler(
        num_clips=num_clips, clip_len=clip_len, interval=interval, transform=EvalTransform(8, resize_short=8)
    )
    out = sampler(VideoRecord("x.mp4", 0, num_frames, 25.0, 8, 8), reader, np.random.default_rng(0))
    clips = out["clips"]
    assert clips.dtype == torch.uint8 and clips.shape == (num_clips, 3, clip_len, 8, 8)
    expected = _vcop_positions(num_frames, num_clips, clip_len, interval)
    np.testing.assert_array_equal(clips[:, 0, :, 0, 0].numpy(), expected)
    assert (clips == clips[:, :1, :, :1, :1]).all()  # every pixel and channel carries the index
    assert len(reader.calls) == 1  # all clips from one read
    np.testing.assert_array_equal(reader.calls[0], expected.reshape(-1))


def test_vcop_positions_for_ucf_length_video_by_hand():
    # L = 100, 10 clips of 16: centres 8 + i·84/9 → starts 0, 9, 18, 28, 37, 46, 56, 65, 74, 84
    starts = _vcop_positions(100, 10, 16, 1)[:, 0]
    assert starts.tolist() == [0, 9, 18, 28, 37, 46, 56, 65, 74, 84]


# ---------------------------------------------------------------- pooling


def test_pool_feature_avg_and_vcop():
    tap = torch.arange(2 * 3 * 2 * 4 * 4, dtype=torch.float32).view(2, 3, 2, 4, 4)
    np.testing.assert_allclose(pool_feature(tap, "avg").numpy(), tap.mean(dim=(2, 3, 4)).numpy())
    vcop = pool_feature(tap, "vcop")
    assert vcop.shape == (2, 3 * 2 * 2 * 2)
    # max over each 2×2 spatial block, per (channel, time): for a raster ramp it is the block's bottom-right
    expected = tap[:, :, :, 1::2, 1::2].reshape(2, -1)
    np.testing.assert_array_equal(vcop.numpy(), expected.numpy())
    pooled = torch.randn(2, 7)
    assert pool_feature(pooled, "vcop") is pooled
    with pytest.raises(VidsslError, match="pooling"):
        pool_feature(tap, "max")


# ---------------------------------------------------------------- features on real videos


def _write_videos(folder, specs) -> list[VideoRecord]:
    """Encode one tiny H.264 video per (label, frames) and return probed records."""
    records = []
    for i, (label, frames) in enumerate(specs):
        path = write_video(folder / f"v{i}.mp4", frames)
        meta = probe(path)
        records.append(VideoRecord(str(path), label, meta.num_frames, meta.fps, meta.height, meta.width))
    return records


def _noise_video(seed: int, num_frames: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(num_frames, size // 4, size // 4, 3)).astype(np.uint8)
    return frames.repeat(4, axis=1).repeat(4, axis=2)  # 4×4 blocks survive compression


def test_features_are_the_mean_of_per_clip_features(tmp_path):
    torch.manual_seed(0)
    backbone = build_backbone("tiny")
    records = _write_videos(tmp_path, [(0, _noise_video(0, 12)), (1, _noise_video(1, 20)), (2, _noise_video(2, 5))])
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    records.insert(2, VideoRecord(str(tmp_path / "broken.mp4"), 1, 10, 25.0, 32, 32))
    num_clips, clip_len, interval = 3, 4, 2
    with pytest.warns(UserWarning, match="1 of 4 videos failed"):
        feats = extract_features(
            backbone, records, PyAVReader(),
            EvalClips(num_clips=num_clips, clip_len=clip_len, interval=interval, size=32, resize_short=32),
            layers=("layer3", "pool", "layer4"), pooling="avg", batch_size=2, workers=0, progress=False,
        )
    assert feats.labels.tolist() == [0, 1, 1, 2]
    assert feats.valid.tolist() == [True, True, False, True]
    assert feats.by_layer["pool"].shape == (4, backbone.num_features)
    assert feats.by_layer["layer3"].shape[0] == 4  # width checked against the hand computation below
    np.testing.assert_array_equal(feats.by_layer["pool"][2], 0.0)
    assert backbone.training  # mode restored

    backbone.eval()
    for row, record in enumerate(records):
        if row == 2:
            continue
        frames = decode_all(record.path)  # reference decode, independent of PyAVReader
        positions = _vcop_positions(len(frames), num_clips, clip_len, interval)
        per_clip = {"layer3": [], "pool": [], "layer4": []}
        with torch.no_grad():
            for clip_indices in positions:
                clip = torch.from_numpy(frames[clip_indices]).permute(3, 0, 1, 2)[None]  # (1, C, T, H, W)
                taps = backbone.forward_features(normalize_on_device(clip), layers=("layer3", "layer4", "pool"))
                per_clip["layer3"].append(taps["layer3"].mean(dim=(2, 3, 4))[0])
                per_clip["layer4"].append(taps["layer4"].mean(dim=(2, 3, 4))[0])
                per_clip["pool"].append(taps["pool"][0])
        for name, clips in per_clip.items():
            expected = torch.stack(clips).mean(dim=0).numpy()
            np.testing.assert_allclose(feats.by_layer[name][row], expected, rtol=1e-4, atol=1e-5)
    # the pool tap is the average-pooled layer4
    np.testing.assert_allclose(feats.by_layer["pool"], feats.by_layer["layer4"], rtol=1e-5, atol=1e-6)


def test_vcop_pooling_feature_size(tmp_path):
    backbone = build_backbone("tiny")
    records = _write_videos(tmp_path, [(0, _noise_video(3, 16))])
    feats = extract_features(
        backbone, records, PyAVReader(), EvalClips(num_clips=2, clip_len=8, size=32, resize_short=32),
        layers=("layer4",), pooling="vcop", workers=0, progress=False,
    )
    # MaxPool3d kernel/stride (1, 2, 2) keeps C and T and halves H and W of the layer4 map, then flattens
    with torch.no_grad():
        fmap = backbone.eval().forward_features(torch.zeros(1, 3, 8, 32, 32), layers=("layer4",))["layer4"]
    c, t, h, w = fmap.shape[1:]
    assert feats.by_layer["layer4"].shape == (1, c * t * (h // 2) * (w // 2))


def test_evaluate_retrieval_test_videos_query_train_videos(tmp_path):
    torch.manual_seed(0)
    backbone = build_backbone("tiny")
    train = _write_videos(tmp_path, [(c, _noise_video(10 + c, 10)) for c in range(3)])
    queries = [
        train[0],  # the same file: its own gallery copy is the nearest neighbour
        train[1],
        VideoRecord(train[2].path, 7, train[2].num_frames, 25.0, 32, 32),  # class absent from the gallery
        VideoRecord(str(tmp_path / "missing.mp4"), 0, 10, 25.0, 32, 32),  # fails to decode: left out
    ]
    with pytest.warns(UserWarning, match="1 of 4 videos failed"):
        result = evaluate_retrieval(
            backbone, train, queries, PyAVReader(), EvalClips(num_clips=2, clip_len=4, size=32, resize_short=32),
            ks=(1, 3), workers=0, progress=False,
        )
    assert result == {"R@1": 2 / 3, "R@3": 2 / 3, "num_queries": 3, "num_gallery": 3}


def test_coarse_labels_score_the_same_neighbours_by_group(tmp_path):
    torch.manual_seed(0)
    backbone = build_backbone("tiny")
    train = _write_videos(tmp_path, [(c, _noise_video(20 + c, 10)) for c in range(3)])
    # Each query is a gallery file under another class: its nearest neighbour is that file.
    queries = [VideoRecord(train[0].path, 1, train[0].num_frames, 25.0, 32, 32),  # class 0 found; 0 and 1 share a group
               VideoRecord(train[2].path, 0, train[2].num_frames, 25.0, 32, 32)]  # class 2 found; another group
    clips = EvalClips(num_clips=2, clip_len=4, size=32, resize_short=32)
    result = evaluate_retrieval(
        backbone, train, queries, PyAVReader(), clips, ks=(1,), workers=0, progress=False, coarse_labels=[0, 0, 1],
    )
    assert result["R@1"] == 0.0
    assert result["coarse"] == {"R@1": 0.5}
    with pytest.raises(VidsslError, match="one group per class"):
        evaluate_retrieval(
            backbone, train, queries, PyAVReader(), clips, ks=(1,), workers=0, progress=False, coarse_labels=[0, 0],
        )


# ---------------------------------------------------------------- finetune


class FixedLogits(nn.Module):
    """Stand-in classifier: the same logits for the clips of every video, whatever the input."""

    def __init__(self, clip_logits: list[list[float]]):
        super().__init__()
        self.clip_logits = torch.tensor(clip_logits)

    def forward(self, x):
        return self.clip_logits.repeat(x.shape[0] // len(self.clip_logits), 1)


def test_video_accuracy_averages_softmax_not_logits():
    # clip 0 says class 1 loudly, clips 1-2 say class 0 clearly: softmax mean → 0, logit mean → 1
    model = FixedLogits([[0.0, 20.0], [5.0, 0.0], [5.0, 0.0]])
    records = [VideoRecord(f"v{i}", 0, 30, 25.0, 8, 8) for i in range(3)]
    records.append(VideoRecord("too_short_on_disk", 0, 300, 25.0, 8, 8))  # reader has 30 frames → corrupt
    with pytest.warns(UserWarning, match="1 of 4 videos failed"):
        result = evaluate_classifier(
            model, records, FrameIndexReader(30), EvalClips(num_clips=3, clip_len=4, size=8, resize_short=8),
            batch_size=2, workers=0, progress=False,
        )
    assert result["video_acc"] == 1.0
    assert result["clip_acc"] == pytest.approx(2 / 3)
    assert result["num_test_videos"] == 3 and result["skipped"] == 1


def _flat_video(seed: int, level: int, num_frames: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-10, 11, size=(num_frames, 32, 32, 3))
    return np.clip(level + noise, 0, 255).astype(np.uint8)


def test_finetune_smoke_bright_vs_dark(tmp_path):
    torch.manual_seed(0)
    specs = [(i % 2, _flat_video(i, 200 if i % 2 else 40)) for i in range(12)]
    records = _write_videos(tmp_path, specs)
    train, test = records[:8], records[8:]
    backbone = build_backbone("tiny")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    cfg = TrainConfig(
        epochs=2, batch_size=2, lr=0.05, schedule="multistep", workers=0, device="cpu", progress=False,
        log_every=1,
    )
    result = finetune(
        backbone, train, test, PyAVReader(), num_classes=2, cfg=cfg, run_dir=tmp_path / "run",
        clips=EvalClips(num_clips=2, clip_len=8, size=32, resize_short=32), label_fraction=0.5, test_batch_size=4,
        workers=0, progress=False,
    )
    assert 0.0 <= result["video_acc"] <= 1.0 and 0.0 <= result["clip_acc"] <= 1.0
    assert result["num_test_videos"] == 4 and result["num_train_videos"] == 4  # half of 4 per class
    assert [row["epoch"] for row in result["history"]] == [0, 1]
    assert all(np.isfinite(row["loss"]) and 0.0 <= row["acc"] <= 1.0 for row in result["history"])
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_finetune_depends_on_its_seed_not_on_the_global_rng(tmp_path):
    specs = [(i % 2, _flat_video(i, 200 if i % 2 else 40)) for i in range(8)]
    records = _write_videos(tmp_path, specs)
    backbone = build_backbone("tiny", width=0.125)  # 1/8 width: three checkpoints of 2 MB, not 7 MB
    cfg = TrainConfig(epochs=1, batch_size=2, lr=0.05, workers=0, device="cpu", progress=False, log_every=1)
    runs = []
    for name, global_seed, seed in (("a", 1, 0), ("b", 2, 0), ("c", 1, 5)):
        torch.manual_seed(global_seed)  # e.g. a pretraining run drew a different number of values before
        result = finetune(
            backbone, records[:6], records[6:], PyAVReader(), num_classes=2, cfg=cfg, run_dir=tmp_path / name,
            clips=EvalClips(num_clips=2, clip_len=4, size=32, resize_short=32), seed=seed, test_batch_size=2,
            workers=0, progress=False,
        )
        runs.append(result)
    assert runs[0]["history"][0]["loss"] == runs[1]["history"][0]["loss"]
    assert np.array_equal(runs[0]["video_probs"].probs, runs[1]["video_probs"].probs)
    assert runs[0]["history"][0]["loss"] != runs[2]["history"][0]["loss"]


# ---------------------------------------------------------------- plots


def _is_png(path) -> bool:
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_plots_write_png_files(tmp_path):
    rows = [{"epoch": e, "loss": 1.0 / (e + 1), "acc": 0.2 * e} for e in range(5)]
    curves = plot_curves(rows, ["loss", "acc"], tmp_path / "plots" / "pretext.png", "TransRank pretext")
    recalls = {
        "pretrained": {"R@1": 0.31, "R@5": 0.5, "R@10": 0.6, "num_queries": 10},
        "random init": {"R@1": 0.1, "R@5": 0.2, "R@10": 0.3, "num_queries": 10},
    }
    bars = plot_recall_bars(recalls, tmp_path / "recall.png")
    accs = plot_accuracy_bars(
        {"pretrained": {"clip_acc": 0.5, "video_acc": 0.6}, "random init": {"clip_acc": 0.3, "video_acc": 0.35}},
        tmp_path / "acc.png",
    )
    for path in (curves, bars, accs):
        assert _is_png(path), path
    with pytest.raises(VidsslError, match="'top1'"):
        plot_curves(rows, ["top1"], tmp_path / "x.png", "x")
    with pytest.raises(VidsslError, match="lack"):
        plot_accuracy_bars({"m": {"clip_acc": 0.5}}, tmp_path / "y.png")
