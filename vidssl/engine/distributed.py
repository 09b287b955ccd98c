"""Process-group set-up for multi-GPU / multi-node training launched by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in every process. :func:`init_distributed` reads them, picks the
device and joins the process group (``nccl`` on CUDA, ``gloo`` on CPU). Without
those variables (a plain ``python`` run) everything here is a no-op for a
single process, so the same training code runs both ways.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vidssl.errors import VidsslError
from vidssl.ops.collectives import get_rank, is_distributed  # the tensor collectives live in vidssl.ops

__all__ = [
    "DistInfo",
    "init_distributed",
    "resolve_device",
    "is_main",
    "barrier",
    "cleanup",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its global rank, the number of processes, its rank on the node, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    """Read an integer environment variable set by torchrun."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise VidsslError(f"environment variable {name}={raw!r}: expected an integer (set by torchrun)") from None


def resolve_device(device_pref: str, *, local_rank: int = 0) -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` into a device.

    ``"auto"`` and ``"cuda"`` pick ``cuda:<local_rank>`` so each process of a node
    gets its own GPU; ``"auto"`` falls back to the CPU when CUDA is missing.
    """
    pref = device_pref.strip().lower()
    if pref == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref == "cuda" or pref.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise VidsslError(f"device {device_pref!r} requested but CUDA is not available; use device: cpu")
        if pref == "cuda":
            return torch.device("cuda", local_rank)
        index_text = pref.split(":", 1)[1]
        if not index_text.isdigit() or int(index_text) >= torch.cuda.device_count():
            raise VidsslError(
                f"device {device_pref!r}: expected cuda:N with N < {torch.cuda.device_count()} (GPUs visible)"
            )
        return torch.device("cuda", int(index_text))
    raise VidsslError(f"device {device_pref!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def init_distributed(device_pref: str = "auto") -> DistInfo:
    """Join the torchrun process group if the env vars ask for one; return this process's place.

    Idempotent: if the default process group already exists it is reused.
    The group is left up when training ends; call :func:`cleanup` at exit.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = _env_int("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1))
        device = resolve_device(device_pref, local_rank=local_rank)
        return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)

    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_pref, local_rank=local_rank)
    if world_size <= 1:
        return DistInfo(rank=0, world_size=1, local_rank=local_rank, device=device)

    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise VidsslError(f"WORLD_SIZE={world_size} but {name} is not set; launch with torchrun")
    if not 0 <= rank < world_size:
        raise VidsslError(f"RANK={rank}: expected 0 <= RANK < WORLD_SIZE={world_size}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def is_main() -> bool:
    """True on the process that writes logs and checkpoints (global rank 0)."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every process (no-op for a single process)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if one is up."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
