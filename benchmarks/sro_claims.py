"""Do SRO's ablation claims hold at CPU scale on SynthMotion? (TCSVT 2021, Tables III, V, VI; issue 4).

Every arm is the packaged ``sro_cpu`` run (tiny backbone, 16 × 32² RGB clips,
SynthMotion 24 videos per class) with one change, trained with the same seed:

- **the Table VI ladder**: ``order`` → ``order_rate`` → ``cosine`` (+ MoCo,
  cosine similarity) → ``shuffle`` (shuffle similarity) → ``view`` (+ view
  synthesis), each measured by finetuning accuracy and retrieval R@1, plus
  ``random_init``. Claims: the rate task helps the order task (row 2 > row 1,
  finetune); contrastive learning raises retrieval R@1 markedly (row 3 > row 2);
  shuffle similarity helps (row 4 > row 3, finetune and R@1); view synthesis
  helps (row 5 > row 4, finetune and R@1); SRO beats random init.
- **Table III**: n = 2, 3, 4, 5 segments (the ``shuffle`` rung; n = 3 is that
  rung itself): the order task's accuracy in the last epoch falls as n grows.
- **Table V**: rate regression beats rate classification (the ``shuffle``
  rung with ``method.rate=classification``) on finetuning accuracy.

The printed table gives each claim's numbers per seed and in how many seeds it
held; nothing is tuned to make a claim pass. Cached per arm in
``OUT/seed<S>/<arm>/claims.json``: a rerun or a killed run continues. The last
line is ``claims holding in every seed: <k>/<total>``.

Usage::

    python benchmarks/sro_claims.py                     # seed 0, about an hour on 2 cores
    python benchmarks/sro_claims.py --seeds 0 1 2
    python benchmarks/sro_claims.py train.epochs=2      # extra overrides for every arm (a quick look)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from claims_common import measure_arm, measure_seeds, print_table

from vidssl.recipes.configs import load_run_config

NO_VIEW = "method.view_synthesis=none"
ARMS: dict[str, list[str]] = {
    "order": ["method.rate=none", "method.contrast=none", NO_VIEW],
    "order_rate": ["method.contrast=none", NO_VIEW],
    "cosine": ["method.contrast=cosine", NO_VIEW],
    "shuffle": ["method.contrast=shuffle", NO_VIEW],
    "view": ["method.contrast=shuffle", "method.view_synthesis=stage"],
    "n2": ["method.contrast=shuffle", NO_VIEW, "method.num_segments=2"],
    "n4": ["method.contrast=shuffle", NO_VIEW, "method.num_segments=4"],
    "n5": ["method.contrast=shuffle", NO_VIEW, "method.num_segments=5"],
    "rate_cls": ["method.contrast=shuffle", NO_VIEW, "method.rate=classification"],
    "random_init": [],
}
LADDER = ("order", "order_rate", "cosine", "shuffle", "view")
EVALS: dict[str, tuple[str, ...]] = {arm: ("retrieval", "finetune") for arm in (*LADDER, "rate_cls", "random_init")}
EVALS.update({arm: ("pretext",) for arm in ("n2", "n4", "n5")})


def arm_config(arm: str, seed: int, extra: list[str]):
    return load_run_config("sro_cpu", ARMS[arm] + [f"train.seed={seed}", "train.progress=false", *extra])


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def claim_rows(results: dict[str, dict]) -> list[tuple[str, str, bool]]:
    """(claim, numbers, holds) for one seed's arms."""
    tune = {arm: results[arm]["finetune"]["video_acc"] for arm in EVALS if "finetune" in results[arm]}
    r1 = {arm: results[arm]["retrieval"]["R@1"] for arm in EVALS if "retrieval" in results[arm]}
    rows = []
    rows.append(("rate task helps: order+rate > order, finetune", f"{pct(tune['order_rate'])} vs {pct(tune['order'])}",
                 tune["order_rate"] > tune["order"]))
    rows.append(("contrast raises retrieval: cosine > order+rate, R@1",
                 f"{pct(r1['cosine'])} vs {pct(r1['order_rate'])}",
                 r1["cosine"] > r1["order_rate"]))
    rows.append(("shuffle similarity > cosine, finetune and R@1",
                 f"{pct(tune['shuffle'])}/{pct(r1['shuffle'])} vs {pct(tune['cosine'])}/{pct(r1['cosine'])}",
                 tune["shuffle"] > tune["cosine"] and r1["shuffle"] > r1["cosine"]))
    rows.append(("view synthesis helps, finetune and R@1",
                 f"{pct(tune['view'])}/{pct(r1['view'])} vs {pct(tune['shuffle'])}/{pct(r1['shuffle'])}",
                 tune["view"] > tune["shuffle"] and r1["view"] > r1["shuffle"]))
    rows.append(("full SRO > random init, finetune and R@1",
                 f"{pct(tune['view'])}/{pct(r1['view'])} vs {pct(tune['random_init'])}/{pct(r1['random_init'])}",
                 tune["view"] > tune["random_init"] and r1["view"] > r1["random_init"]))
    order_acc = [results[arm]["pretext"]["acc_order"] for arm in ("n2", "shuffle", "n4", "n5")]
    rows.append(("order accuracy falls as n = 2, 3, 4, 5 grows (Table III)", " > ".join(pct(a) for a in order_acc),
                 all(a > b for a, b in zip(order_acc, order_acc[1:]))))
    rows.append(("rate regression > classification, finetune (Table V)",
                 f"{pct(tune['shuffle'])} vs {pct(tune['rate_cls'])}", tune["shuffle"] > tune["rate_cls"]))
    return rows


def print_ladder(per_seed_results: dict[int, dict[str, dict]]) -> None:
    """Table VI at CPU scale: finetune accuracy / retrieval R@1 of every rung, per seed."""
    arms = (*LADDER, "rate_cls", "random_init")
    print("| arm | " + " | ".join(f"seed {s} finetune / R@1" for s in per_seed_results) + " |")
    print("|---|" + "---|" * len(per_seed_results))
    for arm in arms:
        cells = [f"{pct(r[arm]['finetune']['video_acc'])} / {pct(r[arm]['retrieval']['R@1'])}"
                 for r in per_seed_results.values()]
        print(f"| {arm} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="benchmark-runs/sro_claims", help="run folders and cached results")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every arm (e.g. train.epochs=2)")
    args = parser.parse_args()
    out, data_cache = Path(args.out), {}

    def measure(arm: str, seed: int) -> dict:
        cfg = arm_config(arm, seed, list(args.overrides))
        return measure_arm(arm, cfg, out / f"seed{seed}" / arm, EVALS[arm], data_cache, overrides=ARMS[arm])

    per_seed, per_seed_results = measure_seeds(args.seeds, EVALS, measure, claim_rows, out)
    print()
    print_ladder(per_seed_results)
    every = print_table(per_seed)
    print(f"\nclaims holding in every seed: {every}/{len(per_seed[args.seeds[0]])}")


if __name__ == "__main__":
    main()
