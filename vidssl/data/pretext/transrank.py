"""TransRank sampler: N clips of one video, each under a temporal transformation (Duan et al. 2022, §4).

Runs inside DataLoader workers. Given a video record, a reader and an rng it
returns the clips and the pretext targets the TransRank method needs:

- ``clips``: uint8 (N, C, T, H, W)
- ``transform_ids``: long (N,) — index into ``transforms`` of each clip's transformation
- ``aspect_ratios``: float32 (N,) — w/h of each clip's crop region as the network sees it
  (§4.3 aspect task): the inverse ratio if the clip was rotated by 90° or 270°
- ``rotations``: long (N,) — k of each clip's k·90° rotation (§4.3 rotation task; 0 if off)
- ``flipped``: bool (N,)
- ``frame_indices``: long (N, T) — the source frames of each clip, for inspection

Recipe per sample (TransRank §4.1–4.4, ALGORITHMS.md):

1. assign transformations: ``deterministic`` = a random permutation gives each
   of the M transformations to exactly one of the N = M clips;
   ``stochastic`` = each clip draws one independently;
2. per clip a fractional jittered frame interval ``d = 2n · f``, f ~ U[0.8, 1.2]
   (§4.4); frame j sits at ``ρ + round(j · d)``, so the clip's realised span
   ``round((l − 1) · d) + 1`` varies for 1× too (a rounded integer interval
   would always be 2 at 1×);
3. offsets spread over the whole video, one random start per equal segment of
   the starts that leave room for the realised span, with the segments randomly
   permuted among clips;
4. indices by the §4.2 formulas over those rounded positions (rev, palindrome
   and shuffle reorder the 1× positions), mapped into short videos by ``short_video``;
5. ONE ``reader.read`` of the sorted unique frames of all clips (a frame shared
   by clips is decoded once), then each clip gathers its frames;
6. each clip augmented independently (clip-wise strong augmentation, §4.4);
7. aspect label (§4.3, eq. 3; ALGORITHMS.md): the crop's w/h, inverted when
   the clip was turned a quarter (k = 1, 3), because eq. 3 ranks what the
   network sees. The ratio range is log-symmetric (default [3/4, 4/3]), so the
   inverted labels keep the same distribution.

The paper presets use no horizontal flip (§4.4 lists RandomResizedCrop,
RandomGrayScale, RandomColorJitter and, with rotation, RandomRotate);
``clip.flip_p: 0`` in ``configs/transrank_t_r3d18.yaml``, which every
TransRank-family preset extends.
"""

from __future__ import annotations

import numpy as np
import torch

from vidssl.checks import ArgumentError, check_choice, check_positive_int, check_range_pair
from vidssl.data.pretext.clips import Augment, Reader, Record, check_has_frames, read_and_augment
from vidssl.data.sampling import (
    FIT_RULES,
    check_transform_name,
    fit_to_video,
    jittered_interval,
    realised_span,
    speed_of,
    spread_offsets,
    transform_indices,
)
from vidssl.data.transforms.clip import ClipAugment

SAMPLING_MODES: tuple[str, ...] = ("deterministic", "stochastic")


def shown_aspect_ratio(crop_ratio: float, rotation_k: int) -> float:
    """Aspect ratio (w/h) the network sees: the crop's, inverted after a 90° or 270° turn (§4.3, eq. 3)."""
    return 1.0 / crop_ratio if rotation_k % 2 else crop_ratio


class TransRankSampler:
    """Sample N transformed clips of one video for TransRank pre-training.

    Args:
        transforms: the M temporal transformations (names from
            :data:`vidssl.data.sampling.TEMPORAL_TRANSFORMS`, or ``"0.5x"``); distinct.
        num_clips: N; defaults to M. Deterministic mode needs N = M.
        mode: ``"deterministic"`` or ``"stochastic"`` (see module docstring).
        clip_len: frames per clip (l).
        base_interval: frame interval of 1× (2 in the paper).
        jitter: range of the interval's random factor (§4.4).
        augment: per-clip spatial augmentation, ``augment(frames, rng) -> (clip, info)``;
            defaults to ``ClipAugment()``.
        short_video: ``"loop"`` or ``"clamp"`` for videos shorter than a clip's span.

    Example::

        sampler = TransRankSampler(transforms=("1x", "2x", "rev"), augment=ClipAugment(112))
        sample = sampler(record, reader, np.random.default_rng(0))
        sample["clips"].shape  # (3, 3, 16, 112, 112)
    """

    def __init__(
        self,
        *,
        transforms: tuple[str, ...] = ("1x", "2x", "rev"),
        num_clips: int | None = None,
        mode: str = "deterministic",
        clip_len: int = 16,
        base_interval: int = 2,
        jitter: tuple[float, float] = (0.8, 1.2),
        augment: Augment | None = None,
        short_video: str = "loop",
    ) -> None:
        transforms = tuple(check_transform_name(name, "transforms") for name in transforms)
        if not transforms:
            raise ArgumentError("transforms", "expected at least one temporal transformation")
        if len(set(transforms)) != len(transforms):
            raise ArgumentError("transforms", f"expected distinct transformations, got {transforms!r}")
        self.mode = check_choice("mode", mode, SAMPLING_MODES)
        num_clips = check_positive_int("num_clips", len(transforms) if num_clips is None else num_clips)
        if mode == "deterministic" and num_clips != len(transforms):
            raise ArgumentError(
                "num_clips",
                f"deterministic mode needs num_clips == len(transforms) ({len(transforms)}), got {num_clips}; "
                f"use mode='stochastic' otherwise",
            )
        self.short_video = check_choice("short_video", short_video, FIT_RULES)
        self.transforms = transforms
        self.num_clips = num_clips
        self.clip_len = check_positive_int("clip_len", clip_len)
        self.base_interval = check_positive_int("base_interval", base_interval)
        self.jitter = check_range_pair("jitter", jitter)
        self.augment = ClipAugment() if augment is None else augment

    def __repr__(self) -> str:
        return (
            f"TransRankSampler(transforms={self.transforms}, num_clips={self.num_clips}, mode={self.mode!r}, "
            f"clip_len={self.clip_len}, base_interval={self.base_interval}, jitter={self.jitter}, "
            f"augment={self.augment!r}, short_video={self.short_video!r})"
        )

    def assign_transforms(self, rng: np.random.Generator) -> np.ndarray:
        """Transformation id of each clip: a permutation (deterministic) or independent draws (stochastic)."""
        if self.mode == "deterministic":
            return rng.permutation(len(self.transforms)).astype(np.int64)
        return rng.integers(0, len(self.transforms), size=self.num_clips).astype(np.int64)

    def clip_indices(self, num_frames: int, transform_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Frame indices (N, clip_len) of every clip, already fitted into ``[0, num_frames)``."""
        names = [self.transforms[t] for t in transform_ids]
        intervals = [
            jittered_interval(speed_of(name), base_interval=self.base_interval, jitter=self.jitter, rng=rng)
            for name in names
        ]
        spans = [realised_span(self.clip_len, interval) for interval in intervals]
        segment_of_clip = rng.permutation(len(names))
        # spread_offsets gives segment k to its k-th span; put clip c's span at position segment_of_clip[c].
        spans_by_segment = [0] * len(names)
        for clip, segment in enumerate(segment_of_clip):
            spans_by_segment[segment] = spans[clip]
        offsets_by_segment = spread_offsets(num_frames, spans_by_segment, rng)
        rows = []
        for clip, name in enumerate(names):
            indices = transform_indices(
                name,
                clip_len=self.clip_len,
                offset=offsets_by_segment[segment_of_clip[clip]],
                interval=intervals[clip],
                rng=rng,
            )
            rows.append(fit_to_video(indices, num_frames, self.short_video))
        return np.stack(rows)

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        num_frames = check_has_frames(record)
        transform_ids = self.assign_transforms(rng)
        indices = self.clip_indices(num_frames, transform_ids, rng)
        clips, aspect_ratios, rotations, flipped = [], [], [], []
        for clip, info in read_and_augment(record, reader, indices, self.augment, rng):
            clips.append(clip)
            rotations.append(info.get("rotation_k", 0))
            aspect_ratios.append(shown_aspect_ratio(info["aspect_ratio"], rotations[-1]))
            flipped.append(info.get("flipped", False))
        return {
            # numpy assembles the batch: a plain memcpy, cheaper than torch.stack in a busy worker
            "clips": torch.from_numpy(np.stack([clip.numpy() for clip in clips])),
            "transform_ids": torch.from_numpy(transform_ids),
            "aspect_ratios": torch.tensor(aspect_ratios, dtype=torch.float32),
            "rotations": torch.tensor(rotations, dtype=torch.long),
            "flipped": torch.tensor(flipped, dtype=torch.bool),
            "frame_indices": torch.from_numpy(indices.astype(np.int64)),
        }

    def scramble_targets(self, sample: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The negative control's targets (:class:`~vidssl.data.controls.ScrambledTargets`): transformation
        ids, aspect ratios and rotations each dealt to the clips in a random order (deterministic mode keeps every
        transformation once; stochastic mode draws the ids anew), so no target tells which clip it labels."""
        count = len(sample["transform_ids"])
        ids = (sample["transform_ids"][torch.from_numpy(rng.permutation(count))] if self.mode == "deterministic"
               else torch.from_numpy(rng.integers(0, len(self.transforms), size=count)))
        return {
            **sample,
            "transform_ids": ids,
            "aspect_ratios": sample["aspect_ratios"][torch.from_numpy(rng.permutation(count))],
            "rotations": sample["rotations"][torch.from_numpy(rng.permutation(count))],
        }
