"""SRO sampler: a clip of n shuffled segments, each at its own sampling rate (TCSVT 2021, §III-B…D, Fig. 1).

Runs inside DataLoader workers. Given a video record, a reader and an rng it
returns the query clip with its pretext targets and, for the contrastive
branch, a key clip re-sampled from the same video (§III-A, Fig. 2a):

- ``clips``: uint8 (V, C, T, H, W) — V = 2 (query, key) or 1 (query only);
- ``order_label``: long () — rank of the query's segment permutation among
  the n! permutations (lexicographic; §III-C);
- ``rates``: long (n,) — the query's sampling rate of each segment, in the
  order the segments are shown (§III-D targets);
- ``lengths``: long (n,) — the query's segment lengths, in shown order;
- ``frame_indices``: long (V, T) — the source frames of every clip.

Recipe per sample (ALGORITHMS.md "SRO"): for each clip,
:func:`vidssl.data.sampling.sro_clip_indices` draws random segment lengths
(≥ ``min_length``, Σ = T) and rates, places the segments one after another
from a random start, and shuffles them; the key gets its own draw. The rates
are distinct integers of ``rate_range`` (Fig. 1: "the different sample
rates"), uniform over the combinations whose whole clip fits in the video
(:func:`vidssl.data.sampling.draw_fitting_rates`), so no segment loops back
in time; they repeat only when no distinct combination fits, and only a video
that no combination fits loops or clamps (``short_video``). ONE ``reader.read`` of the union of both clips' frames,
then each clip is augmented independently (§IV-D: resize 128×171, random crop
112, colour jitter, horizontal flip — the ``augment`` passed in).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from vidssl.checks import ArgumentError, check_choice, check_int_range_pair, check_positive_int
from vidssl.data.pretext.clips import Augment, Reader, Record, check_has_frames, read_and_augment
from vidssl.data.sampling import FIT_RULES, SROClip, sro_clip_indices
from vidssl.data.transforms.clip import ClipAugment

MAX_SEGMENTS = 5
"""§III-C: "we limit the number of video segments between 2 and 5"."""


def check_segments(num_segments: Any, min_length: Any, clip_len: int) -> tuple[int, int]:
    """n in 2…5 (§III-C) and a minimum length that lets n segments fit in the clip."""
    num_segments = check_positive_int("num_segments", num_segments)
    min_length = check_positive_int("min_length", min_length)
    if not 2 <= num_segments <= MAX_SEGMENTS:
        raise ArgumentError("num_segments", f"expected 2 to {MAX_SEGMENTS} (§III-C), got {num_segments}")
    if num_segments * min_length > clip_len:
        raise ArgumentError(
            "num_segments",
            f"{num_segments} segments of at least {min_length} frames do not fit in a "
            f"{clip_len}-frame clip; use fewer segments or more frames",
        )
    return num_segments, min_length


class SROSampler:
    """Sample an SRO query clip (and a key clip) of one video.

    Args:
        clip_len: T, frames per clip (16 in the paper).
        num_segments: n, 2…5 (3 in the paper); the order task has n! classes.
        min_length: shortest segment (3 in the paper, Fig. 1).
        rate_range: candidate sampling rates p = [low, high] (frame interval
            in the raw video; [1, 8] in the paper, Table IV).
        key_clip: also return a second, independently sampled clip of the
            same video, the contrastive key candidate of Fig. 2a.
        shuffle: shuffle the segments (the order task); ``False`` keeps them in
            time order — with ``rate_range=(r, r)`` a plain clip, as MoCo samples.
        augment: per-clip spatial augmentation, ``augment(frames, rng) -> (clip, info)``.
        short_video: ``"loop"`` or ``"clamp"`` for videos shorter than a clip's span.

    Example::

        sampler = SROSampler(augment=ClipAugment(112, resize=(128, 171), scale=(1, 1)))
        sample = sampler(record, reader, np.random.default_rng(0))
        sample["clips"].shape, sample["order_label"], sample["rates"]  # (2, 3, 16, 112, 112), 0…5, (3,)
    """

    def __init__(
        self,
        *,
        clip_len: int = 16,
        num_segments: int = 3,
        min_length: int = 3,
        rate_range: tuple[int, int] = (1, 8),
        key_clip: bool = True,
        shuffle: bool = True,
        augment: Augment | None = None,
        short_video: str = "loop",
    ) -> None:
        self.clip_len = check_positive_int("clip_len", clip_len)
        self.num_segments, self.min_length = check_segments(num_segments, min_length, self.clip_len)
        self.rate_range = check_int_range_pair("rate_range", rate_range)
        self.short_video = check_choice("short_video", short_video, FIT_RULES)
        self.key_clip = bool(key_clip)
        self.shuffle = bool(shuffle)
        self.augment = ClipAugment() if augment is None else augment

    @property
    def num_orders(self) -> int:
        """n!, the number of classes of the order task."""
        return math.factorial(self.num_segments)

    def __repr__(self) -> str:
        return (
            f"SROSampler(clip_len={self.clip_len}, num_segments={self.num_segments}, min_length={self.min_length}, "
            f"rate_range={self.rate_range}, key_clip={self.key_clip}, shuffle={self.shuffle}, "
            f"augment={self.augment!r}, "
            f"short_video={self.short_video!r})"
        )

    def draw_clip(self, num_frames: int, rng: np.random.Generator) -> SROClip:
        """One clip's frame indices and targets (see :func:`vidssl.data.sampling.sro_clip_indices`)."""
        return sro_clip_indices(
            num_frames,
            clip_len=self.clip_len,
            num_segments=self.num_segments,
            min_length=self.min_length,
            rate_range=self.rate_range,
            short_video=self.short_video,
            shuffle=self.shuffle,
            rng=rng,
        )

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        num_frames = check_has_frames(record)
        draws = [self.draw_clip(num_frames, rng) for _ in range(2 if self.key_clip else 1)]
        indices = np.stack([draw["indices"] for draw in draws])
        clips = [clip.numpy() for clip, _ in read_and_augment(record, reader, indices, self.augment, rng)]
        query = draws[0]
        return {
            "clips": torch.from_numpy(np.stack(clips)),
            "order_label": torch.tensor(query["order_label"], dtype=torch.long),
            "rates": torch.from_numpy(np.asarray(query["rates"], dtype=np.int64)),
            "lengths": torch.from_numpy(np.asarray(query["lengths"], dtype=np.int64)),
            "frame_indices": torch.from_numpy(indices.astype(np.int64)),
        }

    def scramble_targets(self, sample: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The negative control's targets (:class:`~vidssl.data.controls.ScrambledTargets`): an order label
        drawn uniformly among the n! orders and the segments' rates (with their lengths) dealt in a random order.
        The key clip stays the same video's: the contrastive branch is not part of this control."""
        shuffle = torch.from_numpy(rng.permutation(len(sample["rates"])))
        order = int(rng.integers(0, self.num_orders))
        return {**sample, "order_label": torch.tensor(order, dtype=torch.long), "rates": sample["rates"][shuffle],
                "lengths": sample["lengths"][shuffle]}
