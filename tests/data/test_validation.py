"""The validation split carved from training: group-disjoint, per class, deterministic, order-free."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from videofixtures import make_ucf101
from vidssl.data.datasets import load_records
from vidssl.data.validation import carve_validation, group_of
from vidssl.errors import VidsslError


def ucf_paths(classes=("Run", "Jump", "Swim"), groups=10, clips=4) -> list[str]:
    return [f"/d/{c}/v_{c}_g{g:02d}_c{k:02d}.mp4" for c in classes for g in range(1, groups + 1)
            for k in range(1, clips + 1)]


def test_group_of_reads_ucf_names_and_falls_back_to_the_video():
    assert group_of("/d/Run/v_Run_g07_c03.avi") == ("Run", "07")
    assert group_of("/d/Apply_Eye/v_Apply_Eye_g12_c01.mp4") == ("Apply_Eye", "12")
    assert group_of("/k/abseiling/xyz_000010_000020.mp4") == ("abseiling", "xyz_000010_000020")
    assert group_of("/f/folder_video") == ("f", "folder_video")  # a frame folder: no suffix


def test_whole_groups_move_and_each_class_gives_its_share():
    paths = ucf_paths()
    train, val = carve_validation(paths, 0.2, seed=0)
    assert sorted(train + val) == list(range(len(paths))) and not set(train) & set(val)
    train_groups = {group_of(paths[i]) for i in train}
    val_groups = {group_of(paths[i]) for i in val}
    assert not train_groups & val_groups  # group-disjoint
    for cls in ("Run", "Jump", "Swim"):
        assert sum(1 for c, _ in val_groups if c == cls) == 2  # 20 % of 10 groups, in every class
    assert len(val) == 3 * 2 * 4  # all 4 clips of each held-out group


def test_the_carving_is_deterministic_and_ignores_order_and_other_classes():
    paths = ucf_paths()
    _, val = carve_validation(paths, 0.3, seed=1)
    shuffled = paths[:]
    random.Random(0).shuffle(shuffled)
    _, val_shuffled = carve_validation(shuffled, 0.3, seed=1)
    assert {paths[i] for i in val} == {shuffled[i] for i in val_shuffled}
    run_only = [p for p in paths if "/Run/" in p]
    _, val_run = carve_validation(run_only, 0.3, seed=1)
    assert {run_only[i] for i in val_run} == {paths[i] for i in val if "/Run/" in paths[i]}
    _, other_seed = carve_validation(paths, 0.3, seed=2)
    assert {paths[i] for i in other_seed} != {paths[i] for i in val}


def test_a_class_keeps_at_least_one_group_for_training():
    paths = ucf_paths(groups=2, clips=1)
    train, val = carve_validation(paths, 0.9, seed=0)
    assert len(val) == 3 and len(train) == 3  # 1 of 2 groups per class, never both
    single = ucf_paths(groups=1, clips=3)
    assert carve_validation(single, 0.5)[1] == []  # one group: nothing to hold out


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, float("nan")])
def test_a_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(VidsslError, match="^fraction: "):
        carve_validation(ucf_paths(), fraction)


def test_load_records_splits_train_into_train_and_val(tmp_path):
    ucf = make_ucf101(tmp_path / "ucf", groups=4, clips=2, test_groups=(4,))
    kwargs = dict(annotations=ucf.annotations, index_cache_dir=tmp_path / "index", progress=False)
    full, classes = load_records("ucf101", ucf.root, split="train", **kwargs)
    train, _ = load_records("ucf101", ucf.root, split="train", val_fraction=0.34, **kwargs)
    val, val_classes = load_records("ucf101", ucf.root, split="val", val_fraction=0.34, **kwargs)
    test, _ = load_records("ucf101", ucf.root, split="test", val_fraction=0.34, **kwargs)
    assert val_classes == classes
    assert sorted(r.path for r in train + val) == sorted(r.path for r in full)
    assert not {group_of(r.path) for r in train} & {group_of(r.path) for r in val}
    assert len(val) == 3 * 1 * 2  # one of the 3 training groups of each of the 3 classes, 2 clips each
    assert {r.label for r in val} == {0, 1, 2}
    assert not {Path(r.path).name for r in test} & {Path(r.path).name for r in train + val}
