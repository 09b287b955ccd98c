"""VCOP sampler: a tuple of clips of one video, shown in a shuffled order (Xu et al., CVPR 2019, §3.2).

A baseline of the SRO paper (its Table VIII compares with VCOP on C3D, R3D and
R(2+1)D). Runs inside DataLoader workers; per sample it returns

- ``clips``: uint8 (N, C, T, H, W) — the N = ``tuple_len`` clips in the order
  shown to the network;
- ``order_label``: long () — rank of that order among the N! permutations
  (:func:`vidssl.data.sampling.permutation_index`);
- ``frame_indices``: long (N, T) — the source frames of every shown clip.

Frame indices come from :func:`vidssl.data.sampling.vcop_tuple_indices`
(16-frame clips 8 frames apart in the paper); ONE ``reader.read`` of all the
tuple's frames, then every clip gets its own augmentation draw, as in VCOP's
code (resize 128×171, random crop 112: the ``augment`` passed in).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vidssl.checks import ArgumentError, check_choice, check_int_at_least, is_integer
from vidssl.data.pretext.clips import (
    Augment,
    Reader,
    Record,
    check_has_frames,
    read_and_augment,
)
from vidssl.data.sampling import FIT_RULES, vcop_tuple_indices
from vidssl.data.transforms.clip import ClipAugment

MAX_TUPLE = 5
"""VCOP §4.1 studies tuples of 2 to 5 clips (3 is its default)."""


class VCOPSampler:
    """Sample a shuffled tuple of ``tuple_len`` clips of one video.

    Args:
        clip_len: T, frames per clip (16 in the paper).
        interval: frames between consecutive clips (8 in the paper).
        tuple_len: N clips per tuple, 2…5 (3 in the paper); the task has N! classes.
        augment: per-clip spatial augmentation, ``augment(frames, rng) -> (clip, info)``.
        short_video: ``"loop"`` or ``"clamp"`` for videos shorter than one clip.

    Example::

        sampler = VCOPSampler(augment=ClipAugment(112, resize=(128, 171), scale=(1, 1)))
        sample = sampler(record, reader, np.random.default_rng(0))
        sample["clips"].shape, sample["order_label"]  # (3, 3, 16, 112, 112), 0…5
    """

    def __init__(
        self,
        *,
        clip_len: int = 16,
        interval: int = 8,
        tuple_len: int = 3,
        augment: Augment | None = None,
        short_video: str = "loop",
    ) -> None:
        if not (is_integer(tuple_len) and 2 <= tuple_len <= MAX_TUPLE):
            raise ArgumentError("tuple_len", f"expected a VCOP tuple of 2 to {MAX_TUPLE} clips, got {tuple_len!r}")
        self.tuple_len = int(tuple_len)
        self.clip_len = check_int_at_least("clip_len", clip_len, 1)
        self.interval = check_int_at_least("interval", interval, 0)
        self.short_video = check_choice("short_video", short_video, FIT_RULES)
        self.augment = ClipAugment() if augment is None else augment

    @property
    def num_orders(self) -> int:
        """N!, the number of classes of the order task."""
        return math.factorial(self.tuple_len)

    def __repr__(self) -> str:
        return (
            f"VCOPSampler(clip_len={self.clip_len}, interval={self.interval}, tuple_len={self.tuple_len}, "
            f"augment={self.augment!r}, short_video={self.short_video!r})"
        )

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        num_frames = check_has_frames(record)
        draw = vcop_tuple_indices(
            num_frames,
            clip_len=self.clip_len,
            interval=self.interval,
            tuple_len=self.tuple_len,
            short_video=self.short_video,
            rng=rng,
        )
        indices = draw["indices"]
        clips = [clip.numpy() for clip, _ in read_and_augment(record, reader, indices, self.augment, rng)]
        return {
            "clips": torch.from_numpy(np.stack(clips)),
            "order_label": torch.tensor(draw["order_label"], dtype=torch.long),
            "frame_indices": torch.from_numpy(indices.astype(np.int64)),
        }

    def scramble_targets(self, sample: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The negative control's target (:class:`~vidssl.data.controls.ScrambledTargets`): an order label
        drawn uniformly among the N! orders, whatever order the clips are shown in."""
        return {**sample, "order_label": torch.tensor(int(rng.integers(0, self.num_orders)), dtype=torch.long)}
