"""A whole benchmark: every unfinished cell of the selected rows, then results.json, report.md and plots/."""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from vidssl.fileio import make_output_dir, write_json_atomic, write_text_atomic
from vidssl.recipes.benchmark.cells import EvalData, run_row_seed
from vidssl.recipes.benchmark.preset import load_preset, row_config, select_rows
from vidssl.recipes.benchmark.report import collect_results, command_line, git_revision, report_markdown
from vidssl.recipes.benchmark.table import make_plots, table_of_results


def run_benchmark(
    preset: str | Path,
    out: str | Path,
    *,
    seeds: list[int] | None = None,
    only: list[str] | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """Run every unfinished cell of the preset's rows (``only``: these rows) for ``seeds`` (default: the
    preset's), then write results.json, report.md and plots/ for every row of the preset. Returns the results.

    Prints one line per cell as it goes; :func:`table_of_results` gives the table of the report.
    """
    started = time.time()
    out = Path(out)
    spec = load_preset(preset)
    seeds = list(seeds) if seeds is not None else list(spec.seeds)
    overrides = list(overrides)
    selected = {row.name for row in select_rows(spec, only)}
    # Every row's config is resolved before anything trains: a bad override stops the run now, not an hour in.
    configs = {(row.name, seed): row_config(spec, row, seed, overrides)
               for row in spec.rows if row.status == "implemented" for seed in seeds}
    make_output_dir(out)  # after the input is checked (bad input leaves no folder), before any work
    counts = {"computed": 0, "reused": 0}
    data = EvalData()
    for row in spec.rows:
        if row.name not in selected:
            continue
        if row.status != "implemented":
            print(f"{row.name}: {row.status.replace('_', ' ')} ({row.reason})", flush=True)
            continue
        for seed in seeds:
            run_row_seed(row, seed, configs[row.name, seed], out=out, protocols=spec.protocols, data=data,
                         counts=counts)
    results = collect_results(spec, out, configs, seeds)
    results.update(
        preset=str(spec.path), preset_name=str(preset),
        command=command_line(preset, seeds, only, overrides, default_seeds=list(spec.seeds)),
        git_revision=git_revision(), wall_seconds=round(time.time() - started, 1), cells_computed=counts["computed"],
        cells_reused=counts["reused"], threads=torch.get_num_threads(),
        versions={"vidssl": _vidssl_version(), "torch": torch.__version__, "python": sys.version.split()[0]},
    )
    write_json_atomic(out / "results.json", results, indent=2)
    write_text_atomic(out / "preset.yaml", spec.path.read_text())
    plot_paths = make_plots(out / "plots", results["rows"], spec.protocols)
    write_text_atomic(out / "report.md", report_markdown(results, table_of_results(results), plot_paths, out))
    return results


def _vidssl_version() -> str:
    from vidssl import __version__

    return __version__
