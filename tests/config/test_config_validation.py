"""Config values no run can use are refused when the config is built, naming the key and the value."""

from __future__ import annotations

import pytest

from vidssl.cli.main import main
from vidssl.config.loading import apply_overrides, from_dict
from vidssl.config.schema import ClipConfig, DataConfig
from vidssl.errors import VidsslError
from vidssl.recipes.configs import load_run_config, packaged_config_names, parse_run_config
from vidssl.recipes.run_config import RunConfig

RESIZE_RULE = "null or [height, width], integers >= clip.size (112)"


def run_config(*overrides: str) -> RunConfig:
    return parse_run_config(apply_overrides({}, list(overrides)))


@pytest.mark.parametrize(
    "override, message",
    [
        ("clip.frames=-3", "clip.frames=-3: expected a positive integer"),
        ("clip.frames=0", "clip.frames=0: expected a positive integer"),
        ("clip.size=0", "clip.size=0: expected a positive integer"),
        ("clip.base_interval=0", "clip.base_interval=0: expected a positive integer"),
        ("clip.jitter=[1.2,0.8]", "clip.jitter=[1.2, 0.8]: expected [low, high] with 0 < low <= high"),
        ("clip.jitter=[0,1]", "clip.jitter=[0.0, 1.0]: expected [low, high] with 0 < low <= high"),
        ("clip.short_video=wrap", "clip.short_video=wrap: expected one of loop, clamp"),
        ("clip.scale=[0.2,1.5]", "clip.scale=[0.2, 1.5]: expected [low, high] with 0 < low <= high <= 1"),
        ("clip.scale=[0,1]", "clip.scale=[0.0, 1.0]: expected [low, high] with 0 < low <= high <= 1"),
        ("clip.ratio=[1.3,0.7]", "clip.ratio=[1.3, 0.7]: expected [low, high] with 0 < low <= high"),
        ("clip.flip_p=1.5", "clip.flip_p=1.5: expected a probability in [0, 1]"),
        ("clip.color_jitter_p=-0.1", "clip.color_jitter_p=-0.1: expected a probability in [0, 1]"),
        ("clip.grayscale_p=2", "clip.grayscale_p=2.0: expected a probability in [0, 1]"),
        ("clip.blur_p=.nan", "clip.blur_p=nan: expected a probability in [0, 1]"),
        ("clip.brightness=-0.4", "clip.brightness=-0.4: expected a number >= 0"),
        ("clip.contrast=-1", "clip.contrast=-1.0: expected a number >= 0"),
        ("clip.saturation=-0.5", "clip.saturation=-0.5: expected a number >= 0"),
        ("clip.hue=0.6", "clip.hue=0.6: expected a number in [0, 0.5]"),
        ("clip.resize=[100,171]", f"clip.resize=[100, 171]: expected {RESIZE_RULE}"),
        ("clip.resize=[128,0]", f"clip.resize=[128, 0]: expected {RESIZE_RULE}"),
    ],
)
def test_every_clip_field_is_checked_naming_key_and_value(override, message):
    with pytest.raises(VidsslError) as err:
        run_config(override)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "override",
    ["clip.frames=1", "clip.jitter=[1,1]", "clip.scale=[1,1]", "clip.short_video=clamp", "clip.flip_p=0",
     "clip.flip_p=1", "clip.hue=0.5", "clip.brightness=0", "clip.resize=[112,112]", "clip.resize=null"],
)
def test_boundary_values_are_accepted(override):
    run_config(override)


def test_clip_section_alone_names_the_key_without_a_prefix():
    with pytest.raises(VidsslError, match=r"^frames=0: expected a positive integer$"):
        from_dict(ClipConfig, {"frames": 0})


def test_negative_cache_short_side_is_refused_naming_the_key():
    with pytest.raises(VidsslError) as err:
        run_config("data.cache_short_side=-48")
    assert str(err.value) == "data.cache_short_side=-48: expected an integer >= 0 (0 = no frame cache)"
    assert from_dict(DataConfig, {"cache_short_side": 0}).cache_short_side == 0


def test_every_packaged_config_passes_validation():
    for name in packaged_config_names():
        load_run_config(name)


def test_cli_refuses_clip_frames_before_training_or_writing(tmp_path, capsys, monkeypatch):
    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretraining started with an invalid clip.frames")

    monkeypatch.setattr("vidssl.recipes.pretrain.pretrain", no_pretraining)
    out = tmp_path / "r"
    code = main(["pretrain", "quickstart", "clip.frames=0", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "error: clip.frames=0: expected a positive integer\n"
    assert not out.exists()
