"""Extractive QA on XQuAD English: train on en.train.json (925 questions, articles 1-36),
score on en.test.json (265 questions, unseen articles), finetune and scratch, beside the
anchors of the issue. Every run goes through `api.train`, exactly what the `transferkit
train --task qa ...` command in its row does (the finetune row is the issue's Done-when
command, default options; scratch is shortened to fit the machine, as its command says);
"wall" is that whole call. No dev split is given, as in the
Done-when command: the recipe was chosen beforehand on a dev split carved from
en.train.json (bench/qa_recipe.py), and training runs its whole schedule. Results are
merged into bench/results/qa.{md,json} after every run, so parts can run separately.

    .venv/bin/python bench/qa.py [--strategies finetune,scratch] [--epochs N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, option_flags, saved, scratch, shown, timing, write_runs  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

FOLDER = DATASETS / "xquad"
# Shorter training where the default schedule would not fit this machine's time.
OPTIONS = {"scratch": {"epochs": 5}}
ANCHORS = {  # test F1 / EM, all-MiniLM-L6-v2, max length 384, stride 128, seed 0, from the issue
    "finetune": "0.464 / 0.306 (plain, 10 ep, lr 1e-4, best epoch); 0.433 / 0.260 (lr 5e-5)",
    "scratch": "0.079 / 0.008",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategies", default="finetune,scratch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="train this many epochs instead (to fit a time budget; the row's command says so)")
    args = parser.parse_args()
    work = scratch("qa-bench-")
    rows = saved("qa", "runs", [])
    for strategy in args.strategies.split(","):
        options = {**OPTIONS.get(strategy, {}), **({"epochs": args.epochs} if args.epochs else {})}
        cfg = TrainConfig(
            task="qa", strategy=strategy, seed=args.seed, output=str(work / strategy),
            train=str(FOLDER / "en.train.json"), test=str(FOLDER / "en.test.json"), **options,
        )
        started = time.perf_counter()
        m = api.train(cfg)
        wall = time.perf_counter() - started
        flags = option_flags(options)
        rows = [r for r in rows if r["strategy"] != strategy]
        rows.append({
            "strategy": strategy,
            "command": f"transferkit train --task qa --train {shown(FOLDER)}/en.train.json --test {shown(FOLDER)}/en.test.json "
            f"--strategy {strategy}{flags} --seed {args.seed}",
            "test_f1": m["test"]["f1"],
            "test_exact_match": m["test"]["exact_match"],
            **timing(m, wall),
        })
        rows.sort(key=lambda r: r["strategy"] != "finetune")
        report(rows)


def report(rows: list[dict]) -> None:
    lines = [
        "# Extractive QA benchmark (XQuAD English)",
        "",
        f"Command: `.venv/bin/python bench/qa.py` (each row's own command below) · data: {shown(FOLDER)}/en.train.json "
        f"(925 questions) → en.test.json (265 questions, unseen articles) · model: minilm (all-MiniLM-L6-v2) · "
        f"max length 384, stride 128 · machine: {machine()}.",
        "SQuAD v1.1 exact match and F1 (the official script's normalisation). Train seconds: the training loop; "
        "wall: the whole `train` call (reading, training, scoring test).",
        "",
        "| strategy | test F1 | test EM | epochs | lr | train s | wall min | anchor test F1 / EM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r["details"]
        lines.append(
            f"| {r['strategy']} | **{r['test_f1']:.4f}** | {r['test_exact_match']:.4f} | {d['epochs']} | {d['lr']:g} "
            f"| {r['train_seconds']:.0f} | {r['wall_seconds'] / 60:.1f} | {ANCHORS.get(r['strategy'], '—')} |"
        )
    write_runs("qa", lines, rows)


if __name__ == "__main__":
    main()
