"""Motion-aware curriculum learning of STS (§3.4): score every training sample, easy half first.

- **Scoring** (eq. 6): f = max over u, v of Σ|M| in the largest-motion block /
  Σ|M| over the frame (:func:`vidssl.data.statistics.motion_statistics`),
  computed once per training sample on its centre crop without flip
  (:func:`score_samples`; cached on disk, keyed by every video's file and the
  settings). Samples are sorted by f descending: easy → hard.
- **Pacing** (eq. 7, single step): g(i) = S₁ + H(i − t)·S₂ — the easier half S₁
  alone until step t, then the whole set. :class:`CurriculumDataset` keeps
  every epoch the length of the whole set, so the schedule, DDP sharding and
  resumption are unchanged: a stage-1 epoch draws its samples from S₁ only
  (each easy sample twice, with independent crops and flips). t is either an epoch (``switch="epoch"``,
  ``switch_epoch``) or "when the model has converged on S₁" (``"plateau"``):
  the first epoch after the epoch loss has improved by less than
  ``min_delta`` (relative) for ``patience`` epochs. The stage is a pure
  function of the run's history, which the checkpoint holds, so a resumed run
  picks the same stage.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from vidssl.checks import check_choice, check_int_at_least, check_number_in
from vidssl.data.array_cache import ArrayCache, file_fingerprint
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.progress import progress_bar

SWITCH_RULES = ("epoch", "plateau")
SCORES_VERSION = 1


def easy_to_hard(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Sample indices sorted by f descending (large f = easy); ties keep their index order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def easier_half(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """S₁: the first ⌈n/2⌉ indices of :func:`easy_to_hard`."""
    order = easy_to_hard(scores)
    return order[: math.ceil(len(order) / 2)]


def plateau_epoch(losses: Sequence[float], *, patience: int = 2, min_delta: float = 0.01) -> int | None:
    """The first epoch of stage 2 under the plateau rule, given the epoch losses so far; None = not yet.

    After epoch e (0-based), the loss has plateaued when none of the last
    ``patience`` epochs improved on the best loss before them by more than
    ``min_delta`` × that best. Stage 2 then starts at epoch e + 1.
    """
    for end in range(patience + 1, len(losses) + 1):
        best_before = min(losses[: end - patience])
        recent = min(losses[end - patience: end])
        if recent > best_before * (1.0 - min_delta):
            return end
    return None


class CurriculumDataset(torch.utils.data.Dataset):
    """Wrap a dataset with the single-step pacing of eq. (7).

    Args:
        dataset: map-style dataset whose sample i has difficulty ``scores[i]``.
        scores: f of every sample (:func:`score_samples`).
        switch: ``"epoch"`` — stage 2 from epoch ``switch_epoch`` — or ``"plateau"``.
        switch_epoch, patience, min_delta: see :func:`plateau_epoch`.

    The training loop calls ``set_history(history)`` and ``set_epoch(epoch)``
    before each epoch (:class:`vidssl.engine.trainer.EpochLoader`).
    """

    def __init__(
        self,
        dataset: Any,
        scores: Sequence[float] | np.ndarray,
        *,
        switch: str = "epoch",
        switch_epoch: int = 1,
        patience: int = 2,
        min_delta: float = 0.01,
    ) -> None:
        if len(scores) != len(dataset):
            raise VidsslError(f"curriculum: {len(scores)} scores for {len(dataset)} samples")
        check_choice("switch", switch, SWITCH_RULES)
        check_int_at_least("switch_epoch", switch_epoch, 1)
        check_int_at_least("patience", patience, 1)
        check_number_in("min_delta", min_delta, 0.0, 1.0, high_open=True)  # a relative improvement
        self.dataset = dataset
        self.scores = np.asarray(scores, dtype=np.float64)
        self.easy = easier_half(self.scores)
        self.switch, self.switch_epoch = switch, switch_epoch
        self.patience, self.min_delta = patience, float(min_delta)
        self.losses: list[float] = []
        self.stage = 1

    def __len__(self) -> int:
        return len(self.dataset)

    def stage_at(self, epoch: int) -> int:
        """1 (S₁ only) or 2 (everything) for ``epoch``, from the rule and the losses seen so far."""
        if self.switch == "epoch":
            return 2 if epoch >= self.switch_epoch else 1
        start = plateau_epoch(self.losses[:epoch], patience=self.patience, min_delta=self.min_delta)
        return 2 if start is not None and epoch >= start else 1

    def set_history(self, history: Sequence[Mapping[str, Any]]) -> None:
        """The epoch rows of the run so far (their ``loss``), for the plateau rule."""
        self.losses = [float(row["loss"]) for row in history if "loss" in row]

    def set_epoch(self, epoch: int) -> None:
        self.stage = self.stage_at(epoch)
        inner = getattr(self.dataset, "set_epoch", None)
        if callable(inner):
            inner(epoch)

    def source_index(self, index: int) -> int:
        """Which sample of the wrapped dataset position ``index`` shows in the current stage."""
        if self.stage == 1:
            return int(self.easy[index % len(self.easy)])
        return index

    def draw_of(self, index: int) -> int:
        """0 for a sample's first showing in the epoch, 1 for its second (stage 1 shows each easy sample twice)."""
        return index // len(self.easy) if self.stage == 1 else 0

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        source, draw = self.source_index(index), self.draw_of(index)
        if draw and callable(getattr(self.dataset, "sample", None)):  # a second crop and flip, not a copy
            sample = self.dataset.sample(source, draw=draw)
        else:
            sample = self.dataset[source]
        if isinstance(sample, dict):
            sample["curriculum_stage"] = self.stage
        return sample


# ---------------------------------------------------------------------------
# Scoring every sample once
# ---------------------------------------------------------------------------


class _ScoreDataset(torch.utils.data.Dataset):
    """f of each record, NaN for a record that fails to decode (reported, then treated as hardest)."""

    def __init__(self, records: Sequence[Any], reader: Any, score: Callable[[Any, Any], float]) -> None:
        self.records, self.reader, self.score = list(records), reader, score

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> float:
        try:
            return float(self.score(self.records[index], self.reader))
        except CorruptVideoError:
            return float("nan")


def scores_description(records: Sequence[Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the scores depend on: every video's file, every sample's clip start, and the label settings."""
    fingerprints = {}
    samples = []
    for record in records:
        if record.path not in fingerprints:
            fingerprints[record.path] = file_fingerprint(record.path)
        samples.append([record.path, int(getattr(record, "start", -1)), int(record.num_frames)])
    return {"version": SCORES_VERSION, "settings": dict(settings), "files": fingerprints, "samples": samples}


def score_samples(
    records: Sequence[Any],
    reader: Any,
    score: Callable[[Any, Any], float],
    *,
    settings: Mapping[str, Any],
    cache: ArrayCache | None = None,
    workers: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """(n,) curriculum score f of every record (``score(record, reader)``), computed once and cached.

    Computed in ``workers`` DataLoader processes with a progress bar; a record
    that cannot be decoded gets f = 0 (hardest) and is counted in a warning.
    """
    description = scores_description(records, settings) if cache is not None else None
    if cache is not None:
        cached = cache.get(description)
        if cached is not None and cached.shape == (len(records),):
            return cached
    loader = torch.utils.data.DataLoader(
        _ScoreDataset(records, reader, score), batch_size=16, num_workers=workers, collate_fn=list
    )
    per_sample: list[float] = []
    for batch in progress_bar(loader, enabled=progress, desc="curriculum scores", unit="batch"):
        per_sample.extend(batch)
    scores = np.asarray(per_sample, dtype=np.float64)
    failed = int(np.isnan(scores).sum())
    if failed:
        warnings.warn(f"curriculum: {failed} of {len(scores)} samples could not be decoded; scored 0 (hardest)",
                      stacklevel=2)
        scores = np.nan_to_num(scores, nan=0.0)
    if cache is not None:
        cache.put(description, scores)
    return scores
