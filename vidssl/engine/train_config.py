"""The ``train:`` section as a dataclass, and the checks of every value in it.

:class:`TrainConfig` is what :func:`vidssl.engine.trainer.fit` and
:mod:`vidssl.engine.optim` read; its :meth:`~TrainConfig.validate` runs when the
config is read (so a bad value stops a run before its folder is touched), and
the optimiser and schedule builders run the same checks again when called
directly. Both the loop and the optimiser import this module; it imports
neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vidssl.errors import VidsslError

__all__ = [
    "AMP_DTYPES",
    "OPTIMIZERS",
    "LR_SCALINGS",
    "SCHEDULES",
    "TrainConfig",
    "check_train_config",
    "check_optimizer_config",
    "check_schedule_config",
]

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainConfig:
    """Everything the training loop needs; built from the YAML ``train:`` section by ``vidssl.config``."""

    epochs: int = 10
    batch_size: int = 8  # per process
    lr: float = 0.1
    lr_scaling: str = "none"  # "none" | "linear": lr x batch_size x world size / 256 (CORP §4.1: lr 1.0)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    optimizer: str = "sgd"         # "sgd" (the papers) | "adamw" (momentum -> beta1; faster on short CPU runs)
                                   # | "lars" (CORP; see vidssl.engine.lars)
    lars_trust: float = 0.001  # LARS trust coefficient eta (You et al. 2017; SimCLR's default)
    schedule: str = "cosine"  # "cosine" | "multistep" | "constant"
    milestones: tuple[float, ...] = (0.6, 0.8)  # fractions of the epochs (TransRank App. C.1: x0.1 at 3/5, 4/5)
    gamma: float = 0.1
    warmup_epochs: float = 0.0  # linear warm-up, in epochs
    # or as a fraction of all steps (CORP §4.1: "the first 5% epochs"), kept by longer runs
    warmup_fraction: float = 0.0
    workers: int = 2
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1"
    amp: bool = False  # autocast; fp32 is the CPU default (bf16 on CPU gave NaN/1e35 intermittently)
    amp_dtype: str = "bf16"  # "bf16" | "fp16" (fp16 uses GradScaler)
    sync_bn: bool = True  # convert BN to SyncBN under DDP (CUDA only)
    seed: int = 0
    grad_clip: float | None = None
    log_every: int = 10  # steps
    progress: bool = True
    checkpoint_every: int = 1  # epochs
    deterministic: bool = False  # torch.use_deterministic_algorithms + one intra-op thread

    def validate(self, where: str = "train") -> None:
        """Every value the loop, the optimiser and the schedule need, checked when the config is read, so a bad
        value stops a run before its folder is touched (``from_dict`` calls this)."""
        check_train_config(self)
        check_optimizer_config(self)
        check_schedule_config(self)


def check_train_config(cfg: TrainConfig) -> None:
    """Reject values the loop cannot run with (schedule values are checked by ``build_scheduler``)."""
    positive = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "log_every": cfg.log_every,
                "checkpoint_every": cfg.checkpoint_every}
    for key, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise VidsslError(f"train.{key}={value!r}: expected a positive integer")
    if not isinstance(cfg.workers, int) or cfg.workers < 0:
        raise VidsslError(f"train.workers={cfg.workers!r}: expected an integer >= 0")
    if cfg.amp_dtype not in AMP_DTYPES:
        raise VidsslError(f"train.amp_dtype={cfg.amp_dtype!r}: expected one of {', '.join(AMP_DTYPES)}")
    if cfg.grad_clip is not None and not cfg.grad_clip > 0:
        raise VidsslError(f"train.grad_clip={cfg.grad_clip!r}: expected a positive number or null")


OPTIMIZERS = ("sgd", "adamw", "lars")
LR_SCALINGS = ("none", "linear")
SCHEDULES = ("cosine", "multistep", "constant")


def check_optimizer_config(cfg: TrainConfig) -> None:
    """Reject an optimiser the run cannot build: unknown name or lr scaling, lr <= 0, negative momentum or decay."""
    if cfg.optimizer not in OPTIMIZERS:
        raise VidsslError(f"train.optimizer: expected one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.lr_scaling not in LR_SCALINGS:
        raise VidsslError(f"train.lr_scaling={cfg.lr_scaling!r}: expected one of {', '.join(LR_SCALINGS)}")
    if not cfg.lr > 0:
        raise VidsslError(f"train.lr={cfg.lr}: expected a positive learning rate")
    if cfg.momentum < 0 or cfg.weight_decay < 0:
        raise VidsslError(
            f"train.momentum={cfg.momentum}, train.weight_decay={cfg.weight_decay}: expected values >= 0"
        )
    if cfg.nesterov and cfg.momentum == 0:
        raise VidsslError("train.nesterov=true needs train.momentum > 0")


def check_schedule_config(cfg: TrainConfig) -> None:
    """Reject a schedule the run cannot follow: unknown name, milestones out of order, a bad warm-up."""
    if cfg.schedule not in SCHEDULES:
        raise VidsslError(f"train.schedule={cfg.schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if cfg.schedule == "multistep":
        fractions = list(cfg.milestones)
        if any(not 0 < f <= 1 for f in fractions) or fractions != sorted(fractions):
            raise VidsslError(
                f"train.milestones={tuple(fractions)}: expected increasing fractions of the epochs in (0, 1]"
            )
    if cfg.warmup_epochs < 0:
        raise VidsslError(f"train.warmup_epochs={cfg.warmup_epochs}: expected >= 0")
    if cfg.warmup_epochs > cfg.epochs:
        raise VidsslError(f"train.warmup_epochs={cfg.warmup_epochs}: expected <= train.epochs={cfg.epochs}")
    if not 0 <= cfg.warmup_fraction <= 1:
        raise VidsslError(f"train.warmup_fraction={cfg.warmup_fraction}: expected a fraction of training in [0, 1]")
    if cfg.warmup_fraction > 0 and cfg.warmup_epochs > 0:
        raise VidsslError(f"train.warmup_epochs={cfg.warmup_epochs} and train.warmup_fraction={cfg.warmup_fraction}: "
                          f"set one of them (the other to 0)")
