"""Which few-sample fixes should `finetune` apply by default? Measured on dev data only
(SST-2's dev split; TREC: the 500 held-out questions of bench/contrastive_recipe.py),
trained without dev data as a true few-shot run is, on the K-per-class subsets that
`--labels-per-class K --seed S` draws. Variants: the plain recipe, the output layer
warm-started from a linear probe (`--head-init linear-probe`), smaller batches (8, so more
optimiser steps under the 30-epoch cap), both, and the top layer or two re-initialised
(`--reinit-layers 1|2`), alone or with batches of 8. Writes bench/results/finetune_fixes.{md,json}.

    .venv/bin/python bench/finetune_fixes.py --datasets sst2,trec --budgets 8,64 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, saved, scratch, write_results  # noqa: E402
from contrastive_recipe import trec_split  # noqa: E402
from ensemble_probe import subset  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

VARIANTS = {
    "plain": {"reinit_layers": 0},
    "linear-probe head": {"head_init": "linear-probe", "reinit_layers": 0},
    "batch 8": {"batch_size": 8, "reinit_layers": 0},
    "linear-probe head + batch 8": {"head_init": "linear-probe", "batch_size": 8, "reinit_layers": 0},
    "reinit top layer": {"reinit_layers": 1},
    "reinit top 2 layers": {"reinit_layers": 2},
    "reinit top layer + batch 8": {"reinit_layers": 1, "batch_size": 8},
}


def run(options: dict, seed: int, train: Path, dev: Path, out: Path) -> dict:
    """One finetune run on `train` without dev data, scored on `dev` (given as its test split)."""
    started = time.perf_counter()
    metrics = api.train(TrainConfig(train=str(train), test=str(dev), strategy="finetune", seed=seed, output=str(out), **options))
    return {"dev_accuracy": metrics["test"]["accuracy"], "wall_seconds": time.perf_counter() - started, "steps": metrics["train"]["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="sst2,trec")
    parser.add_argument("--budgets", default="8,64", help="labels per class, comma-separated; all: the whole training split")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names from VARIANTS")
    args = parser.parse_args()
    variants = args.variants.split(",")
    command = (f".venv/bin/python bench/finetune_fixes.py --datasets {args.datasets} --budgets {args.budgets} --seeds {args.seeds}"
               + (f" --variants {shlex.quote(args.variants)}" if variants != list(VARIANTS) else ""))
    work = scratch("finetune-fixes-")
    measured = []
    for dataset in args.datasets.split(","):
        train, dev = (DATASETS / "sst2" / "train.csv", DATASETS / "sst2" / "dev.csv") if dataset == "sst2" else trec_split(work)
        for budget in [None if b == "all" else int(b) for b in args.budgets.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                path, _ = subset(train, dev, budget, seed, work)
                for variant in variants:
                    out = work / f"{dataset}-{budget}-{seed}-{variants.index(variant)}"
                    measured.append({"dataset": dataset, "budget": budget or "all", "seed": seed, "variant": variant, **run(VARIANTS[variant], seed, path, dev, out),
                                     "command": command})
                    print(measured[-1], flush=True)
    key = lambda r: (r["dataset"], r["budget"], r["seed"], r["variant"])  # noqa: E731
    again = {key(r) for r in measured}
    rows = [r for r in saved("finetune_fixes", "rows", []) if key(r) not in again] + measured  # a later run adds variants
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    lines = [
        "# Few-sample fixes for finetune (dev data, no dev in training)", "",
        "Commands below · K-per-class subsets drawn as `--labels-per-class K --seed S` draws them, each variant trained on the "
        "same subset without dev data; dev: SST-2's dev split, TREC's 500 held-out training questions · model minilm, finetune's "
        f"recipe otherwise (lr 1.5e-4, layer decay 0.8, batch 32, at least 100 steps and at most 30 epochs) · machine: {machine()}.", "",
        "| data | labels per class | variant | dev accuracy (mean ± std) | vs plain (points) | seeds | steps | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for budget in dict.fromkeys(r["budget"] for r in rows):
            cell = [r for r in rows if r["dataset"] == dataset and r["budget"] == budget]
            plain = [r["dev_accuracy"] for r in cell if r["variant"] == "plain"]
            for variant in variants:
                mine = [r for r in cell if r["variant"] == variant]
                scores = [r["dev_accuracy"] for r in mine]
                if not scores:
                    continue
                spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
                versus = f"{100 * (statistics.mean(scores) - statistics.mean(plain)):+.1f}" if plain else ""
                lines.append(f"| {dataset} | {budget} | {variant} | {statistics.mean(scores):.3f} ± {spread:.3f} | {versus} | {len(mine)} | "
                             f"{statistics.mean(r['steps'] for r in mine):.0f} | {statistics.mean(r['wall_seconds'] for r in mine):.0f} |")
    commands = list(dict.fromkeys(r["command"] for r in rows))
    lines += ["", "Commands:", "", *[f"- `{c}`" for c in commands]]
    write_results("finetune_fixes", "\n".join(lines) + "\n", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
