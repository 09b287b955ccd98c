"""data.val_fraction and eval.split=val: settings are chosen on validation videos the model never trained on."""
from __future__ import annotations

import pytest

from videofixtures import make_ucf101
from vidssl.config.loading import apply_overrides
from vidssl.data.validation import group_of
from vidssl.errors import VidsslError
from vidssl.recipes.configs import parse_run_config
from vidssl.recipes.data import build_records
from vidssl.recipes.protocols.configured import load_eval_data


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"), groups=4, clips=2, test_groups=(4,))


def config(ucf, *overrides):
    data = {"data": {"format": "ucf101", "root": str(ucf.root), "annotations": str(ucf.annotations)}}
    return parse_run_config(apply_overrides(data, list(overrides)))


def test_pretraining_leaves_the_validation_videos_out_and_eval_split_val_scores_them(ucf):
    cfg = config(ucf, "data.val_fraction=0.34", "eval.split=val")
    pretraining, _ = build_records(cfg.data)
    data = load_eval_data(cfg)
    val_paths = {r.path for r in data["test"]}
    assert val_paths and not val_paths & {r.path for r in pretraining}
    assert not val_paths & {r.path for r in data["train"]}  # the retrieval gallery holds no validation video
    assert not {group_of(p) for p in val_paths} & {group_of(r.path) for r in data["train"]}
    reported = load_eval_data(config(ucf, "data.val_fraction=0.34"))  # eval.split: test, the default
    assert {group_of(r.path)[1] for r in reported["test"]} == {"04"}


def test_eval_split_val_without_a_validation_split_says_what_to_set(ucf):
    with pytest.raises(VidsslError, match=r"^eval.split=val: there is no validation split; set data.val_fraction"):
        load_eval_data(config(ucf, "eval.split=val"))


@pytest.mark.parametrize("override, needle", [
    ("data.val_fraction=1.0", "data.val_fraction"), ("data.val_fraction=-0.1", "data.val_fraction"),
    ("eval.split=train", "eval.split"),
])
def test_bad_values_name_their_key(ucf, override, needle):
    with pytest.raises(VidsslError, match=needle):
        config(ucf, override)
