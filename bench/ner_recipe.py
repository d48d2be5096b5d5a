"""How the NER fine-tuning recipe was chosen: several recipes trained on CoNLL-2003
train and scored on **dev only** (the test split is not read). Run on a GPU to make the
search cheap; the chosen recipe is then timed and scored on this CPU by bench/ner.py.

    python bench/ner_recipe.py --data DIR_WITH_train.txt_AND_dev.txt [--model minilm] [--recipes a,b]

Writes bench/results/ner_recipe.{md,json}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

# The first search read each sentence alone; the second joins a document's sentences
# (`--context document`) and so packs full windows: fewer, longer examples per epoch.
RECIPES = {
    "llrd0.8-1.5e-4-4ep": {"context": "sentence", "batch_size": 32, "epochs": 4, "lr": 1.5e-4},  # the classify recipe
    "plain-5ep-1e-4": {"context": "sentence", "batch_size": 32, "epochs": 5, "lr": 1e-4, "layer_lr_decay": 1.0},
    "llrd0.8-2e-4-6ep": {"context": "sentence", "batch_size": 32, "epochs": 6, "lr": 2e-4},
    "llrd0.7-3e-4-6ep": {"context": "sentence", "batch_size": 32, "epochs": 6, "lr": 3e-4, "layer_lr_decay": 0.7},
    "llrd0.8-1.5e-4-batch16": {"context": "sentence", "epochs": 4, "lr": 1.5e-4, "batch_size": 16},
    "llrd0.8-2e-4-8ep": {"context": "sentence", "batch_size": 32, "epochs": 8, "lr": 2e-4},
    "llrd0.8-2.5e-4-6ep": {"context": "sentence", "batch_size": 32, "epochs": 6, "lr": 2.5e-4},
    "llrd0.8-2e-4-6ep-batch16": {"context": "sentence", "epochs": 6, "lr": 2e-4, "batch_size": 16},
    "scratch-1e-4-6ep": {"context": "sentence", "batch_size": 32, "strategy": "scratch", "epochs": 6},
    "scratch-3e-4-6ep": {"context": "sentence", "batch_size": 32, "strategy": "scratch", "epochs": 6, "lr": 3e-4},
    "scratch-5e-4-6ep": {"context": "sentence", "batch_size": 32, "strategy": "scratch", "epochs": 6, "lr": 5e-4},
    "doc-2e-4-8ep": {"context": "document", "batch_size": 32, "epochs": 8, "lr": 2e-4},
    "doc-2e-4-8ep-batch16": {"context": "document", "epochs": 8, "lr": 2e-4, "batch_size": 16},
    "doc-3e-4-8ep-batch16": {"context": "document", "epochs": 8, "lr": 3e-4, "batch_size": 16},
    "doc-2e-4-8ep-batch8": {"context": "document", "epochs": 8, "lr": 2e-4, "batch_size": 8},
    "doc-4e-4-8ep-batch16": {"context": "document", "epochs": 8, "lr": 4e-4, "batch_size": 16},
    "doc-3e-4-12ep-batch16": {"context": "document", "epochs": 12, "lr": 3e-4, "batch_size": 16},
    "doc-3e-4-8ep-batch16-llrd0.9": {"context": "document", "epochs": 8, "lr": 3e-4, "batch_size": 16, "layer_lr_decay": 0.9},
    "doc-3e-4-8ep-batch16-len256": {"context": "document", "epochs": 8, "lr": 3e-4, "batch_size": 16, "max_length": 256},
    "scratch-doc-5e-4-8ep-batch8": {"context": "document", "strategy": "scratch", "epochs": 8, "lr": 5e-4, "batch_size": 8},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATASETS / "conll2003"))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--mixed-precision", default="auto")
    parser.add_argument("--name", default="ner_recipe")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows, results = [], {}
    for name in args.recipes.split(","):
        options = {"strategy": "finetune", **RECIPES[name]}
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(
                task="ner", train=f"{args.data}/train.txt", dev=f"{args.data}/dev.txt", model=args.model,
                output=f"{tmp}/run", mixed_precision=args.mixed_precision, seed=args.seed, **options,
            )
            started = time.perf_counter()
            metrics = api.train(cfg)
        wall = time.perf_counter() - started
        t = metrics["train"]
        results[name] = {"options": options, "dev_f1": metrics["dev"]["f1"], "best_step": t["best_step"], "steps": t["steps"], "wall_seconds": wall}
        rows.append(f"| {name} | `{options}` | {metrics['dev']['f1']:.4f} | {t['best_step']}/{t['steps']} | {wall:.0f} |")
        print(rows[-1], flush=True)
    markdown = "\n".join([
        "# NER recipe search on CoNLL-2003 dev (test not read)\n",
        f"Command: `python bench/ner_recipe.py --recipes {args.recipes} --mixed-precision {args.mixed_precision} --seed {args.seed}`; machine: {machine()}\n",
        "| recipe | options | dev entity F1 | best step / steps | wall s |",
        "|---|---|---|---|---|",
        *rows,
    ])
    write_results(args.name, markdown + "\n", {"machine": machine(), "recipes": results})


if __name__ == "__main__":
    main()
