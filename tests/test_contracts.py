"""Every reader kind, pretext sampler, registered backbone and method meets its protocol in vidssl.contracts.

The check is structural and does not rely on ``isinstance`` alone: each
protocol member must exist, and each protocol method must take the protocol's
parameters under the same names and kinds (extra parameters need defaults).
The samplers are also run once and their dict handed to the paired method's
``training_step``, so the two halves of each method are seen to fit.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import sys
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

import vidssl.data.pretext
import vidssl.methods
from videofixtures import NumberedReader, frame_index_of, numbered_frames, write_frame_folder, write_video
from vidssl import contracts
from vidssl.contracts import Backbone, Method, Reader, Record, Sampler
from vidssl.data.datasets import VideoRecord
from vidssl.data.pretext.sts import ClipRecord
from vidssl.data.transforms.clip import ClipAugment
from vidssl.data.video import READERS, build_frame_cache, make_reader
from vidssl.models import BACKBONES, TAPS, tiny

SMALL_AUGMENT = dict(resize=(20, 24), jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, hue=0.0)

# A tiny instance of every sampler class in vidssl/data/pretext/ (keyword arguments as in the sampler tests).
TINY_SAMPLERS = {
    "TransRankSampler": dict(transforms=("1x", "2x"), clip_len=4, augment=ClipAugment(16, **SMALL_AUGMENT)),
    "SROSampler": dict(clip_len=6, num_segments=2, min_length=3, rate_range=(1, 2),
                       augment=ClipAugment(16, **SMALL_AUGMENT)),
    "VCOPSampler": dict(clip_len=4, interval=2, tuple_len=3, augment=ClipAugment(16, **SMALL_AUGMENT)),
    "CORPSampler": dict(clip_len=4, dilation=2, num_clips=2, augment=ClipAugment(16, **SMALL_AUGMENT)),
    "STSSampler": dict(clip_len=4, size=32, resize=(40, 56), flow="dis_ultrafast"),
}

# A tiny instance of every method class in vidssl/methods/, and the sampler whose samples it trains on.
TINY_METHODS = {
    "TransRank": (dict(transforms=("1x", "2x"), head_hidden=8), "TransRankSampler"),
    "SRO": (dict(num_segments=2, rate_range=(1, 2), head_hidden=8, queue_size=8, projection_dim=8), "SROSampler"),
    "VCOP": (dict(tuple_len=3, head_hidden=8), "VCOPSampler"),
    "CORP": (dict(projection_dim=8, relation_hidden=8), "CORPSampler"),
    "STS": (dict(clip_len=4), "STSSampler"),
    "ViewSynthesis": (dict(vae_width=4, latent_channels=2, flow_width=4), "SROSampler"),
}

DATASET_KEYS = ("label", "video_index", "skipped")


# ------------------------------------------------------------------ the structural check ---


def protocol_members(protocol: type) -> tuple[list[str], list[str]]:
    """(attribute names, method names) a protocol declares in its own body; properties count as attributes."""
    properties = [name for name, value in protocol.__dict__.items() if isinstance(value, property)]
    attributes = list(protocol.__dict__.get("__annotations__", {})) + properties
    methods = [
        name for name, value in protocol.__dict__.items()
        if callable(value) and (name == "__call__" or not name.startswith("_"))
    ]
    return attributes, methods


def signature_mismatch(implementation: Any, declared: Any) -> str | None:
    """Why the bound ``implementation`` cannot be called the way the protocol method ``declared`` is, or None."""
    wanted = list(inspect.signature(declared).parameters.values())[1:]  # without self
    offered = inspect.signature(implementation).parameters
    for parameter in wanted:
        match = offered.get(parameter.name)
        if match is None or match.kind != parameter.kind:
            return f"takes no {parameter.kind.description} parameter {parameter.name!r}"
        if parameter.default is not inspect.Parameter.empty and match.default is inspect.Parameter.empty:
            return f"has no default for {parameter.name!r}"
    positional = [p.name for p in offered.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    declared_positional = [p.name for p in wanted if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    if positional[: len(declared_positional)] != declared_positional:
        return f"takes its positional parameters as {positional}, not {declared_positional}"
    names = {p.name for p in wanted}
    required = [
        name for name, p in offered.items()
        if name not in names and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    return f"also requires {required}" if required else None


def contract_breaches(obj: Any, protocol: type) -> list[str]:
    """What ``obj`` lacks of ``protocol``: missing attributes, missing methods, incompatible signatures."""
    attributes, methods = protocol_members(protocol)
    breaches = [f"no attribute {name!r}" for name in attributes if not hasattr(obj, name)]
    for name in methods:
        implementation = getattr(obj, name, None)
        if not callable(implementation):
            breaches.append(f"no method {name!r}")
        elif (why := signature_mismatch(implementation, protocol.__dict__[name])) is not None:
            breaches.append(f"{name} {why}")
    return breaches


def classes_defined_in(package: Any) -> dict[str, type]:
    """Every concrete class defined in a module of ``package`` (protocols left out), by name."""
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in vars(module).items():
            defined_here = inspect.isclass(value) and value.__module__ == module.__name__
            if defined_here and not getattr(value, "_is_protocol", False):
                found[name] = value
    return found


def test_the_structural_check_sees_missing_members_and_wrong_signatures():
    class NoRead:
        pass

    class ReadsByOtherNames:
        def read(self, file, frames):
            return np.zeros((0, 1, 1, 3), np.uint8)

    class NeedsMore:
        def forward(self, x):
            return x

        def forward_features(self, x, layers=("pool",), *, pooling="avg", device):
            return {}

    assert contract_breaches(NoRead(), Reader) == ["no method 'read'"]
    assert contract_breaches(ReadsByOtherNames(), Reader)[0].startswith("read takes no")
    assert contract_breaches(NeedsMore(), Backbone) == [
        "no attribute 'num_features'", "forward_features also requires ['device']"
    ]


def test_the_contract_taps_are_the_models_taps():
    assert contracts.TAPS == TAPS


# ---------------------------------------------------------------------------- readers ---


@pytest.fixture(scope="module")
def one_video_every_way(tmp_path_factory) -> dict[str, tuple[Reader, str]]:
    """A 12-frame numbered video as an encoded file, a PNG frame folder and a frame cache: (reader, path) by kind."""
    folder = tmp_path_factory.mktemp("contract_video")
    frames = numbered_frames(12)
    video = write_video(folder / "numbered.mkv", frames, codec="ffv1")
    frame_folder = write_frame_folder(folder / "numbered_frames", frames, template="img_{:05d}.png")
    record = VideoRecord(str(video), 0, 12, 25.0, 32, 32)
    build_frame_cache([record], folder / "cache", short_side=32, workers=1, progress=False)
    return {
        "pyav": (make_reader("pyav"), str(video)),
        "frames": (make_reader("frames", template="img_{:05d}.png"), str(frame_folder)),
        "cache": (make_reader("cache", cache_dir=folder / "cache"), str(video)),
    }


def test_every_reader_kind_is_checked():
    assert set(READERS) == {"pyav", "frames", "cache"}


@pytest.mark.parametrize("kind", sorted(READERS))
def test_every_reader_kind_meets_the_reader_contract(kind, one_video_every_way):
    reader, path = one_video_every_way[kind]
    assert isinstance(reader, Reader)
    assert contract_breaches(reader, Reader) == []
    frames = reader.read(path, np.array([7, 0, 7, 3]))
    assert frames.dtype == np.uint8 and frames.shape == (4, 32, 32, 3)
    assert [frame_index_of(frame) for frame in frames] == [7, 0, 7, 3]
    again = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(again.read(path, [7, 0, 7, 3]), frames)


# --------------------------------------------------------------------------- samplers ---




RECORD = VideoRecord("videos/contract.mp4", label=1, num_frames=48, fps=25.0, height=20, width=24)
PRETEXT_SAMPLERS = classes_defined_in(vidssl.data.pretext)


def make_sampler(name: str) -> Sampler:
    return PRETEXT_SAMPLERS[name](**TINY_SAMPLERS[name])


def test_every_pretext_sampler_class_has_a_tiny_instance():
    samplers = {name for name, cls in PRETEXT_SAMPLERS.items() if "__call__" in vars(cls)}
    assert samplers == set(TINY_SAMPLERS)


def test_records_meet_the_record_contract():
    assert isinstance(RECORD, Record) and contract_breaches(RECORD, Record) == []
    clip_record = ClipRecord(path="videos/contract.mp4", label=1, num_frames=48, start=4)
    assert isinstance(clip_record, Record) and contract_breaches(clip_record, Record) == []


@pytest.mark.parametrize("name", sorted(TINY_SAMPLERS))
def test_every_pretext_sampler_meets_the_sampler_contract(name):
    sampler = make_sampler(name)
    assert isinstance(sampler, Sampler)
    assert contract_breaches(sampler, Sampler) == []
    sample = sampler(RECORD, NumberedReader(), np.random.default_rng(0))
    assert all(isinstance(value, torch.Tensor) for value in sample.values()), sample.keys()
    assert not set(DATASET_KEYS) & set(sample)
    clips = sample["clips"] if "clips" in sample else sample["clip"]
    assert clips.dtype == torch.uint8 and clips.shape[-4] == 3
    assert sample["frame_indices"].dtype == torch.long
    copy = pickle.loads(pickle.dumps(sampler))
    same = copy(RECORD, NumberedReader(), np.random.default_rng(0))
    assert same.keys() == sample.keys()
    assert all(torch.equal(same[key], sample[key]) for key in sample)


# -------------------------------------------------------------------------- backbones ---


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_registered_backbone_meets_the_backbone_contract(name):
    backbone = BACKBONES[name](width=0.125)
    assert isinstance(backbone, nn.Module) and isinstance(backbone, Backbone)
    assert contract_breaches(backbone, Backbone) == []
    assert isinstance(backbone.num_features, int) and backbone.num_features > 0


# ---------------------------------------------------------------------------- methods ---

METHOD_CLASSES = {name: cls for name, cls in classes_defined_in(vidssl.methods).items() if issubclass(cls, nn.Module)}


def test_every_method_class_has_a_tiny_instance():
    assert set(METHOD_CLASSES) == set(TINY_METHODS)
    from vidssl.recipes.table import RECIPES

    def built_class(recipe):
        """The class a recipe's build_method names as its return annotation."""
        module = sys.modules[recipe.build_method.__module__]
        return getattr(module, inspect.signature(recipe.build_method).return_annotation)

    built = {r.name: built_class(r) for r in RECIPES.values()}
    assert set(built.values()) <= set(METHOD_CLASSES.values())  # every recipe builds a class checked here


@pytest.mark.parametrize("name", sorted(TINY_METHODS))
def test_every_method_meets_the_method_contract_and_trains_on_its_samplers_output(name):
    torch.manual_seed(0)
    kwargs, sampler_name = TINY_METHODS[name]
    method = METHOD_CLASSES[name](tiny(width=0.125), **kwargs)
    assert isinstance(method, nn.Module)
    assert contract_breaches(method, Method) == []
    assert isinstance(method.backbone, Backbone) and contract_breaches(method.backbone, Backbone) == []
    sampler = make_sampler(sampler_name)
    samples = [sampler(RECORD, NumberedReader(), np.random.default_rng(seed)) for seed in range(2)]
    batch = default_collate([{**sample, "label": torch.tensor(1), "skipped": 0} for sample in samples])
    method.train()
    loss, logs = method.training_step(batch)
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0 and torch.isfinite(loss)
    assert isinstance(logs, dict) and all(isinstance(key, str) for key in logs)
    assert all(isinstance(value, (int, float, torch.Tensor)) for value in logs.values())
