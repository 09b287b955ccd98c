"""CORP sampler: K clips of one video, far enough apart to have a clear order (ICCV 2021, §3.2–3.3).

Runs inside DataLoader workers; per sample it returns

- ``clips``: uint8 (K, C, T, H, W) — the K clips in the order they were drawn
  (not sorted by time: the order targets come from ``starts``);
- ``starts``: long (K,) — each clip's first source frame, all distinct, so any
  two clips of the video have a true order (P2 / P3 of §3.2);
- ``frame_indices``: long (K, T).

Starts follow the minimum-offset rule of equation (3)
(:func:`vidssl.data.sampling.corp_clip_starts`): drawn in one step from exactly
the distribution of the paper's redraw-until-valid procedure (uniform over the
valid placements, in random order), with the evenly spaced fallback only for
videos where no valid placement exists — never, for CORP_m's K = 4 16-frame
clips on 24–72-frame Something-Something videos, where a loop capped at 100
draws used it for 51 % of them. Frames are ``dilation`` apart.

ONE ``reader.read``, then every clip gets its own augmentation draw (§3.2,
following CVRL: random resized crop, flip 0.5, colour jitter 0.8, grayscale
0.2, Gaussian blur — the ``augment`` passed in), consistent over the frames of
the clip. CORP_m uses K = 2…4 clips per video, CORP_f and the
SimCLR/CVRL baseline K = 2.
"""
from __future__ import annotations

import numpy as np
import torch

from vidssl.checks import check_int_at_least
from vidssl.data.pretext.clips import (
    Augment,
    Reader,
    Record,
    check_has_frames,
    read_and_augment,
)
from vidssl.data.sampling import corp_clip_starts, fit_to_video
from vidssl.data.transforms.clip import ClipAugment


class CORPSampler:
    """Sample K clips of ``clip_len`` frames, ``dilation`` apart, from one video.

    Args:
        clip_len: T, frames per clip (16 in the paper).
        dilation: D, the frame interval inside a clip (2 on Kinetics, 1 on Something-Something).
        num_clips: K, clips per video (2 for CORP_f and SimCLR, 2…4 for CORP_m).
        augment: per-clip augmentation, ``augment(frames, rng) -> (clip, info)``.

    Example::

        sampler = CORPSampler(num_clips=4, augment=ClipAugment(112, blur_p=0.5))
        sample = sampler(record, reader, np.random.default_rng(0))
        sample["clips"].shape, sample["starts"]  # (4, 3, 16, 112, 112), e.g. [229, 171, 138, 72]
    """

    def __init__(
        self, *, clip_len: int = 16, dilation: int = 2, num_clips: int = 2, augment: Augment | None = None
    ) -> None:
        self.clip_len = check_int_at_least("clip_len", clip_len, 1)
        self.dilation = check_int_at_least("dilation", dilation, 1)
        self.num_clips = check_int_at_least("num_clips", num_clips, 2)
        self.augment = ClipAugment() if augment is None else augment

    def __repr__(self) -> str:
        return (
            f"CORPSampler(clip_len={self.clip_len}, dilation={self.dilation}, num_clips={self.num_clips}, "
            f"augment={self.augment!r})"
        )

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        num_frames = check_has_frames(record)
        starts, _ = corp_clip_starts(
            num_frames, clip_len=self.clip_len, dilation=self.dilation, num_clips=self.num_clips, rng=rng
        )
        offsets = self.dilation * np.arange(self.clip_len, dtype=np.int64)
        indices = fit_to_video(starts[:, None] + offsets[None, :], num_frames, "clamp")
        clips = [clip.numpy() for clip, _ in read_and_augment(record, reader, indices, self.augment, rng)]
        return {
            "clips": torch.from_numpy(np.stack(clips)),
            "starts": torch.from_numpy(starts),
            "frame_indices": torch.from_numpy(indices),
        }

    def scramble_targets(self, sample: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The negative control's targets (:class:`~vidssl.data.controls.ScrambledTargets`): the clips' start
        frames, from which CORP reads which clip comes first, dealt to the clips in a random order."""
        return {**sample, "starts": sample["starts"][torch.from_numpy(rng.permutation(len(sample["starts"])))]}
