"""``vidssl export``: torchvision weights load with strict=True and give our features; TorchScript and ONNX
round trips equal the eager backbone; every source (run folder, backbone.pt, checkpoints/last.pt); bad input
is one error line."""
import importlib.util
import sys

import pytest
import torch
from torch import nn

from clitools import assert_one_line_error, run_cli
from vidssl.config.loading import to_dict
from vidssl.config.schema import ModelConfig
from vidssl.engine.checkpoint import save_checkpoint
from vidssl.errors import VidsslError
from vidssl.models import build_backbone
from vidssl.recipes.export import (
    TORCHVISION_HEADS,
    build_torchvision_model,
    export_backbone,
    torchvision_head,
    torchvision_state_dict,
)
from vidssl.recipes.pretrain import save_backbone
from vidssl.recipes.run_config import RunConfig, write_yaml_atomic

ONNX_INSTALLED = all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime"))


def saved_backbone(folder, name, width=None):
    """A random-init backbone saved as ``folder/backbone.pt`` like a finished run; returns it (eval mode)."""
    torch.manual_seed(0)
    backbone = build_backbone(name, **({} if width is None else {"width": width}))
    save_backbone(folder / "backbone.pt", backbone, name=name, width=width)
    return backbone.eval()


def fake_run(folder, name="tiny", width=None):
    """A run folder with config.yaml and checkpoints/last.pt (a method's state_dict: backbone. + a head), no
    backbone.pt; returns the backbone."""
    torch.manual_seed(1)
    backbone = build_backbone(name, **({} if width is None else {"width": width}))
    model = {f"backbone.{key}": value for key, value in backbone.state_dict().items()}
    model["head.weight"] = torch.randn(4, backbone.num_features)
    write_yaml_atomic(folder / "config.yaml", to_dict(RunConfig(model=ModelConfig(backbone=name, width=width))))
    save_checkpoint(folder / "checkpoints" / "last.pt", {"model": model, "epoch": 1})
    return backbone.eval()


def clips(batch, frames, size, seed=7):
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------- torchvision ---

@pytest.mark.parametrize("name, frames, num_classes", [("r3d_18", 4, None), ("s3d", 8, 10)])
def test_torchvision_export_loads_strict_and_gives_our_features(tmp_path, name, frames, num_classes):
    backbone = saved_backbone(tmp_path, name)
    summary = export_backbone(tmp_path, to="torchvision", frames=frames, size=32, num_classes=num_classes)
    assert summary["out"] == str(tmp_path / "backbone_torchvision.pt")
    assert summary["max_abs_diff"] <= 1e-5
    state = torch.load(summary["out"], weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values())

    classes = num_classes or 400
    model = build_torchvision_model(name, classes)
    model.load_state_dict(state, strict=True)
    model.eval()
    x = clips(2, frames, 32)
    with torch.no_grad():
        ours = backbone(x)
        if name == "s3d":  # torchvision's avgpool needs a 2x7x7 map: pool its features globally
            theirs = model.features(x).mean(dim=(2, 3, 4))
            assert state["classifier.1.weight"].shape == (classes, 1024, 1, 1, 1)
        else:
            model.fc = nn.Identity()
            theirs = model(x)
            assert state["fc.weight"].shape == (classes, 512)
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["r2plus1d_18", "mc3_18"])
def test_torchvision_state_dict_fits_the_other_resnets(name):
    state = torchvision_state_dict(build_backbone(name), name, 400)
    build_torchvision_model(name, 400).load_state_dict(state, strict=True)


def test_torchvision_head_is_torchvision_style_seeded_and_leaves_the_rng_alone():
    rng = torch.get_rng_state()
    head = torchvision_head("r3d_18", 512, 400)
    assert torch.equal(torch.get_rng_state(), rng)
    assert sorted(head) == ["fc.bias", "fc.weight"]
    assert torch.equal(head["fc.bias"], torch.zeros(400))
    assert abs(head["fc.weight"].std().item() - 0.01) < 1e-3
    assert torch.equal(torchvision_head("r3d_18", 512, 400)["fc.weight"], head["fc.weight"])
    s3d = torchvision_head("s3d", 1024, 7)
    assert {key: tuple(value.shape) for key, value in s3d.items()} == {
        "classifier.1.weight": (7, 1024, 1, 1, 1), "classifier.1.bias": (7,)}


@pytest.mark.parametrize("name, width, needle", [
    ("tiny", None, "no torchvision counterpart"),
    ("r3d_10", 0.25, "no torchvision counterpart"),
    ("s3dg", 0.25, "no torchvision counterpart"),
    ("r3d_18", 0.25, "width 0.25"),
])
def test_torchvision_export_refuses_backbones_torchvision_lacks(tmp_path, name, width, needle):
    saved_backbone(tmp_path, name, width)
    with pytest.raises(VidsslError, match=needle) as err:
        export_backbone(tmp_path, to="torchvision", frames=4, size=32)
    message = str(err.value)
    assert "\n" not in message and "--to torchscript" in message and "--to onnx" in message
    if "counterpart" in needle:
        assert all(exportable in message for exportable in TORCHVISION_HEADS)
    assert not (tmp_path / "backbone_torchvision.pt").exists()


# ------------------------------------------------------- torchscript, onnx ---

@pytest.mark.parametrize("name, width, frames", [("tiny", None, 4), ("s3d", 0.25, 8)])
def test_torchscript_round_trip(tmp_path, name, width, frames):
    backbone = saved_backbone(tmp_path, name, width)
    out = tmp_path / "exported" / "model.pt"
    summary = export_backbone(tmp_path / "backbone.pt", to="torchscript", out=out, frames=frames, size=32)
    assert summary["out"] == str(out) and summary["max_abs_diff"] <= 1e-5
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.pt"]  # atomic write: no temp file left
    loaded = torch.jit.load(str(out))
    x = clips(3, frames, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), backbone(x), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not ONNX_INSTALLED, reason="needs onnx, onnxscript and onnxruntime (pip install 'vidssl[onnx]')")
def test_onnx_round_trip_with_dynamic_batch(tmp_path):
    import onnxruntime

    backbone = saved_backbone(tmp_path, "tiny")
    summary = export_backbone(tmp_path, to="onnx", frames=4, size=32)
    assert summary["out"] == str(tmp_path / "backbone.onnx")
    assert summary["max_abs_diff"] <= 1e-5
    session = onnxruntime.InferenceSession(summary["out"], providers=["CPUExecutionProvider"])
    x = clips(3, 4, 32)
    (output,) = session.run(None, {"clip": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(output), backbone(x), atol=1e-5, rtol=1e-4)


def test_onnx_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    saved_backbone(tmp_path, "tiny")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(VidsslError, match=r"pip install 'vidssl\[onnx\]'") as err:
        export_backbone(tmp_path, to="onnx", frames=4, size=32)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "backbone.onnx").exists()


# ----------------------------------------------------------------- sources ---

@pytest.mark.parametrize("where", ["run folder", "last.pt"])
def test_export_from_a_training_checkpoint(tmp_path, where):
    backbone = fake_run(tmp_path)
    ckpt = tmp_path if where == "run folder" else tmp_path / "checkpoints" / "last.pt"
    summary = export_backbone(ckpt, to="torchscript", frames=4, size=32)
    assert summary["out"] == str(tmp_path / "backbone_torchscript.pt")
    assert summary["source"] == str(tmp_path / "checkpoints" / "last.pt") and summary["backbone"] == "tiny"
    x = clips(2, 4, 32)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(summary["out"])(x), backbone(x), atol=1e-5, rtol=1e-5)


def test_a_run_folder_prefers_its_backbone_pt(tmp_path):
    fake_run(tmp_path)
    backbone = saved_backbone(tmp_path, "tiny")  # different weights (seed 0) from last.pt's (seed 1)
    summary = export_backbone(tmp_path, to="torchscript", frames=4, size=32)
    assert summary["source"] == str(tmp_path / "backbone.pt")
    x = clips(2, 4, 32)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(summary["out"])(x), backbone(x), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ errors ---

def test_bad_inputs_raise_one_line_errors(tmp_path):
    saved_backbone(tmp_path, "tiny")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases = [
        (dict(ckpt=tmp_path / "missing", to="torchscript"), "does not exist"),
        (dict(ckpt=tmp_path / "junk.pt", to="torchscript"), "not a vidssl backbone.pt"),
        (dict(ckpt=tmp_path, to="tflite"), "unknown format 'tflite'"),
        (dict(ckpt=tmp_path, to="torchscript", num_classes=10), "--num-classes"),
        (dict(ckpt=tmp_path, to="torchscript", frames=0), "--frames"),
        (dict(ckpt=tmp_path, to="torchscript", out=tmp_path / "backbone.pt"), "is the file being exported"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(VidsslError, match=needle) as err:
            export_backbone(**{"frames": 4, "size": 32, **kwargs})
        assert "\n" not in str(err.value)


def test_s3d_clip_too_short_is_refused_before_exporting(tmp_path):
    saved_backbone(tmp_path, "s3d", 0.25)
    with pytest.raises(VidsslError, match="at least 5 frames"):
        export_backbone(tmp_path, to="torchscript", frames=4, size=32)
    assert not (tmp_path / "backbone_torchscript.pt").exists()


def test_cli_prints_what_it_wrote_and_the_difference(tmp_path, capsys):
    saved_backbone(tmp_path, "tiny")
    code, out, _ = run_cli(["export", str(tmp_path), "--to", "torchscript", "--frames", "4", "--size", "32"], capsys)
    assert code == 0
    assert f"wrote {tmp_path / 'backbone_torchscript.pt'}" in out and "max abs difference" in out


@pytest.mark.parametrize("args, needles", [
    (["MISSING", "--to", "torchscript"], ("MISSING", "does not exist")),
    (["RUN", "--to", "keras"], ("unknown format 'keras'", "torchvision, torchscript, onnx")),
    (["RUN", "--to", "torchvision"], ("tiny has no torchvision counterpart", "--to torchscript")),
])
def test_cli_bad_input_is_one_error_line(tmp_path, capsys, args, needles):
    saved_backbone(tmp_path, "tiny")
    args = [str(tmp_path / "missing") if a == "MISSING" else str(tmp_path) if a == "RUN" else a for a in args]
    code, _, err = run_cli(["export", *args, "--frames", "4", "--size", "32"], capsys)
    assert_one_line_error(code, err, *[str(tmp_path / "missing") if n == "MISSING" else n for n in needles])
