"""Sync and Order (TransRank appendix A.1): label construction, the sampler's pixels, ψ, the MLP probe, the CLI."""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from vidssl.data.transforms import EvalTransform
from vidssl.errors import VidsslError
from vidssl.eval.temporal import (
    SYNC_SHIFTS,
    TemporalProbeConfig,
    TemporalTaskSampler,
    order_indices,
    sync_pair_indices,
    task_records,
    temporal_feature,
    temporal_task_features,
    train_mlp_probe,
)


@pytest.mark.parametrize("label", range(7))
def test_sync_b_starts_the_shift_times_the_clip_length_after_a(label):
    rng = np.random.default_rng(label)
    for _ in range(50):
        a, b = sync_pair_indices(100, clip_len=16, label=label, rng=rng)
        assert b[0] - a[0] == {-0.75: -12, -0.5: -8, -0.25: -4, 0.0: 0, 0.25: 4, 0.5: 8, 0.75: 12}[SYNC_SHIFTS[label]]
        assert np.array_equal(np.diff(a), np.ones(15)) and np.array_equal(np.diff(b), np.ones(15))
        assert min(a.min(), b.min()) >= 0 and max(a.max(), b.max()) <= 99


def test_sync_start_covers_every_start_that_keeps_both_clips_inside():
    rng = np.random.default_rng(0)
    starts = {int(sync_pair_indices(40, clip_len=16, label=6, rng=rng)[0][0]) for _ in range(400)}
    assert starts == set(range(0, 40 - 16 - 12 + 1))  # b starts 12 later and must end by frame 39


def test_sync_on_a_short_video_clamps_to_the_last_frame():
    a, b = sync_pair_indices(20, clip_len=16, label=6, rng=np.random.default_rng(0))
    assert a[0] == 0 and b[0] == 12 and b[-1] == 19 and (b[8:] == 19).all()


@pytest.mark.parametrize("label", [0, 1])
def test_order_halves_do_not_overlap_and_label_1_swaps_them(label):
    rng = np.random.default_rng(3)
    gaps = set()
    for _ in range(100):
        x = order_indices(60, half_len=8, label=label, rng=rng)
        first, second = (x[:8], x[8:]) if label == 0 else (x[8:], x[:8])
        assert np.array_equal(np.diff(first), np.ones(7)) and np.array_equal(np.diff(second), np.ones(7))
        assert second[0] >= first[-1] + 1  # x2 after x1, no shared frame
        assert x.min() >= 0 and x.max() <= 59
        gaps.add(int(second[0] - first[-1] - 1))
    assert len(gaps) > 5  # a random gap, not a fixed one


def test_order_gap_cap_and_short_video():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = order_indices(100, half_len=8, label=0, rng=rng, max_gap=2)
        assert x[8] - x[7] - 1 <= 2
    x = order_indices(10, half_len=8, label=0, rng=rng)
    assert list(x[:8]) == list(range(8)) and list(x[8:]) == [8, 9, 9, 9, 9, 9, 9, 9]


def test_task_records_balance_the_classes_over_a_split():
    records = [SimpleNamespace(path=f"v{i}", label=i % 3, num_frames=50) for i in range(7)]
    sync = task_records(records, "sync", pairs_per_video=2)
    assert Counter(c for r in sync for c in r.task_labels) == {k: 2 for k in range(7)}
    order = task_records(records, "order", pairs_per_video=4)
    assert Counter(c for r in order for c in r.task_labels) == {0: 14, 1: 14}
    assert [r.path for r in sync] == [r.path for r in records] and sync[4].label == 1


class IndexReader:
    """Frame i is a flat image of value i (as uint8): a clip's pixels spell its frame indices."""

    def read(self, path, indices):
        return np.stack([np.full((20, 24, 3), i, dtype=np.uint8) for i in np.asarray(indices)])


def test_sampler_pixels_are_the_frames_of_each_view():
    sampler = TemporalTaskSampler("sync", clip_len=8, transform=EvalTransform(16, resize_short=16))
    record = task_records([SimpleNamespace(path="v", label=0, num_frames=60)], "sync", pairs_per_video=3)[0]
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    clips = sampler(record, IndexReader(), rng_a)["clips"]
    assert clips.shape == (3, 2, 3, 8, 16, 16)
    expected = sampler.indices(record, rng_b).reshape(3, 2, 8)
    assert torch.equal(clips[:, :, 0, :, 5, 5], torch.from_numpy(expected.astype(np.uint8)))


class PixelBackbone(nn.Module):
    """``layer4`` is the input itself: ψ is then the per-frame mean of the normalised pixels."""

    def forward_features(self, x, layers):
        return {"layer4": x}


def test_sync_feature_is_psi_a_minus_psi_b_and_follows_the_shift():
    sampler = TemporalTaskSampler("sync", clip_len=8, transform=EvalTransform(16, resize_short=16))
    records = task_records([SimpleNamespace(path=f"v{i}", label=0, num_frames=80) for i in range(2)], "sync",
                           pairs_per_video=7)
    x, y = temporal_task_features(PixelBackbone(), records, IndexReader(), sampler, workers=0, progress=False)
    assert x.shape == (14, 3 * 8) and list(y) == [k % 7 for k in range(14)]
    # frame value v normalises to (v/255 - mean_c)/std_c: a - b in channel c is -offset/(255 std_c), every frame
    per_channel = x.reshape(14, 3, 8)
    assert np.allclose(per_channel, per_channel[:, :, :1], atol=1e-5)
    offsets = np.array([round(SYNC_SHIFTS[k % 7] * 8) for k in range(14)])
    ratio = per_channel[:, 0, 0] * -255.0
    nonzero = offsets != 0
    scale = ratio[nonzero] / offsets[nonzero]
    assert np.allclose(scale, scale[0], rtol=1e-4) and scale[0] > 0
    assert np.allclose(ratio[~nonzero], 0.0, atol=1e-4)


def test_temporal_feature_keeps_time_and_averages_space():
    tap = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float32).view(2, 3, 4, 2, 2)
    psi = temporal_feature(tap)
    assert psi.shape == (2, 12)
    assert psi[1, 5] == tap[1, 1, 1].mean()


def test_the_mlp_probe_separates_separable_features_and_sits_at_chance_on_noise():
    rng = np.random.default_rng(0)
    labels = np.arange(140) % 7
    signal = np.eye(7)[labels] * 3 + rng.normal(0, 0.3, (140, 7))
    cfg = TemporalProbeConfig(epochs=60, batch_size=32, lr=3e-3)
    good = train_mlp_probe(signal[:70], labels[:70], signal[70:], labels[70:], num_classes=7, cfg=cfg)
    assert good["accuracy"] == 1.0 and good["chance"] == pytest.approx(1 / 7)
    noise = rng.normal(size=(140, 7))
    bad = train_mlp_probe(noise[:70], labels[:70], noise[70:], labels[70:], num_classes=7, cfg=cfg)
    assert bad["accuracy"] < 0.45


def test_bad_task_and_odd_order_length_raise():
    with pytest.raises(VidsslError, match="sync, order"):
        TemporalTaskSampler("speed", transform=EvalTransform(16, resize_short=16))
    with pytest.raises(VidsslError, match="^clip_len: the order task splits the clip in two halves"):
        TemporalTaskSampler("order", clip_len=7, transform=EvalTransform(16, resize_short=16))


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    from videofixtures import make_ucf101

    return make_ucf101(tmp_path_factory.mktemp("ucf"))


@pytest.mark.parametrize("task", ["sync", "order"])
def test_cli_runs_the_task_on_random_init(task, ucf, tmp_path, capsys):
    from clitools import TINY, data_overrides, run_cli

    overrides = [o for o in TINY if not o.startswith("model.")] + [
        "model.backbone=tiny", "eval.frames=8", "eval.temporal.epochs=2", "eval.temporal.pairs_per_video=2"]
    code, _, err = run_cli(["eval", task, "random", "--config", "quickstart", *data_overrides(ucf), *overrides,
                            "--out", str(tmp_path)], capsys)
    assert code == 0, err
    import json

    results = json.loads((tmp_path / f"eval_{task}.json").read_text())
    assert results["task"] == task and 0.0 <= results["accuracy"] <= 1.0 and results["num_test"] > 0
