"""Few labels, no dev set: test accuracy of the classify strategies at K labels per class,
drawn with transferkit's own K-per-class sampler (the same subsets for every method), on
SST-2 and TREC (6 classes). Every choice is made without a dev split (heads by
cross-validation on the K labels, schedules by fixed rules). Writes
bench/results/fewshot.{md,json}; mean ± standard deviation over seeds.

    make bench-setup                                                  # SetFit, for this benchmark only
    .venv/bin/python bench/fewshot.py --budgets 8 --seeds 0,1,2       # about 15 minutes on 2 CPU cores

`setfit` is SetFit 1.2 with the same encoder (`SetFitModel.from_pretrained` on minilm's
package folder): num_iterations 20, batch 16, 1 epoch, logistic head, trained on the same
K-per-class subsets, in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, shown, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

DATA = {"sst2": DATASETS / "sst2", "trec": DATASETS / "trec"}


def setfit_accuracy(cfg: TrainConfig, work: Path) -> float:
    """SetFit on the K-per-class subset transferkit draws for `cfg` (the same texts), scored on its test split."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from transferkit.models.zoo import resolve_model
    from transferkit.tasks import get_task

    data = get_task("classify").load_data(cfg)
    model = SetFitModel.from_pretrained(resolve_model("minilm"))
    args = TrainingArguments(batch_size=16, num_iterations=20, num_epochs=1, seed=cfg.seed, output_dir=str(work / "setfit"), save_strategy="no")
    Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": data.train.texts, "label": data.train.labels})).train()
    predicted = model.predict(data.test.texts)
    return sum(p == g for p, g in zip(predicted, data.test.labels)) / len(data.test.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="sst2,trec")
    parser.add_argument("--strategies", default="tfidf,features,finetune,contrastive,setfit")
    parser.add_argument("--budgets", default="8")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fewshot-bench-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    cells = []
    for dataset in args.datasets.split(","):
        folder = DATA[dataset]
        for k in [int(b) for b in args.budgets.split(",")]:
            for strategy in args.strategies.split(","):
                scores, walls = [], []
                for seed in seeds:
                    started = time.perf_counter()
                    cfg = TrainConfig(train=str(folder / "train.csv"), test=str(folder / "test.csv"), strategy="tfidf" if strategy == "setfit" else strategy,
                                      labels_per_class=k, seed=seed, output=str(work / f"{dataset}-{k}-{strategy}-{seed}"))
                    scores.append(setfit_accuracy(cfg, work) if strategy == "setfit" else api.train(cfg)["test"]["accuracy"])
                    walls.append(time.perf_counter() - started)
                cells.append({"dataset": dataset, "labels_per_class": k, "strategy": strategy, "accuracies": scores,
                              "mean": statistics.mean(scores), "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                              "wall_seconds": statistics.mean(walls)})
                print(cells[-1], flush=True)
    lines = [
        "# Few labels, no dev set",
        "",
        f"Command: `.venv/bin/python bench/fewshot.py --datasets {args.datasets} --strategies {args.strategies} --budgets {args.budgets} "
        f"--seeds {args.seeds}` · data: `{shown(DATASETS)}/sst2`, `…/trec` (train and test only; K per class drawn from train with "
        f"each seed) · model minilm, default options · machine: {machine()}.",
        "Wall seconds: the whole `train` call (training, and predicting the test split), mean over seeds.",
        "",
        "| data | labels per class | strategy | test accuracy (mean ± std) | wall s |",
        "|---|---|---|---|---|",
        *[f"| {c['dataset']} | {c['labels_per_class']} | {c['strategy']} | {c['mean']:.3f} ± {c['std']:.3f} | {c['wall_seconds']:.0f} |" for c in cells],
    ]
    write_results("fewshot", "\n".join(lines) + "\n", {"machine": machine(), "seeds": seeds, "cells": cells})


if __name__ == "__main__":
    main()
