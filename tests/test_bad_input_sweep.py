"""Bad input found by the adversarial CLI sweep: each case fails early with one line naming the key or file.

Split files listing a video twice, annotations given to the folder format, out-of-range eval settings,
bad ``vidssl synth`` options, a file given to ``vidssl embed``, a non-features file given to ``vidssl search``,
and TransRank transformations the method and the sampler do not share.
"""
from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from clitools import assert_one_line_error, run_cli
from videofixtures import TINY_RUN_OVERRIDES as TINY
from videofixtures import make_csv, make_hmdb51, make_kinetics, make_ucf101
from vidssl.config.loading import apply_overrides, from_dict
from vidssl.data.datasets import load_records
from vidssl.data.synthmotion import generate_synthmotion
from vidssl.errors import VidsslError
from vidssl.eval.linear_probe import LinearProbeConfig
from vidssl.eval.temporal import TemporalProbeConfig
from vidssl.methods.transrank import TransRank
from vidssl.models import build_backbone
from vidssl.recipes.configs import parse_run_config
from vidssl.recipes.pretrain import save_backbone


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    base = tmp_path_factory.mktemp("sweep")
    return {"ucf101": make_ucf101(base / "ucf"), "hmdb51": make_hmdb51(base / "hmdb"),
            "kinetics": make_kinetics(base / "kin", missing=0), "csv": make_csv(base / "csv")}


def load(fmt, fixture, tmp_path, annotations, split="train"):
    return load_records(fmt, fixture.root, split=split, annotations=annotations,
                        index_cache_dir=tmp_path / "index", progress=False)


def copied(source, tmp_path):
    """A copy of annotations ``source``; a CSV stays in its folder, against which its paths are resolved."""
    if source.is_dir():
        return shutil.copytree(source, tmp_path / "annotations")
    return Path(shutil.copy(source, source.with_name(f"{tmp_path.name}{source.suffix}")))


def repeat_lines(text, header=False):
    """Every data line twice (the first line once when it is a header)."""
    lines = text.splitlines()
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    return "\n".join(head + [line for line in body for _ in range(2)]) + "\n"


# ---------------------------------------------------------------- S07: a video listed twice


def duplicated(fmt, fixture, tmp_path):
    """The fixture's annotations with every train entry listed twice."""
    annotations = copied(fixture.annotations, tmp_path)
    if fmt == "ucf101":
        file = annotations / "trainlist01.txt"
        file.write_text(repeat_lines(file.read_text()))
    elif fmt == "hmdb51":
        for file in annotations.glob("*_test_split1.txt"):
            file.write_text(repeat_lines(file.read_text()))
    else:
        annotations.write_text(repeat_lines(annotations.read_text(), header=True))
    return annotations


@pytest.mark.parametrize("fmt", ["ucf101", "hmdb51", "kinetics", "csv"])
def test_duplicate_split_entries_are_kept_once_with_one_counting_warning(layouts, tmp_path, fmt):
    fixture = layouts[fmt]
    expected = fixture.expected["train"]
    with pytest.warns(UserWarning, match=rf"{fmt}: dropped {len(expected)} duplicate entries") as caught:
        records, _ = load(fmt, fixture, tmp_path, duplicated(fmt, fixture, tmp_path))
    assert [(record.path, record.label) for record in records] == expected
    assert len([w for w in caught if "duplicate" in str(w.message)]) == 1


def test_retrieval_split_sizes_do_not_double(layouts, tmp_path):
    """The sweep's case: both lists doubled, every split twice its size (6 queries instead of 3)."""
    fixture = layouts["ucf101"]
    annotations = copied(fixture.annotations, tmp_path)
    for name in ("trainlist01.txt", "testlist01.txt"):
        (annotations / name).write_text(repeat_lines((annotations / name).read_text()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, _ = load("ucf101", fixture, tmp_path, annotations, "train")
        test, _ = load("ucf101", fixture, tmp_path, annotations, "test")
    assert (len(test), len(train)) == (len(fixture.expected["test"]), len(fixture.expected["train"])) == (6, 6)


def test_duplicate_entries_with_different_labels_are_an_error(layouts, tmp_path):
    fixture = layouts["csv"]
    annotations = copied(fixture.annotations, tmp_path)
    with open(annotations, newline="") as handle:
        rows = list(csv.reader(handle))
    rows.append([rows[1][0], next(label for label in fixture.class_names if label != rows[1][1])])
    with open(annotations, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(VidsslError, match=rf"{annotations}:{len(rows)}: .*{rows[1][0]}.* listed again with label"):
        load("csv", fixture, tmp_path, annotations)


# ---------------------------------------------------------------- E33: the folder format reads no split files


def test_folder_format_refuses_annotations(layouts, tmp_path):
    fixture = layouts["ucf101"]
    with pytest.raises(VidsslError) as err:
        load("folder", fixture, tmp_path, fixture.annotations)
    message = str(err.value)
    assert "folder format has no split files" in message and str(fixture.annotations) in message
    assert "ucf101, hmdb51, kinetics, sthsth, csv" in message
    records, _ = load("folder", fixture, tmp_path, None)  # without annotations it still reads the class folders
    assert len(records) == len(fixture.expected["train"]) + len(fixture.expected["test"])


def test_pretrain_with_folder_format_and_annotations_is_one_line_error(layouts, tmp_path, capsys):
    fixture = layouts["ucf101"]
    args = ["pretrain", "quickstart", "data.format=folder", f"data.root={fixture.root}",
            f"data.annotations={fixture.annotations}", "data.cache_short_side=0", *TINY, "--out", str(tmp_path / "r")]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "folder format has no split files")
    assert not (tmp_path / "r" / "backbone.pt").exists()


@pytest.mark.parametrize("section", ["eval", "eval.scenes"])
def test_eval_folder_format_with_annotations_fails_at_config_time(section):
    expected = rf"^{section}.annotations=splits: expected null with {section}.format=folder .*no split files"
    with pytest.raises(VidsslError, match=expected):
        run_config(f"{section}.format=folder", f"{section}.annotations=splits")


# ---------------------------------------------------------------- E23, E30: eval settings checked at config time


def run_config(*overrides):
    return parse_run_config(apply_overrides({}, list(overrides)))


@pytest.mark.parametrize(
    "override, message",
    [
        ("eval.finetune.semi_fractions=[0.1,1.5]",
         "eval.finetune.semi_fractions=[0.1, 1.5]: expected fractions in (0, 1]"),
        ("eval.finetune.semi_fractions=[0]", "eval.finetune.semi_fractions=[0.0]: expected fractions in (0, 1]"),
        ("eval.finetune.label_fraction=0", "eval.finetune.label_fraction=0.0: expected a fraction in (0, 1]"),
        ("eval.finetune.label_fraction=1.2", "eval.finetune.label_fraction=1.2: expected a fraction in (0, 1]"),
        ("eval.finetune.lr_sweep=[0.1,-0.01]", "eval.finetune.lr_sweep=[0.1, -0.01]: expected learning rates > 0"),
        ("eval.finetune.test_crops=2", "eval.finetune.test_crops=2: expected 1 or 3"),
        ("eval.finetune.epochs=0", "eval.finetune.epochs=0: expected a positive integer"),
        ("eval.finetune.batch_size=-4", "eval.finetune.batch_size=-4: expected a positive integer"),
        ("eval.finetune.curve_every=-1", "eval.finetune.curve_every=-1: expected an integer >= 0 (0 = off)"),
        ("eval.finetune.lr=0", "eval.finetune.lr=0.0: expected a number > 0"),
        ("eval.finetune.dropout=1", "eval.finetune.dropout=1.0: expected a number in [0, 1)"),
        ("eval.finetune.flip_p=2", "eval.finetune.flip_p=2.0: expected a probability in [0, 1]"),
        ("eval.temporal.epochs=-1", "eval.temporal.epochs=-1: expected a positive integer"),
        ("eval.temporal.batch_size=0", "eval.temporal.batch_size=0: expected a positive integer"),
        ("eval.temporal.pairs_per_video=0", "eval.temporal.pairs_per_video=0: expected a positive integer"),
        ("eval.temporal.hidden=0", "eval.temporal.hidden=0: expected a positive integer"),
        ("eval.temporal.lr=-0.001", "eval.temporal.lr=-0.001: expected a number > 0"),
        ("eval.temporal.weight_decay=-1", "eval.temporal.weight_decay=-1.0: expected a number >= 0"),
        ("eval.linear.epochs=0", "eval.linear.epochs=0: expected a positive integer"),
        ("eval.linear.batch_size=-1", "eval.linear.batch_size=-1: expected a positive integer"),
        ("eval.linear.lr=0", "eval.linear.lr=0.0: expected a number > 0"),
        ("eval.linear.momentum=1", "eval.linear.momentum=1.0: expected a number in [0, 1)"),
        ("eval.linear.mode=frozen", "eval.linear.mode: expected one of features, end_to_end, got 'frozen'"),
        ("eval.num_clips=0", "eval.num_clips=0: expected a positive integer"),
        ("eval.frames=-16", "eval.frames=-16: expected a positive integer"),
        ("eval.interval=0", "eval.interval=0: expected a positive integer"),
        ("eval.size=0", "eval.size=0: expected a positive integer"),
        ("eval.resize_short=0", "eval.resize_short=0: expected a positive integer"),
        ("eval.batch_size=0", "eval.batch_size=0: expected a positive integer"),
        ("eval.tsne_perplexity=0", "eval.tsne_perplexity=0.0: expected a number > 0"),
        ("eval.grid_queries=-1", "eval.grid_queries=-1: expected an integer >= 0"),
        ("eval.scenes.stride=0", "eval.scenes.stride=0: expected a positive integer"),
        ("eval.scenes.format=synthmotion", "eval.scenes.format=synthmotion: expected one of folder, ucf101"),
        ("eval.similarity.svm_c=0", "eval.similarity.svm_c=0.0: expected a number > 0"),
        ("eval.similarity.pairs_per_fold=0", "eval.similarity.pairs_per_fold=0: expected a positive integer"),
    ],
)
def test_eval_settings_are_checked_naming_key_and_value(override, message):
    with pytest.raises(VidsslError) as err:
        run_config(override)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    "override",
    ["eval.finetune.semi_fractions=[0.01,1]", "eval.finetune.semi_fractions=[]", "eval.finetune.label_fraction=1",
     "eval.finetune.test_crops=3", "eval.finetune.curve_every=0", "eval.finetune.dropout=0", "eval.grid_queries=0",
     "eval.linear.momentum=0", "eval.linear.mode=end_to_end", "eval.temporal.weight_decay=0", "eval.format=folder"],
)
def test_eval_boundary_values_are_accepted(override):
    run_config(override)


def test_probe_configs_validate_alone_without_a_prefix():
    with pytest.raises(VidsslError, match=r"^epochs=-1: expected a positive integer"):
        from_dict(TemporalProbeConfig, {"epochs": -1})
    with pytest.raises(VidsslError, match=r"^lr=0.0: expected a number > 0"):
        from_dict(LinearProbeConfig, {"lr": 0})


def test_cli_rejects_temporal_epochs_before_any_work(tmp_path, capsys):
    code, _, err = run_cli(["pretrain", "quickstart", "eval.temporal.epochs=-1", "--out", str(tmp_path / "r")], capsys)
    assert_one_line_error(code, err, "eval.temporal.epochs=-1: expected a positive integer")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- Y14: vidssl synth options


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": -2}, "workers=-2 (--workers): expected an integer >= 0"),
        ({"per_class": 0}, "per_class=0 (--per-class / data.synth_per_class): expected a positive integer"),
        ({"per_class": -3}, "per_class=-3 (--per-class / data.synth_per_class): expected a positive integer"),
    ],
)
def test_generate_synthmotion_names_the_option(tmp_path, kwargs, message):
    with pytest.raises(VidsslError) as err:
        generate_synthmotion(tmp_path / "synth", progress=False, **kwargs)
    assert str(err.value).startswith(message)
    assert not (tmp_path / "synth").exists()


def test_synth_cli_rejects_negative_workers(tmp_path, capsys):
    code, _, err = run_cli(["synth", "--out", str(tmp_path / "s"), "--workers", "-2", "--per-class", "1"], capsys)
    assert_one_line_error(code, err, "--workers")
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- M10, Q02/Q05: embed and search inputs


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "backbone.pt"
    save_backbone(path, build_backbone("tiny", width=0.125), name="tiny", width=0.125)
    return path


def test_embed_given_a_video_file_says_it_wants_a_folder(layouts, ckpt, tmp_path, capsys):
    video = next((layouts["ucf101"].root / "Biking").iterdir())
    code, _, err = run_cli(["embed", str(ckpt), str(video), "--out", str(tmp_path / "f.npy")], capsys)
    assert_one_line_error(code, err, str(video), "is a file", "vidssl embed wants a folder of videos")
    assert "not found" not in err


def features_index(tmp_path, stem):
    (tmp_path / "videos").mkdir(exist_ok=True)
    (tmp_path / "videos" / "q.mp4").write_bytes(b"")
    (tmp_path / f"{stem}.json").write_text(json.dumps({"videos": ["q.mp4"], "videos_dir": str(tmp_path / "videos")}))


@pytest.mark.parametrize("name", ["features.json", "notes.txt", "garbage.npy", "objects.npy", "strings.npy"])
def test_search_on_a_file_that_is_not_features_says_so(tmp_path, capsys, name):
    features_index(tmp_path, name.split(".")[0])
    file = tmp_path / name
    if name == "notes.txt":
        file.write_text("hello, these are not features\n")
    elif name == "garbage.npy":
        file.write_bytes(b"\x00\x01 garbage bytes")
    elif name == "objects.npy":
        np.save(file, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif name == "strings.npy":
        np.save(file, np.array([["a", "b"]]))
    code, _, err = run_cli(["search", str(file), "q.mp4"], capsys)
    assert_one_line_error(code, err, str(file), "not a features file written by vidssl embed")
    assert "pickle" not in err


# ---------------------------------------------------------------- API07, API14: TransRank transformations


def test_transrank_rejects_unknown_transform_names():
    with pytest.raises(VidsslError, match=r"^transforms: unknown temporal transformation '3x'; expected one of"):
        TransRank(build_backbone("tiny"), transforms=("1x", "3x"))


def test_transrank_batch_with_more_transformations_than_the_method_is_an_error():
    method = TransRank(build_backbone("tiny"), transforms=("1x", "2x"))
    clips = torch.randint(0, 256, (2, 3, 3, 4, 32, 32), dtype=torch.uint8)
    batch = {"clips": clips, "transform_ids": torch.tensor([[0, 1, 2], [2, 0, 1]])}  # a (1x, 2x, rev) sampler
    with pytest.raises(VidsslError) as err:
        method.training_step(batch)
    assert str(err.value) == ("batch has transform id 2 but the method knows 2 transformations (1x, 2x): "
                              "the sampler and the method must share their transforms")
