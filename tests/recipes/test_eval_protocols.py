"""The evaluation suite's shared parts: sliding and three-crop clips, the feature cache, per-layer retrieval,
finetune curves, the lr sweep and label subsets, ASLAN-style pairs; then every `vidssl eval` protocol from the CLI
on random init and on a pretrained run, each writing eval_<protocol>.json and its plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from videofixtures import TINY_RUN_OVERRIDES
from vidssl.cli.main import main
from vidssl.data.datasets import VideoRecord
from vidssl.data.sampling import sliding_clip_starts
from vidssl.data.transforms import EvalTransform, normalize_on_device
from vidssl.data.transforms.functional import three_crops
from vidssl.engine import TrainConfig
from vidssl.errors import VidsslError
from vidssl.eval.action_similarity import pairs_from_labels
from vidssl.eval.feature_cache import FeatureCache, backbone_fingerprint
from vidssl.eval.features import EvalClips, EvalClipSampler, eval_clip_indices, extract_features
from vidssl.eval.finetune import finetune
from vidssl.eval.retrieval import evaluate_retrieval
from vidssl.models import build_backbone
from vidssl.recipes.protocols import PROTOCOLS, runners
from vidssl.recipes.protocols.evaluate import data_overrides

# the tiny backbone at 1/8 width: nothing here depends on the width, and each run's checkpoints shrink 4x
TINY = [*TINY_RUN_OVERRIDES, "model.width=0.125"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class IndexReader:
    """Frame i of video v is a uniform image of value (i + 7·v) mod 256, v from the path "v<k>"; counts reads."""

    def __init__(self, size: int = 8):
        self.size = size
        self.reads = 0

    def read(self, path, indices):
        self.reads += 1
        indices = np.asarray(indices)
        offset = 7 * int(Path(path).name.lstrip("v"))
        values = ((indices + offset) % 256).astype(np.uint8)
        return np.broadcast_to(values[:, None, None, None], (len(indices), self.size, self.size, 3)).copy()


class MeanBackbone(nn.Module):
    """Taps that are plain means of the input, so features are known by hand; counts forward passes and layers."""

    num_features = 3

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.calls: list[tuple[str, ...]] = []

    def forward_features(self, x, layers):
        self.calls.append(tuple(layers))
        taps = {"pool": self.scale * x.mean(dim=(2, 3, 4)), "layer3": 2 * self.scale * x.mean(dim=(2, 3, 4))}
        return {name: taps[name] for name in layers}


def records_of(lengths, labels=None) -> list[VideoRecord]:
    labels = labels if labels is not None else [0] * len(lengths)
    return [VideoRecord(f"v{k}", int(label), n, 25.0, 8, 8) for k, (n, label) in enumerate(zip(lengths, labels))]


def expected_feature(frame_values: np.ndarray) -> np.ndarray:
    """The MeanBackbone ``pool`` feature of clips whose frames have these uniform values."""
    clip = torch.from_numpy(np.asarray(frame_values, dtype=np.uint8)).view(1, 1, -1, 1, 1).expand(1, 3, -1, 1, 1)
    return normalize_on_device(clip.contiguous()).mean(dim=(2, 3, 4))[0].numpy()


# --------------------------------------------------------------------------- sliding clips, three crops


@pytest.mark.parametrize("num_frames", [1, 10, 15, 16, 17, 23, 24, 25, 40, 41, 100])
@pytest.mark.parametrize("clip_len,stride", [(16, 8), (4, 2), (8, 8), (5, 3)])
def test_sliding_starts_are_every_clip_that_fits(num_frames, clip_len, stride):
    oracle = [s for s in range(0, num_frames) if s % stride == 0 and s + clip_len <= num_frames] or [0]
    assert sliding_clip_starts(num_frames, clip_len=clip_len, stride=stride).tolist() == oracle


def test_sliding_clip_indices_follow_interval_and_loop_short_videos():
    indices = eval_clip_indices(40, num_clips=99, clip_len=4, interval=2, stride=8)
    # span (4 - 1) * 2 + 1 = 7: starts 0, 8, 16, 24, 32 (32 + 7 <= 40)
    assert indices.tolist() == [[s, s + 2, s + 4, s + 6] for s in (0, 8, 16, 24, 32)]
    assert eval_clip_indices(3, num_clips=1, clip_len=4, interval=1, stride=2).tolist() == [[0, 1, 2, 0]]
    with pytest.raises(VidsslError, match="stride"):
        EvalClipSampler(stride=0, transform=EvalTransform(8, resize_short=8))


def test_sliding_features_average_every_clip_of_each_video():
    records = records_of([40, 16, 9])
    backbone = MeanBackbone()
    clips = EvalClips(clip_len=16, interval=1, size=8, resize_short=8, stride=8)
    feats = extract_features(backbone, records, IndexReader(), clips, layers=("pool",), batch_size=4, workers=0,
                             progress=False)
    for row, record in enumerate(records):
        offset = 7 * row
        starts = sliding_clip_starts(record.num_frames, clip_len=16, stride=8)
        per_clip = [expected_feature((np.arange(s, s + 16) % record.num_frames + offset) % 256) for s in starts]
        np.testing.assert_allclose(feats.by_layer["pool"][row], np.mean(per_clip, axis=0), rtol=1e-5, atol=1e-6)
    assert [len(c) for c in backbone.calls] == [1, 1, 1]  # one video per batch: 3 passes


def test_three_crops_sit_at_the_start_centre_and_end_of_the_long_side():
    cols = np.broadcast_to(np.arange(20, dtype=np.uint8)[None, None, :, None], (2, 6, 20, 3))
    left, centre, right = three_crops(cols, 4)
    assert [v[0, 0, :, 0].tolist() for v in (left, centre, right)] == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert all(v.shape == (2, 4, 4, 3) for v in (left, centre, right))
    rows = np.broadcast_to(np.arange(20, dtype=np.uint8)[None, :, None, None], (1, 20, 6, 3))
    top, middle, bottom = three_crops(rows, 4)
    assert [v[0, :, 0, 0].tolist() for v in (top, middle, bottom)] == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    portrait_cols = np.broadcast_to(np.arange(6, dtype=np.uint8)[None, None, :, None], (1, 20, 6, 3))
    assert [v[0, 0, :, 0].tolist() for v in three_crops(portrait_cols, 4)] == [[1, 2, 3, 4]] * 3  # centred across


def test_three_crop_clips_are_clip_major_and_count_as_clips():
    class ColumnReader:
        def read(self, path, indices):
            frames = np.zeros((len(indices), 8, 24, 3), dtype=np.uint8)
            frames[:] = np.arange(24, dtype=np.uint8)[None, None, :, None]
            frames[..., 1] = np.asarray(indices, dtype=np.uint8)[:, None, None]  # green channel = frame index
            return frames

    sampler = EvalClipSampler(num_clips=2, clip_len=2, transform=EvalTransform(8, resize_short=8, crops=3))
    clips = sampler(VideoRecord("v0", 0, 10, 25.0, 8, 24), ColumnReader())["clips"]
    assert clips.shape == (6, 3, 2, 8, 8)
    starts = eval_clip_indices(10, num_clips=2, clip_len=2, interval=1)[:, 0]
    for view in range(6):
        clip, crop = divmod(view, 3)
        assert clips[view, 0, 0, 0, 0].item() == (0, 8, 16)[crop]  # red = column of the crop's left edge
        assert clips[view, 1, 0, 0, 0].item() == starts[clip]
    with pytest.raises(VidsslError, match="crops"):
        EvalTransform(8, resize_short=8, crops=2)


# --------------------------------------------------------------------------- feature cache


def test_cached_features_are_read_back_without_running_the_backbone(tmp_path):
    records = records_of([20, 12, 30], labels=[0, 1, 1])
    clips = EvalClips(num_clips=2, clip_len=4, size=8, resize_short=8)
    cache = FeatureCache(tmp_path / "cache")
    kwargs = dict(batch_size=2, workers=0, progress=False, cache=cache)
    backbone = MeanBackbone()
    first = extract_features(backbone, records, IndexReader(), clips, layers=("pool",), **kwargs)
    passes = len(backbone.calls)
    again = extract_features(backbone, records, IndexReader(), clips, layers=("pool",), **kwargs)
    assert len(backbone.calls) == passes  # nothing recomputed
    np.testing.assert_array_equal(again.by_layer["pool"], first.by_layer["pool"])
    assert again.labels.tolist() == [0, 1, 1] and again.valid.all()

    both = extract_features(backbone, records, IndexReader(), clips, layers=("pool", "layer3"), **kwargs)
    assert set(backbone.calls[passes:]) == {("layer3",)}  # only the missing layer is computed
    np.testing.assert_allclose(both.by_layer["layer3"], 2 * first.by_layer["pool"], rtol=1e-6)

    with torch.no_grad():
        backbone.scale.fill_(3.0)  # other weights: a different entry
    changed = extract_features(backbone, records, IndexReader(), clips, layers=("pool",), **kwargs)
    np.testing.assert_allclose(changed.by_layer["pool"], 3 * first.by_layer["pool"], rtol=1e-6)

    calls = len(backbone.calls)
    extract_features(backbone, records, IndexReader(), EvalClips(num_clips=3, clip_len=4, size=8, resize_short=8),
                     layers=("pool",), **kwargs)
    assert len(backbone.calls) > calls  # other clips: computed, not read from the 2-clip entry


def test_an_unreadable_cache_entry_is_recomputed(tmp_path):
    records = records_of([20, 12])
    clips = EvalClips(num_clips=2, clip_len=4, size=8, resize_short=8)
    cache = FeatureCache(tmp_path)
    backbone = MeanBackbone()
    first = extract_features(backbone, records, IndexReader(), clips, workers=0, progress=False, cache=cache)
    for f in tmp_path.rglob("pool.npy"):
        f.write_bytes(b"garbage")
    calls = len(backbone.calls)
    second = extract_features(backbone, records, IndexReader(), clips, workers=0, progress=False, cache=cache)
    assert len(backbone.calls) > calls
    np.testing.assert_array_equal(second.by_layer["pool"], first.by_layer["pool"])


def test_backbone_fingerprint_changes_with_any_weight():
    torch.manual_seed(0)
    a = build_backbone("tiny")
    b = build_backbone("tiny")
    b.load_state_dict(a.state_dict())
    assert backbone_fingerprint(a) == backbone_fingerprint(b)
    with torch.no_grad():
        next(iter(b.parameters())).view(-1)[0] += 1e-3
    assert backbone_fingerprint(a) != backbone_fingerprint(b)


# --------------------------------------------------------------------------- retrieval per layer, finetune curves


def test_per_layer_recalls_equal_retrieval_at_each_layer():
    torch.manual_seed(0)
    backbone = build_backbone("tiny")
    train = records_of([20, 24, 28, 32, 36, 40], labels=[0, 0, 1, 1, 2, 2])
    test = [VideoRecord(f"v{k}", k % 3, 22 + k, 25.0, 8, 8) for k in range(6, 10)]
    clips = EvalClips(num_clips=2, clip_len=4, size=8, resize_short=8)
    common = dict(workers=0, progress=False, ks=(1, 2, 5))
    combined = evaluate_retrieval(backbone, train, test, IndexReader(), clips, layer="pool",
                                  per_layer=("layer3", "layer4"), **common)
    for tap in ("layer3", "layer4"):
        alone = evaluate_retrieval(backbone, train, test, IndexReader(), clips, layer=tap, **common)
        assert combined["per_layer"][tap] == {k: alone[k] for k in combined["per_layer"][tap]}


def test_finetune_tests_on_the_curve_epochs_only(tmp_path):
    torch.manual_seed(0)
    train = records_of([20, 22, 24, 26], labels=[0, 1, 0, 1])
    test = [VideoRecord(f"v{k}", k % 2, 20, 25.0, 8, 8) for k in range(4, 6)]
    cfg = TrainConfig(epochs=5, batch_size=2, lr=0.01, workers=0, progress=False, device="cpu", schedule="constant")
    tuned = finetune(build_backbone("tiny"), train, test, IndexReader(), num_classes=2, cfg=cfg, run_dir=tmp_path,
                     clips=EvalClips(num_clips=1, clip_len=4, size=8, resize_short=8), workers=0, progress=False,
                     curve_every=2, return_model=True)
    tested = [row["epoch"] for row in tuned["history"] if "test_video_acc" in row]
    assert tested == [tuned["history"][i]["epoch"] for i in (1, 3, 4)]  # epochs 2, 4 and the last
    assert all("acc" in row for row in tuned["history"])
    assert isinstance(tuned["model"], nn.Module)
    with pytest.raises(VidsslError, match="curve_every"):
        finetune(build_backbone("tiny"), train, test, IndexReader(), num_classes=2, cfg=cfg, run_dir=tmp_path / "x",
                 clips=EvalClips(num_clips=1, clip_len=4, size=8, resize_short=8), workers=0, progress=False,
                 curve_every=-1)


def test_lr_sweep_reports_every_lr_and_keeps_the_best(tmp_path, monkeypatch):
    accuracy = {0.01: 0.2, 0.02: 0.5, 0.04: 0.4}
    seen = []

    def fake_finetune(cfg, backbone, data, run_dir, *, lr=None, **_):
        seen.append((lr, Path(run_dir).name))
        return {"video_acc": accuracy[lr], "clip_acc": accuracy[lr] / 2, "history": [{"epoch": 1, "acc": 0.1}],
                "video_probs": None, "num_test_videos": 3}

    monkeypatch.setattr(runners, "run_finetune", fake_finetune)
    monkeypatch.setattr(runners, "load_eval_data", lambda cfg: {})
    from vidssl.recipes.configs import load_run_config

    cfg = load_run_config("quickstart", ["eval.finetune.lr_sweep=[0.01,0.02,0.04]"])
    run = runners.EvalRun(out=tmp_path, name="m")
    results = runners.finetune(cfg, None, run)
    assert [lr for lr, _ in seen] == [0.01, 0.02, 0.04]
    assert [name for _, name in seen] == ["finetune_lr0.01", "finetune_lr0.02", "finetune_lr0.04"]
    assert results["best_lr"] == 0.02 and results["video_acc"] == 0.5
    assert results["lr_sweep"]["0.04"] == {"video_acc": 0.4, "clip_acc": 0.2}
    assert "history" not in results and "video_probs" not in results
    for name in results["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


def test_grid_queries_take_one_video_of_evenly_spread_classes():
    labels = np.array([0, 0, 1, 2, 2, 3, 4, 5, 5, 6])
    valid = np.ones(10, dtype=bool)
    valid[0] = False
    chosen = runners.grid_queries(labels, valid, 3)
    assert chosen == [1, 5, 9]  # classes 0, 3, 6: the first valid video of each
    assert runners.grid_queries(labels, valid, 50) == [1, 2, 3, 5, 6, 7, 9]
    assert runners.grid_queries(labels, valid, 0) == []


# --------------------------------------------------------------------------- ASLAN-style pairs from labels


def test_pairs_from_many_classes_keep_each_folds_classes_unseen():
    labels = np.repeat(np.arange(25), 4)
    pairs, kept_apart = pairs_from_labels(labels, [f"v{i}" for i in range(100)], pairs_per_fold=6, seed=3)
    assert kept_apart == "classes"
    classes_of = [set(labels[pairs.pairs[pairs.fold == k]].ravel()) for k in range(10)]
    for k in range(10):
        assert not classes_of[k] & set().union(*(classes_of[j] for j in range(10) if j != k))
        assert pairs.same[pairs.fold == k].sum() == 3 and (~pairs.same[pairs.fold == k]).sum() == 3
    assert (pairs.same == (labels[pairs.pairs[:, 0]] == labels[pairs.pairs[:, 1]])).all()
    again, _ = pairs_from_labels(labels, [f"v{i}" for i in range(100)], pairs_per_fold=6, seed=3)
    np.testing.assert_array_equal(again.pairs, pairs.pairs)


def test_pairs_from_few_classes_keep_each_folds_videos_unseen():
    labels = np.repeat(np.arange(4), 30)
    pairs, kept_apart = pairs_from_labels(labels, [f"v{i}" for i in range(120)], pairs_per_fold=10, seed=0)
    assert kept_apart == "videos"
    videos_of = [set(pairs.pairs[pairs.fold == k].ravel()) for k in range(10)]
    for k in range(10):
        assert not videos_of[k] & set().union(*(videos_of[j] for j in range(10) if j != k))
        assert pairs.same[pairs.fold == k].sum() == 5
    assert (pairs.pairs[:, 0] != pairs.pairs[:, 1]).all()
    with pytest.raises(VidsslError, match="fold"):
        pairs_from_labels(np.arange(12) % 3, [f"v{i}" for i in range(12)], pairs_per_fold=4)


def test_data_options_go_to_the_protocols_own_dataset_keys():
    # --data without --annotations: the config's split files belong to the config's data, not to /y
    assert data_overrides("scenes", "/y", None, None) == ["eval.scenes.root=/y", "eval.scenes.annotations=null"]
    assert data_overrides("retrieval", "/f", "folder", None) == ["eval.root=/f", "eval.format=folder",
                                                                 "eval.annotations=null"]
    assert data_overrides("similarity", "/a", None, "/a/ann") == ["eval.similarity.root=/a",
                                                                   "eval.similarity.annotations=/a/ann"]
    assert data_overrides("retrieval", "/u", "ucf101", "/s") == ["eval.root=/u", "eval.format=ucf101",
                                                                  "eval.annotations=/s"]
    with pytest.raises(VidsslError, match="--format"):
        data_overrides("linear", "/u", None, None)
    assert data_overrides("tsne", None, None, None) == []


# --------------------------------------------------------------------------- every protocol from the CLI

SYNTH = ["data.synth_per_class=3", "data.cache_short_side=32", "train.workers=0", "eval.linear.epochs=3",
         "eval.temporal.epochs=3", "eval.finetune.curve_every=1", "eval.finetune.semi_fractions=[0.5]",
         "eval.tsne_perplexity=5"]
EXPECTED_PLOTS = {
    "retrieval": {"retrieval_recall", "retrieval_grid", "retrieval_per_layer"},
    "linear": {"linear_loss"},
    "finetune": {"finetune_curves"},
    "semi": {"semi_accuracy"},
    "sync": {"sync_loss"},
    "order": {"order_loss"},
    "motion": {"motion_curves"},
    "scenes": {"scenes_confusion", "scenes_per_layer"},
    "similarity": {"similarity_roc"},
    "tsne": {"tsne"},
}


def test_the_parser_offers_exactly_the_protocols_there_are():
    from vidssl.cli.main import make_parser

    assert all(name == record.name for name, record in PROTOCOLS.items())
    parser = make_parser()
    eval_help = parser._subparsers._group_actions[0].choices["eval"].format_help()
    assert "one of " + ", ".join(PROTOCOLS) in " ".join(eval_help.split())
    for name in PROTOCOLS:
        assert parser.parse_args(["eval", name, "random"]).protocol == name
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "bogus", "random"])


def test_the_parser_lists_the_protocols_without_importing_torch():
    import subprocess
    import sys

    check = "import sys; from vidssl.cli.main import make_parser; make_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout == "False\n"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    run = tmp_path_factory.mktemp("quickstart") / "run"
    assert main(["pretrain", "quickstart", *TINY, *SYNTH, "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def aslan(tmp_path_factory):
    from aslan_fixtures import write_aslan_fixture

    return write_aslan_fixture(tmp_path_factory.mktemp("aslan"), num_classes=4, videos_per_class=3, pairs_per_fold=4,
                               seed=0)


def protocol_args(protocol: str, aslan) -> list[str]:
    if protocol != "similarity":
        return []
    videos, annotations = aslan
    return ["--data", str(videos), "--annotations", str(annotations)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_runs_on_random_init_and_a_quickstart_run(protocol, pretrained, aslan, tmp_path, capsys):
    for backbone, out in (("random", tmp_path / "random"), (str(pretrained), tmp_path / "pretrained")):
        config = ["--config", "quickstart", *TINY, *SYNTH] if backbone == "random" else []
        code = main(["eval", protocol, backbone, *config, *protocol_args(protocol, aslan), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 0, err
        results = json.loads((out / f"eval_{protocol}.json").read_text())
        assert results["protocol"] == protocol
        assert {Path(p).stem for p in results["plots"]} == EXPECTED_PLOTS[protocol]
        assert {Path(p).name for p in results["plots"]} <= set(PROTOCOLS[protocol].figures)
        for name in results["plots"]:
            assert (out / name).read_bytes()[:8] == PNG_MAGIC


def test_end_to_end_linear_probe_moves_only_the_linear_layer(tmp_path):
    from vidssl.eval.finetune import default_finetune_augment
    from vidssl.eval.linear_probe import FrozenLinear, linear_probe_end_to_end

    torch.manual_seed(0)
    backbone = build_backbone("tiny")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    train = records_of([20, 22, 24, 26], labels=[0, 1, 0, 1])
    test = [VideoRecord(f"v{k}", k % 2, 20, 25.0, 8, 8) for k in range(4, 6)]
    clips = EvalClips(num_clips=2, clip_len=4, size=8, resize_short=8)
    cfg = TrainConfig(epochs=2, batch_size=2, lr=0.5, workers=0, progress=False, device="cpu", schedule="cosine")
    seen = {}
    original_train = FrozenLinear.train

    def spy_train(self, mode=True):
        result = original_train(self, mode)
        seen.setdefault("modes", []).append((mode, self.backbone.training))
        seen["model"] = self
        return result

    FrozenLinear.train = spy_train
    try:
        results = linear_probe_end_to_end(backbone, train, test, IndexReader(), clips, num_classes=2, train_cfg=cfg,
                                          run_dir=tmp_path, augment=default_finetune_augment(8, flip_p=0.0),
                                          workers=0, progress=False)
    finally:
        FrozenLinear.train = original_train
    model = seen["model"]
    assert any(mode for mode, _ in seen["modes"]) and not any(bn for _, bn in seen["modes"])  # backbone never trains
    for key, value in model.backbone.state_dict().items():  # weights and BN running statistics unchanged
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    for key, value in backbone.state_dict().items():  # the caller's backbone is untouched too
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    stats = extract_features(backbone, train, IndexReader(), clips, workers=0, progress=False)
    np.testing.assert_allclose(model.mean.numpy(), stats.by_layer["pool"].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert results["mode"] == "end_to_end" and len(results["history"]) == 2 and results["num_test"] == 2
    assert 0.0 <= results["accuracy"] <= 1.0


def test_linear_end_to_end_from_the_cli_and_a_bad_mode(pretrained, tmp_path, capsys):
    code = main(["eval", "linear", str(pretrained), "eval.linear.mode=end_to_end", "eval.linear.epochs=1",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "eval_linear.json").read_text())
    assert results["mode"] == "end_to_end" and len(results["history"]) == 1
    assert main(["eval", "linear", str(pretrained), "eval.linear.mode=sideways", "--out", str(tmp_path)]) == 2
    assert "eval.linear.mode: expected one of features, end_to_end" in capsys.readouterr().err


def test_eval_takes_a_run_by_its_folder_backbone_pt_or_last_pt(pretrained, tmp_path, capsys):
    """Each name of a run gives the same backbone and config; without --out the results go to the run folder."""
    recalls = {}
    for name, source in (("folder", pretrained), ("backbone", pretrained / "backbone.pt"),
                         ("last", pretrained / "checkpoints" / "last.pt")):
        out = tmp_path / name
        assert main(["eval", "retrieval", str(source), "--out", str(out)]) == 0, capsys.readouterr().err
        results = json.loads((out / "eval_retrieval.json").read_text())
        recalls[name] = {key: value for key, value in results.items() if key.startswith("R@")}
    assert recalls["folder"] == recalls["backbone"] == recalls["last"]
    assert main(["eval", "tsne", str(pretrained / "checkpoints" / "last.pt")]) == 0, capsys.readouterr().err
    results = json.loads((pretrained / "eval_tsne.json").read_text())
    assert pretrained.name in results["models"]  # named by the run folder, not by checkpoints/
