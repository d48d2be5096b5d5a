"""SST-2 (sentence level): the four classify strategies on the full training set, and the
frozen-feature strategy at 8 / 64 / 512 labels per class over 3 seeds, scored on the test
split beside the anchors of the issue. Writes bench/results/sst2.{md,json}.

    .venv/bin/python bench/sst2.py             # about 25 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, shown, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402
from transferkit.evaluation.report import summarise  # noqa: E402
from transferkit.experiments.learning_curve import run_curve  # noqa: E402

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
    work = Path(tempfile.mkdtemp(prefix="sst2-bench-"))
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
    budgets = run_curve(base, ["features"], [8, 64, 512], [0, 1, 2], work / "budgets")
    curve = summarise(budgets)

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
    for r in curve:
        k = int(r["labels_per_class"])
        lines.append(f"| {k} | {r['accuracy']:.3f} ± {r['accuracy_spread']:.3f} | {BUDGET_ANCHORS[k]} |")
    write_results("sst2", "\n".join(lines) + "\n", {"machine": machine(), "strategies": rows, "features_budgets": curve})


def seeds_table(base: TrainConfig, strategies: list[str], seeds: list[int], work: Path, data: Path) -> None:
    """Seed spread of full-data runs: mean ± spread of test accuracy over seeds."""
    points = run_curve(base, strategies, [None], seeds, work)
    lines = [
        "# SST-2: seed spread",
        "",
        f"Command: `.venv/bin/python bench/sst2.py --strategies {','.join(strategies)} --seeds-only "
        f"{','.join(map(str, seeds))}` · data: `{shown(data)}` · model: minilm, default options · machine: {machine()}.",
        "",
        "| strategy | seed | test accuracy | macro-F1 | train seconds |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {p.strategy} | {p.seed} | {p.accuracy:.4f} | {p.macro_f1:.4f} | {p.train_seconds:.0f} |" for p in points]
    lines += ["", "| strategy | seeds | mean test accuracy ± spread |", "|---|---|---|"]
    lines += [f"| {r['strategy']} | {r['seeds']} | {r['accuracy']:.4f} ± {r['accuracy_spread']:.4f} |" for r in summarise(points)]
    write_results("sst2_seeds", "\n".join(lines) + "\n", {"machine": machine(), "runs": [p.__dict__ for p in points]})


if __name__ == "__main__":
    main()
