"""What every pretext sampler does after choosing frame indices: read them once, augment each clip.

The interfaces a sampler is given are structural: a record and a reader as
:mod:`vidssl.contracts` states them, and a per-clip augmentation (``Augment``).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from vidssl.contracts import Reader, Record
from vidssl.errors import CorruptVideoError


class Augment(Protocol):
    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, Any]]: ...


def check_has_frames(record: Record) -> int:
    """The record's frame count; a video without frames is corrupt (skipped and counted by the dataset)."""
    num_frames = int(record.num_frames)
    if num_frames < 1:
        raise CorruptVideoError(f"{record.path}: video has no frames (num_frames={num_frames})")
    return num_frames


def read_frames(record: Record, reader: Reader, indices: np.ndarray) -> np.ndarray:
    """Frames of ``indices`` (any shape) → (*indices.shape, H, W, C): ONE ``reader.read`` of the sorted unique
    frames (a frame asked for twice is decoded once), gathered back into the order asked for."""
    unique = np.unique(indices)
    frames = reader.read(record.path, unique)
    if len(frames) != len(unique):
        raise CorruptVideoError(f"{record.path}: reader returned {len(frames)} frames, expected {len(unique)}")
    return frames[np.searchsorted(unique, indices)]


def read_and_augment(
    record: Record, reader: Reader, indices: np.ndarray, augment: Augment, rng: np.random.Generator
) -> list[tuple[torch.Tensor, dict[str, Any]]]:
    """Clips for the rows of ``indices`` (N, T): :func:`read_frames`, then each clip is augmented on its own."""
    return [augment(clip, rng) for clip in read_frames(record, reader, indices)]
