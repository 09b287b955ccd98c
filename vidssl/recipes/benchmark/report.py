"""results.json and report.md: every number of the finished cells, and the report around the table (command, git
revision, times, protocol notes, plots, each row's resolved config)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from vidssl.config.loading import to_dict
from vidssl.recipes.benchmark.cache import cell_hash, collect_cells, finished_pretraining, pretraining_hash, run_path
from vidssl.recipes.benchmark.preset import BenchmarkPreset
from vidssl.recipes.benchmark.supervised import SUPERVISED_NOTE
from vidssl.recipes.benchmark.table import chance_levels, summarise_row
from vidssl.recipes.run_config import RunConfig


def collect_results(
    spec: BenchmarkPreset, out: Path, configs: dict[tuple[str, int], RunConfig], seeds: list[int]
) -> dict:
    """Every number of the finished cells (of every row, selected or not) that match the current configs."""
    expected = {(name, seed, protocol): cell_hash(cfg, spec.row(name).kind, protocol)
                for (name, seed), cfg in configs.items() for protocol in spec.protocols}
    cells = collect_cells(out, expected)
    rows, pretraining_seconds = {}, 0.0
    for row in spec.rows:
        entry: dict[str, Any] = {"label": row.label, "kind": row.kind, "config": row.config, "status": row.status,
                 "reason": row.reason, "seeds": {}, "summary": {}, "runs": {}}
        if row.status == "implemented":
            seed_cells = cells.get(row.name, {})
            entry["seeds"] = {str(seed): {p: c["metrics"] for p, c in protocols.items()}
                              for seed, protocols in sorted(seed_cells.items())}
            entry["summary"] = summarise_row(seed_cells)
            for seed in seeds:
                config = run_path(out, row.name, seed) / "config.yaml"
                done = finished_pretraining(out, row.name, seed, pretraining_hash(configs[row.name, seed], row.kind))
                pretraining_seconds += float(done["seconds"]) if done else 0.0
                entry["runs"][str(seed)] = {
                    "config": config.relative_to(out).as_posix() if config.is_file() else None,
                    "pretraining": pretraining_summary(done, row.kind, config.is_file()),
                }
        rows[row.name] = entry
    all_cells = [cell for seed_cells in cells.values() for protocols in seed_cells.values()
                 for cell in protocols.values()]
    retrieval: dict[str, Any] = next((cell["metrics"] for cell in all_cells if cell["protocol"] == "retrieval"), {})
    first = next(iter(configs.values()), None)
    return {
        "seeds": seeds, "protocols": list(spec.protocols), "rows": rows, "chance": chance_levels(cells),
        "label_fraction": first.eval.finetune.label_fraction if first is not None else None,
        "cell_seconds": round(sum(cell.get("seconds", 0.0) for cell in all_cells), 1),
        "pretraining_seconds": round(pretraining_seconds, 1),
        "protocol_notes": describe_protocols(to_dict(first), retrieval.get("num_train"), retrieval.get("num_test"))
        if first is not None else [],
    }


def pretraining_summary(done: dict | None, kind: str, started: bool) -> str:
    """The report's pretraining column: none (random init), epochs and seconds, not finished or not run yet."""
    if kind == "random_init":
        return "none"
    if done is None:
        return "not finished" if started else "not run yet"
    return f"{done['epochs']} epochs, {done['seconds']:.0f} s"


def describe_protocols(cfg: dict, num_train: int | None, num_test: int | None) -> list[str]:
    """One bullet per protocol with the shared settings that produced its column."""
    e, f, lin, tmp = cfg["eval"], cfg["eval"]["finetune"], cfg["eval"]["linear"], cfg["eval"]["temporal"]
    clips = (f"{e['num_clips']} clips of {e['frames']} frames (interval {e['interval']}) at {e['size']}², "
             f"features from `{e['layer']}`")
    videos = f" ({num_train} train / {num_test} test videos)" if num_train else ""
    return [
        f"- **retrieval**{videos}: test videos query train videos by cosine similarity of per-video features "
        f"({clips}); R@k = a video of the query's class among the k nearest.",
        f"- **linear top-1**: one linear layer on frozen, z-scored features, SGD lr {lin['lr']}, "
        f"{lin['epochs']} epochs, half-cosine (CORP §4.1).",
        f"- **finetune**: the whole network plus a new classifier on {100 * f['label_fraction']:g} % of the training "
        f"labels (class-balanced), {f['epochs']} epochs, SGD lr {f['lr']} ×0.1 at 3/5 and 4/5, flip p {f['flip_p']}; "
        "video accuracy (softmax averaged over the clips).",
        "- **motion**: the same finetuning on the 5 motion types (linear, projectile, local, oscillatory, random "
        "walk) of SynthMotion's classes (TransRank appendix A.1).",
        f"- **sync / order**: TransRank appendix A.1 on the frozen `layer4`: which of 7 shifts separates two clips, "
        f"and whether the two halves of a clip are in order; a 2-layer MLP (hidden {tmp['hidden']}), "
        f"{tmp['pairs_per_video']} balanced samples per video, {tmp['epochs']} epochs.",
    ]


def report_markdown(results: dict, table: str, plot_paths: list[Path], out: Path) -> str:
    """The report: command, revision, times, protocol notes, the table, plots, and each row's resolved config."""
    rows = results["rows"]
    lines = [
        f"# vidssl benchmark: {results['preset_name']}",
        "",
        f"Command: `{results['command']}` (preset copied to [preset.yaml](preset.yaml))",
        "",
        f"Git revision: `{results['git_revision']}`; vidssl {results['versions']['vidssl']}, "
        f"torch {results['versions']['torch']}, {results['threads']} threads.",
        f"Wall time of this invocation: {results['wall_seconds']:.0f} s. Recorded compute time, summed over the "
        f"invocations that made it: pretraining {results['pretraining_seconds']:.0f} s, protocol cells "
        f"{results['cell_seconds']:.0f} s.",
        f"Cells computed now: {results['cells_computed']}, reused from earlier runs: {results['cells_reused']}.",
        "",
        f"Every row is scored with the same evaluation settings, on SynthMotion, seeds "
        f"{', '.join(map(str, results['seeds']))}. Numbers in %"
        + ("; mean ± sample std over the seeds" if len(results["seeds"]) > 1 else "") + ".",
        "",
        *results["protocol_notes"],
        "",
        table,
        "",
        "Chance (the *chance* line): R@k of a random ranking of the training videos; 1/classes for linear and "
        "finetune; 1/7 for sync, 1/2 for order, 1/5 for motion (uniform guess over the classes).",
        *(["", SUPERVISED_NOTE] if any(row["kind"] == "supervised" for row in rows.values()) else []),
        "",
        "## Plots",
        "",
    ]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in plot_paths] or ["(no finished cells yet)"]
    lines += ["", "## Rows and their exact configs", "",
              "| row | kind | starts from | seed | resolved config | pretraining |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if row["status"] != "implemented":
            status = row["status"].replace("_", " ")
            lines.append(f"| {name} | {row['kind']} | `{row['config'] or '–'}` | – | {status} | – |")
            continue
        for seed, run in row["runs"].items():
            config = f"[config.yaml]({run['config']})" if run["config"] else "not run yet"
            lines.append(f"| {name} | {row['kind']} | `{row['config']}` | {seed} | {config} | {run['pretraining']} |")
    return "\n".join(lines) + "\n"


def git_revision(folder: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the checkout holding vidssl (``+dirty`` with uncommitted changes); "unknown"
    outside a git checkout or without git."""
    cwd = folder or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = status.returncode == 0 and status.stdout.strip() != ""
    return head.stdout.strip() + ("+dirty" if dirty else "")


def command_line(
    preset: str | Path, seeds: list[int], only: list[str] | None, overrides: list[str], *, default_seeds: list[int]
) -> str:
    """The ``vidssl benchmark`` command that reproduces this run (``--seeds`` only when not the preset's)."""
    words = ["vidssl", "benchmark", "--preset", str(preset)]
    if seeds != default_seeds:
        count = len(seeds) > 1 and seeds == list(range(len(seeds)))
        words += ["--seeds", str(len(seeds)) if count else ",".join(map(str, seeds)) + ("," if len(seeds) == 1 else "")]
    if only:
        words += ["--only", ",".join(only)]
    return " ".join(words + list(overrides))
