"""A pretrained backbone as torchvision weights, TorchScript or ONNX, checked by a round trip (``vidssl export``).

The source is a pretraining run (:class:`vidssl.recipes.run.Run`): its folder (its
``backbone.pt``, or ``checkpoints/last.pt`` while the run has none yet), a ``backbone.pt``
file, or a run's ``checkpoints/last.pt`` (the backbone is the ``backbone.`` entries of the
method's ``"model"`` state_dict, its name and width come from the run's ``config.yaml``).

- ``torchvision``: a plain state_dict (``torch.save``, tensors only) that loads with
  ``strict=True`` into ``torchvision.models.video.<name>(num_classes=N)`` for the
  backbones torchvision has (:data:`TORCHVISION_HEADS`, width 1.0 only). vidssl's
  backbones have no classifier, so the export adds the one torchvision expects,
  initialised as a fresh torchvision model would be (seed 0): ResNets' ``fc`` with
  weights ~ N(0, 0.01) and zero bias, S3D's ``classifier.1`` (a 1×1×1 Conv3d) with
  PyTorch's default init. That head is untrained: fine-tune or replace it.
- ``torchscript``: ``torch.jit.trace`` of the backbone in eval mode on a
  ``(1, 3, frames, size, size)`` clip; ``torch.jit.load(file)(x)`` returns
  ``(B, num_features)`` pooled features. (Recent torch releases, 2.14 included, mark TorchScript deprecated.)
- ``onnx``: ``torch.onnx.export`` (the torch.export-based exporter, which needs
  ``onnxscript``) with a dynamic batch axis: input ``clip`` ``(N, 3, frames, size, size)``,
  output ``features`` ``(N, num_features)``; checked with onnxruntime.
  ``pip install 'vidssl[onnx]'`` installs onnx, onnxscript and onnxruntime.

Every export is serialised in memory, loaded back from those bytes and compared
with the eager backbone on a different random clip batch (2 clips) before the file
is written atomically, so a failed check leaves no file behind.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import cast

import torch
from torch import nn

from vidssl.contracts import Backbone
from vidssl.errors import VidsslError
from vidssl.fileio import atomic_write
from vidssl.recipes.run import NamedBackbone, Run

FORMATS = ("torchvision", "torchscript", "onnx")

TORCHVISION_HEADS = {"r3d_18": "fc", "r2plus1d_18": "fc", "mc3_18": "fc", "s3d": "classifier.1"}
"""Backbones with a ``torchvision.models.video`` counterpart, and the name of the classifier it adds."""

HEAD_SEED = 0
"""Seed of the untrained torchvision classifier, so the same backbone always exports to the same file."""

ATOL, RTOL = 1e-5, 1e-4
"""Round trip passes if max |exported - eager| <= ATOL + RTOL * max |eager| (random-init backbones in eval
mode give outputs in the hundreds; ONNX Runtime's kernels differ from torch's in the last bits)."""

DEFAULT_NAMES = {"torchvision": "{stem}_torchvision.pt", "torchscript": "{stem}_torchscript.pt", "onnx": "{stem}.onnx"}


def default_output(run: Run, source: NamedBackbone, to: str) -> Path:
    """``backbone_<format>.pt`` (``backbone.onnx``) in the run folder, named after the file exported."""
    stem = "backbone" if source.weights.name == "last.pt" else source.weights.stem
    return run.folder / DEFAULT_NAMES[to].format(stem=stem)


# ------------------------------------------------------------- torchvision ---

def check_torchvision_exportable(name: str, width: float | None) -> None:
    if name not in TORCHVISION_HEADS:
        raise VidsslError(
            f"--to torchvision: {name} has no torchvision counterpart (exportable: {', '.join(TORCHVISION_HEADS)}); "
            f"use --to torchscript or --to onnx"
        )
    if width not in (None, 1.0):
        raise VidsslError(
            f"--to torchvision: torchvision's {name} has width 1.0, this backbone has width {width}; "
            f"use --to torchscript or --to onnx"
        )


def torchvision_head(name: str, num_features: int, num_classes: int) -> dict[str, torch.Tensor]:
    """The untrained classifier torchvision's ``name`` has and vidssl's backbone lacks, initialised like
    torchvision's (ResNets: N(0, 0.01) weights, zero bias; S3D: Conv3d default init), from :data:`HEAD_SEED`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(HEAD_SEED)
        head: nn.Linear | nn.Conv3d
        if TORCHVISION_HEADS[name] == "fc":
            head = nn.Linear(num_features, num_classes)
            nn.init.normal_(head.weight, 0, 0.01)
            nn.init.zeros_(head.bias)
        else:
            head = nn.Conv3d(num_features, num_classes, kernel_size=1, stride=1, bias=True)
    prefix = TORCHVISION_HEADS[name]
    return {f"{prefix}.{key}": value for key, value in head.state_dict().items()}


def torchvision_state_dict(backbone: nn.Module, name: str, num_classes: int) -> dict[str, torch.Tensor]:
    """``backbone``'s weights plus an untrained torchvision classifier: loads into torchvision's ``name``."""
    state = {key: value.detach().clone() for key, value in backbone.state_dict().items()}
    num_features = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
    return {**state, **torchvision_head(name, num_features, num_classes)}


def build_torchvision_model(name: str, num_classes: int) -> nn.Module:
    import torchvision.models.video as video

    return getattr(video, name)(weights=None, num_classes=num_classes)


def torchvision_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A torchvision video model's globally pooled features before its classifier: vidssl's ``forward``.

    VideoResNet runs its own forward with ``fc`` swapped for Identity. S3D's
    ``avgpool`` needs a 2×7×7 map (a 16×224² clip), so its ``features`` are averaged here.
    """
    if isinstance(getattr(model, "fc", None), nn.Module):
        head, model.fc = model.fc, nn.Identity()
        try:
            return model(x)
        finally:
            model.fc = head
    features = model.features
    assert isinstance(features, nn.Module)  # torchvision's S3D, the one exportable model without fc
    return features(x).mean(dim=(2, 3, 4))


def export_torchvision(source: NamedBackbone, example: torch.Tensor, check: torch.Tensor, *, num_classes: int):
    """(file bytes, torchvision model's features on ``check`` after loading those bytes with strict=True)."""
    check_torchvision_exportable(source.name, source.width)
    buffer = io.BytesIO()
    torch.save(torchvision_state_dict(source.module, source.name, num_classes), buffer)
    data = buffer.getvalue()
    model = build_torchvision_model(source.name, num_classes)
    model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), strict=True)
    with torch.no_grad():
        return data, torchvision_features(model.eval(), check)


# ------------------------------------------------------------- torchscript ---

def export_torchscript(source: NamedBackbone, example: torch.Tensor, check: torch.Tensor, *, num_classes: int):
    """(file bytes, the output on ``check`` of the module ``torch.jit.load`` reads back from them)."""
    with warnings.catch_warnings():
        # the shape checks in forward become constants of the trace; recent torch deprecates TorchScript
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(source.module, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        data = buffer.getvalue()
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    with torch.no_grad():
        return data, loaded(check)


# -------------------------------------------------------------------- onnx ---

def import_onnx_runtime():
    """onnxruntime, after checking the exporter's dependencies (onnx, onnxscript) are installed too."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise VidsslError(
            f"--to onnx needs onnx, onnxscript and onnxruntime ({err.name or err} is missing): "
            f"pip install 'vidssl[onnx]' (or pip install onnx onnxscript onnxruntime)"
        ) from None
    return onnxruntime


def export_onnx(source: NamedBackbone, example: torch.Tensor, check: torch.Tensor, *, num_classes: int):
    """(file bytes, ONNX Runtime's output on ``check`` for the model in those bytes)."""
    onnxruntime = import_onnx_runtime()
    try:
        program = torch.onnx.export(
            source.module, (example,), dynamo=True, input_names=["clip"], output_names=["features"],
            dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
        )
        assert program is not None  # dynamo=True always returns the ONNXProgram
        data = program.model_proto.SerializeToString()
    except VidsslError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise VidsslError(f"--to onnx: exporting {source.name} failed ({type(err).__name__}: {first})") from None
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"clip": check.numpy()})
    return data, torch.from_numpy(output)


EXPORTERS = {"torchvision": export_torchvision, "torchscript": export_torchscript, "onnx": export_onnx}


# ----------------------------------------------------------------- command ---

def export_backbone(
    ckpt: str | Path,
    *,
    to: str,
    out: str | Path | None = None,
    frames: int = 16,
    size: int = 112,
    num_classes: int | None = None,
) -> dict:
    """Export the backbone of ``ckpt`` to format ``to`` (see the module docstring) and write it to ``out``.

    ``out`` defaults to the run folder (``backbone_torchvision.pt``, ``backbone_torchscript.pt``,
    ``backbone.onnx``); an existing folder gets that file name. ``frames`` × ``size``² is the clip
    the trace and the round-trip check run on. Returns a summary: what was written and the check's
    max abs difference.
    """
    if to not in FORMATS:
        raise VidsslError(f"--to: unknown format {to!r}; choose one of {', '.join(FORMATS)}")
    for option, value in (("--frames", frames), ("--size", size), ("--num-classes", num_classes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise VidsslError(f"{option}: expected a positive integer, got {value!r}")
    if num_classes is not None and to != "torchvision":
        raise VidsslError(f"--num-classes sizes torchvision's classifier; --to {to} exports the backbone alone")
    num_classes = 400 if num_classes is None else num_classes
    run = Run.resolve(ckpt)
    source = run.load_named_backbone()
    if to == "torchvision":
        check_torchvision_exportable(source.name, source.width)  # before the (slow) eager forward
    target = default_output(run, source, to) if out is None else Path(out)
    if target.is_dir():
        target = target / default_output(run, source, to).name
    if target.resolve() == source.weights.resolve():
        raise VidsslError(f"--out {target}: is the file being exported; choose another path")

    backbone = source.module.eval()
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(1, 3, frames, size, size, generator=generator)
    check = torch.randn(2, 3, frames, size, size, generator=generator)  # a different input, and batch 2
    with torch.no_grad():
        expected = backbone(check)  # also rejects clips too small for the backbone (S3D) before exporting
    data, exported = EXPORTERS[to](source, example, check, num_classes=num_classes)
    if exported.shape != expected.shape:
        raise VidsslError(f"--to {to}: round trip gave shape {tuple(exported.shape)}, expected {tuple(expected.shape)}")
    diff = (exported - expected).abs().max().item()
    scale = expected.abs().max().item()
    if not diff <= ATOL + RTOL * scale:
        raise VidsslError(
            f"--to {to}: round-trip check failed, max abs difference {diff:.3g} (outputs up to {scale:.3g}); "
            f"nothing written"
        )
    with atomic_write(target, "wb") as handle:
        handle.write(data)
    return {
        "format": to,
        "out": str(target),
        "source": str(source.weights),
        "backbone": source.name,
        "width": source.width,
        "num_features": backbone.num_features,
        "num_classes": num_classes if to == "torchvision" else None,
        "head": TORCHVISION_HEADS.get(source.name) if to == "torchvision" else None,
        "input_shape": list(example.shape),
        "check_shape": list(check.shape),
        "max_abs_diff": diff,
        "max_abs_output": scale,
        "bytes": len(data),
    }
