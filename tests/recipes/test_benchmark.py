"""`vidssl benchmark`: the packaged cpu-small preset resolves for every row, a tiny run writes its report and
results, a rerun recomputes nothing, a changed override recomputes only the cells it affects, mean ± std over
seeds comes out right, and bad input ends in one line and exit code 2."""
import json
from pathlib import Path

import pytest
import yaml

from vidssl.cli.benchmark import benchmark_command, parse_seeds
from vidssl.cli.main import main
from vidssl.config.loading import to_dict
from vidssl.errors import VidsslError
from vidssl.recipes.benchmark import PROTOCOLS, BenchmarkRow, load_preset, row_config
from vidssl.recipes.benchmark.cache import cell_hash, cell_path, collect_cells, pretraining_hash
from vidssl.recipes.benchmark.cells import retrieval_chance
from vidssl.recipes.benchmark.table import results_table, summarise_row
from vidssl.recipes.configs import load_run_config, packaged_config_names

# A run of seconds: 3 SynthMotion videos per class, one epoch, 2 clips of 4 frames, probes of 2 epochs.
TINY = [
    "data.synth_per_class=3", "data.cache_short_side=32", "train.epochs=1", "train.batch_size=4", "train.workers=0",
    "clip.frames=4", "eval.frames=4", "eval.num_clips=2", "eval.batch_size=16", "eval.finetune.epochs=1",
    "eval.finetune.batch_size=4", "eval.linear.epochs=2", "eval.temporal.epochs=2", "eval.temporal.pairs_per_video=1",
]
SMOKE_ROWS = ["transrank_t", "random_init", "sro_view_synthesis"]  # a pretrained row, the baseline, a skipped row


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One tiny benchmark of SMOKE_ROWS over the packaged preset, shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("bench")
    results = benchmark_command("cpu-small", out, only=SMOKE_ROWS, overrides=TINY)
    return out, results


def cell_mtimes(out: Path) -> dict[str, float]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in (out / "cells").rglob("*.json")}


def test_smoke_run_writes_the_report_and_every_number(smoke):
    out, results = smoke
    assert results["cells_computed"] == 2 * len(PROTOCOLS) and results["cells_reused"] == 0
    saved = json.loads((out / "results.json").read_text())
    for name in ("transrank_t", "random_init"):
        numbers = saved["rows"][name]["seeds"]["0"]
        assert set(numbers) == set(PROTOCOLS)
        assert 0.0 <= numbers["retrieval"]["R@1"] <= numbers["retrieval"]["R@5"] <= 1.0
        assert all(0.0 <= numbers[p][key] <= 1.0 for p, key in
                   [("linear", "top1"), ("finetune", "video_acc"), ("sync", "accuracy"), ("order", "accuracy"),
                    ("motion", "video_acc")])
        assert (out / "runs" / name / "seed0" / "config.yaml").is_file()
    assert (out / "runs" / "transrank_t" / "seed0" / "backbone.pt").is_file()
    assert not (out / "runs" / "random_init" / "seed0" / "backbone.pt").exists()  # random init is not trained
    assert saved["chance"]["sync"] == pytest.approx(1 / 7) and saved["chance"]["order"] == pytest.approx(0.5)
    assert saved["chance"]["motion"] == pytest.approx(0.2) and saved["chance"]["linear top-1"] == pytest.approx(1 / 18)
    report = (out / "report.md").read_text()
    assert "| TransRank-T | " in report and "| random init | " in report
    assert "| SRO + view synthesis | skipped: cost" in report
    assert "| STS | – |" in report  # a row of the preset that was not run is listed, not hidden
    assert "| *chance* | *5.6* |" in report and "finetune (10 % labels)" in report
    assert "runs/transrank_t/seed0/config.yaml" in report and "Git revision: `" in report
    assert results["git_revision"] != ""
    for family in ("retrieval", "classification", "temporal"):
        assert (out / "plots" / f"{family}.png").stat().st_size > 1000


def test_a_rerun_recomputes_nothing(smoke, capsys):
    out, _ = smoke
    before = cell_mtimes(out)
    pretrained = (out / "runs" / "transrank_t" / "seed0" / "pretrain.json").stat().st_mtime_ns
    again = benchmark_command("cpu-small", out, only=SMOKE_ROWS, overrides=TINY)
    assert again["cells_computed"] == 0 and again["cells_reused"] == 2 * len(PROTOCOLS)
    assert cell_mtimes(out) == before
    assert (out / "runs" / "transrank_t" / "seed0" / "pretrain.json").stat().st_mtime_ns == pretrained
    assert "transrank_t seed 0 retrieval: finished earlier, skipped" in capsys.readouterr().out


def test_a_changed_override_recomputes_the_affected_cells_only(smoke):
    out, _ = smoke
    before = cell_mtimes(out)
    pretrained = (out / "runs" / "transrank_t" / "seed0" / "pretrain.json").stat().st_mtime_ns
    changed = benchmark_command("cpu-small", out, only=SMOKE_ROWS, overrides=[*TINY, "eval.linear.epochs=3"])
    assert changed["cells_computed"] == 2  # the linear cell of each row, nothing else
    after = cell_mtimes(out)
    assert sorted(k for k in after if after[k] != before[k]) == [
        "cells/random_init/seed0/linear.json", "cells/transrank_t/seed0/linear.json"]
    assert (out / "runs" / "transrank_t" / "seed0" / "pretrain.json").stat().st_mtime_ns == pretrained


def test_cell_hashes_follow_what_each_cell_reads():
    preset = load_preset("cpu-small")
    row = preset.row("transrank_t")
    base = row_config(preset, row, 0)
    finetune = row_config(preset, row, 0, ["eval.finetune.epochs=3"])
    lr = row_config(preset, row, 0, ["train.lr=0.05"])
    assert pretraining_hash(base, "pretrain") == pretraining_hash(finetune, "pretrain")
    assert pretraining_hash(base, "pretrain") != pretraining_hash(lr, "pretrain")
    changed = [p for p in PROTOCOLS if cell_hash(base, "pretrain", p) != cell_hash(finetune, "pretrain", p)]
    assert changed == ["finetune", "motion"]
    assert all(cell_hash(base, "pretrain", p) != cell_hash(lr, "pretrain", p) for p in PROTOCOLS)
    assert cell_hash(base, "pretrain", "linear") != cell_hash(row_config(preset, row, 1), "pretrain", "linear")
    # a random init reads neither the method nor the clip augmentation of its row
    tweaked = row_config(preset, row, 0, ["method.margin=2.0", "clip.hue=0.1"])
    assert cell_hash(base, "random_init", "linear") == cell_hash(tweaked, "random_init", "linear")
    assert cell_hash(base, "random_init", "linear") != cell_hash(base, "pretrain", "linear")


def write_cell(out: Path, row: str, seed: int, protocol: str, metrics: dict, chance: dict | None = None, *,
               config_hash: str | None = None) -> None:
    path = cell_path(out, row, seed, protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"row": row, "seed": seed, "protocol": protocol,
                                "config_hash": config_hash or f"h{seed}",
                                "metrics": metrics, "chance": chance or {}, "seconds": 1.0}))


def test_mean_and_sample_std_over_two_seeds_from_cell_files(tmp_path):
    write_cell(tmp_path, "a", 0, "retrieval", {"R@1": 0.20, "R@5": 0.50}, {"R@1": 1 / 18, "R@5": 0.25})
    write_cell(tmp_path, "a", 1, "retrieval", {"R@1": 0.30, "R@5": 0.60})
    write_cell(tmp_path, "a", 0, "linear", {"top1": 0.40})
    write_cell(tmp_path, "a", 1, "linear", {"top1": 0.40})
    write_cell(tmp_path, "b", 0, "retrieval", {"R@1": 0.10, "R@5": 0.30})
    write_cell(tmp_path, "b", 1, "retrieval", {"R@1": 0.99, "R@5": 0.99}, config_hash="stale")  # must not count
    expected = {(row, seed, p): f"h{seed}" for row in "ab" for seed in (0, 1) for p in ("retrieval", "linear")}
    cells = collect_cells(tmp_path, expected)
    a, b = summarise_row(cells["a"]), summarise_row(cells["b"])
    assert a["R@1"]["mean"] == pytest.approx(0.25) and a["R@1"]["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert a["linear top-1"] == {"mean": pytest.approx(0.4), "std": 0.0, "n": 2}
    assert b["R@1"] == {"mean": pytest.approx(0.1), "std": None, "n": 1} and "linear top-1" not in b
    rows = {
        "a": {"label": "A", "status": "implemented", "reason": "", "summary": a},
        "b": {"label": "B", "status": "implemented", "reason": "", "summary": b},
        "c": {"label": "C", "status": "not_implemented", "reason": "no code yet", "summary": {}},
    }
    table = results_table(rows, protocols=("retrieval", "linear"), num_seeds=2, chance={"R@1": 1 / 18, "R@5": 0.25})
    lines = table.splitlines()
    assert lines[0] == "| method | R@1 | R@5 | linear top-1 |"
    assert lines[2] == "| *chance* | *5.6* | *25.0* | – |"
    assert lines[3] == "| A | 25.0 ± 7.1 | 55.0 ± 7.1 | 40.0 ± 0.0 |"
    assert lines[4] == "| B | 10.0 (n=1) | 30.0 (n=1) | – |"
    assert lines[5].startswith("| C | not implemented: no code yet |")


def test_retrieval_chance_is_the_hypergeometric_hit_rate():
    # 2 classes, 3 train videos each: R@1 = 1/2; R@2 = 1 - (3/6)(2/5) = 0.8; R@4 = 1 (only 3 of the other class)
    labels = [0, 0, 0, 1, 1, 1]
    assert retrieval_chance(labels, [0, 1], 1) == pytest.approx(0.5)
    assert retrieval_chance(labels, [0, 1], 2) == pytest.approx(0.8)
    assert retrieval_chance(labels, [0], 4) == pytest.approx(1.0)


def test_every_row_of_cpu_small_resolves_to_a_run_config_with_the_shared_settings():
    preset = load_preset("cpu-small")
    assert preset.seeds == (0,) and preset.protocols == PROTOCOLS
    statuses = {row.name: row.status for row in preset.rows}
    assert {"transrank_t", "transrank_st", "transcls", "speednet", "rotnet3d", "sts", "sro_order", "sro_order_rate",
            "sro_contrast_shuffle", "moco", "simclr", "corp_m", "corp_f", "random_init", "supervised",
            "vcop", "random_init_rgb"} <= {name for name, status in statuses.items() if status == "implemented"}
    assert all(row.reason for row in preset.rows if row.status != "implemented")
    configs = {row.name: row_config(preset, row, 0) for row in preset.rows if row.status == "implemented"}
    evals = {json.dumps(to_dict(cfg)["eval"], sort_keys=True) for cfg in configs.values()}
    datas = {json.dumps(to_dict(cfg)["data"], sort_keys=True) for cfg in configs.values()}
    assert len(evals) == 1 and len(datas) == 1  # one recipe and one dataset for every row
    for name, cfg in configs.items():
        assert cfg.model.backbone == "tiny" and cfg.clip.size == 32 and cfg.train.batch_size == 16, name
        assert cfg.data.format == "synthmotion" and cfg.data.cache_short_side == 48, name
        assert cfg.train.optimizer in ("sgd", "adamw") and cfg.train.lr_scaling == "none", name
    assert configs["supervised"].eval.finetune.label_fraction == 0.1
    assert {row.kind for row in preset.rows} == {"pretrain", "random_init", "supervised"}
    assert configs["moco"].method.contrast == "cosine" and not configs["moco"].method.order
    assert (configs["simclr"].method.name, configs["simclr"].method.order) == ("corp_f", False)
    assert configs["transrank_st"].method.transforms == ("1x", "2x", "rev", "rev-2x")


def test_the_cpu_scale_anchors_equal_the_packaged_cpu_presets():
    """`cpu_scales.transrank` over transrank_t_r3d18 is the quickstart; `cpu_scales.sro` over sro_r3d18 is sro_cpu."""
    preset = load_preset("cpu-small")
    scales = yaml.safe_load(preset.path.read_text())["cpu_scales"]

    def resolved(config, overrides=None):
        row = BenchmarkRow(name="x", label="x", kind="pretrain", config=config, overrides=overrides or {},
                           status="implemented", reason="")
        data = to_dict(row_config(preset, row, 0))
        data["train"].pop("epochs")  # the zoo picks its own epochs
        return {section: data[section] for section in ("model", "method", "clip", "train")}

    assert resolved("transrank_t_r3d18", scales["transrank"]) == resolved("quickstart")
    assert resolved("sro_r3d18", scales["sro"]) == resolved("sro_cpu")


def test_benchmark_presets_are_not_run_configs():
    assert not [name for name in packaged_config_names() if name.startswith("benchmark")]
    with pytest.raises(VidsslError, match="benchmark preset"):
        load_run_config("benchmark/cpu_small")


def test_preset_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows:\n  - {name: x, config: quickstart, status: not_implemented}\n")
    with pytest.raises(VidsslError, match="needs a reason"):
        load_preset(bad)
    bad.write_text("rows:\n  - {name: x, config: quickstart, overrides: {eval: {frames: 4}}}\n"
                   "shared: {replace: {eval: {frames: 8}}}\n")
    with pytest.raises(VidsslError, match="shared.replace"):
        load_preset(bad)
    bad.write_text("rows:\n  - {name: x, config: quickstart}\nepochs: 3\n")
    with pytest.raises(VidsslError, match="unknown key 'epochs'"):
        load_preset(bad)


def test_not_implemented_rows_are_listed_not_run(tmp_path, capsys):
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump({"protocols": ["retrieval"], "rows": [
        {"name": "future", "label": "Future method", "status": "not_implemented", "reason": "no code yet"}]}))
    results = benchmark_command(preset, tmp_path / "out")
    assert results["cells_computed"] == 0 and results["rows"]["future"]["status"] == "not_implemented"
    assert "| Future method | not implemented: no code yet |" in (tmp_path / "out" / "report.md").read_text()
    assert "future: not implemented (no code yet)" in capsys.readouterr().out


@pytest.mark.parametrize("text, seeds", [("3", [0, 1, 2]), ("1,4", [1, 4]), ("2,", [2])])
def test_seeds_option(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("args, needles", [
    (["--only", "transrank_t,nope"], ("--only nope", "no such row", "transrank_t")),
    (["--preset", "no-such-preset"], ("no-such-preset", "cpu-small")),
    (["--seeds", "two"], ("--seeds two",)),
    (["train.lrr=1"], ("benchmark row", "train.lrr")),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, needles):
    code = main(["benchmark", "--out", str(tmp_path / "out"), *args])
    assert_one_line_error(code, capsys.readouterr().err, *needles)
    assert not (tmp_path / "out").exists()
