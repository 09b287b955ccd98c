"""The recipe contract, over every registered recipe: built from its defaults alone, it trains two
steps and its checkpoint loads back into the model its saved config builds, weight for weight."""
from __future__ import annotations

import inspect
import sys

import pytest
import torch

from videofixtures import FIT_TINY, TINY_RUN_OVERRIDES, make_ucf101
from vidssl.config.loading import apply_overrides, from_dict, load_yaml, to_dict
from vidssl.errors import VidsslError
from vidssl.recipes import RECIPES, parse_run_config
from vidssl.recipes.configs import upgrade_legacy_sections
from vidssl.recipes.data import build_model_backbone
from vidssl.recipes.pretrain import build_method, pretrain
from vidssl.recipes.recipe import default_of

# Config defaults that differ from a constructor's on purpose.
DEFAULTS_OF_THEIR_OWN = {
    ("corp_m", "num_clips"),  # CORP_m trains on 4 clips per video (§4.3), the sampler's default is 2
    ("sts", "flow_cache"),  # the config says whether to cache (false); the sampler takes the cache itself (None)
}


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"))


def tiny_config(name: str, ucf, *extra: str):
    overrides = [*TINY_RUN_OVERRIDES, "model.width=0.125", "train.batch_size=4", *FIT_TINY.get(name, []), *extra]
    data = {"method": {"name": name},
            "data": {"format": "ucf101", "root": str(ucf.root), "annotations": str(ucf.annotations)}}
    return parse_run_config(apply_overrides(data, overrides))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_trains_two_steps_and_its_checkpoint_round_trips(ucf, tmp_path, name):
    cfg = tiny_config(name, ucf)
    run = tmp_path / "run"
    method, history = pretrain(cfg, run)  # 8 training videos, batch 4: two steps
    assert len(history) == 1 and history[0]["skipped"] == 0
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1
    saved = parse_run_config(load_yaml(run / "config.yaml"))
    assert to_dict(saved) == to_dict(cfg)
    rebuilt = build_method(saved, build_model_backbone(saved.model))
    rebuilt.load_state_dict(state["model"])
    trained = method.state_dict()
    for key, value in rebuilt.state_dict().items():
        assert torch.equal(value, trained[key]), key


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_recipe_config_takes_its_defaults_from_the_constructors(name):
    """One source per default: a field named like a constructor parameter has that parameter's default."""
    recipe = RECIPES[name]
    config = recipe.config(name=name)
    built_from = [recipe.build_method, recipe.build_sampler]
    classes = {built_class(fn) for fn in built_from}
    for cls in classes:
        for parameter in inspect.signature(cls).parameters.values():
            if parameter.default is inspect.Parameter.empty or not hasattr(config, parameter.name):
                continue
            if (name, parameter.name) in DEFAULTS_OF_THEIR_OWN:
                continue
            value, expected = getattr(config, parameter.name), parameter.default
            assert value == expected, f"{name}.{parameter.name}: config {value!r}, {cls.__name__} {expected!r}"


def built_class(builder):
    """The class a builder declares it returns (its annotation, a name in the builder's module)."""
    return getattr(sys.modules[builder.__module__], inspect.signature(builder).return_annotation)


def test_default_of_reads_the_signature():
    def build(*, size: int = 7, name: str) -> None: ...

    assert default_of(build, "size") == 7
    with pytest.raises(TypeError, match="no default"):
        default_of(build, "name")


def test_a_method_section_holds_only_its_recipes_keys():
    with pytest.raises(VidsslError,
                       match=r"unknown config key 'method.queue_sz'; valid keys in method: name, transforms"):
        parse_run_config({"method": {"name": "transrank", "queue_sz": 64}})
    with pytest.raises(VidsslError, match=r"method.name: expected one of \['corp_f', 'corp_m', 'sro'"):
        parse_run_config({"method": {"name": "simsiam"}})


def test_configs_of_the_flat_method_section_keep_loading():
    """A config.yaml written by vidssl 0.1 holds every method's keys at their defaults, and `view` on top."""
    flat = {"name": "sro", "transforms": ["1x", "2x", "rev"], "margin": 1.0, "num_clips": None, "head_hidden": 128,
            "task": "corp", "queue_size": 512, "sts_target": "classification"}
    cfg = parse_run_config({"method": flat, "view": {"epochs": 5, "lr": 0.001, "infomin": "intent"}})
    assert (cfg.method.name, cfg.method.queue_size, cfg.method.head_hidden) == ("sro", 512, 128)
    assert (cfg.method.view.epochs, cfg.method.view.infomin) == (5, "intent")
    vcop = parse_run_config({"method": {"name": "vcop", "num_clips": None, "clips": "random"}})
    assert vcop.method.num_clips == 3  # 0.1's null meant the method's default
    untouched = {"method": {"name": "transrank", "queue_size": 4096}, "view": {"epochs": 20}}
    assert upgrade_legacy_sections(untouched)["method"] == {"name": "transrank"}
    assert untouched["method"] == {"name": "transrank", "queue_size": 4096}  # the caller's mapping is not changed


def test_a_setting_of_another_method_names_where_it_belongs():
    with pytest.raises(VidsslError,
                       match=r"^method.margin: not a setting of sro \(it belongs to transrank\); sro takes: name, "):
        parse_run_config({"method": {"name": "sro", "margin": 2.0}})
    with pytest.raises(VidsslError, match=r"^view: the view-synthesis settings are now method.view, a section of sro"):
        parse_run_config({"method": {"name": "transrank"}, "view": {"epochs": 3}})


def test_config_errors_name_the_config_key(ucf):
    with pytest.raises(VidsslError, match=r"^method.margin: "):
        build_method(tiny_config("transrank", ucf, "method.margin=-1"), build_model_backbone(from_dict_model()))
    with pytest.raises(VidsslError, match=r"^method.num_clips: "):
        build_method(tiny_config("vcop", ucf, "method.num_clips=1"), build_model_backbone(from_dict_model()))


def from_dict_model():
    from vidssl.config.schema import ModelConfig

    return from_dict(ModelConfig, {"backbone": "tiny", "width": 0.125})
