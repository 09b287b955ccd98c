"""The training loop: ``fit`` = data loader + SGD + schedule + AMP + DDP + checkpoints + logs.

A method is any ``nn.Module`` with ``training_step(batch) -> (loss, logs)``;
the engine knows nothing else about it. One run lives in ``run_dir``::

    run_dir/checkpoints/last.pt     after every epoch (atomic), resume point
    run_dir/checkpoints/best.pt     when val_fn's "score" improves
    run_dir/logs/metrics.csv        one row per epoch
    run_dir/logs/tb/                TensorBoard events

Epochs are counted from 0 in the data (CSV ``epoch`` column, ``set_epoch``,
``val_fn``); the checkpoint's ``epoch`` is the number of completed epochs,
i.e. the index of the epoch a resumed run starts with. Resuming restores the
weights, optimiser, scheduler, AMP scaler and every RNG, and the data order
is a function of (seed, epoch) only, so an interrupted and resumed run ends
with exactly the weights of an uninterrupted one (CPU, ``deterministic=True``).

Multi-GPU / multi-node: launch with ``torchrun``; each process trains on its
shard (``DistributedSampler``), gradients are averaged by DDP. Every process
reads ``last.pt`` on resume, so multi-node runs need ``run_dir`` on a shared
file system.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeGuard, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

from vidssl.contracts import Method
from vidssl.engine.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    load_matching_state_dict,
    restore_rng_state,
    save_checkpoint,
)
from vidssl.engine.distributed import DistInfo, init_distributed
from vidssl.engine.logging import MetricsLogger, RunningMeans, as_float, format_epoch_summary
from vidssl.engine.optim import build_optimizer, build_scheduler
from vidssl.engine.train_config import AMP_DTYPES, TrainConfig, check_train_config
from vidssl.errors import OutputError, VidsslError
from vidssl.progress import progress_bar

__all__ = [
    "TrainConfig",
    "check_train_config",
    "fit",
    "train_one_epoch",
    "build_train_loader",
    "EpochLoader",
    "move_to_device",
    "derive_seed",
    "seed_everything",
]

class _StepModule(nn.Module):
    """Wraps a method so that its ``training_step`` is the ``forward`` DDP hooks into.

    DDP synchronises gradients for whatever runs in the wrapped module's
    ``forward``; a method's own ``forward`` returns features, so DDP wraps this.
    """

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        method = cast(Method, self.method)  # what fit trains: a module with training_step (module docstring)
        return method.training_step(batch)


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that depends on all ``keys`` (e.g. seed, epoch, rank), well mixed by ``SeedSequence``."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0]) >> 1


def seed_everything(seed: int) -> None:
    """Seed the global torch (CPU and CUDA), numpy and python RNGs."""
    import random

    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Every tensor in a (nested) dict/list/tuple moved to ``device``, dtypes unchanged (uint8 clips stay uint8)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: move_to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(value, device) for value in batch)
    return batch


def _worker_init(worker_id: int) -> None:
    """One thread per DataLoader worker (torch and OpenCV), and a numpy seed that differs per worker."""
    torch.set_num_threads(1)
    try:
        import cv2
    except ImportError:
        pass
    else:
        cv2.setNumThreads(1)
    np.random.seed(torch.initial_seed() % (1 << 32))


class EpochLoader:
    """A DataLoader plus what must be re-seeded before each epoch (sampler epoch, generator, dataset epoch)."""

    def __init__(self, loader: DataLoader, generator: torch.Generator, *, seed: int, rank: int) -> None:
        self.loader = loader
        self.generator = generator
        self.seed = seed
        self.rank = rank

    def __len__(self) -> int:
        return len(self.loader)

    def start_epoch(self, epoch: int, history: Sequence[Mapping[str, Any]] = ()) -> None:
        """Make the shuffle and worker seeds a function of (seed, epoch, rank) only, so resume replays them.

        A dataset with ``set_history`` first sees the epoch rows so far (the
        curriculum's plateau rule reads their losses), then ``set_epoch``.
        """
        sampler = self.loader.sampler
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        self.generator.manual_seed(derive_seed(self.seed, epoch, self.rank))
        set_history = getattr(self.loader.dataset, "set_history", None)
        if callable(set_history):
            set_history(list(history))
        set_epoch = getattr(self.loader.dataset, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def build_train_loader(
    dataset: Any, *, cfg: TrainConfig, info: DistInfo, collate_fn: Callable | None = None
) -> EpochLoader:
    """Shuffling DataLoader: ``DistributedSampler`` under DDP, else a ``RandomSampler`` on a seeded generator."""
    length = len(dataset)
    if length == 0:
        raise VidsslError("the training dataset is empty")
    generator = torch.Generator()
    sampler: Sampler[int]
    if info.distributed:
        sampler = DistributedSampler(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed
        )
        samples_per_process = len(sampler)
    else:
        sampler = RandomSampler(dataset, generator=generator)
        samples_per_process = length
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        collate_fn=collate_fn,
        pin_memory=info.device.type == "cuda",
        drop_last=samples_per_process >= cfg.batch_size,
        persistent_workers=False,  # workers are re-forked each epoch so they see dataset.set_epoch
        worker_init_fn=_worker_init if cfg.workers > 0 else None,
        generator=generator,
    )
    return EpochLoader(loader, generator, seed=cfg.seed, rank=info.rank)


def _batch_size(batch: Any) -> int:
    """Leading dimension of the first tensor found in the batch."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else []
    for value in values:
        size = _batch_size(value)
        if size:
            return size
    return 0


def _skipped_in_batch(batch: Any) -> int:
    """Corrupt videos the dataset replaced to build this batch (``batch["skipped"]``, summed)."""
    if isinstance(batch, Mapping) and "skipped" in batch:
        skipped = batch["skipped"]
        return int(skipped.sum().item()) if isinstance(skipped, torch.Tensor) else int(sum(np.atleast_1d(skipped)))
    return 0


def _mean_loss_across_processes(loss: torch.Tensor, info: DistInfo) -> float:
    """The loss averaged over processes, as a float (non-finite on every rank if non-finite on any)."""
    value = loss.detach().float().clone()
    if info.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= info.world_size
    return float(value.item())


def _sum_across_processes(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of a few numbers over all processes."""
    if not info.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def train_one_epoch(
    model: nn.Module,
    loader: EpochLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    epoch: int,
    cfg: TrainConfig,
    info: DistInfo,
    logger: MetricsLogger,
    history: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One pass over the loader; returns the epoch's log row (before validation).

    ``model`` is the step module (DDP-wrapped under DDP): ``model(batch) -> (loss, logs)``.
    ``history`` holds the earlier epochs' rows (handed to the dataset, see :meth:`EpochLoader.start_epoch`).
    """
    model.train()
    loader.start_epoch(epoch, history)
    steps_per_epoch = len(loader)
    lr_at_start = float(optimizer.param_groups[0]["lr"])
    means = RunningMeans()
    samples, skipped = 0, 0
    started = time.perf_counter()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    amp_dtype = AMP_DTYPES[cfg.amp_dtype]
    bar = progress_bar(
        loader.loader,
        total=steps_per_epoch,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        dynamic_ncols=True,
        enabled=cfg.progress and info.rank == 0,
    )
    try:
        for step, batch in enumerate(bar):
            samples += _batch_size(batch)
            skipped += _skipped_in_batch(batch)
            batch = move_to_device(batch, info.device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=info.device.type, dtype=amp_dtype, enabled=cfg.amp):
                loss, logs = model(batch)
            if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                raise VidsslError(
                    f"training_step must return a scalar loss tensor, got {getattr(loss, 'shape', type(loss))}"
                )
            loss_value = _mean_loss_across_processes(loss, info)
            if not math.isfinite(loss_value):
                raise VidsslError(
                    f"non-finite loss {loss_value} at epoch {epoch} step {step}; try amp=false or a lower lr"
                )
            lr_used = float(optimizer.param_groups[0]["lr"])
            scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()

            means.update({"loss": loss_value})
            means.update({key: value for key, value in logs.items() if key != "loss"})
            if (step + 1) % cfg.log_every == 0 or step + 1 == steps_per_epoch:
                running = means.means()
                bar.set_postfix(loss=f"{running['loss']:.4f}", refresh=False)
                logger.log_step({**running, "lr": lr_used}, global_step=epoch * steps_per_epoch + step)
    finally:
        bar.close()

    seconds = time.perf_counter() - started
    total_samples, total_skipped = _sum_across_processes([float(samples), float(skipped)], info)
    row: dict[str, Any] = {"epoch": epoch, "lr": lr_at_start}
    row.update(means.means())
    row["skipped"] = int(total_skipped)
    row["seconds"] = seconds
    row["samples_per_s"] = total_samples / seconds if seconds > 0 else 0.0
    return row


@contextlib.contextmanager
def _determinism(enabled: bool) -> Iterator[None]:
    """Deterministic kernels and one intra-op thread for the duration of ``fit``; previous settings restored."""
    if not enabled:
        yield
        return
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_num_threads(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.set_num_threads(previous[2])
        torch.backends.cudnn.deterministic = previous[3]
        torch.backends.cudnn.benchmark = previous[4]


def _gather_rng_states(info: DistInfo) -> dict[str, Any]:
    """RNG states of every process (rank order), for the checkpoint. Collective under DDP."""
    local = capture_rng_state()
    if not info.distributed:
        return {"world_size": 1, "per_rank": [local]}
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, local)  # in-memory exchange between our own processes
    return {"world_size": info.world_size, "per_rank": gathered}


def _restore_rng_states(rng: Mapping[str, Any], *, info: DistInfo, seed: int, epoch: int, path: Path) -> None:
    """Give this process back its own RNG state; re-seed if the number of processes changed."""
    per_rank = rng.get("per_rank") if isinstance(rng, Mapping) else None
    if not per_rank:
        raise VidsslError(f"checkpoint {path}: 'rng' lacks per-rank states")
    if len(per_rank) == info.world_size:
        restore_rng_state(per_rank[info.rank])
        return
    if info.rank == 0:
        warnings.warn(
            f"checkpoint {path} was written by {len(per_rank)} processes, resuming with {info.world_size}: "
            "RNG streams re-seeded, so the run will not repeat the uninterrupted one exactly",
            stacklevel=3,
        )
    seed_everything(derive_seed(seed, epoch, info.rank))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _apply_schedule_at_current_step(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR
) -> None:
    """Set each group's lr from this run's schedule at the restored step.

    The optimiser state carries the lr of the interrupted run's schedule; they
    agree unless the schedule changed (e.g. more epochs on resume), and then
    this run's schedule must win from the first resumed step.
    """
    step = scheduler.last_epoch
    lrs = [base * factor(step) for base, factor in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reports


def _resume_from(
    path: Path,
    *,
    method: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler,
    info: DistInfo,
    seed: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Load ``last.pt`` into the training objects; returns (first epoch to run, history so far)."""
    state = load_checkpoint(path, map_location="cpu")
    missing = [key for key in ("model", "optimizer", "scheduler", "epoch", "rng", "history") if key not in state]
    if missing:
        raise VidsslError(f"checkpoint {path} lacks {', '.join(missing)}; it was not written by vidssl.engine.fit")
    load_matching_state_dict(method, state["model"], source=f"checkpoint {path}")
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except (ValueError, KeyError) as exc:
        raise VidsslError(
            f"checkpoint {path}: optimiser state does not match this model ({_first_line(exc)})"
        ) from None
    _apply_schedule_at_current_step(optimizer, scheduler)
    if scaler.is_enabled() and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    epoch = int(state["epoch"])
    _restore_rng_states(state["rng"], info=info, seed=seed, epoch=epoch, path=path)
    return epoch, [dict(row) for row in state["history"]]


@contextlib.contextmanager
def _keeping_last_good_checkpoint(last_path: Path, saved_epoch: int | None) -> Iterator[None]:
    """Turn a failed epoch-end write (full disk, lost permissions) into an error that says what survived.

    Checkpoints are written atomically, so ``last.pt`` still holds the last
    epoch that was saved; the message says which, and how to continue.
    """
    try:
        yield
    except OutputError as err:
        kept = (f"the last good checkpoint ({last_path}, {saved_epoch} epochs) is kept; free space and rerun "
                f"with --resume") if saved_epoch else "no checkpoint was saved yet"
        raise OutputError(err.path, f"{err.reason}; {kept}") from None


def _wrap_for_training(method: nn.Module, *, info: DistInfo) -> nn.Module:
    """The module whose forward is the training step: DDP over ``_StepModule`` when distributed."""
    step_module = _StepModule(method)
    if not info.distributed:
        return step_module
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(step_module, device_ids=device_ids)


def _convert_sync_bn(method: nn.Module, *, cfg: TrainConfig, info: DistInfo) -> None:
    """Swap BatchNorm layers for SyncBatchNorm in place (DDP on CUDA only: SyncBN has no CPU kernel)."""
    if not (cfg.sync_bn and info.distributed):
        return
    if info.device.type != "cuda":
        if info.rank == 0:
            warnings.warn("train.sync_bn ignored on CPU (SyncBatchNorm needs CUDA); BN statistics stay per process",
                          stacklevel=3)
        return
    nn.SyncBatchNorm.convert_sync_batchnorm(method)  # replaces child modules in place


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _clean_log_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers as python floats/ints (tensors converted), so the history can go into a weights_only checkpoint."""
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (bool, int, str)) or value is None:
            clean[str(key)] = value
        else:
            clean[str(key)] = as_float(value)
    return clean


def fit(
    method: nn.Module,
    dataset: Any,
    *,
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    collate_fn: Callable | None = None,
    val_fn: Callable[[nn.Module, int], dict] | None = None,
) -> list[dict[str, Any]]:
    """Train ``method`` on ``dataset`` for ``cfg.epochs`` epochs; return one log dict per epoch.

    The trained weights stay in ``method`` (never replaced by a wrapper; with
    ``sync_bn`` on CUDA its BN children become SyncBatchNorm, same state_dict).
    ``resume=True`` continues from ``run_dir/checkpoints/last.pt`` (a fresh start,
    with a warning, when there is none). ``val_fn(method, epoch) -> dict`` runs on
    rank 0 after each epoch; its entries join the epoch's row, and a higher
    ``"score"`` than ever before writes ``best.pt``.
    """
    check_train_config(cfg)
    run_dir = Path(run_dir)
    info = init_distributed(cfg.device)
    is_main = info.rank == 0
    checkpoint_dir = run_dir / "checkpoints"
    last_path = checkpoint_dir / "last.pt"

    with _determinism(cfg.deterministic):
        seed_everything(derive_seed(cfg.seed, info.rank))
        method.to(info.device)
        _convert_sync_bn(method, cfg=cfg, info=info)
        loader = build_train_loader(dataset, cfg=cfg, info=info, collate_fn=collate_fn)
        steps_per_epoch = len(loader)
        optimizer = build_optimizer(method, cfg, world_size=info.world_size)
        scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
        scaler = torch.amp.GradScaler(info.device.type, enabled=cfg.amp and cfg.amp_dtype == "fp16")

        start_epoch = 0
        history: list[dict[str, Any]] = []
        if resume and last_path.is_file():
            start_epoch, history = _resume_from(
                last_path, method=method, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                info=info, seed=cfg.seed,
            )
        elif resume:
            if is_main:
                warnings.warn(f"resume requested but {last_path} does not exist; starting from scratch", stacklevel=2)
        elif last_path.is_file() and is_main:
            warnings.warn(f"{last_path} exists and will be overwritten (pass resume=True to continue it)",
                          stacklevel=2)
        model = _wrap_for_training(method, info=info)
        best_score = max((row["score"] for row in history if _is_number(row.get("score"))), default=-math.inf)

        saved_epoch = start_epoch if start_epoch > 0 else None
        logger = MetricsLogger(run_dir / "logs", enabled=is_main, purge_step=start_epoch * steps_per_epoch)
        try:
            logger.reset_csv(history)
            if start_epoch >= cfg.epochs and is_main:
                print(f"nothing to train: {last_path} already holds {start_epoch}/{cfg.epochs} epochs", flush=True)
            for epoch in range(start_epoch, cfg.epochs):
                row = train_one_epoch(
                    model, loader, optimizer, scheduler, scaler, epoch=epoch, cfg=cfg, info=info, logger=logger,
                    history=history,
                )
                if val_fn is not None and is_main:
                    row.update(val_fn(method, epoch))
                row = _clean_log_row(row)
                history.append(row)
                if is_main:
                    print(format_epoch_summary(row, epochs=cfg.epochs), flush=True)

                completed = epoch + 1
                state = {
                    "model": method.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                    "epoch": completed,
                    "rng": _gather_rng_states(info),  # collective: every rank, every epoch
                    "config": asdict(cfg),
                    "history": history,
                }
                with _keeping_last_good_checkpoint(last_path, saved_epoch):
                    logger.log_epoch(history)  # writes on rank 0 only
                    if is_main and (completed % cfg.checkpoint_every == 0 or completed == cfg.epochs):
                        save_checkpoint(last_path, state)
                        saved_epoch = completed
                    score = row.get("score")
                    if is_main and _is_number(score) and score > best_score:
                        best_score = score
                        save_checkpoint(checkpoint_dir / "best.pt", state)
                if info.distributed:
                    dist.barrier()  # nobody runs ahead of the checkpoint
        finally:
            logger.close()
    return history
