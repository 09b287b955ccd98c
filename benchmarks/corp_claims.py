"""Do CORP's claims hold at CPU scale on SynthMotion? (ICCV 2021, Tables 5 and 6; issue 5).

Every arm is the packaged ``corp_cpu`` run (tiny backbone, 8 × 32² RGBDiff
clips, SynthMotion 24 videos per class) with one change, trained with the same
seed, then scored by a linear probe on frozen, z-scored features (CORP §4.1)
and by retrieval R@1. Two versions of the data:

- **motion** (``synth_appearance_bias=0``, the default): a class is a way of
  moving, never a look — the Something-Something-like case;
- **appearance** (``synth_appearance_bias=0.8``): most groups' actors take their
  class's own shape and hue — the Kinetics-like case where look helps.

Claims (the paper's, on Something-Something V2 / Kinetics-400):

1. CORP_m is the best of SimCLR, CORP_f, CORP_m on motion (Table 5, Sth-Sth column);
2. CORP_f ≥ SimCLR on appearance (Table 5, Kinetics column);
3. CORP_f > CORP_m on appearance (Table 5, Kinetics column);
4. order-only > contrast-only on motion (Table 6a);
5. decoupling attention ≥ mixed attention on motion (Table 6c).

Random init is printed beside them for scale. Nothing is tuned to make a claim
pass. Cached per arm in ``OUT/seed<S>/<arm>/claims.json``: a rerun or a killed
run continues. The last line is ``claims holding in every seed: <k>/<total>``.

Usage::

    python benchmarks/corp_claims.py                     # seed 0, about 20 minutes on 2 cores
    python benchmarks/corp_claims.py --seeds 0 1 2
    python benchmarks/corp_claims.py train.epochs=2      # extra overrides for every arm (a quick look)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from claims_common import measure_arm, measure_seeds, print_table

from vidssl.recipes.configs import load_run_config

APPEARANCE = ["data.synth_appearance_bias=0.8"]
CORP_F = ["method.name=corp_f", "method.num_clips=2"]
SIMCLR = [*CORP_F, "method.order=false"]
ARMS: dict[str, list[str]] = {
    "random_init": [],
    "simclr": SIMCLR,
    "corp_f": CORP_F,
    "corp_m": [],
    "order_only": ["method.task=order"],
    "contrast_only": ["method.task=contrast"],
    "mixed": ["method.attention=mixed"],
    "random_init_app": APPEARANCE,
    "simclr_app": [*SIMCLR, *APPEARANCE],
    "corp_f_app": [*CORP_F, *APPEARANCE],
    "corp_m_app": APPEARANCE,
}
EVALS: dict[str, tuple[str, ...]] = {arm: ("linear", "retrieval") for arm in ARMS}


def arm_config(arm: str, seed: int, extra: list[str]):
    return load_run_config("corp_cpu", ARMS[arm] + [f"train.seed={seed}", "train.progress=false", *extra])


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def claim_rows(results: dict[str, dict]) -> list[tuple[str, str, bool]]:
    """(claim, numbers, holds) for one seed's arms, on linear-probe accuracy."""
    lin = {arm: results[arm]["linear"]["accuracy"] for arm in ARMS}
    rows = [
        ("CORP_m best on motion (SimCLR, CORP_f, CORP_m)",
         f"{pct(lin['corp_m'])} vs {pct(lin['simclr'])}, {pct(lin['corp_f'])}",
         lin["corp_m"] > max(lin["simclr"], lin["corp_f"])),
        ("CORP_f >= SimCLR on appearance", f"{pct(lin['corp_f_app'])} vs {pct(lin['simclr_app'])}",
         lin["corp_f_app"] >= lin["simclr_app"]),
        ("CORP_f > CORP_m on appearance", f"{pct(lin['corp_f_app'])} vs {pct(lin['corp_m_app'])}",
         lin["corp_f_app"] > lin["corp_m_app"]),
        ("order-only > contrast-only on motion (Table 6a)",
         f"{pct(lin['order_only'])} vs {pct(lin['contrast_only'])}", lin["order_only"] > lin["contrast_only"]),
        ("decoupling >= mixed attention on motion (Table 6c)", f"{pct(lin['corp_m'])} vs {pct(lin['mixed'])}",
         lin["corp_m"] >= lin["mixed"]),
    ]
    return rows


def print_arms(per_seed_results: dict[int, dict[str, dict]]) -> None:
    """Linear-probe accuracy / retrieval R@1 of every arm, per seed, with the last epoch's pretext accuracies."""
    print("| arm | " + " | ".join(f"seed {s} linear / R@1 (pretext)" for s in per_seed_results) + " |")
    print("|---|" + "---|" * len(per_seed_results))
    for arm in ARMS:
        cells = []
        for results in per_seed_results.values():
            r = results[arm]
            pretext = ", ".join(f"{k} {pct(v)}" for k, v in sorted(r.get("pretext", {}).items()) if k.startswith("acc"))
            cells.append(f"{pct(r['linear']['accuracy'])} / {pct(r['retrieval']['R@1'])}"
                         + (f" ({pretext})" if pretext else ""))
        print(f"| {arm} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="benchmark-runs/corp_claims", help="run folders and cached results")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every arm (e.g. train.epochs=2)")
    args = parser.parse_args()
    out = Path(args.out)
    data_caches: dict[bool, dict] = {False: {}, True: {}}  # one evaluation dataset per data version

    def measure(arm: str, seed: int) -> dict:
        cfg = arm_config(arm, seed, list(args.overrides))
        cache = data_caches[cfg.data.synth_appearance_bias > 0]
        return measure_arm(arm, cfg, out / f"seed{seed}" / arm, EVALS[arm], cache, overrides=ARMS[arm])

    per_seed, per_seed_results = measure_seeds(args.seeds, EVALS, measure, claim_rows, out)
    print()
    print_arms(per_seed_results)
    every = print_table(per_seed)
    print(f"\nclaims holding in every seed: {every}/{len(per_seed[args.seeds[0]])}")


if __name__ == "__main__":
    main()
