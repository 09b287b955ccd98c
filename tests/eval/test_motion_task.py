"""The Motion task (TransRank appendix A.1): the mHMDB51 mapping of Table 10, re-labelling, and the CLI."""
from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest

from videofixtures import TINY_RUN_OVERRIDES, make_hmdb51
from vidssl.cli.main import main
from vidssl.data.datasets import VideoRecord
from vidssl.data.synthmotion import MOTION_TYPES, class_names
from vidssl.errors import VidsslError
from vidssl.eval.motion_types import MHMDB51, mhmdb51_type_labels, motion_type_mapping

HMDB51_CLASSES = (
    "brush_hair cartwheel catch chew clap climb climb_stairs dive draw_sword dribble drink eat fall_floor fencing "
    "flic_flac golf handstand hit hug jump kick kick_ball kiss laugh pick pour pullup punch push pushup ride_bike "
    "ride_horse run shake_hands shoot_ball shoot_bow shoot_gun sit situp smile smoke somersault stand swing_baseball "
    "sword sword_exercise talk throw turn walk wave"
).split()


def test_table_10_maps_every_hmdb51_class_exactly_once_with_the_columns_sizes():
    mapped = [cls for classes in MHMDB51.values() for cls in classes]
    assert sorted(mapped) == sorted(HMDB51_CLASSES) and len(set(mapped)) == 51
    assert {kind: len(classes) for kind, classes in MHMDB51.items()} == {
        "linear": 10, "projectile": 12, "local": 12, "oscillatory": 5, "random_walk": 12}
    assert tuple(MHMDB51) == MOTION_TYPES


def test_hmdb51_names_map_to_their_table_10_column():
    labels = mhmdb51_type_labels(["brush hair", "somersault", "Shake_Hands", "pushup", "kick-ball"])
    assert [MOTION_TYPES[i] for i in labels] == ["linear", "projectile", "local", "oscillatory", "random_walk"]
    with pytest.raises(VidsslError, match="'juggle'"):
        mhmdb51_type_labels(["run", "juggle"])


def test_synthmotion_types_come_from_its_class_specs_and_other_formats_are_refused():
    types = motion_type_mapping(class_names(), "synthmotion")
    assert len(types) == len(class_names()) and set(types) <= set(range(5))
    with pytest.raises(VidsslError, match="ucf101"):
        motion_type_mapping(["ApplyEyeMakeup"], "ucf101")


def test_motion_task_data_relabels_every_video_by_its_class_type(monkeypatch):
    import vidssl.recipes.protocols.configured as evaluate

    def record(i, label):
        return VideoRecord(path=f"v{i}.avi", label=label, num_frames=20, fps=25.0, height=32, width=32)

    classes = ["clap", "run", "somersault"]  # oscillatory 3, linear 0, projectile 1
    data = {"train": [record(0, 0), record(1, 1), record(2, 2)], "test": [record(3, 2)], "reader": None,
            "classes": classes}
    monkeypatch.setattr(evaluate, "eval_data_config", lambda cfg: SimpleNamespace(format="hmdb51"))
    relabelled = evaluate.motion_task_data(SimpleNamespace(), data)
    assert [r.label for r in relabelled["train"]] == [3, 0, 1] and [r.label for r in relabelled["test"]] == [1]
    assert relabelled["classes"] == list(MOTION_TYPES)
    assert [r.path for r in relabelled["train"]] == ["v0.avi", "v1.avi", "v2.avi"]
    assert Counter(r.label for r in data["train"]) == {0: 1, 1: 1, 2: 1}  # the input is untouched


def test_cli_finetunes_the_5_way_motion_task_on_hmdb51(tmp_path, capsys):
    fixture = make_hmdb51(tmp_path / "hmdb", classes=("run", "clap", "somersault"))
    overrides = [o for o in TINY_RUN_OVERRIDES if not o.startswith("model.")] + [
        "model.backbone=tiny", "data.format=hmdb51", f"data.root={fixture.root}",
        f"data.annotations={fixture.annotations}", "eval.finetune.epochs=1", "eval.finetune.batch_size=2",
        "eval.num_clips=1", "eval.frames=4", "eval.size=16", "eval.resize_short=16"]
    code = main(["eval", "motion", "random", "--config", "quickstart", *overrides, "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    results = json.loads((tmp_path / "out" / "eval_motion.json").read_text())
    assert results["task"] == "motion" and results["types"] == list(MOTION_TYPES)
    assert results["num_test_videos"] == 3 and 0.0 <= results["video_acc"] <= 1.0
