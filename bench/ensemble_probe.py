"""Would an output ensemble lift the few-shot default at 64 labels per class? Measured on dev
data only (SST-2's dev split; TREC: the 500 held-out questions of bench/contrastive_recipe.py),
trained without dev data as a true few-shot run is. Per seed, on one K-per-class subset:
`contrastive` (the default below 512 per class), `contrastive` again with another tuning
seed, `finetune` and `features`; then the dev accuracy of each alone and of the mean of
their class probabilities. Writes bench/results/ensemble_probe.{md,json}.

    .venv/bin/python bench/ensemble_probe.py --datasets sst2,trec --budget 64 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, scratch, write_results  # noqa: E402
from contrastive_recipe import trec_split  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402
from transferkit.serving.predictor import load_predictor  # noqa: E402
from transferkit.tasks import get_task  # noqa: E402

# member -> (strategy, tuning seed offset)
MEMBERS = {"contrastive": ("contrastive", 0), "contrastive-b": ("contrastive", 1000), "finetune": ("finetune", 0), "features": ("features", 0)}
ENSEMBLES = [("contrastive",), ("contrastive", "contrastive-b"), ("contrastive", "finetune"), ("contrastive", "features"),
             ("contrastive", "contrastive-b", "finetune"), ("finetune",), ("features",)]


def subset(train: Path, dev: Path, k: int, seed: int, out: Path):
    """The K-per-class subset a run with `--labels-per-class K --seed seed` trains on, as a
    CSV (so that members with other tuning seeds train on the same texts), and the dev split."""
    data = get_task("classify").load_data(TrainConfig(train=str(train), dev=str(dev), strategy="tfidf", labels_per_class=k, seed=seed,
                                                      output=str(out / "unused")))
    path = out / f"subset-{k}-{seed}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(data.train.texts, data.train.labels))
    return path, data.dev


def member_probabilities(strategy: str, seed: int, train: Path, dev_texts: list[str], labels: list[str], out: Path) -> tuple[np.ndarray, float]:
    """Dev class probabilities (columns in `labels` order) of one run, and its training seconds."""
    started = time.perf_counter()
    api.train(TrainConfig(train=str(train), strategy=strategy, seed=seed, output=str(out)))
    seconds = time.perf_counter() - started
    predictor = load_predictor(out / "model")
    probabilities = np.asarray(predictor.predict_proba(dev_texts))
    return probabilities[:, [list(predictor.labels).index(label) for label in labels]], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="sst2,trec")
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    command = f".venv/bin/python bench/ensemble_probe.py --datasets {args.datasets} --budget {args.budget} --seeds {args.seeds}"
    work = scratch("ensemble-probe-")
    rows = []
    for dataset in args.datasets.split(","):
        train, dev = (DATASETS / "sst2" / "train.csv", DATASETS / "sst2" / "dev.csv") if dataset == "sst2" else trec_split(work)
        for seed in [int(s) for s in args.seeds.split(",")]:
            path, dev_split = subset(train, dev, args.budget, seed, work)
            labels = sorted(set(dev_split.labels))
            gold = np.array([labels.index(label) for label in dev_split.labels])
            members = {name: member_probabilities(strategy, seed + offset, path, dev_split.texts, labels, work / f"{dataset}-{seed}-{name}")
                       for name, (strategy, offset) in MEMBERS.items()}
            for ensemble in ENSEMBLES:
                mean = np.mean([members[m][0] for m in ensemble], axis=0)
                rows.append({"dataset": dataset, "seed": seed, "ensemble": "+".join(ensemble), "dev_accuracy": float((mean.argmax(1) == gold).mean()),
                             "train_seconds": sum(members[m][1] for m in ensemble)})
                print(rows[-1], flush=True)
    lines = [
        "# An output ensemble at few labels? (dev data, no dev in training)", "",
        f"Command: `{command}` · K-per-class subsets drawn as `--labels-per-class {args.budget} --seed S` draws them; each member trained on it "
        "without dev data (`contrastive-b`: tuning seed S+1000); dev: SST-2's dev split, TREC's 500 held-out training questions · "
        f"model minilm, default options · machine: {machine()}.", "",
        "| data | members (mean of probabilities) | dev accuracy (mean ± std) | seeds | train s |", "|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for ensemble in dict.fromkeys(r["ensemble"] for r in rows):
            mine = [r for r in rows if r["dataset"] == dataset and r["ensemble"] == ensemble]
            scores = [r["dev_accuracy"] for r in mine]
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            lines.append(f"| {dataset} | {ensemble} | {statistics.mean(scores):.3f} ± {spread:.3f} | {len(mine)} | {statistics.mean(r['train_seconds'] for r in mine):.0f} |")
    write_results("ensemble_probe", "\n".join(lines) + "\n", {"machine": machine(), "command": command, "rows": rows})


if __name__ == "__main__":
    main()
