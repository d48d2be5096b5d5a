"""Class imbalance on SST-2: a training set of 3,000 positive and 300 negative sentences
(10:1, drawn with seed 0 from SST-2 train), the balanced SST-2 dev and test splits, and
`tfidf`, `features` and `finetune` each with `--class-weight none` and `balanced`. With
labels this imbalanced, every run chooses its checkpoint / head regularisation on dev
macro-F1 (the rule above 3:1). Writes bench/results/imbalance.{md,json}.

    .venv/bin/python bench/imbalance.py        # about 15 minutes on 2 CPU cores
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, scratch, shown, write_runs  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

SIZES = {"positive": 3000, "negative": 300}


def imbalanced_train(source: Path, target: Path, seed: int = 0) -> Path:
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(seed)
    kept = [row for label, n in SIZES.items() for row in rng.sample([r for r in rows if r["label"] == label], n)]
    rng.shuffle(kept)
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in kept)
    return target


def main() -> None:
    data = DATASETS / "sst2"
    work = scratch("imbalance-bench-")
    train = imbalanced_train(data / "train.csv", work / "train.csv")
    rows = []
    for strategy in ("tfidf", "features", "finetune"):
        for weight in ("none", "balanced"):
            started = time.perf_counter()
            m = api.train(TrainConfig(train=str(train), dev=str(data / "dev.csv"), test=str(data / "test.csv"), strategy=strategy,
                                      class_weight=weight, output=str(work / f"{strategy}-{weight}")))
            negative = m["test"]["per_class"]["negative"]
            rows.append({
                "strategy": strategy, "class_weight": weight, "macro_f1": m["test"]["macro_f1"], "accuracy": m["test"]["accuracy"],
                "negative_recall": negative["recall"], "selection": m["train"].get("selection_metric"),
                "wall_seconds": time.perf_counter() - started,
                "command": f"transferkit train --train <10:1 subset of {shown(data)}/train.csv> --dev …/dev.csv --test …/test.csv "
                f"--strategy {strategy} --class-weight {weight}",
            })
    lines = [
        "# Class imbalance (SST-2, 10:1)",
        "",
        f"Command: `.venv/bin/python bench/imbalance.py` · training data: 3,000 positive + 300 negative sentences drawn with "
        f"seed 0 from `{shown(data)}/train.csv`; dev and test: SST-2's own (balanced) · model minilm, default options, seed 0 "
        f"(one seed) · machine: {machine()}.",
        "",
        "| strategy | --class-weight | test macro-F1 | test accuracy | negative recall | chosen on | wall s |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['strategy']} | {r['class_weight']} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} | {r['negative_recall']:.3f} | "
          f"{r['selection']} | {r['wall_seconds']:.0f} |" for r in rows],
    ]
    write_runs("imbalance", lines, rows)


if __name__ == "__main__":
    main()
