"""What the claims benchmarks share: train one arm (cached), evaluate it, print the claims table.

An arm is a packaged config plus overrides, trained with a given seed. Its
results go to ``OUT/seed<S>/<arm>/claims.json`` (next to its run folder), so a
rerun or a killed benchmark continues where it stopped.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from vidssl.fileio import write_json_atomic
from vidssl.recipes.pretrain import pretrain, random_init_backbone
from vidssl.recipes.protocols.configured import load_eval_data, run_finetune, run_linear_probe, run_retrieval

PRETEXT_PREFIXES = ("acc", "top1", "loss", "rate_mae")


def measure_arm(
    arm: str,
    cfg,
    folder: Path,
    evals: tuple[str, ...],
    data_cache: dict,
    *,
    overrides: list[str],
    extra: Callable | None = None,
) -> dict:
    """Pretrain ``cfg`` (unless ``arm == "random_init"``), then run ``evals`` ("retrieval", "finetune", "linear",
    and whatever ``extra(name, cfg, method, data)`` adds); cached in ``folder/claims.json``."""
    cached = folder / "claims.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    started = time.time()
    result: dict = {"arm": arm, "seed": cfg.train.seed, "overrides": overrides}
    if arm.startswith("random_init"):
        backbone, method = random_init_backbone(cfg), None
    else:
        resume = (folder / "run" / "checkpoints" / "last.pt").is_file()
        method, history = pretrain(cfg, folder / "run", resume=resume)
        backbone = method.backbone
        result["pretext"] = {k: v for k, v in history[-1].items() if k.startswith(PRETEXT_PREFIXES)}
    if "data" not in data_cache:
        data_cache["data"] = load_eval_data(cfg)
    data = data_cache["data"]
    if "retrieval" in evals:
        recalls = run_retrieval(cfg, backbone, data, progress=False)
        result["retrieval"] = {k: v for k, v in recalls.items() if k.startswith("R@")}
    if "linear" in evals:
        probe = run_linear_probe(cfg, backbone, data, progress=False)
        result["linear"] = {"accuracy": probe["accuracy"], "train_accuracy": probe["train_accuracy"]}
    if "finetune" in evals:
        tuned = run_finetune(cfg, backbone, data, folder / "finetune", progress=False)
        result["finetune"] = {"video_acc": tuned["video_acc"], "clip_acc": tuned["clip_acc"]}
    for name in evals:
        if name not in ("retrieval", "finetune", "linear", "pretext"):
            result[name] = extra(name, cfg, method, data)
    result["seconds"] = round(time.time() - started, 1)
    write_json_atomic(cached, result, indent=2)
    return result


def print_table(per_seed: dict[int, list[tuple[str, str, bool]]]) -> int:
    """Markdown table of (claim, numbers, holds) per seed; returns how many claims held in every seed."""
    seeds = sorted(per_seed)
    claims = [row[0] for row in per_seed[seeds[0]]]
    print("| claim | " + " | ".join(f"seed {s}" for s in seeds) + " | holds |")
    print("|---|" + "---|" * (len(seeds) + 1))
    every = 0
    for i, claim in enumerate(claims):
        cells = [f"{per_seed[s][i][1]} {'✓' if per_seed[s][i][2] else '✗'}" for s in seeds]
        held = sum(per_seed[s][i][2] for s in seeds)
        every += held == len(seeds)
        print(f"| {claim} | " + " | ".join(cells) + f" | {held}/{len(seeds)} |")
    return every


def measure_seeds(
    seeds: list[int], arms, measure: Callable[[str, int], dict], claim_rows: Callable[[dict], list], out: Path
) -> tuple[dict[int, list], dict[int, dict]]:
    """Every arm for every seed (``measure(arm, seed)``), then each seed's claim rows, also written to
    ``OUT/seed<S>/claims_table.json``. Returns (rows per seed, arm results per seed)."""
    per_seed, per_seed_results = {}, {}
    for seed in seeds:
        results = {}
        for arm in arms:
            print(f"seed {seed}: {arm}", flush=True)
            results[arm] = measure(arm, seed)
        per_seed_results[seed] = results
        per_seed[seed] = claim_rows(results)
        write_json_atomic(out / f"seed{seed}" / "claims_table.json", {"rows": per_seed[seed]}, indent=2)
    return per_seed, per_seed_results
