"""Config loading: typed values, unknown keys and wrong types rejected with the key named."""
from dataclasses import dataclass, field

import pytest

from vidssl.config.loading import apply_overrides, from_dict, load_yaml, to_dict
from vidssl.errors import VidsslError


@dataclass
class Inner:
    lr: float = 0.1
    steps: int = 3
    names: tuple[str, ...] = ("a",)
    pair: tuple[float, float] = (0.8, 1.2)
    maybe: int | None = None
    flag: bool = False


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    title: str = "x"


def test_values_are_typed_and_nested():
    cfg = from_dict(Outer, {"inner": {"lr": 1, "names": ["1x", "2x"], "pair": [1, 2], "maybe": 4, "flag": True}})
    assert cfg.inner.lr == 1.0 and isinstance(cfg.inner.lr, float)
    assert cfg.inner.names == ("1x", "2x") and cfg.inner.pair == (1.0, 2.0)
    assert cfg.inner.maybe == 4 and cfg.inner.flag is True and cfg.title == "x"
    assert to_dict(cfg)["inner"]["names"] == ["1x", "2x"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"inner": {"lrr": 0.1}}, "unknown config key 'inner.lrr'"),
        ({"extra": 1}, "unknown config key 'extra'"),
        ({"inner": {"steps": "many"}}, "'inner.steps': expected an integer"),
        ({"inner": {"steps": 1.5}}, "'inner.steps': expected an integer"),
        ({"inner": {"lr": "fast"}}, "'inner.lr': expected a number"),
        ({"inner": {"flag": "yes"}}, "'inner.flag': expected true/false"),
        ({"inner": {"pair": [1, 2, 3]}}, "'inner.pair': expected 2 values"),
        ({"inner": 5}, "inner: expected a mapping"),
    ],
)
def test_bad_keys_and_types_name_the_key(data, message):
    with pytest.raises(VidsslError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict(Outer, data)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(VidsslError) as err:
        from_dict(Outer, {"inner": {"lrr": 0.1}})
    assert "lr, steps, names, pair, maybe, flag" in str(err.value)


def test_overrides_parse_yaml_values():
    data = apply_overrides({"inner": {"lr": 0.1}}, ["inner.lr=0.05", "inner.names=[1x,rev]", "title=run"])
    cfg = from_dict(Outer, data)
    assert cfg.inner.lr == 0.05 and cfg.inner.names == ("1x", "rev") and cfg.title == "run"
    with pytest.raises(VidsslError, match="expected section.key=value"):
        apply_overrides({}, ["inner.lr"])


def test_load_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(VidsslError, match="config file not found"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [0.1\n")
    with pytest.raises(VidsslError, match=r"bad.yaml:\d+: not valid YAML"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(VidsslError, match="expected a mapping"):
        load_yaml(listy)


def test_base_configs_merge_section_by_section_and_cycles_are_errors(tmp_path):
    from vidssl.recipes.configs import load_run_config

    (tmp_path / "parent.yaml").write_text("method:\n  transforms: [1x, 2x, rev]\n  loss: rank\ntrain:\n  lr: 0.1\n")
    (tmp_path / "child.yaml").write_text("base: parent.yaml\nmethod:\n  loss: ce\n")
    (tmp_path / "grandchild.yaml").write_text("base: child.yaml\nmethod:\n  transforms: [1x, 2x]\n")
    cfg = load_run_config(str(tmp_path / "grandchild.yaml"), ["train.lr=0.5"])
    assert cfg.method.transforms == ("1x", "2x")  # a list replaces, it does not append
    assert cfg.method.loss == "ce" and cfg.train.lr == 0.5
    packaged = tmp_path / "on_packaged.yaml"
    packaged.write_text("base: transrank_t_r3d18\nmethod:\n  loss: ce\n")
    cfg = load_run_config(str(packaged))
    assert cfg.model.backbone == "r3d_18" and cfg.method.loss == "ce"
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(VidsslError, match="loops"):
        load_run_config(str(tmp_path / "a.yaml"))
    (tmp_path / "missing.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(VidsslError, match="nowhere.yaml: config file not found"):
        load_run_config(str(tmp_path / "missing.yaml"))
