"""``vidssl benchmark``: every method's CPU preset, every protocol, one report — the CPU model zoo (issue 7).

A benchmark preset (``configs/benchmark/cpu_small.yaml``) lists *rows*: a
method's run config (a packaged config plus overrides), a ``kind``
(self-supervised ``pretrain``, ``random_init`` or ``supervised``) and a
``status``. Its ``shared`` sections give every row the same data and the same
evaluation recipe, so the table compares like with like
(:func:`row_config_dict` states the order in which the pieces are laid over
each other).

The work is cut into cells, each saved the moment it is done, so a killed
benchmark continues from the finished cells:

- a row's pretraining for one seed, in ``OUT/runs/<row>/seed<k>/`` (the
  ``vidssl pretrain`` run folder, resumed from its last epoch); it is finished
  when ``pretrain.json`` there records the hash of the config it trained;
- each protocol of that (row, seed): ``OUT/cells/<row>/seed<k>/<protocol>.json``
  with the metrics, the chance level, the seconds it took and the hash of the
  resolved config. A rerun skips every cell whose hash matches and recomputes
  the others (an eval-only change keeps the pretraining, any other change
  redoes it).

Then ``OUT/results.json`` (every number), ``OUT/report.md`` (the method ×
protocol table, mean ± std over seeds when there are several, the chance
levels, links to each row's resolved ``config.yaml``, the git revision and the
wall time) and one bar plot per protocol family in ``OUT/plots/``.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vidssl.cli.commands import (
    BENCHMARK_FOLDER, PACKAGED_CONFIGS, eval_data_config, load_backbone, pretrain, random_init_backbone,
    resolve_config_path, save_backbone, write_yaml_atomic,
)
from vidssl.cli.evaluate import (
    eval_clips, load_eval_data, motion_task_data, run_finetune, run_linear_probe, run_retrieval, run_temporal_task,
)
from vidssl.config.loading import apply_overrides, from_dict, load_config_with_base, load_yaml, merge_config, to_dict
from vidssl.config.schema import RunConfig
from vidssl.data.datasets import VideoDataset
from vidssl.data.transforms import frames_for_modality
from vidssl.engine.run_folder import holds_run
from vidssl.engine.trainer import fit
from vidssl.errors import VidsslError
from vidssl.eval import plots
from vidssl.eval.finetune import Classifier, TrainClipSampler, default_finetune_augment
from vidssl.fileio import make_output_dir, write_json_atomic, write_text_atomic

BENCHMARK_PRESETS = PACKAGED_CONFIGS / BENCHMARK_FOLDER
PROTOCOLS = ("retrieval", "linear", "finetune", "sync", "order", "motion")
KINDS = ("pretrain", "random_init", "supervised")
STATUSES = ("implemented", "not_implemented", "skipped")
PRESET_KEYS = ("seeds", "protocols", "shared", "cpu_scales", "rows")
ROW_KEYS = ("name", "label", "kind", "config", "overrides", "status", "reason")
SHARED_KEYS = ("replace", "merge")
# Keys that change what is printed, never what is computed: left out of the config hashes.
DISPLAY_ONLY_KEYS = (("train", "progress"), ("train", "log_every"))


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


@dataclass(frozen=True)
class BenchmarkRow:
    """One method row of a preset: where its run config comes from, how it gets a backbone, and whether it runs."""

    name: str
    label: str
    kind: str
    config: str | None
    overrides: dict
    status: str
    reason: str


@dataclass(frozen=True)
class BenchmarkPreset:
    """A parsed benchmark preset file (see ``configs/benchmark/cpu_small.yaml`` for the format)."""

    path: Path
    seeds: tuple[int, ...]
    protocols: tuple[str, ...]
    replace: dict
    merge: dict
    rows: tuple[BenchmarkRow, ...]

    def row(self, name: str) -> BenchmarkRow:
        return next(row for row in self.rows if row.name == name)


# --------------------------------------------------------------------------------------------------------------
# The preset file
# --------------------------------------------------------------------------------------------------------------


def packaged_preset_names() -> list[str]:
    """Names of the packaged benchmark presets as ``--preset`` takes them (``cpu-small``)."""
    return sorted(p.stem.replace("_", "-") for p in BENCHMARK_PRESETS.glob("*.yaml"))


def resolve_preset_path(preset: str | Path) -> Path:
    """A packaged preset name (``cpu-small`` or ``cpu_small``) or a YAML path."""
    packaged = BENCHMARK_PRESETS / f"{str(preset).replace('-', '_')}.yaml"
    if "/" not in str(preset) and packaged.is_file():
        return packaged
    path = Path(preset)
    if path.is_file():
        return path
    raise VidsslError(
        f"--preset {preset}: no such benchmark preset (packaged: {', '.join(packaged_preset_names())}; "
        "or give a YAML file)"
    )


def load_preset(preset: str | Path) -> BenchmarkPreset:
    """Read and check a benchmark preset: known keys, unique row names, a reason for every row that cannot run."""
    path = resolve_preset_path(preset)
    data = load_yaml(path)
    _reject_unknown(data, PRESET_KEYS, str(path))
    seeds = _int_list(data.get("seeds", [0]), f"{path}: seeds")
    protocols = tuple(data.get("protocols", PROTOCOLS))
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise VidsslError(
            f"{path}: protocols: unknown {unknown or 'empty list'}; expected some of {', '.join(PROTOCOLS)}"
        )
    shared = data.get("shared") or {}
    _reject_unknown(shared, SHARED_KEYS, f"{path}: shared")
    entries = data.get("rows")
    if not isinstance(entries, list) or not entries:
        raise VidsslError(f"{path}: rows: expected a list of method rows")
    rows = tuple(parse_row(entry, f"{path}: rows[{i}]") for i, entry in enumerate(entries))
    names = [row.name for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise VidsslError(f"{path}: row names must be unique, repeated: {', '.join(duplicates)}")
    replace, merge = shared.get("replace") or {}, shared.get("merge") or {}
    for row in rows:
        clash = sorted(set(row.overrides) & set(replace))
        if clash:
            raise VidsslError(
                f"{path}: row {row.name} overrides {clash[0]!r}, which shared.replace sets for every row "
                "(the table compares like with like: change it there, or on the command line)"
            )
    return BenchmarkPreset(path=path, seeds=seeds, protocols=protocols, replace=replace, merge=merge, rows=rows)


def parse_row(entry: Any, where: str) -> BenchmarkRow:
    """One ``rows:`` entry; ``name`` becomes a folder name, so it is kept to letters, digits and ``_``."""
    if not isinstance(entry, dict):
        raise VidsslError(f"{where}: expected a mapping with name, config, status")
    _reject_unknown(entry, ROW_KEYS, where)
    name = str(entry.get("name", ""))
    if not name or not name.replace("_", "").isalnum():
        raise VidsslError(f"{where}: name {name!r}: expected letters, digits and '_' (it names the row's folders)")
    status = entry.get("status", "implemented")
    kind = entry.get("kind", "pretrain")
    reason = str(entry.get("reason") or "")
    overrides = entry.get("overrides") or {}
    if status not in STATUSES:
        raise VidsslError(f"{where} ({name}): status {status!r}: expected one of {', '.join(STATUSES)}")
    if kind not in KINDS:
        raise VidsslError(f"{where} ({name}): kind {kind!r}: expected one of {', '.join(KINDS)}")
    if status != "implemented" and not reason:
        raise VidsslError(f"{where} ({name}): a {status} row needs a reason")
    if status == "implemented" and not entry.get("config"):
        raise VidsslError(f"{where} ({name}): an implemented row needs a config")
    if not isinstance(overrides, dict):
        raise VidsslError(f"{where} ({name}): overrides: expected a mapping of config sections")
    return BenchmarkRow(name=name, label=str(entry.get("label") or name), kind=kind, config=entry.get("config"),
                        overrides=copy.deepcopy(overrides), status=status, reason=reason)


def _reject_unknown(data: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(data, dict):
        raise VidsslError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise VidsslError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(keys)}")


def _int_list(value: Any, where: str) -> tuple[int, ...]:
    integers = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not integers or not value:
        raise VidsslError(f"{where}: expected a non-empty list of integers, got {value!r}")
    return tuple(value)


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


def select_rows(preset: BenchmarkPreset, only: list[str] | None) -> list[BenchmarkRow]:
    """The rows ``--only`` names (in the preset's order), or all; an unknown name is an error listing the rows."""
    if not only:
        return list(preset.rows)
    names = [row.name for row in preset.rows]
    unknown = [name for name in only if name not in names]
    if unknown:
        raise VidsslError(f"--only {unknown[0]}: no such row in {preset.path.name}; rows: {', '.join(names)}")
    return [row for row in preset.rows if row.name in only]


def row_config_dict(preset: BenchmarkPreset, row: BenchmarkRow, seed: int, overrides: list[str] = ()) -> dict:
    """The resolved config of ``row`` for ``seed``, as a plain dict.

    In order: the row's ``config`` with its ``base:`` chain; the row's
    ``overrides`` laid over it; ``shared.replace``, whose sections replace the
    row's whole (one dataset, one evaluation recipe for every row);
    ``shared.merge`` laid over key by key; ``train.seed``; the command line's
    ``key=value`` ``overrides``, last, so they reach every row alike.
    """
    data = load_config_with_base(resolve_config_path(row.config, preset.path.parent), resolve_config_path)
    data = merge_config(data, copy.deepcopy(row.overrides))
    for section, values in preset.replace.items():
        data[section] = copy.deepcopy(values)
    data = merge_config(data, copy.deepcopy(preset.merge))
    return apply_overrides(data, [f"train.seed={seed}", *overrides])


def row_config(preset: BenchmarkPreset, row: BenchmarkRow, seed: int, overrides: list[str] = ()) -> RunConfig:
    """:func:`row_config_dict` as a checked :class:`RunConfig`; a bad key names the row."""
    try:
        return from_dict(RunConfig, row_config_dict(preset, row, seed, overrides))
    except VidsslError as err:
        raise VidsslError(f"benchmark row {row.name}: {err}") from None


# --------------------------------------------------------------------------------------------------------------
# Hashes and cell files
# --------------------------------------------------------------------------------------------------------------


def config_hash(
    cfg: RunConfig, *, kind: str, drop_sections: tuple[str, ...] = (),
    drop_keys: dict[str, tuple[str, ...]] | None = None, **extra: Any,
) -> str:
    """SHA-256 (16 hex digits) of the resolved config, the row's kind and ``extra``, without ``drop_sections``
    and the ``drop_keys`` of a section (``{"eval": ("linear",)}``).

    Display-only keys (``train.progress``, ``train.log_every``) are always left out: turning progress bars on
    must not recompute a cell.
    """
    data = to_dict(cfg)
    for section, key in DISPLAY_ONLY_KEYS:
        data.get(section, {}).pop(key, None)
    for section in drop_sections:
        data.pop(section, None)
    for section, keys in (drop_keys or {}).items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    text = json.dumps({"kind": kind, "config": data, **extra}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pretraining_hash(cfg: RunConfig, kind: str) -> str:
    """What a pretraining run depends on: every section but ``eval`` (supervised pretraining reads eval's clips too)."""
    return config_hash(cfg, kind=kind, drop_sections=() if kind == "supervised" else ("eval",))


# The eval sub-sections that belong to one protocol: a cell's hash leaves out those of the other protocols, so
# that changing eval.linear.epochs recomputes the linear cells alone. Everything else in eval (clips, size, layer,
# keys added later) is hashed into every cell: a missed dependency would reuse a stale cell, an extra one only
# recomputes.
PROTOCOL_SUBSECTIONS = {"retrieval": (), "linear": ("linear",), "finetune": ("finetune",), "motion": ("finetune",),
                        "sync": ("temporal",), "order": ("temporal",)}
# Sections a random-init backbone and the protocols never read: a row's method tweaks leave its cells alone.
RANDOM_INIT_UNREAD = ("method", "clip", "view")


def cell_hash(cfg: RunConfig, kind: str, protocol: str) -> str:
    """What a protocol cell depends on: the backbone (its pretraining config, or the model and seed of a random
    init), the data, ``train`` (finetuning copies its device, workers, seed …) and the eval settings it reads."""
    others = {name for subsections in PROTOCOL_SUBSECTIONS.values() for name in subsections}
    others -= set(PROTOCOL_SUBSECTIONS[protocol])
    return config_hash(
        cfg, kind=kind, drop_sections=RANDOM_INIT_UNREAD if kind == "random_init" else (),
        drop_keys={"eval": tuple(sorted(others))}, protocol=protocol,
    )


def cell_path(out: Path, row: str, seed: int, protocol: str) -> Path:
    """Where the finished cell (row, seed, protocol) is kept: ``OUT/cells/<row>/seed<k>/<protocol>.json``."""
    return out / "cells" / row / f"seed{seed}" / f"{protocol}.json"


def run_path(out: Path, row: str, seed: int) -> Path:
    """The pretraining run folder of (row, seed): ``OUT/runs/<row>/seed<k>/``."""
    return out / "runs" / row / f"seed{seed}"


def read_json(path: Path) -> dict | None:
    """A JSON file's content, or None when it is missing or unreadable (a half-written file cannot exist)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_cell(path: Path, expected_hash: str) -> dict | None:
    """The finished cell at ``path`` if it was computed with ``expected_hash``, else None (to be recomputed)."""
    cell = read_json(path)
    if cell is None or cell.get("config_hash") != expected_hash or not isinstance(cell.get("metrics"), dict):
        return None
    return cell


def collect_cells(out: Path, expected: dict[tuple[str, int, str], str]) -> dict[str, dict[int, dict[str, dict]]]:
    """``{row: {seed: {protocol: cell}}}`` of the finished cells whose hash is ``expected[row, seed, protocol]``."""
    cells: dict[str, dict[int, dict[str, dict]]] = {}
    for (row, seed, protocol), expected_hash in expected.items():
        cell = read_cell(cell_path(out, row, seed, protocol), expected_hash)
        if cell is not None:
            cells.setdefault(row, {}).setdefault(seed, {})[protocol] = cell
    return cells


# --------------------------------------------------------------------------------------------------------------
# Computing cells
# --------------------------------------------------------------------------------------------------------------


class EvalData:
    """The labelled train/test records and reader, loaded once per distinct downstream dataset and reused."""

    def __init__(self) -> None:
        self._loaded: dict[str, dict] = {}

    def __call__(self, cfg: RunConfig) -> dict:
        key = json.dumps(to_dict(eval_data_config(cfg)), sort_keys=True)
        if key not in self._loaded:
            self._loaded[key] = load_eval_data(cfg)
        return self._loaded[key]


def retrieval_chance(train_labels: list[int], test_labels: list[int], k: int) -> float:
    """Expected R@k of a random ranking: P(at least one of k train videos drawn without replacement shares the
    query's class), averaged over the test queries."""
    total = len(train_labels)
    counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=max(test_labels, default=0) + 1)
    chances = []
    for label in test_labels:
        miss = 1.0
        for i in range(min(k, total)):
            miss *= max(total - counts[label] - i, 0) / (total - i)
        chances.append(1.0 - miss)
    return float(np.mean(chances)) if chances else 0.0


@contextlib.contextmanager
def log_to(path: Path):
    """Send what a cell prints (every epoch line of its training loops) to ``path``, so the console shows one
    line per cell; warnings and errors still reach stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as log, contextlib.redirect_stdout(log):
        yield


def discard_checkpoints(run_dir: Path) -> None:
    """Drop a finished finetuning run's checkpoints (the cell holds its result; logs stay), ~7 MB each."""
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def retrieval_cell(cfg: RunConfig, backbone, data: dict, run_dir: Path) -> tuple[dict, dict]:
    """R@1 … R@50 and the video counts; chance R@1/R@5 of a random ranking. Each cell returns (metrics, chance)."""
    result = run_retrieval(cfg, backbone, data, progress=cfg.train.progress)
    metrics = {key: value for key, value in result.items() if key.startswith("R@")}
    metrics.update(num_train=len(data["train"]), num_test=len(data["test"]))
    train_labels, test_labels = [r.label for r in data["train"]], [r.label for r in data["test"]]
    chance = {f"R@{k}": retrieval_chance(train_labels, test_labels, k) for k in (1, 5)}
    return metrics, chance


def linear_cell(cfg: RunConfig, backbone, data: dict, run_dir: Path) -> tuple[dict, dict]:
    """Linear-probe top-1 (test and train) on frozen features; chance 1/classes."""
    result = run_linear_probe(cfg, backbone, data, progress=cfg.train.progress)
    metrics = {"top1": result["accuracy"], "train_top1": result["train_accuracy"], "num_test": result["num_test"]}
    return metrics, {"top1": 1.0 / len(data["classes"])}


def finetune_cell(cfg: RunConfig, backbone, data: dict, run_dir: Path) -> tuple[dict, dict]:
    """Finetuning on ``eval.finetune.label_fraction`` of the labels (its run in ``run_dir``); chance 1/classes."""
    result = run_finetune(cfg, backbone, data, run_dir, progress=cfg.train.progress)
    discard_checkpoints(run_dir)
    metrics = {key: result[key] for key in ("video_acc", "clip_acc", "num_train_videos", "num_test_videos")}
    return metrics, {"video_acc": 1.0 / len(data["classes"])}


def motion_cell(cfg: RunConfig, backbone, data: dict, run_dir: Path) -> tuple[dict, dict]:
    """The Motion task: finetuning on the 5 motion types (TransRank appendix A.1), same recipe as ``finetune``."""
    return finetune_cell(cfg, backbone, motion_task_data(cfg, data), run_dir)


def temporal_cell(task: str) -> Callable[[RunConfig, Any, dict, Path], tuple[dict, dict]]:
    """The cell of the Sync or Order task: the MLP probe's test and train accuracy; chance 1/7 or 1/2."""
    def cell(cfg: RunConfig, backbone, data: dict, run_dir: Path) -> tuple[dict, dict]:
        result = run_temporal_task(cfg, backbone, data, task, progress=cfg.train.progress)
        metrics = {"accuracy": result["accuracy"], "train_accuracy": result["train_accuracy"],
                   "num_test": result["num_test"]}
        return metrics, {"accuracy": result["chance"]}

    return cell


CELL_RUNNERS: dict[str, Callable[[RunConfig, Any, dict, Path], tuple[dict, dict]]] = {
    "retrieval": retrieval_cell,
    "linear": linear_cell,
    "finetune": finetune_cell,
    "motion": motion_cell,
    "sync": temporal_cell("sync"),
    "order": temporal_cell("order"),
}


def supervised_pretrain(cfg: RunConfig, data: dict, run_dir: Path, *, resume: bool = False):
    """TransRank Table 9's "labels used in pretraining": the random-init backbone trained by cross-entropy on
    every labelled training video, with the ``train`` section's schedule and the finetuning clips and augmentation
    of ``eval``; writes config.yaml, checkpoints, logs and backbone.pt as a pretraining run does.

    Built from :class:`Classifier`, :class:`TrainClipSampler` and ``fit`` rather than
    :func:`vidssl.eval.finetune.finetune`, which tunes a private copy, tests it, and starts over when killed:
    here a killed run resumes from its last epoch like every other row's pretraining. Returns (backbone, history).
    """
    clips = eval_clips(cfg)
    finetune_cfg = cfg.eval.finetune
    backbone = random_init_backbone(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)  # the classifier layer's initial weights depend on the seed alone
        model = Classifier(backbone, num_classes=len(data["classes"]), dropout=finetune_cfg.dropout,
                           modality=clips.modality)
    sampler = TrainClipSampler(
        clip_len=frames_for_modality(clips.clip_len, clips.modality), interval=clips.interval,
        augment=default_finetune_augment(clips.size, scale=tuple(finetune_cfg.scale), flip_p=finetune_cfg.flip_p),
    )
    dataset = VideoDataset(data["train"], data["reader"], sampler, seed=cfg.train.seed)
    write_yaml_atomic(run_dir / "config.yaml", to_dict(cfg))
    history = fit(model, dataset, cfg=cfg.train, run_dir=run_dir, resume=resume)
    save_backbone(run_dir / "backbone.pt", model.backbone, name=cfg.model.backbone, width=cfg.model.width)
    return model.backbone, history


def same_config_on_disk(run_dir: Path, expected_hash: str, kind: str) -> bool:
    """Whether ``run_dir/config.yaml`` (written when a pretraining starts) is the config that hashes to
    ``expected_hash``: then its checkpoint may be resumed, else the run starts over."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return False
    try:
        return pretraining_hash(from_dict(RunConfig, load_yaml(saved)), kind) == expected_hash
    except VidsslError:
        return False


def discard_stale_pretraining(run_dir: Path) -> None:
    """Remove a pretraining of another config from a row's run folder (the benchmark's own cache: its config
    changed, so its cells are recomputed from a new pretraining)."""
    for name in ("config.yaml", "backbone.pt", "pretrain.json"):
        (run_dir / name).unlink(missing_ok=True)
    for name in ("checkpoints", "logs", "view_synthesis"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def obtain_backbone(row: BenchmarkRow, cfg: RunConfig, run_dir: Path, data: EvalData, tag: str):
    """The row's backbone for this seed: random init, a finished pretraining's backbone.pt, or a pretraining run
    (resumed from its last epoch when a killed run of the same config left one)."""
    if row.kind == "random_init":
        write_yaml_atomic(run_dir / "config.yaml", to_dict(cfg))  # linked from the report like every row's
        return random_init_backbone(cfg)
    expected = pretraining_hash(cfg, row.kind)
    done = read_json(run_dir / "pretrain.json")
    if done is not None and done.get("config_hash") == expected and (run_dir / "backbone.pt").is_file():
        print(f"{tag} pretraining: finished earlier, reusing {run_dir / 'backbone.pt'}", flush=True)
        return load_backbone(run_dir)
    resume = holds_run(run_dir) and same_config_on_disk(run_dir, expected, row.kind)
    if not resume:
        discard_stale_pretraining(run_dir)
    started = time.time()
    with log_to(run_dir / "pretrain.log"):
        if row.kind == "supervised":
            backbone, history = supervised_pretrain(cfg, data(cfg), run_dir, resume=resume)
        else:
            method, history = pretrain(cfg, run_dir, resume=resume)
            backbone = method.backbone
    seconds = time.time() - started
    last = history[-1] if history else {}
    write_json_atomic(run_dir / "pretrain.json", {
        "config_hash": expected, "kind": row.kind, "epochs": len(history), "seconds": round(seconds, 1),
        "epoch_seconds": round(sum(float(r.get("seconds", 0.0)) for r in history), 1), "resumed": resume,
        "last_epoch": last,
    }, indent=2)
    loss = f", last loss {last['loss']:.4f}" if isinstance(last.get("loss"), float) else ""
    print(f"{tag} pretraining: {len(history)} epochs{loss}{' (resumed)' if resume else ''} ({seconds:.0f} s)",
          flush=True)
    return backbone


def format_cell(protocol: str, metrics: dict) -> str:
    """A cell's headline numbers for the progress line, in %."""
    shown = [column for column in COLUMNS if column.protocol == protocol]
    return ", ".join(f"{column.title} {100 * metrics[column.metric]:.1f}" for column in shown)


def run_row_seed(
    row: BenchmarkRow, seed: int, cfg: RunConfig, *, out: Path, protocols: tuple[str, ...], data: EvalData,
    counts: dict[str, int],
) -> None:
    """Every protocol cell of (row, seed) that is not finished yet, pretraining first if one is needed."""
    tag = f"{row.name} seed {seed}"
    expected = {protocol: cell_hash(cfg, row.kind, protocol) for protocol in protocols}
    todo = []
    for protocol in protocols:
        cell = read_cell(cell_path(out, row.name, seed, protocol), expected[protocol])
        if cell is None:
            todo.append(protocol)
        else:
            counts["reused"] += 1
            print(f"{tag} {protocol}: finished earlier, skipped ({format_cell(protocol, cell['metrics'])})", flush=True)
    if not todo:
        return
    eval_data = data(cfg)  # read (SynthMotion generated on first use) before the cells' output goes to their logs
    backbone = obtain_backbone(row, cfg, run_path(out, row.name, seed), data, tag)
    for protocol in todo:
        path = cell_path(out, row.name, seed, protocol)
        started = time.time()
        with log_to(path.with_suffix(".log")):
            metrics, chance = CELL_RUNNERS[protocol](cfg, backbone, eval_data, path.with_suffix(""))
        seconds = time.time() - started
        write_json_atomic(path, {
            "row": row.name, "seed": seed, "protocol": protocol, "config_hash": expected[protocol], "metrics": metrics,
            "chance": chance, "seconds": round(seconds, 1),
        }, indent=2)
        counts["computed"] += 1
        print(f"{tag} {protocol}: {format_cell(protocol, metrics)} ({seconds:.0f} s)", flush=True)


# --------------------------------------------------------------------------------------------------------------
# The table, plots and report
# --------------------------------------------------------------------------------------------------------------


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


SUPERVISED_NOTE = (
    "The supervised row used labels in pretraining (TransRank Table 9): the random-init backbone trained by "
    "cross-entropy on every labelled training video, then scored like the self-supervised rows."
)


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


def finished_pretraining(out: Path, name: str, seed: int, expected_hash: str) -> dict | None:
    """The ``pretrain.json`` of (row, seed) if that pretraining finished with the config hashing to
    ``expected_hash``, else None."""
    done = read_json(run_path(out, name, seed) / "pretrain.json")
    return done if done is not None and done.get("config_hash") == expected_hash else None


def pretraining_summary(done: dict | None, kind: str, started: bool) -> str:
    """The report's pretraining column: none (random init), epochs and seconds, not finished or not run yet."""
    if kind == "random_init":
        return "none"
    if done is None:
        return "not finished" if started else "not run yet"
    return f"{done['epochs']} epochs, {done['seconds']:.0f} s"


# --------------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------------


def benchmark_command(
    preset: str | Path,
    out: str | Path,
    *,
    seeds: list[int] | None = None,
    only: list[str] | None = None,
    overrides: list[str] = (),
) -> dict:
    """Run every unfinished cell of the preset's rows (``only``: these rows) for ``seeds`` (default: the
    preset's), then write results.json, report.md and plots/ for every row of the preset. Returns the results."""
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
    headers = column_headers(results["label_fraction"])
    table = results_table(results["rows"], protocols=spec.protocols, num_seeds=len(seeds), chance=results["chance"],
                          headers=headers)
    write_text_atomic(out / "report.md", report_markdown(results, table, plot_paths, out))
    print()
    print(table)
    print(f"\n{counts['computed']} cells computed, {counts['reused']} reused; "
          f"wall time {results['wall_seconds']:.0f} s; report: {out / 'report.md'}", flush=True)
    return results


def collect_results(
    spec: BenchmarkPreset, out: Path, configs: dict[tuple[str, int], RunConfig], seeds: list[int]
) -> dict:
    """Every number of the finished cells (of every row, selected or not) that match the current configs."""
    expected = {(name, seed, protocol): cell_hash(cfg, spec.row(name).kind, protocol)
                for (name, seed), cfg in configs.items() for protocol in spec.protocols}
    cells = collect_cells(out, expected)
    rows, pretraining_seconds = {}, 0.0
    for row in spec.rows:
        entry = {"label": row.label, "kind": row.kind, "config": row.config, "status": row.status,
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
    retrieval = next((cell["metrics"] for cell in all_cells if cell["protocol"] == "retrieval"), {})
    first = next(iter(configs.values()), None)
    return {
        "seeds": seeds, "protocols": list(spec.protocols), "rows": rows, "chance": chance_levels(cells),
        "label_fraction": first.eval.finetune.label_fraction if first is not None else None,
        "cell_seconds": round(sum(cell.get("seconds", 0.0) for cell in all_cells), 1),
        "pretraining_seconds": round(pretraining_seconds, 1),
        "protocol_notes": describe_protocols(to_dict(first), retrieval.get("num_train"), retrieval.get("num_test"))
        if first is not None else [],
    }


def _vidssl_version() -> str:
    from vidssl import __version__

    return __version__
