"""SST-2 (sentence level): the four classify strategies on the full training set, and the
frozen-feature strategy at 8 / 64 / 512 labels per class over 3 seeds, scored on the test
split beside the anchors of the issue. Writes bench/results/sst2.{md,json}.

    .venv/bin/python bench/sst2.py             # about 25 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, scratch, shown, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import CurveConfig, TrainConfig  # noqa: E402
from transferkit.evaluation.curves import points  # noqa: E402
from transferkit.experiments.curve import curve  # noqa: E402

ANCHORS = {
    "tfidf": "0.781",
    "features": "0.811",
    "finetune": "0.884–0.889 (plain recipe, max length 64, batch 32, 3 epochs, best dev epoch; GPU)",
    "scratch": "0.817 (5 epochs)",
}
BUDGET_ANCHORS = {8: "0.605", 64: "0.728", 512: "0.797"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATASETS / "sst2"))
    parser.add_argument("--strategies", default="tfidf,features,finetune,scratch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds-only", help="Only train --strategies with these comma-separated seeds; write sst2_seeds.{md,json}.")
    args = parser.parse_args()
    data = Path(args.data)
    base = TrainConfig(train=str(data / "train.csv"), dev=str(data / "dev.csv"), test=str(data / "test.csv"), seed=args.seed)
    work = scratch("sst2-bench-")
    if args.seeds_only:
        return seeds_table(base, args.strategies.split(","), [int(s) for s in args.seeds_only.split(",")], work, data)
    rows = []
    for strategy in args.strategies.split(","):
        started = time.perf_counter()
        m = api.train(TrainConfig(**{**base.__dict__, "strategy": strategy, "output": str(work / strategy)}))
        rows.append(
            {
                "strategy": strategy,
                "accuracy": m["test"]["accuracy"],
                "macro_f1": m["test"]["macro_f1"],
                "train_seconds": m["train"]["seconds"],
                "samples_per_second": m["train"]["samples_per_second"],
                "wall_seconds": time.perf_counter() - started,
                "details": {k: v for k, v in m["train"].items() if k not in ("dev_history",)},
            }
        )
    sweep = CurveConfig(**{**base.__dict__, "output": str(work / "budgets")}, strategies="features", budgets="8,64,512", seeds="0,1,2")
    budgets = points(curve(sweep), "accuracy")

    lines = [
        "# SST-2 benchmark",
        "",
        f"Command: `.venv/bin/python bench/sst2.py` · data: `{shown(data)}` (train 6,920 / dev 872 / test 1,821) · "
        f"model: minilm (all-MiniLM-L6-v2) · seed {args.seed} · machine: {machine()}.",
        "Train seconds: the training loop (or embedding + head fit), dev evaluation excluded; "
        "samples/s = examples processed / train seconds.",
        "",
        "| strategy | test accuracy | macro-F1 | train seconds | samples/s | anchor accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['train_seconds']:.0f} "
            f"| {r['samples_per_second']:.1f} | {ANCHORS.get(r['strategy'], '')} |"
        )
    lines += [
        "",
        "`features` at few labels per class (mean ± spread over seeds 0, 1, 2):",
        "",
        "| labels per class | test accuracy | anchor |",
        "|---|---|---|",
    ]
    lines += [f"| {p.budget} | {p.mean:.3f} ± {p.std:.3f} | {BUDGET_ANCHORS[p.budget]} |" for p in budgets]
    write_results("sst2", "\n".join(lines) + "\n", {"machine": machine(), "strategies": rows, "features_budgets": [p.__dict__ for p in budgets]})


def seeds_table(base: TrainConfig, strategies: list[str], seeds: list[int], work: Path, data: Path) -> None:
    """Seed spread of full-data runs: mean ± spread of test accuracy over seeds."""
    sweep = CurveConfig(**{**base.__dict__, "output": str(work)}, strategies=",".join(strategies), budgets="all", seeds=",".join(map(str, seeds)))
    rows = sorted(curve(sweep), key=lambda r: (r["strategy"], r["seed"]))
    lines = [
        "# SST-2: seed spread",
        "",
        f"Command: `.venv/bin/python bench/sst2.py --strategies {','.join(strategies)} --seeds-only "
        f"{','.join(map(str, seeds))}` · data: `{shown(data)}` · model: minilm, default options · machine: {machine()}.",
        "",
        "| strategy | seed | test accuracy | macro-F1 | train seconds |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['strategy']} | {r['seed']} | {r['score']:.4f} | {r['metrics']['test']['macro_f1']:.4f} | {r['train_seconds']:.0f} |" for r in rows]
    lines += ["", "| strategy | seeds | mean test accuracy ± spread |", "|---|---|---|"]
    lines += [f"| {p.strategy} | {p.seeds} | {p.mean:.4f} ± {p.std:.4f} |" for p in points(rows, "accuracy")]
    write_results("sst2_seeds", "\n".join(lines) + "\n", {"machine": machine(), "runs": [{k: r[k] for k in ("strategy", "seed", "score", "train_seconds", "path")} for r in rows]})


if __name__ == "__main__":
    main()
