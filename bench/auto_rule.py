"""Where `--strategy auto` should switch from contrastive to finetune, read on *dev* data:
the cells of a learning-curve sweep (`bench/curves.py`) scored on their dev split, never on
the test split. For each budget: both strategies' mean dev accuracy over the seeds, their
difference, and their median training seconds. Writes bench/results/auto_rule_SWEEP.{md,json}
(SWEEP: the sweep folder's name).

    .venv/bin/python bench/auto_rule.py [--sweep bench/out/curves/sst2]

It reads the sweep's run directories and trains nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine, shown, write_results  # noqa: E402

from transferkit.evaluation.curves import budget_text, points  # noqa: E402
from transferkit.strategies.auto import CONTRASTIVE_BELOW, preference  # noqa: E402
from transferkit.tracking.registry import record_of_run  # noqa: E402

PAIR = ("contrastive", "finetune")


def dev_points(sweep: Path, metric: str):
    """The sweep's points with each run's dev metrics in place of its test metrics."""
    records = [record_of_run(run) for run in sorted((sweep / "runs").iterdir()) if (run / "metrics.json").is_file()]
    as_dev = [{**r, "metrics": {**r["metrics"], "test": r["metrics"]["dev"]}} for r in records if r["metrics"].get("dev")]
    return points(as_dev, metric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", default=str(REPO / "bench" / "out" / "curves" / "sst2"))
    parser.add_argument("--metric", default="accuracy")
    args = parser.parse_args()
    sweep = Path(args.sweep)
    by = {(p.strategy, p.budget): p for p in dev_points(sweep, args.metric)}
    budgets = sorted({budget for strategy, budget in by if strategy in PAIR}, key=lambda b: float("inf") if b is None else b)
    rows = []
    for budget in budgets:
        first, second = (by.get((strategy, budget)) for strategy in PAIR)
        if first is None or second is None:
            continue
        rows.append({
            "budget": budget, "seeds": min(first.seeds, second.seeds),
            **{f"{p.strategy}_dev": p.mean for p in (first, second)}, **{f"{p.strategy}_std": p.std for p in (first, second)},
            **{f"{p.strategy}_seconds": p.train_seconds for p in (first, second)},
            # every label: both sweeps' median class (3,310 and 935) is above the switch
            "auto_picks": "finetune" if budget is None else preference("classify", budget)[0][0],
        })
    lines = [
        f"# Where `auto` switches: {PAIR[0]} against {PAIR[1]} on dev",
        "",
        f"Command: `.venv/bin/python bench/auto_rule.py --sweep {shown(sweep)}` (reads the sweep's run directories; trains nothing). "
        f"Machine of the sweep: {machine()}. Dev {args.metric}, mean ± population spread over seeds; train seconds: median over seeds.",
        f"The rule today: contrastive below {CONTRASTIVE_BELOW} labels per class, finetune from there on.",
        "",
        f"| labels per class | seeds | {PAIR[0]} dev | {PAIR[1]} dev | difference | {PAIR[0]} s | {PAIR[1]} s | auto picks |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        a, b = (r[f"{s}_dev"] for s in PAIR)
        lines.append(
            f"| {budget_text(r['budget'])} | {r['seeds']} | {a:.3f} ± {r[f'{PAIR[0]}_std']:.3f} | {b:.3f} ± {r[f'{PAIR[1]}_std']:.3f} "
            f"| {a - b:+.3f} | {r[f'{PAIR[0]}_seconds']:.0f} | {r[f'{PAIR[1]}_seconds']:.0f} | {r['auto_picks']} |"
        )
    write_results(f"auto_rule_{sweep.name}", "\n".join(lines) + "\n", {"sweep": shown(sweep), "metric": args.metric, "rows": rows})


if __name__ == "__main__":
    main()
