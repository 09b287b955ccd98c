"""Held-out pretext metrics during pretraining (data.val_fraction > 0): every epoch's row of metrics.csv holds
each metric on the validation videos with its chance level, `vidssl pretrain` prints them and draws
plots/pretext_heldout.png, and the numbers are those of the trained model run by hand over the same clips."""
from __future__ import annotations

import contextlib
import csv
import io
import re
from pathlib import Path

import pytest
import torch

from clitools import TINY, data_overrides, run_cli
from forked_ddp import needs_fork, run_forked
from videofixtures import FIT_TINY, TINY_RUN_OVERRIDES, make_ucf101
from vidssl.cli.main import main
from vidssl.config.loading import apply_overrides, load_yaml
from vidssl.data.datasets import VideoDataset
from vidssl.engine.distributed import cleanup
from vidssl.recipes import RECIPES, parse_run_config
from vidssl.recipes.data import build_model_backbone, build_reader, build_records
from vidssl.recipes.pretrain import build_method, build_pretext_sampler, pretrain

TRANSFORMS = ("1x", "2x", "rev")  # the quickstart's


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    # 3 classes x 3 training groups x 2 clips; val_fraction 0.34 holds out one group per class: 6 videos
    return make_ucf101(tmp_path_factory.mktemp("ucf"), groups=4, clips=2, test_groups=(4,))


def read_rows(run):
    with open(run / "logs" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def heldout_run(ucf, tmp_path_factory):
    """A 2-epoch quickstart (TransRank-T) run with a validation split, through the command line: (run, stdout)."""
    run = tmp_path_factory.mktemp("heldout") / "run"
    args = ["pretrain", "quickstart", *data_overrides(ucf), *TINY, "train.epochs=2", "data.val_fraction=0.34",
            "--out", str(run)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return run, out.getvalue()


def test_every_epoch_logs_heldout_metrics_with_their_chance_and_pretrain_prints_and_draws_them(heldout_run):
    run, out = heldout_run
    rows = read_rows(run)
    assert [row["epoch"] for row in rows] == ["0", "1"]
    keys = ["acc", *(f"{kind}/{name}" for name in TRANSFORMS for kind in ("acc", "top1"))]
    for row in rows:
        assert row["heldout/loss"] != ""
        for key in keys:
            assert 0.0 <= float(row[f"heldout/{key}"]) <= 1.0, key
        assert float(row["chance/acc"]) == pytest.approx(1 / 3)
        assert float(row["chance/top1/2x"]) == pytest.approx(1 / 3) and float(row["chance/acc/rev"]) == 0.5
    assert (run / "plots" / "pretext_heldout.png").stat().st_size > 0
    lines = [line for line in out.splitlines() if line.startswith("held-out ")]
    assert lines[0].startswith("held-out loss: ")
    assert f"held-out acc: {float(rows[-1]['heldout/acc']):.3g} (chance 0.333)" in lines
    assert any(re.fullmatch(r"held-out acc/1x: [0-9.e-]+ \(chance 0\.5\)", line) for line in lines)
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert "heldout/acc " in epoch_lines[-1] and "chance/" not in epoch_lines[-1]  # chance stays in the CSV


def test_heldout_metrics_equal_the_trained_model_run_by_hand_over_the_same_clips(heldout_run):
    run, _ = heldout_run
    last = read_rows(run)[-1]
    cfg = parse_run_config(load_yaml(run / "config.yaml"))
    method = build_method(cfg, build_model_backbone(cfg.model))
    method.load_state_dict(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"])
    records, _ = build_records(cfg.data, split="val")
    assert len(records) == 6
    reader, records = build_reader(cfg.data, records)
    dataset = VideoDataset(records, reader, build_pretext_sampler(cfg), seed=cfg.train.seed)  # epoch 0's clips
    samples = [dataset[i] for i in range(len(dataset))]
    clips = torch.stack([s["clips"] for s in samples])
    ids = torch.stack([s["transform_ids"] for s in samples])
    method.eval()  # BN on running statistics: every video is scored alone, so one batch equals three
    with torch.no_grad():
        scores = method.scores(clips)
    # by hand: argmax right, per transformation its recall, and its ranking against the video's other clips
    right = [[int(scores[v, c].argmax()) == int(ids[v, c]) for c in range(3)] for v in range(6)]
    assert float(last["heldout/acc"]) == pytest.approx(sum(map(sum, right)) / 18, abs=1e-6)
    for k, name in enumerate(TRANSFORMS):
        of_k = [(v, c) for v in range(6) for c in range(3) if int(ids[v, c]) == k]
        recall = sum(right[v][c] for v, c in of_k) / len(of_k)
        wins = [float(scores[v, c, k]) > float(scores[v, o, k]) for v, c in of_k for o in range(3) if o != c]
        assert float(last[f"heldout/top1/{name}"]) == pytest.approx(recall, abs=1e-6)
        assert float(last[f"heldout/acc/{name}"]) == pytest.approx(sum(wins) / len(wins), abs=1e-6)
    assert float(last["heldout/loss"]) == pytest.approx(float(method.ranking_loss(scores, ids)), abs=1e-5)


def test_without_a_validation_split_nothing_is_held_out(ucf, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, _ = run_cli(["pretrain", "quickstart", *data_overrides(ucf), *TINY, "--out", str(run)], capsys)
    assert code == 0
    columns = read_rows(run)[0].keys()
    assert not [c for c in columns if c.startswith(("heldout/", "chance/"))]
    assert not (run / "plots" / "pretext_heldout.png").exists()
    assert "held-out" not in out




def tiny_config(name, ucf):
    overrides = [*TINY_RUN_OVERRIDES, "model.width=0.125", "train.batch_size=4", "data.val_fraction=0.34",
                 *FIT_TINY.get(name, [])]
    data = {"method": {"name": name},
            "data": {"format": "ucf101", "root": str(ucf.root), "annotations": str(ucf.annotations)}}
    return parse_run_config(apply_overrides(data, overrides))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_logs_its_heldout_metrics_and_chance(ucf, tmp_path, name, capsys):
    method, history = pretrain(tiny_config(name, ucf), tmp_path / "run")
    row = history[-1]
    heldout = {key[len("heldout/"):] for key in row if key.startswith("heldout/")}
    chance = {key[len("chance/"):] for key in row if key.startswith("chance/")}
    training = {key for key in row if "/" not in key or key.startswith(("loss/", "acc", "top1"))} - {
        "epoch", "lr", "skipped", "seconds", "samples_per_s"}
    assert heldout == training  # every metric the method logs in training is measured held out
    assert chance <= heldout and (chance or name == "sro_view_synthesis")
    assert method.training  # back in train mode
    assert "held-out loss: " in capsys.readouterr().out


@needs_fork
@pytest.mark.parametrize("name", ["corp_f", "sro"])
def test_under_ddp_the_first_process_scores_the_heldout_videos_alone(ucf, tmp_path, name):
    """CORP_f gathers every process's clips and SRO shuffles its keys across processes in training; the
    held-out pass runs on rank 0 alone, so neither may wait for the other process there."""
    cfg = tiny_config(name, ucf)

    def worker(out_dir):
        pretrain(cfg, Path(out_dir) / "run")
        cleanup()

    assert run_forked(worker, tmp_path, timeout=180) == [0, 0]
    row = read_rows(tmp_path / "run")[-1]
    assert row["heldout/loss"] != "" and row["chance/acc_contrast"] != ""
