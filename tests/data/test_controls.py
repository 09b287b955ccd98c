"""The negative control: the sampler's clips, with pretext targets that say nothing about them."""
from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from videofixtures import NumberedReader
from vidssl.config.loading import apply_overrides
from vidssl.data.controls import ScrambledTargets
from vidssl.data.datasets import VideoRecord
from vidssl.data.pretext.corp import CORPSampler
from vidssl.data.pretext.sro import SROSampler
from vidssl.data.pretext.sts import STSSampler
from vidssl.data.pretext.transrank import TransRankSampler
from vidssl.data.pretext.vcop import VCOPSampler
from vidssl.data.transforms import ClipAugment
from vidssl.errors import VidsslError
from vidssl.recipes.configs import parse_run_config
from vidssl.recipes.pretrain import build_pretext_sampler

RECORD = VideoRecord("v.mp4", label=0, num_frames=64, fps=25.0, height=20, width=24)
AUGMENT = dict(resize=(20, 24), jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, hue=0.0)
SAMPLERS = {
    "transrank": lambda: TransRankSampler(transforms=("1x", "2x", "rev"), clip_len=4,
                                          augment=ClipAugment(16, **AUGMENT)),
    "sro": lambda: SROSampler(clip_len=9, num_segments=3, min_length=3, rate_range=(1, 3),
                              augment=ClipAugment(16, **AUGMENT)),
    "vcop": lambda: VCOPSampler(clip_len=4, interval=2, tuple_len=3, augment=ClipAugment(16, **AUGMENT)),
    "corp": lambda: CORPSampler(clip_len=4, dilation=2, num_clips=3, augment=ClipAugment(16, **AUGMENT)),
    "sts": lambda: STSSampler(clip_len=4, size=16, resize=(20, 24), flow="dis_ultrafast"),
}
# The target whose independence from the clips each test checks, as one hashable value per sample.
TARGET = {
    "transrank": lambda s: int(s["transform_ids"][0]),  # the id given to the 1x clip
    "sro": lambda s: int(s["order_label"]),
    "vcop": lambda s: int(s["order_label"]),
    "corp": lambda s: int(torch.argmin(s["starts"])),  # which clip the targets call the earliest
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_the_clips_are_the_samplers_and_the_targets_keep_their_shapes(name):
    sampler = SAMPLERS[name]()
    plain = sampler(RECORD, NumberedReader(), np.random.default_rng(3))
    scrambled = ScrambledTargets(sampler)(RECORD, NumberedReader(), np.random.default_rng(3))
    assert set(scrambled) == set(plain)
    for key, value in plain.items():
        assert scrambled[key].shape == value.shape and scrambled[key].dtype == value.dtype, key
    clips = "clip" if name == "sts" else "clips"  # STS samples one clip
    torch.testing.assert_close(scrambled[clips], plain[clips], rtol=0, atol=0)
    torch.testing.assert_close(scrambled["frame_indices"], plain["frame_indices"], rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(TARGET))
def test_the_scrambled_targets_are_independent_of_the_clips(name):
    """Over many draws, the real target and the scrambled one are independent (chi-square), while the real one
    follows the clips by construction; the scrambled one is spread over its classes."""
    sampler, control = SAMPLERS[name](), ScrambledTargets(SAMPLERS[name]())
    real, scrambled = [], []
    for seed in range(600):
        real.append(TARGET[name](sampler(RECORD, NumberedReader(), np.random.default_rng(seed))))
        scrambled.append(TARGET[name](control(RECORD, NumberedReader(), np.random.default_rng(seed))))
    counts = Counter(scrambled)
    assert len(counts) >= 3 and min(counts.values()) > 600 / len(counts) / 2, counts
    if len(set(real)) > 1:
        table = np.zeros((max(real) + 1, max(scrambled) + 1))
        for r, s in zip(real, scrambled):
            table[r, s] += 1
        table = table[table.sum(1) > 0][:, table.sum(0) > 0]
        assert chi2_contingency(table).pvalue > 1e-3
    else:
        assert real[0] == 0  # TransRank: the 1x clip always carries id 0 in the real sampler


def test_sts_labels_are_drawn_within_their_classes():
    from vidssl.data.statistics import APPEARANCE_LABELS, motion_label_specs

    control = ScrambledTargets(SAMPLERS["sts"]())
    samples = [control(RECORD, NumberedReader(), np.random.default_rng(seed)) for seed in range(40)]
    motion = torch.stack([s["motion_labels"] for s in samples])
    appearance = torch.stack([s["appearance_labels"] for s in samples])
    motion_classes = torch.tensor([spec.num_classes for spec in motion_label_specs(3)])
    appearance_classes = torch.tensor([spec.num_classes for spec in APPEARANCE_LABELS])
    assert (motion >= 0).all() and (motion < motion_classes).all()
    assert (appearance >= 0).all() and (appearance < appearance_classes).all()
    assert (motion.float().std(0) > 0).all()  # every label varies from sample to sample


def test_the_control_pickles_and_reads_through_to_its_sampler():
    control = ScrambledTargets(SAMPLERS["vcop"]())
    again = pickle.loads(pickle.dumps(control))
    assert again.num_orders == 6 and again.clip_len == 4
    first = again(RECORD, NumberedReader(), np.random.default_rng(0))
    second = control(RECORD, NumberedReader(), np.random.default_rng(0))
    assert int(first["order_label"]) == int(second["order_label"])


def test_a_sampler_without_targets_is_refused():
    with pytest.raises(VidsslError, match="^sampler: object has no scramble_targets"):
        ScrambledTargets(object())


def test_the_config_key_builds_the_control():
    cfg = parse_run_config(apply_overrides({"method": {"name": "vcop"}}, ["data.pretext_targets=scrambled"]))
    assert isinstance(build_pretext_sampler(cfg), ScrambledTargets)
    assert isinstance(build_pretext_sampler(parse_run_config({"method": {"name": "vcop"}})), VCOPSampler)
    with pytest.raises(VidsslError, match="data.pretext_targets"):
        parse_run_config({"data": {"pretext_targets": "shuffled"}})
