"""Temporal downstream tasks on a frozen backbone: Sync and Order (TransRank appendix A.1, after RTT).

- **Sync**: two 16-frame clips a and b of one video, b shifted by s·16 frames
  for s ∈ {−3/4, −1/2, −1/4, 0, +1/4, +1/2, +3/4} (7 classes; ALGORITHMS.md
  "Temporal downstream tasks"); the probe sees ψ(a) − ψ(b).
- **Order**: one 16-frame input made of two non-overlapping 8-frame sub-clips
  x₁ before x₂ (with a random gap), shown as (x₁, x₂) — "before", class 0 — or
  (x₂, x₁) — "after", class 1; the probe sees ψ(x).

ψ is the backbone's ``layer4`` (res₄) output averaged over height and width and
flattened over (channels, time), so the probe can read the temporal layout;
the backbone stays frozen (eval mode, BN running statistics). The probe is a
2-layer MLP with 512 hidden units (appendix C.1) trained on the cached features
(z-scored with the training split's statistics). Every video gives
``pairs_per_video`` samples whose classes cycle through all classes, so both
splits are balanced; the draws are deterministic (seed, split, video).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from vidssl.checks import ArgumentError, check_fields, is_positive_int
from vidssl.contracts import Backbone
from vidssl.data.sampling import fit_to_video
from vidssl.data.transforms import EvalTransform, to_model_input
from vidssl.errors import VidsslError
from vidssl.eval.features import ordered_loader, read_eval_clips, warn_invalid
from vidssl.eval.linear_probe import train_on_features, zscore
from vidssl.progress import progress_bar

SYNC_SHIFTS = (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75)
ORDER_CLASSES = ("before", "after")
TASKS = ("sync", "order")


def num_classes(task: str) -> int:
    return len(SYNC_SHIFTS) if task == "sync" else len(ORDER_CLASSES)


def sync_pair_indices(num_frames: int, *, clip_len: int, label: int, rng: np.random.Generator) -> np.ndarray:
    """(2, T) frames of clips a and b: b starts round(s·T) frames after a, s = ``SYNC_SHIFTS[label]``.

    a's start is uniform over the starts that keep both clips inside the video;
    a video too short for that starts a at the earliest possible frame, and
    indices past the end repeat the last frame.
    """
    offset = int(round(SYNC_SHIFTS[label] * clip_len))
    low = max(0, -offset)
    high = num_frames - clip_len - max(0, offset)
    start = int(rng.integers(low, high + 1)) if high >= low else low
    frames = np.arange(clip_len)
    return fit_to_video(np.stack([start + frames, start + offset + frames]), num_frames, "clamp")


def order_indices(
    num_frames: int, *, half_len: int, label: int, rng: np.random.Generator, max_gap: int | None = None
) -> np.ndarray:
    """(2·half_len,) frames of the Order input: x₁ then x₂ (label 0, "before") or x₂ then x₁ (label 1).

    x₂ starts at least ``half_len`` frames after x₁ (non-overlapping) plus a gap
    uniform in [0, room] (``max_gap`` caps it); short videos clamp to the last frame.
    """
    room = max(num_frames - 2 * half_len, 0)
    gap = int(rng.integers(0, min(room, room if max_gap is None else max_gap) + 1))
    first = int(rng.integers(0, room - gap + 1))
    second = first + half_len + gap
    x1, x2 = first + np.arange(half_len), second + np.arange(half_len)
    parts = (x1, x2) if label == 0 else (x2, x1)
    return fit_to_video(np.concatenate(parts), num_frames, "clamp")


@dataclass(frozen=True)
class TaskRecord:
    """A video with the classes its temporal-task samples must show (one per pair)."""

    path: str
    label: int
    num_frames: int
    task_labels: tuple[int, ...]


def task_records(records: Sequence[Any], task: str, *, pairs_per_video: int, offset: int = 0) -> list[TaskRecord]:
    """Records with balanced task classes: pair p of video i shows class (offset + i·P + p) mod C."""
    classes = num_classes(task)
    return [
        TaskRecord(r.path, int(r.label), int(r.num_frames),
                   tuple((offset + i * pairs_per_video + p) % classes for p in range(pairs_per_video)))
        for i, r in enumerate(records)
    ]


class TemporalTaskSampler:
    """``{"clips": uint8 (P, V, C, T, H, W)}`` for a :class:`TaskRecord`: V = 2 clips (sync) or 1 input (order)."""

    def __init__(self, task: str, *, clip_len: int = 16, transform: EvalTransform) -> None:
        if task not in TASKS:
            raise VidsslError(f"temporal task: expected one of {', '.join(TASKS)}, got {task!r}")
        if task == "order" and clip_len % 2:
            raise ArgumentError("clip_len", f"the order task splits the clip in two halves, got an odd {clip_len}")
        self.task, self.clip_len, self.transform = task, clip_len, transform

    def indices(self, record: TaskRecord, rng: np.random.Generator) -> np.ndarray:
        """(P·V, T) frame indices of every view of every pair."""
        rows: list[np.ndarray] = []
        for label in record.task_labels:
            if self.task == "sync":
                rows.extend(sync_pair_indices(record.num_frames, clip_len=self.clip_len, label=label, rng=rng))
            else:
                rows.append(order_indices(record.num_frames, half_len=self.clip_len // 2, label=label, rng=rng))
        return np.stack(rows)

    def __call__(self, record: TaskRecord, reader: Any, rng: np.random.Generator) -> dict:
        views = 2 if self.task == "sync" else 1
        clips = read_eval_clips(record, reader, self.indices(record, rng), self.transform)
        return {"clips": clips.view(len(record.task_labels), views, *clips.shape[1:])}


def temporal_feature(tap: torch.Tensor) -> torch.Tensor:
    """ψ: a (B, C, T, H, W) tap averaged over H and W, flattened over (C, T) → (B, C·T)."""
    return tap.mean(dim=(3, 4)).flatten(1)


def temporal_task_features(
    backbone: nn.Module,
    records: Sequence[TaskRecord],
    reader: Any,
    sampler: TemporalTaskSampler,
    *,
    layer: str = "layer4",
    modality: str = "rgb",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, D), task classes (n,)) of every pair of every decodable video (sync: ψ(a) − ψ(b))."""
    pairs = len(records[0].task_labels)
    views = 2 if sampler.task == "sync" else 1
    size = sampler.transform.size
    shape = (pairs, views, 3, sampler.clip_len, size, size)
    loader = ordered_loader(records, reader, sampler, shape, batch_size=batch_size, workers=workers, device=device,
                            what=f"{sampler.task} task")
    features, valid = [], []
    tapped = cast(Backbone, backbone)  # every backbone meets the contract (tests/test_contracts.py)
    was_training = backbone.training
    backbone.to(device).eval()
    try:
        with torch.inference_mode():
            for batch in progress_bar(loader, desc=f"{sampler.task} features", enabled=progress, leave=False):
                clips = batch["clips"].to(device)
                x = to_model_input(clips.flatten(0, 2), modality)
                psi = temporal_feature(tapped.forward_features(x, layers=(layer,))[layer]).float()
                psi = psi.view(clips.shape[0] * pairs, views, -1)
                features.append((psi[:, 0] - psi[:, 1] if views == 2 else psi[:, 0]).cpu())
                valid.append(batch["valid"])
    finally:
        backbone.train(was_training)
    valid_videos = torch.cat(valid).numpy().astype(bool)
    warn_invalid(records, valid_videos, f"{sampler.task} task")
    keep = np.repeat(valid_videos, pairs)
    labels = np.array([label for record in records for label in record.task_labels], dtype=np.int64)
    return torch.cat(features).numpy()[keep], labels[keep]


@dataclass(frozen=True)
class TemporalProbeConfig:
    """The MLP probe of the temporal tasks (hidden 512, appendix C.1) and how many samples each video gives."""

    pairs_per_video: int = 4
    hidden: int = 512
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4

    def validate(self, where: str = "eval.temporal") -> None:
        """Reject values the probe cannot train with, naming ``where.<key>`` and the value."""
        check_fields(self, where, (
            *((name, is_positive_int, "a positive integer")
              for name in ("pairs_per_video", "hidden", "epochs", "batch_size")),
            ("lr", lambda lr: lr > 0, "a number > 0"),
            ("weight_decay", lambda decay: decay >= 0, "a number >= 0"),
        ))


def train_mlp_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
    num_classes: int, cfg: TemporalProbeConfig = TemporalProbeConfig(), seed: int = 0,
) -> dict[str, Any]:
    """A 2-layer MLP (ReLU, ``cfg.hidden`` units) on z-scored features, AdamW with a half-cosine lr; accuracies."""
    cfg.validate("eval.temporal")  # again, for configs built in code rather than by ``from_dict``
    if len(train_x) == 0 or len(test_x) == 0:
        raise VidsslError("temporal probe: expected non-empty train and test features")
    torch.manual_seed(seed)
    train_z, test_z = (torch.from_numpy(a.astype(np.float32)) for a in zscore(train_x, test_x))
    labels = torch.from_numpy(np.asarray(train_y, dtype=np.int64))
    mlp = nn.Sequential(
        nn.Linear(train_z.shape[1], cfg.hidden), nn.ReLU(inplace=True), nn.Linear(cfg.hidden, num_classes)
    )
    optimizer = torch.optim.AdamW(mlp.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = train_on_features(mlp, optimizer, train_z, labels, epochs=cfg.epochs, batch_size=cfg.batch_size,
                                base_lr=cfg.lr, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        train_accuracy = (mlp(train_z).argmax(1) == labels).float().mean().item()
        accuracy = (mlp(test_z).argmax(1) == torch.from_numpy(np.asarray(test_y))).float().mean().item()
    return {"accuracy": accuracy, "train_accuracy": train_accuracy, "num_train": len(train_z),
            "num_test": len(test_z), "chance": 1.0 / num_classes, "history": history}


def temporal_probe(
    backbone: nn.Module,
    train_records: Sequence[Any],
    test_records: Sequence[Any],
    reader: Any,
    task: str,
    *,
    clip_len: int = 16,
    transform: EvalTransform = EvalTransform(),
    cfg: TemporalProbeConfig = TemporalProbeConfig(),
    layer: str = "layer4",
    modality: str = "rgb",
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Sync or Order on the frozen ``backbone``: features of balanced pairs from both splits, then the MLP probe."""
    sampler = TemporalTaskSampler(task, clip_len=clip_len, transform=transform)
    extract = partial(temporal_task_features, layer=layer, modality=modality, device=device, batch_size=batch_size,
                      workers=workers, progress=progress)
    splits = []
    for offset, records in enumerate((train_records, test_records)):
        tasks = task_records(records, task, pairs_per_video=cfg.pairs_per_video, offset=offset)
        splits.append(extract(backbone, tasks, reader, sampler))
    (train_x, train_y), (test_x, test_y) = splits
    results = train_mlp_probe(train_x, train_y, test_x, test_y, num_classes=num_classes(task), cfg=cfg, seed=seed)
    results.update(task=task, layer=layer, classes=list(map(str, SYNC_SHIFTS)) if task == "sync"
                   else list(ORDER_CLASSES))
    return results


__all__ = [
    "ORDER_CLASSES", "SYNC_SHIFTS", "TASKS", "TaskRecord", "TemporalProbeConfig", "TemporalTaskSampler",
    "order_indices", "sync_pair_indices", "task_records", "temporal_feature", "temporal_probe",
    "temporal_task_features", "train_mlp_probe",
]
