"""The method x protocol table: its columns, mean ± std over seeds, chance levels, and one bar plot per family."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidssl.eval import plots


@dataclass(frozen=True)
class Column:
    """One column of the table: ``metric`` of the ``protocol`` cell, titled ``title``."""

    protocol: str
    metric: str
    title: str
    family: str


COLUMNS = (
    Column("retrieval", "R@1", "R@1", "retrieval"),
    Column("retrieval", "R@5", "R@5", "retrieval"),
    Column("linear", "top1", "linear top-1", "classification"),
    Column("finetune", "video_acc", "finetune", "classification"),
    Column("motion", "video_acc", "motion", "classification"),
    Column("sync", "accuracy", "sync", "temporal"),
    Column("order", "accuracy", "order", "temporal"),
)
FAMILY_TITLES = {
    "retrieval": "Video retrieval (test queries train)",
    "classification": "Classification: linear probe, finetuning, motion type",
    "temporal": "Temporal tasks on frozen layer4 (TransRank A.1)",
}


def mean_std(values: list[float]) -> dict:
    """``{"mean", "std", "n"}``; ``std`` is the sample standard deviation (n − 1), None for a single value."""
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    std = float(np.std(values, ddof=1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


def summarise_row(seed_cells: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """``{column title: mean_std}`` over the seeds of one row, for the columns with at least one finished cell."""
    summary = {}
    for column in COLUMNS:
        values = [cells[column.protocol]["metrics"][column.metric]
                  for cells in seed_cells.values() if column.protocol in cells]
        if values:
            summary[column.title] = mean_std(values)
    return summary


def format_summary(summary: dict | None, num_seeds: int) -> str:
    """``22.9`` for one seed, ``22.9 ± 1.4`` for several, ``(n=1)`` when seeds are missing; ``–`` when empty."""
    if not summary:
        return "–"
    text = f"{100 * summary['mean']:.1f}"
    if summary["std"] is not None:
        text += f" ± {100 * summary['std']:.1f}"
    if summary["n"] < num_seeds:
        text += f" (n={summary['n']})"
    return text


def chance_levels(cells: dict[str, dict[int, dict[str, dict]]]) -> dict[str, float]:
    """``{column title: chance}`` read from the first finished cell of each column (all rows share the data)."""
    chance = {}
    for seed_cells in cells.values():
        for protocol_cells in seed_cells.values():
            for column in COLUMNS:
                cell = protocol_cells.get(column.protocol)
                if cell is not None and column.title not in chance and column.metric in cell.get("chance", {}):
                    chance[column.title] = cell["chance"][column.metric]
    return chance


def visible_columns(protocols: tuple[str, ...]) -> list[Column]:
    """The table's columns for the preset's protocols, in :data:`COLUMNS` order."""
    return [column for column in COLUMNS if column.protocol in protocols]


def column_headers(label_fraction: float | None) -> dict[str, str]:
    """Column titles for the table head: the finetuning columns say which share of the labels they used."""
    if label_fraction is None:
        return {}
    share = f"{100 * label_fraction:g} % labels"
    return {"finetune": f"finetune ({share})", "motion": f"motion ({share})"}


def results_table(
    rows: dict[str, dict], *, protocols: tuple[str, ...], num_seeds: int, chance: dict,
    headers: dict[str, str] | None = None,
) -> str:
    """The markdown table: one line per row (methods), one column per protocol metric, a chance line first.

    ``rows``: ``{name: {"label", "status", "reason", "summary": {column title: mean_std}}}`` in display order;
    ``headers`` renames columns in the table head (:func:`column_headers`).
    """
    columns = visible_columns(protocols)
    headers = headers or {}
    lines = ["| method | " + " | ".join(headers.get(column.title, column.title) for column in columns) + " |",
             "|---|" + "---|" * len(columns)]
    lines.append("| *chance* | " + " | ".join(
        f"*{100 * chance[c.title]:.1f}*" if c.title in chance else "–" for c in columns) + " |")
    for row in rows.values():
        if row["status"] != "implemented":
            status = row["status"].replace("_", " ")
            lines.append(f"| {row['label']} | {status}: {row['reason']} |" + " |" * (len(columns) - 1))
            continue
        cells = [format_summary(row["summary"].get(c.title), num_seeds) for c in columns]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def make_plots(folder: Path, rows: dict[str, dict], protocols: tuple[str, ...]) -> list[Path]:
    """One grouped bar plot per protocol family (retrieval, classification, temporal), ± std over seeds.

    Bars are grouped by method and coloured by metric (a family has 2–3 metrics, the zoo ~17 methods: one
    colour per method would repeat colours). Methods lacking a metric of the family are left out of its plot.
    """
    paths = []
    for family, title in FAMILY_TITLES.items():
        columns = [c for c in visible_columns(protocols) if c.family == family]
        ready = [row for row in rows.values() if row["status"] == "implemented"
                 and all(c.title in row["summary"] for c in columns)]
        if not columns or not ready:
            continue
        table = {c.title: {row["label"]: row["summary"][c.title]["mean"] for row in ready} for c in columns}
        errors = {c.title: {row["label"]: row["summary"][c.title]["std"] for row in ready
                            if row["summary"][c.title]["std"] is not None} for c in columns}
        paths.append(plots.plot_protocol_bars(
            table, folder / f"{family}.png", title=title, ylabel="accuracy / recall (%)",
            errors=errors if any(errors.values()) else None, as_percent=True, xlabel="method",
        ))
    return paths


def table_of_results(results: dict) -> str:
    """:func:`results_table` of a benchmark's ``results`` (as in results.json): the table of report.md."""
    return results_table(results["rows"], protocols=tuple(results["protocols"]), num_seeds=len(results["seeds"]),
                         chance=results["chance"], headers=column_headers(results["label_fraction"]))
