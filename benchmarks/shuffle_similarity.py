"""Vectorised shuffle similarity against the literal Algorithm-1 loop (SRO §III-F; issue 4).

InfoNCE against the MoCo queue needs the shuffle distance of every query to
every queue entry: batch × queue pairs (32 × 4096 = 131,072 at the paper's
settings) per step. This times :func:`vidssl.losses.shuffle_similarity.shuffle_distance`
over the whole batch × queue and :func:`algorithm1_distance` (Algorithm 1 read
literally, one pair at a time) on a random sample of ``--loop-pairs`` pairs —
the loop over all pairs would take minutes — and scales the loop's time per pair
to the full batch × queue. Both must agree on the sampled pairs (exit code 1
otherwise). Same process, same threads, best of ``--repeats``.

The last line printed is ``shuffle similarity: <r>x the Algorithm-1 loop at queue <Q>``.

Usage::

    python benchmarks/shuffle_similarity.py                 # ~20 s on 2 cores
    python benchmarks/shuffle_similarity.py --queue 16384 --k 5
"""
from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from vidssl.losses.shuffle_similarity import algorithm1_distance, shuffle_distance


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--loop-pairs", type=int, default=2000, help="pairs the Algorithm-1 loop is timed on")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    queries = F.normalize(torch.randn(args.batch, args.dim), dim=1)
    queue = F.normalize(torch.randn(args.queue, args.dim), dim=1)
    pairs = args.batch * args.queue

    with torch.no_grad():
        distances = shuffle_distance(queries, queue, args.k)
        vectorised = best_time(lambda: shuffle_distance(queries, queue, args.k), args.repeats)

    generator = torch.Generator().manual_seed(1)
    sample = min(args.loop_pairs, pairs)
    rows = torch.randint(0, args.batch, (sample,), generator=generator).tolist()
    cols = torch.randint(0, args.queue, (sample,), generator=generator).tolist()
    loop_values: list[float] = []

    def loop() -> None:
        loop_values.clear()
        for i, j in zip(rows, cols):
            loop_values.append(algorithm1_distance(queries[i], queue[j], args.k))

    loop_seconds = best_time(loop, args.repeats) / sample * pairs
    expected = torch.tensor(loop_values, dtype=torch.float64)
    got = distances[rows, cols].double()
    error = (expected - got).abs().max().item()
    print(f"batch {args.batch} x queue {args.queue} = {pairs} pairs, {args.dim}-d, k = {args.k}, "
          f"{torch.get_num_threads()} threads")
    print(f"vectorised: {1000 * vectorised:.1f} ms per batch ({pairs / vectorised:,.0f} pairs/s)")
    print(f"Algorithm-1 loop: {loop_seconds:.1f} s per batch, extrapolated from {sample} pairs "
          f"({pairs / loop_seconds:,.0f} pairs/s)")
    print(f"largest difference on the sampled pairs: {error:.2e}")
    if error > 1e-4:
        print("MISMATCH between the vectorised distance and the Algorithm-1 loop", file=sys.stderr)
        return 1
    print(f"shuffle similarity: {loop_seconds / vectorised:.0f}x the Algorithm-1 loop at queue {args.queue}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
