"""Training engine: the ``fit`` loop, optimiser/schedule, atomic checkpoints, DDP helpers and logs.

The engine sees a method only through ``training_step(batch) -> (loss, logs)``
(:class:`vidssl.contracts.Method`).
"""

from vidssl.engine.checkpoint import load_checkpoint, save_checkpoint
from vidssl.engine.distributed import DistInfo, barrier, cleanup, init_distributed, is_main
from vidssl.engine.optim import build_optimizer, build_scheduler
from vidssl.engine.trainer import TrainConfig, fit, train_one_epoch

__all__ = [
    "TrainConfig",
    "fit",
    "train_one_epoch",
    "build_optimizer",
    "build_scheduler",
    "save_checkpoint",
    "load_checkpoint",
    "DistInfo",
    "init_distributed",
    "is_main",
    "barrier",
    "cleanup",
]
