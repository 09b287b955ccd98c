"""Held-out pretext metrics: does a method learn its pretext on videos it never trained on?

:func:`heldout_val_fn` turns a dataset of held-out samples into the ``val_fn``
of :func:`vidssl.engine.trainer.fit`: after every epoch it runs the method's
``training_step`` in eval mode without gradients over the same samples (the
dataset is drawn at one fixed epoch), and returns the mean of every logged
value as ``heldout/<key>`` with the method's chance level as ``chance/<key>``
(``pretext_chance(batch)``, see :class:`ChanceLevels`), which ``fit`` adds to
the epoch's row of ``metrics.csv``.

The model is left exactly as it was: eval mode freezes BatchNorm statistics
and dropout, the methods skip their momentum updates and queue writes outside
training, and the global RNGs are forked, so a run with held-out metrics
trains the same weights as one without. ``fit`` calls ``val_fn`` on rank 0
only, so under DDP the first process scores every held-out sample alone (no
method gathers across processes in an eval-mode step without gradients).

Batches follow the training batch size, cut evenly (:func:`even_batches`) so
no batch is much smaller than the others: CORP_m needs two videos per batch,
and in-batch chance levels (CORP_f) stay close to training's. A key's mean is
weighted by the size of the batches that logged it (a per-class accuracy is
absent from a batch without that class).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import torch
from torch import nn
from torch.utils.data import DataLoader

from vidssl.contracts import Method
from vidssl.engine.logging import as_float
from vidssl.engine.train_config import AMP_DTYPES, TrainConfig
from vidssl.engine.trainer import _batch_size, _worker_init, move_to_device  # the training loop's own

__all__ = [
    "HELDOUT",
    "CHANCE",
    "ChanceLevels",
    "even_batches",
    "heldout_loader",
    "evaluate_pretext",
    "heldout_val_fn",
    "heldout_keys",
    "heldout_lines",
]

HELDOUT = "heldout/"
CHANCE = "chance/"


class ChanceLevels(Protocol):
    """What a method offers besides the :class:`~vidssl.contracts.Method` contract for held-out metrics.

    ``pretext_chance(batch)``: the value of each logged metric that a model knowing nothing
    of its pretext reaches: a uniform guess where the sampler draws the classes uniformly,
    else the best constant guess (CORP_m's majority pair class, STS's commonest label,
    SRO's rate error around the median rate). ``batch``, the one the logs came from, for
    levels that depend on it (CORP's in-batch candidates, label frequencies); a key
    without a level is left out.
    """

    def pretext_chance(self, batch: Mapping[str, Any] | None = None) -> dict[str, float]: ...


def even_batches(count: int, batch_size: int) -> list[list[int]]:
    """Indices ``0 … count − 1`` in order, in ``ceil(count / batch_size)`` batches whose sizes differ by at most one."""
    if count <= 0:
        return []
    batches = math.ceil(count / batch_size)
    size, extra = divmod(count, batches)
    bounds = [0]
    for b in range(batches):
        bounds.append(bounds[-1] + size + (1 if b < extra else 0))
    return [list(range(start, stop)) for start, stop in zip(bounds[:-1], bounds[1:])]


def heldout_loader(dataset: Any, *, cfg: TrainConfig, device: torch.device) -> DataLoader:
    """The held-out samples in order, in :func:`even_batches` of at most ``cfg.batch_size``, with
    ``cfg.workers`` workers; no global RNG is drawn (the loader has its own generator)."""
    return DataLoader(
        dataset,
        batch_sampler=even_batches(len(dataset), cfg.batch_size),
        num_workers=cfg.workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=_worker_init if cfg.workers > 0 else None,
        generator=torch.Generator().manual_seed(cfg.seed),
    )


class _WeightedMeans:
    """Mean of every key, each weighted by the batch sizes of the updates that carried it."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def update(self, values: Mapping[str, Any], weight: float) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + weight * as_float(value)
            self.weights[key] = self.weights.get(key, 0.0) + weight

    def means(self, prefix: str) -> dict[str, float]:
        return {prefix + key: self.sums[key] / self.weights[key] for key in self.sums}


def _forked_rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose RNG state the held-out pass must leave untouched."""
    return list(range(torch.cuda.device_count())) if device.type == "cuda" else []


def evaluate_pretext(method: nn.Module, loader: DataLoader, *, cfg: TrainConfig, device: torch.device) -> dict:
    """``heldout/<key>``: every logged value (and ``loss``) of ``method.training_step`` over ``loader``, in eval
    mode without gradients, averaged weighted by batch size; ``chance/<key>``: the chance level of each key
    that has one, averaged the same way. The method's train/eval mode and every RNG are restored afterwards."""
    step = cast(Method, method).training_step  # every method meets the contract (tests/test_contracts.py)
    chance_of = cast(ChanceLevels, method).pretext_chance
    metrics, chance = _WeightedMeans(), _WeightedMeans()
    was_training = method.training
    method.eval()
    try:
        with torch.random.fork_rng(devices=_forked_rng_devices(device)), torch.no_grad():
            torch.manual_seed(cfg.seed)  # random choices inside a step (SRO's view keys): the same every epoch
            for batch in loader:
                batch = move_to_device(batch, device)
                with torch.autocast(device_type=device.type, dtype=AMP_DTYPES[cfg.amp_dtype], enabled=cfg.amp):
                    loss, logs = step(batch)
                size = float(_batch_size(batch))
                logged = {"loss": loss, **{key: value for key, value in logs.items() if key != "loss"}}
                metrics.update(logged, size)
                chance.update({k: v for k, v in chance_of(batch).items() if k in logged}, size)
    finally:
        method.train(was_training)
    return {**metrics.means(HELDOUT), **chance.means(CHANCE)}


def heldout_val_fn(dataset: Any, *, cfg: TrainConfig) -> Callable[[nn.Module, int], dict]:
    """A ``val_fn(method, epoch)`` for :func:`~vidssl.engine.trainer.fit`: :func:`evaluate_pretext` over
    ``dataset`` on the method's device (the samples are drawn at the dataset's current epoch, the same
    after every training epoch)."""

    def val_fn(method: nn.Module, epoch: int) -> dict:
        device = next(method.parameters()).device
        return evaluate_pretext(method, heldout_loader(dataset, cfg=cfg, device=device), cfg=cfg, device=device)

    return val_fn


def heldout_keys(row: Mapping[str, Any]) -> list[str]:
    """The metrics of ``row`` measured held out, without prefix: ``loss`` first, then every key that is
    not a loss term, in log order (``loss/<term>`` parts are left to metrics.csv)."""
    keys = [key[len(HELDOUT):] for key in row if key.startswith(HELDOUT)]
    return [key for key in keys if key == "loss"] + [key for key in keys if not key.startswith("loss")]


def heldout_lines(row: Mapping[str, Any]) -> list[str]:
    """``held-out <key>: 0.62 (chance 0.333)`` for every :func:`heldout_keys` key of ``row`` (no parenthesis
    for a key without a chance level)."""
    lines = []
    for key in heldout_keys(row):
        line = f"held-out {key}: {float(row[HELDOUT + key]):.3g}"
        if row.get(CHANCE + key) is not None:
            line += f" (chance {float(row[CHANCE + key]):.3g})"
        lines.append(line)
    return lines

