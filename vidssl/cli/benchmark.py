"""``vidssl benchmark``: run the preset's unfinished cells (:mod:`vidssl.recipes.benchmark`), then print the table."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vidssl.errors import VidsslError
from vidssl.recipes.benchmark import run_benchmark, table_of_results


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``N`` means seeds 0 … N−1; a comma-separated list (``1,4`` or ``3,``) means those seeds."""
    words = [w for w in text.replace(" ", "").split(",") if w]
    try:
        numbers = [int(w) for w in words]
    except ValueError:
        raise VidsslError(f"--seeds {text}: expected a count N or a comma-separated list of seeds") from None
    if not numbers or any(n < 0 for n in numbers):
        raise VidsslError(f"--seeds {text}: expected a count N >= 1 or a comma-separated list of seeds >= 0")
    if "," in text:
        return sorted(set(numbers))
    if numbers[0] < 1:
        raise VidsslError(f"--seeds {text}: a count must be at least 1 (seed 0 alone is --seeds 0,)")
    return list(range(numbers[0]))


def benchmark_command(
    preset: str | Path,
    out: str | Path,
    *,
    seeds: list[int] | None = None,
    only: list[str] | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """:func:`~vidssl.recipes.benchmark.run_benchmark`, then the table and a one-line summary. Returns the results."""
    results = run_benchmark(preset, out, seeds=seeds, only=only, overrides=overrides)
    print()
    print(table_of_results(results))
    print(f"\n{results['cells_computed']} cells computed, {results['cells_reused']} reused; "
          f"wall time {results['wall_seconds']:.0f} s; report: {Path(out) / 'report.md'}", flush=True)
    return results
