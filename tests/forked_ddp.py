"""Run a function in 2 forked CPU processes wired like ``torchrun`` (gloo), for the DDP tests."""
import multiprocessing
import os
import socket

import pytest
import torch

needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_torchrun_process(worker, rank: int, world_size: int, port: int, out_dir: str) -> None:
    """What torchrun would set up for process ``rank``, then ``worker(out_dir)``."""
    torch.set_num_threads(1)  # no OpenMP pool inherited across fork
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    worker(out_dir)


def run_forked(worker, out_dir, *, world_size: int = 2, timeout: float = 120) -> list[int]:
    """Start ``worker(out_dir)`` in ``world_size`` processes; returns their exit codes (a child's traceback
    is in the captured stderr). Fork, not spawn: the children reuse the imported torch."""
    context = multiprocessing.get_context("fork")
    port = free_port()
    procs = [context.Process(target=_as_torchrun_process, args=(worker, rank, world_size, port, str(out_dir)))
             for rank in range(world_size)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join(timeout=timeout)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    return [proc.exitcode for proc in procs]
