"""Training logs: running means, ``metrics.csv``, TensorBoard and the one-line epoch summary.

Only the main process (rank 0) writes. ``metrics.csv`` is rewritten from the
run history after every epoch (temp file + rename), which keeps it consistent
on resume (rows of epochs that are trained again disappear) and when a later
epoch brings new columns (e.g. a validation score).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vidssl.fileio import atomic_write

__all__ = ["RunningMeans", "MetricsLogger", "write_metrics_csv", "format_epoch_summary", "as_float"]

_tensorboard_warned = False


def as_float(value: Any) -> float:
    """A python float from a number or a one-element tensor."""
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean().item()) if value.numel() != 1 else float(value.item())
    return float(value)


class RunningMeans:
    """Mean of every key seen so far, each over the number of updates that carried it."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def update(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self._sums[key] = self._sums.get(key, 0.0) + as_float(value)
            self._counts[key] = self._counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        return {key: self._sums[key] / self._counts[key] for key in self._sums}


def _csv_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Column order: keys in the order they first appear, row by row."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return columns


def write_metrics_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` (one dict per epoch) as CSV atomically; a key missing from a row leaves its cell empty."""
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_csv_columns(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)


def _open_summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    """A TensorBoard ``SummaryWriter``, or None (with one warning per process) if tensorboard is missing."""
    global _tensorboard_warned
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        if not _tensorboard_warned:
            warnings.warn(f"TensorBoard logging disabled ({exc}); metrics.csv is still written", stacklevel=3)
            _tensorboard_warned = True
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


class MetricsLogger:
    """Writes ``<log_dir>/metrics.csv`` and TensorBoard events under ``<log_dir>/tb``; silent if not ``enabled``.

    ``purge_step`` (the first global step of a resumed run) drops TensorBoard
    events written after the checkpoint by the interrupted run.
    """

    def __init__(self, log_dir: str | Path, *, enabled: bool, purge_step: int | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.enabled = enabled
        self.csv_path = self.log_dir / "metrics.csv"
        self._writer = None
        if enabled:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = _open_summary_writer(self.log_dir / "tb", purge_step)

    def log_step(self, values: Mapping[str, Any], *, global_step: int) -> None:
        """TensorBoard scalars ``train_step/<key>`` for one iteration."""
        if self._writer is None:
            return
        for key, value in values.items():
            self._writer.add_scalar(f"train_step/{key}", as_float(value), global_step)

    def log_epoch(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Rewrite the CSV from the whole ``history`` and send its last row to TensorBoard as ``epoch/<key>``."""
        if not self.enabled:
            return
        write_metrics_csv(self.csv_path, history)
        if self._writer is None or not history:
            return
        row = history[-1]
        for key, value in row.items():
            if key == "epoch" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if math.isfinite(float(value)):
                self._writer.add_scalar(f"epoch/{key}", float(value), int(row["epoch"]))
        self._writer.flush()

    def reset_csv(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Make the CSV hold exactly ``history`` (on start or resume); removes it when history is empty."""
        if not self.enabled:
            return
        if history:
            write_metrics_csv(self.csv_path, history)
        else:
            self.csv_path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def format_epoch_summary(row: Mapping[str, Any], *, epochs: int) -> str:
    """One line per epoch, e.g. ``epoch 2/10  loss 1.2345  lr 0.05  mse 1.2  (12.3 s, 45.6 samples/s)``.

    ``, skipped N corrupt videos`` is appended when the epoch replaced any. Chance levels
    (``chance/<key>``, constant) stay in metrics.csv.
    """
    skip_keys = {"epoch", "loss", "lr", "seconds", "samples_per_s", "skipped"}
    parts = [f"epoch {int(row['epoch']) + 1}/{epochs}", f"loss {float(row['loss']):.4f}", f"lr {float(row['lr']):.4g}"]
    for key, value in row.items():
        if key in skip_keys or key.startswith("chance/"):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    line = "  ".join(parts) + f"  ({float(row['seconds']):.1f} s, {float(row['samples_per_s']):.1f} samples/s)"
    skipped = int(row.get("skipped", 0))
    if skipped > 0:
        line += f", skipped {skipped} corrupt video{'s' if skipped > 1 else ''}"
    return line
