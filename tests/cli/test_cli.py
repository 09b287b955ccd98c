"""The command line end to end: bad input → one line and exit 2; a tiny pretrain → eval round trip;
the paper-scale configs build and run two steps with CPU-sized overrides."""
import csv
import json
import os
from pathlib import Path

import pytest
import torch

from clitools import TINY, assert_one_line_error, data_overrides, run_cli
from videofixtures import make_ucf101
from vidssl.cli.main import main
from vidssl.errors import VidsslError
from vidssl.recipes.configs import load_run_config, packaged_config_names


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"))


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(["pretrain", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "nope.yaml", "config file not found")


@pytest.mark.parametrize(
    "override, needles",
    [
        ("train.lrr=0.1", ("'train.lrr'", "valid keys", "lr")),
        ("train.epochs=many", ("'train.epochs'", "expected an integer")),
        ("method.margin=[1,2]", ("'method.margin'", "expected a number")),
        ("nosection.key=1", ("'nosection'",)),
    ],
)
def test_bad_config_keys_and_types(tmp_path, capsys, override, needles):
    code, _, err = run_cli(["pretrain", "quickstart", override, "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, *needles)


def test_nonexistent_data_root(tmp_path, capsys):
    args = ["pretrain", "quickstart", "data.format=folder", f"data.root={tmp_path / 'missing'}",
            "--out", str(tmp_path / "r")]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "missing")


def test_empty_dataset(tmp_path, capsys):
    (tmp_path / "empty" / "SomeClass").mkdir(parents=True)
    args = ["pretrain", "quickstart", "data.format=folder", f"data.root={tmp_path / 'empty'}",
            "--out", str(tmp_path / "r")]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "empty")


def test_malformed_split_file_and_unknown_class(tmp_path, capsys):
    fixture = make_ucf101(tmp_path / "bad", classes=("Basketball", "Biking"), groups=2, clips=1)
    trainlist = fixture.annotations / "trainlist01.txt"
    good = trainlist.read_text()
    trainlist.write_text(good + "this line has\ttoo many fields 1 2\n")
    args = ["pretrain", "quickstart", *data_overrides(fixture), "--out", str(tmp_path / "r")]
    code, _, err = run_cli(args, capsys)
    lines = good.count("\n")
    assert_one_line_error(code, err, f"trainlist01.txt:{lines + 1}")
    trainlist.write_text(good + "Juggling/v_Juggling_g01_c01.avi 3\n")
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, f"trainlist01.txt:{lines + 1}", "Juggling")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(VidsslError):
        main(["--debug", "pretrain", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run")])


@pytest.mark.parametrize("modality", ["rgb", "rgbdiff"])
def test_pretrain_then_eval_round_trip(ucf, tmp_path, capsys, modality):
    run = tmp_path / "run"
    args = ["pretrain", "quickstart", *data_overrides(ucf), *TINY, f"model.modality={modality}", "--out", str(run)]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.pt").is_file()
    assert (run / "logs" / "metrics.csv").read_text().count("\n") == 2  # header + one epoch
    state = torch.load(run / "backbone.pt", weights_only=True)
    assert state["backbone"] == "tiny"

    code, out, err = run_cli(["eval", "retrieval", str(run)], capsys)
    assert code == 0, err
    results = json.loads((run / "eval_retrieval.json").read_text())
    assert set(results) >= {"R@1", "R@5", "R@10", "R@20", "R@50"}
    assert all(0.0 <= results[f"R@{k}"] <= 1.0 for k in (1, 5, 10, 20, 50))
    assert results["num_queries"] == len(ucf.expected["test"]) and results["num_gallery"] == len(ucf.expected["train"])
    # 4 test queries, 8 gallery videos over 3 classes: at k >= 8 every query finds its class
    assert results["R@10"] == 1.0

    code, out, err = run_cli(["eval", "finetune", str(run)], capsys)
    assert code == 0, err
    tuned = json.loads((run / "eval_finetune.json").read_text())
    assert 0.0 <= tuned["video_acc"] <= 1.0 and tuned["num_test_videos"] == len(ucf.expected["test"])

    code, out, err = run_cli(["eval", "linear", str(run), "eval.linear.epochs=3"], capsys)
    assert code == 0, err
    probe = json.loads((run / "eval_linear.json").read_text())
    assert 0.0 <= probe["accuracy"] <= 1.0 and probe["num_test"] == len(ucf.expected["test"])
    assert probe["num_train"] == len(ucf.expected["train"]) and len(probe["history"]) == 3
    code, out, err = run_cli(["eval", "linear", str(run), "--fuse", str(run)], capsys)
    assert code != 0 and "--fuse works with retrieval and finetune only" in err


def test_corrupt_videos_are_skipped_and_all_corrupt_is_an_error(tmp_path, capsys):
    fixture = make_ucf101(tmp_path / "ds", classes=("Basketball", "Biking"), groups=2, clips=2)
    victim = fixture.expected["train"][0][0]
    with open(victim, "r+b") as f:  # keep the header, destroy the frames
        f.seek(2048)
        f.write(b"\x00" * 100000)
    args = ["pretrain", "quickstart", *data_overrides(fixture), *TINY, "--out", str(tmp_path / "run")]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    for path, _ in fixture.expected["train"] + fixture.expected["test"]:
        with open(path, "wb") as f:
            f.write(b"not a video at all")
    code, _, err = run_cli(args[:-1] + [str(tmp_path / "run2")], capsys)
    assert_one_line_error(code, err)


PRESETS = [name for name in packaged_config_names() if name != "quickstart"]


def test_the_presets_are_the_papers():
    """Each preset's method section is what its paper row says, after following its base chain."""
    from vidssl.recipes.configs import load_run_config

    expect = {
        "transrank_t_r3d18": (("1x", "2x", "rev"), "rank", "none", "none", "mlp", "r3d_18"),
        "transrank_t_r2plus1d18": (("1x", "2x", "rev"), "rank", "none", "none", "mlp", "r2plus1d_18"),
        "transrank_st_r3d18": (("1x", "2x", "rev", "rev-2x"), "rank", "rank", "rank", "mlp", "r3d_18"),
        "transrank_st_r2plus1d18": (("1x", "2x", "rev", "rev-2x"), "rank", "rank", "rank", "mlp", "r2plus1d_18"),
        "transcls_r3d18": (("1x", "2x", "rev"), "ce", "none", "none", "mlp", "r3d_18"),
        "speednet_r3d18": (("1x", "2x"), "ce", "none", "none", "mlp", "r3d_18"),
        "rotnet3d_r3d18": (("1x",), "none", "none", "cls", "mlp", "r3d_18"),
        "table3/rank_1x_2x_rev_shuffle": (("1x", "2x", "rev", "shuffle"), "rank", "none", "none", "fc", "r3d_18"),
        "table3/cls_1x_2x_rev_rev2x": (("1x", "2x", "rev", "rev-2x"), "ce", "none", "none", "fc", "r3d_18"),
    }
    for name, (transforms, loss, aspect, rotation, head, backbone) in expect.items():
        cfg = load_run_config(name)
        m = cfg.method
        assert (m.transforms, m.loss, m.aspect, m.rotation, m.head, cfg.model.backbone) == (
            transforms, loss, aspect, rotation, head, backbone), name
        assert (cfg.clip.frames, cfg.clip.size, cfg.train.batch_size, cfg.train.lr) == (16, 112, 64, 0.1), name
        f = cfg.eval.finetune
        assert (f.lr, f.batch_size, f.epochs, f.dropout, f.weight_decay, f.momentum) == (0.16, 128, 100, 0.5, 1e-4, 0.9)
    assert load_run_config("transrank_st_r3d18_rgbdiff").model.modality == "rgbdiff"
    assert load_run_config("transrank_st_r3d18").train.epochs == 200
    assert load_run_config("table3/rank_1x_2x").train.epochs == 100
    assert len([p for p in PRESETS if p.startswith("table3/")]) == 12


def test_the_sro_presets_are_the_papers():
    """SRO §IV-D and the Table VI ladder / Table V, after following the base chains."""
    full = load_run_config("sro_r3d18")
    m, t = full.method, full.train
    assert (m.num_segments, m.min_segment_length, tuple(m.rate_range)) == (3, 3, (1, 8))
    assert (m.order, m.rate, m.contrast, m.view_synthesis) == (True, "regression", "shuffle", "stage")
    assert (m.order_weight, m.rate_weight, m.contrast_weight) == (1.0, 0.3, 1.0)
    assert (m.key_momentum, m.temperature, m.queue_size, m.projection_dim) == (0.999, 0.07, 4096, 128)
    assert (t.batch_size, t.epochs, t.lr, t.momentum, t.weight_decay) == (16, 300, 1e-3, 0.9, 5e-4)
    assert round(t.milestones[0] * t.epochs) == 200 and t.schedule == "multistep"
    assert (full.clip.frames, full.clip.size, tuple(full.clip.resize)) == (16, 112, (128, 171))
    k400 = load_run_config("sro_r3d18_k400").train
    assert (k400.batch_size, k400.epochs, round(k400.milestones[0] * k400.epochs)) == (32, 30, 20)
    ladder = {  # Table VI: order, rate, contrast, shuffle, view
        "sro_ladder/order": (True, "none", "none", "none"),
        "sro_ladder/order_rate": (True, "regression", "none", "none"),
        "sro_ladder/contrast_cosine": (True, "regression", "cosine", "none"),
        "sro_ladder/contrast_shuffle": (True, "regression", "shuffle", "none"),
        "sro_ladder/view_synthesis": (True, "regression", "shuffle", "stage"),
        "sro_ladder/rate_classification": (True, "classification", "shuffle", "stage"),
        "moco_r3d18": (False, "none", "cosine", "none"),
    }
    for name, expected in ladder.items():
        cfg = load_run_config(name)
        assert (cfg.method.order, cfg.method.rate, cfg.method.contrast, cfg.method.view_synthesis) == expected, name
        if name.startswith("sro_ladder/"):
            assert cfg.model.backbone == "r2plus1d_18", name
    assert load_run_config("moco_r3d18").method.shuffle_segments is False
    assert load_run_config("sro_view_synthesis").method.name == "sro_view_synthesis"
    assert [load_run_config(n).model.backbone for n in ("sro_r3d18", "sro_r2plus1d18", "sro_c3d", "sro_s3dg")] == [
        "r3d_18", "r2plus1d_18", "c3d", "s3dg"]
    vcop = load_run_config("vcop_r3d10")  # VCOP's code: 3 clips of 16 frames 8 apart, R3D with 1 block per stage
    assert (vcop.method.name, vcop.method.num_clips, vcop.method.clip_interval, vcop.method.head_hidden) == (
        "vcop", 3, 8, 512)
    assert (vcop.model.backbone, vcop.model.width, load_run_config("vcop_c3d").model.backbone) == ("tiny", 1.0, "c3d")
    assert (vcop.train.batch_size, vcop.train.epochs, vcop.train.lr, vcop.train.weight_decay) == (8, 300, 1e-3, 5e-4)
    s3dg = load_run_config("sro_s3dg")  # Table VIII: S3D-G, 64 frames, 152 x 152
    assert (s3dg.clip.frames, s3dg.clip.size, s3dg.eval.frames, s3dg.eval.size) == (64, 152, 64, 152)
    assert s3dg.method == full.method and s3dg.train == full.train


def test_the_corp_presets_are_the_papers():
    """CORP §4.1 and Tables 5-6, after following the base chains."""
    m = load_run_config("corp_m_r3d50")
    assert (m.method.name, m.method.num_clips, m.method.task, m.method.attention) == ("corp_m", 4, "corp", "decoupling")
    assert (m.method.relation_heads, m.method.relation_layers, m.method.projection_depth) == (128, 2, 3)
    assert (m.model.backbone, m.data.format, m.clip.frames, m.clip.base_interval) == ("r3d_50", "sthsth", 16, 1)
    t = m.train
    assert (t.optimizer, t.lr, t.lr_scaling, t.momentum, t.weight_decay, t.batch_size) == (
        "lars", 1.0, "linear", 0.9, 1e-6, 64)
    assert t.schedule == "cosine" and (t.warmup_fraction, t.warmup_epochs) == (0.05, 0.0) and t.epochs == 200
    assert (m.eval.linear.lr, m.eval.linear.epochs, m.eval.linear.weight_decay, m.eval.frames) == (0.16, 100, 0.0, 32)
    f = load_run_config("corp_f_r3d50")
    assert (f.method.name, f.method.num_clips, f.method.order, f.method.temperature) == ("corp_f", 2, True, 0.1)
    assert (f.data.format, f.clip.base_interval, f.train.batch_size) == ("kinetics", 2, 512)
    assert load_run_config("simclr_r3d50").method.order is False
    ablations = {
        "corp_ablation/order_only": ("task", "order"), "corp_ablation/contrast_only": ("task", "contrast"),
        "corp_ablation/k2": ("num_clips", 2), "corp_ablation/k3": ("num_clips", 3),
        "corp_ablation/mixed_attention": ("attention", "mixed"), "corp_ablation/mlp1": ("relation_layers", 1),
    }
    for name, (key, value) in ablations.items():
        cfg = load_run_config(name)
        assert getattr(cfg.method, key) == value and cfg.data.format == "sthsth", name
    assert [load_run_config(f"corp_ablation/k{k}").train.epochs for k in (2, 3)] == [400, 267]  # equal compute
    simclr_ssv2 = load_run_config("corp_ablation/simclr_sthsth")
    assert (simclr_ssv2.method.name, simclr_ssv2.method.order, simclr_ssv2.data.format) == ("corp_f", False, "sthsth")


PRESET_WIDTH = 0.03125  # channel multiplier for the preset smoke runs (64 → 2 channels in layer1)


@pytest.mark.parametrize("config", PRESETS)
def test_every_preset_builds_and_runs_two_steps(ucf, tmp_path, capsys, config):
    overrides = [o for o in TINY if not o.startswith("model.")]
    if load_run_config(config).method.name.startswith("sro"):
        # 3 segments of >= 3 frames need 9; a queue that is a multiple of the batch; a one-epoch view stage
        overrides += ["clip.frames=9", "method.queue_size=8", "method.view.epochs=1"]
    if load_run_config(config).method.name.startswith("corp"):
        overrides += ["train.warmup_fraction=0"]  # the paper's 5 % warm-up is 10 of 200 epochs; this run has 1
    if load_run_config(config).method.name == "sts":
        overrides += ["clip.frames=8"]  # S3D-G's layer4 needs at least 5 frames
    # the preset's backbone at 1/32 width: the same modules and heads, but checkpoints of a few MB instead of
    # 0.4-0.8 GB per run (57 full-width R3D-50 / R3D-18 runs wrote 22 GB and filled the disk)
    overrides += [f"model.width={PRESET_WIDTH}"]
    run = tmp_path / "run"
    # 8 training videos, batch 4 → two steps
    args = ["pretrain", config, *data_overrides(ucf), *overrides, "train.batch_size=4", "--out", str(run)]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1
    row = state["history"][0]
    assert row["samples_per_s"] > 0 and row["skipped"] == 0


def test_overrides_may_follow_the_options():
    from vidssl.cli.main import make_parser, parse_args

    parser = make_parser()
    args = parse_args(parser, ["eval", "finetune", "random", "eval.frames=4", "--config", "quickstart", "train.lr=0.5",
                               "--out", "x", "eval.size=16"])
    assert args.overrides == ["eval.frames=4", "train.lr=0.5", "eval.size=16"]
    assert (args.config, args.out) == ("quickstart", "x")
    with pytest.raises(SystemExit):
        parse_args(parser, ["eval", "finetune", "random", "--config", "quickstart", "stray"])
    with pytest.raises(SystemExit):
        parse_args(parser, ["info", "train.lr=0.5"])  # info takes no overrides


def test_quickstart_writes_results_report_and_plots(tmp_path, capsys):
    overrides = [o for o in TINY if not o.startswith("model.")] + [
        "data.synth_per_class=3", "data.cache_short_side=32", "eval.finetune.label_fraction=0.5", "model.width=0.125",
    ]
    out = tmp_path / "qs"
    code, stdout, err = run_cli(["quickstart", "--out", str(out), *overrides], capsys)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    for model in ("pretrained", "random_init"):
        recalls = results[model]["retrieval"]
        assert set(recalls) == {"R@1", "R@5", "R@10", "R@20", "R@50"}
        assert all(0.0 <= v <= 1.0 for v in recalls.values())
        assert recalls["R@1"] <= recalls["R@5"] <= recalls["R@10"] <= recalls["R@20"] <= recalls["R@50"]
        assert 0.0 <= results[model]["finetune"]["video_acc"] <= 1.0
        # 5 motion types group the 18 classes: a class hit is a type hit, so type recall is never lower.
        by_type = results[model]["retrieval_motion_type"]
        assert set(by_type) == set(recalls) and all(by_type[k] >= recalls[k] for k in recalls)
    assert results["wall_seconds"] > 0
    report = (out / "report.md").read_text()
    assert "| pretrained |" in report and "| random init |" in report and "motion-type R@1 |" in report
    for name in ("pretext_loss", "pretext_accuracy", "retrieval_recall", "finetune_accuracy"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
    assert "| pretrained |" in stdout


def test_video_that_fails_to_decode_during_training_is_skipped_and_counted(tmp_path, capsys):
    fixture = make_ucf101(tmp_path / "ds", classes=("Basketball", "Biking"), groups=2, clips=2)
    args = ["pretrain", "quickstart", *data_overrides(fixture), *TINY, "data.cache_short_side=0"]
    code, _, err = run_cli(args + ["--out", str(tmp_path / "run1")], capsys)  # indexes the videos
    assert code == 0, err
    # damage one indexed video after the fact, keeping its size and mtime, so only decoding can notice
    victim = Path(fixture.expected["train"][0][0])
    stat = victim.stat()
    victim.write_bytes(b"\x00" * stat.st_size)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    code, out, err = run_cli(args + ["--out", str(tmp_path / "run2")], capsys)
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "run2" / "logs" / "metrics.csv").open()))
    assert [int(float(r["skipped"])) for r in rows] == [1]
    assert "skipped 1 corrupt video" in out  # the per-epoch summary line
