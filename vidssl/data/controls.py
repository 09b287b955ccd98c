"""Negative controls: a pretext sampler whose targets say nothing about its clips.

A method "learns something useful" only if it beats random init AND its negative
control: the same method, data, augmentation and compute, trained on targets
drawn at random per sample (issue 19). :class:`ScrambledTargets` wraps any
sampler with a ``scramble_targets(sample, rng)`` method: the clips are exactly
those the sampler draws (the scrambling draws from ``rng`` after them), only
the targets change, so whatever the control learns comes from the clips and the
loss, never from the pretext.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vidssl.checks import ArgumentError
from vidssl.contracts import Reader, Record


class ScrambledTargets:
    """``sampler`` with every sample's pretext targets drawn at random, independent of its clips.

    Everything else (``clip_len``, ``difficulty`` and the other attributes recipes read) is the wrapped
    sampler's. Picklable, like the samplers it wraps.
    """

    def __init__(self, sampler: Any) -> None:
        if not callable(getattr(sampler, "scramble_targets", None)):
            raise ArgumentError("sampler", f"{type(sampler).__name__} has no scramble_targets(sample, rng): "
                                           "its pretext has no targets to scramble")
        self.sampler = sampler

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return self.sampler.scramble_targets(self.sampler(record, reader, rng), rng)

    def __getattr__(self, name: str) -> Any:
        if name == "sampler":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def __repr__(self) -> str:
        return f"ScrambledTargets({self.sampler!r})"
