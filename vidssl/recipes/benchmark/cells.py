"""Computing the cells of one (row, seed): the row's backbone (random init, a finished pretraining, or a new or
resumed one), then one function per protocol that scores it; each cell is saved the moment it is done, so a
killed benchmark continues from the finished cells."""
from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.config.loading import load_yaml, to_dict
from vidssl.engine.run_folder import holds_run
from vidssl.errors import VidsslError
from vidssl.fileio import write_json_atomic
from vidssl.recipes.benchmark.cache import cell_hash, cell_path, pretraining_hash, read_cell, read_json, run_path
from vidssl.recipes.benchmark.preset import BenchmarkRow
from vidssl.recipes.benchmark.supervised import supervised_pretrain
from vidssl.recipes.benchmark.table import COLUMNS
from vidssl.recipes.configs import parse_run_config
from vidssl.recipes.pretrain import load_backbone, pretrain, random_init_backbone
from vidssl.recipes.protocols.configured import (
    load_eval_data,
    motion_task_data,
    run_finetune,
    run_linear_probe,
    run_retrieval,
    run_temporal_task,
)
from vidssl.recipes.run_config import RunConfig, eval_data_config, write_yaml_atomic


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


def same_config_on_disk(run_dir: Path, expected_hash: str, kind: str) -> bool:
    """Whether ``run_dir/config.yaml`` (written when a pretraining starts) is the config that hashes to
    ``expected_hash``: then its checkpoint may be resumed, else the run starts over."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return False
    try:
        return pretraining_hash(parse_run_config(load_yaml(saved)), kind) == expected_hash
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
