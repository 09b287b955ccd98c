"""Linear evaluation of a frozen backbone (CORP §4.1; the protocol of CVRL and SimCLR).

"All layers (including the running statistics in batch normalization) except
the last linear layer are frozen ... Z-score standardization is used to
normalize the features before feeding it into the last linear layer": SGD with
momentum 0.9, no weight decay, initial lr 0.16, half-cosine decay without
warm-up, 100 epochs.

This runs on cached per-video features (:func:`vidssl.eval.features.extract_features`:
the mean of ``clips.num_clips`` evaluation clips, the backbone in eval mode so
BatchNorm uses its running statistics): the backbone runs once per video, not
once per epoch, which is what makes the protocol affordable on a CPU. The
z-score uses the training features' mean and standard deviation only.
CORP trains on augmented clips instead: ``mode="end_to_end"``
(:func:`linear_probe_end_to_end`) does that, a random augmented clip per video
and step through the frozen backbone (eval mode: BatchNorm statistics never
move), z-scored with the training videos' feature statistics, into the linear
layer; it costs a backbone pass per clip and epoch.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import check_choice, check_fields, config_keys, is_positive_int
from vidssl.contracts import Backbone
from vidssl.data.datasets import VideoRecord
from vidssl.data.transforms import check_modality
from vidssl.errors import VidsslError
from vidssl.eval.features import EvalClips, extract_features


@dataclass(frozen=True)
class LinearProbeConfig:
    """CORP §4.1's recipe: 100 epochs, batch 1024, SGD lr 0.16, momentum 0.9, no weight decay, half-cosine."""

    epochs: int = 100
    batch_size: int = 1024
    lr: float = 0.16
    momentum: float = 0.9
    weight_decay: float = 0.0
    mode: str = "features"  # "features": cached per-video features (default, fast); "end_to_end": augmented clips

    def validate(self, where: str = "eval.linear") -> None:
        """Reject values the probe cannot train with, naming ``where.<key>`` and the value."""
        check_fields(self, where, (
            ("epochs", is_positive_int, "a positive integer"),
            ("batch_size", is_positive_int, "a positive integer"),
            ("lr", lambda lr: lr > 0, "a number > 0"),
            ("momentum", lambda momentum: 0 <= momentum < 1, "a number in [0, 1)"),
            ("weight_decay", lambda decay: decay >= 0, "a number >= 0"),
        ))
        with config_keys(where):
            check_choice("mode", self.mode, MODES)


MODES = ("features", "end_to_end")


def zscore(train: np.ndarray, test: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both splits with the training split's per-dimension mean and standard deviation."""
    mean = train.mean(axis=0, keepdims=True)
    std = train.std(axis=0, keepdims=True)
    return (train - mean) / (std + eps), (test - mean) / (std + eps)


def half_cosine_lr(step: int, total_steps: int, base_lr: float) -> float:
    """``base_lr · ½ (1 + cos(π · step / total_steps))``: from base_lr at step 0 towards 0 at the end."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total_steps, 1)))


def train_on_features(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
    epochs: int, batch_size: int, base_lr: float, generator: torch.Generator,
) -> list[dict[str, float]]:
    """Cross-entropy on cached features: ``epochs`` shuffled passes of ``batch_size`` rows, half-cosine lr per step.

    Returns one row per epoch: ``epoch``, mean ``loss``, the ``lr`` of its last step.
    """
    total_steps, step, history = epochs * math.ceil(len(x) / batch_size), 0, []
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        losses = []
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            for group in optimizer.param_groups:
                group["lr"] = half_cosine_lr(step, total_steps, base_lr)
            loss = F.cross_entropy(model(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "lr": optimizer.param_groups[0]["lr"]})
    return history


def _check_config(cfg: LinearProbeConfig) -> None:
    """The config-time checks again, for configs built in code rather than by ``from_dict``."""
    cfg.validate("eval.linear")


def train_linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    num_classes: int,
    cfg: LinearProbeConfig = LinearProbeConfig(),
    seed: int = 0,
) -> dict[str, Any]:
    """Fit one ``nn.Linear`` on z-scored training features; top-1 accuracy on the test features.

    Returns ``accuracy`` (test), ``train_accuracy``, ``num_train``, ``num_test``
    and ``history`` (per epoch: ``epoch``, ``loss``, ``lr``). Deterministic for a given ``seed``.
    """
    _check_config(cfg)
    train_x, test_x = (np.asarray(a, dtype=np.float32) for a in (train_x, test_x))
    train_y, test_y = (np.asarray(a, dtype=np.int64) for a in (train_y, test_y))
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise VidsslError(f"linear probe: expected (N, D) features, got {train_x.shape} and {test_x.shape}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y) or not len(train_x) or not len(test_x):
        raise VidsslError("linear probe: expected one label per feature row and non-empty train and test splits")
    if num_classes < 2 or train_y.min() < 0 or max(train_y.max(), test_y.max()) >= num_classes:
        raise VidsslError(f"linear probe: labels must lie in [0, {num_classes}) with num_classes >= 2")
    train_z, test_z = (torch.from_numpy(a) for a in zscore(train_x, test_x))
    labels = torch.from_numpy(train_y)
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(train_z.shape[1], num_classes)
    with torch.no_grad():  # nn.Linear's default init, drawn from this probe's own generator
        bound = 1.0 / math.sqrt(train_z.shape[1])
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    optimizer = torch.optim.SGD(layer.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    history = train_on_features(layer, optimizer, train_z, labels, epochs=cfg.epochs, batch_size=cfg.batch_size,
                                base_lr=cfg.lr, generator=generator)
    with torch.no_grad():
        train_accuracy = (layer(train_z).argmax(1) == labels).float().mean().item()
        accuracy = (layer(test_z).argmax(1) == torch.from_numpy(test_y)).float().mean().item()
    return {
        "accuracy": accuracy,
        "train_accuracy": train_accuracy,
        "num_train": len(train_z),
        "num_test": len(test_z),
        "history": history,
    }


def linear_probe(
    backbone: nn.Module,
    train_records: Sequence[VideoRecord],
    test_records: Sequence[VideoRecord],
    reader: Any,
    clips: EvalClips = EvalClips(),
    *,
    num_classes: int,
    cfg: LinearProbeConfig = LinearProbeConfig(),
    layer: str = "pool",
    pooling: str = "avg",
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
    cache: Any = None,
) -> dict[str, Any]:
    """Frozen features of both splits at ``layer``, then :func:`train_linear_probe`; videos that fail to decode
    are left out and counted in ``skipped``. ``cache``: a :class:`vidssl.eval.feature_cache.FeatureCache`."""
    extract = dict(layers=(layer,), pooling=pooling, device=device, batch_size=batch_size, workers=workers,
                   progress=progress, cache=cache)
    train = extract_features(backbone, train_records, reader, clips, **extract)
    test = extract_features(backbone, test_records, reader, clips, **extract)
    results = train_linear_probe(
        train.by_layer[layer][train.valid], train.labels[train.valid],
        test.by_layer[layer][test.valid], test.labels[test.valid],
        num_classes=num_classes, cfg=cfg, seed=seed,
    )
    results.update(layer=layer, skipped=train.num_invalid + test.num_invalid)
    return results


class FrozenLinear(nn.Module):
    """Frozen backbone → fixed z-score (the training features' mean and std) → trainable ``nn.Linear``.

    The backbone stays in eval mode even while the module trains, so its
    BatchNorm running statistics are frozen too (CORP §4.1); only ``fc`` has
    gradients. ``training_step`` takes ``clips`` uint8 (B, C, T, H, W) and ``label`` (B,).
    """

    def __init__(self, backbone: nn.Module, *, num_classes: int, mean: np.ndarray, std: np.ndarray,
                 modality: str = "rgb", eps: float = 1e-6):
        super().__init__()
        self.modality = check_modality(modality)
        self.backbone = backbone.requires_grad_(False).eval()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("scale", 1.0 / (torch.as_tensor(np.asarray(std, dtype=np.float32)) + eps))
        dim = cast(Backbone, backbone).num_features  # every backbone meets the contract (tests/test_contracts.py)
        self.fc = nn.Linear(dim, num_classes)

    def train(self, mode: bool = True) -> FrozenLinear:
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            feats = (self.backbone(x) - self.mean) * self.scale
        return self.fc(feats)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        from vidssl.eval.finetune import classification_step

        return classification_step(self, batch)


def linear_probe_end_to_end(
    backbone: nn.Module,
    train_records: Sequence[VideoRecord],
    test_records: Sequence[VideoRecord],
    reader: Any,
    clips: EvalClips = EvalClips(),
    *,
    num_classes: int,
    train_cfg: Any,
    run_dir: str | Path,
    augment: Any,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = True,
    cache: Any = None,
) -> dict[str, Any]:
    """CORP §4.1 linear evaluation on augmented clips through the frozen backbone (:class:`FrozenLinear`).

    The z-score statistics come from the training videos' evaluation features
    (``pool``, cached); ``train_cfg`` (a :class:`vidssl.engine.TrainConfig`:
    SGD, half-cosine, no weight decay) drives :func:`vidssl.engine.fit` on one
    random ``augment``-ed clip per video and step; the test videos are scored as
    in finetuning (softmax averaged over ``clips.num_clips`` clips). Returns
    ``accuracy`` (video), ``clip_accuracy``, ``num_train``, ``num_test``, ``history``.
    """
    from vidssl.data.datasets import VideoDataset
    from vidssl.data.transforms import frames_for_modality
    from vidssl.engine import fit
    from vidssl.eval.finetune import TrainClipSampler, evaluate_classifier

    stats = extract_features(backbone, train_records, reader, clips, layers=("pool",), device=device,
                             batch_size=batch_size, workers=workers, progress=progress, cache=cache)
    train_feats = stats.by_layer["pool"][stats.valid]
    if not len(train_feats):
        raise VidsslError("linear probe: every training video failed to decode")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FrozenLinear(copy.deepcopy(backbone), num_classes=num_classes, mean=train_feats.mean(axis=0),
                             std=train_feats.std(axis=0), modality=clips.modality)
    sampler = TrainClipSampler(clip_len=frames_for_modality(clips.clip_len, clips.modality), interval=clips.interval,
                               augment=augment)
    history = fit(model, VideoDataset(list(train_records), reader, sampler, seed=seed), cfg=train_cfg,
                  run_dir=run_dir)
    tested = evaluate_classifier(model, test_records, reader, clips, device=device, batch_size=batch_size,
                                 workers=workers, progress=progress)
    return {"accuracy": tested["video_acc"], "clip_accuracy": tested["clip_acc"], "num_train": len(train_records),
            "num_test": tested["num_test_videos"], "skipped": tested["skipped"], "history": history,
            "mode": "end_to_end", "layer": "pool"}
