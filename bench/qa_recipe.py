"""How the QA fine-tuning recipe was chosen: recipes trained on part of XQuAD English
train and scored on a dev split carved from the same file **by article** (every fourth
article), so the test file (en.test.json) is not read. The chosen recipe is then trained
on all of en.train.json and scored on test once by bench/qa.py.

    .venv/bin/python bench/qa_recipe.py [--recipes a,b]

Writes the carved split to a temporary folder and bench/results/qa_recipe.{md,json}
(merged, so recipes can run separately).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, saved, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

TRAIN = DATASETS / "xquad" / "en.train.json"
RECIPES = {
    "llrd0.8-2e-4-8ep-warm0.1": {"epochs": 8, "lr": 2e-4, "layer_lr_decay": 0.8, "warmup_ratio": 0.1, "evaluations": 8},
    "llrd0.8-3e-4-10ep-warm0.1": {"epochs": 10, "lr": 3e-4, "layer_lr_decay": 0.8, "warmup_ratio": 0.1, "evaluations": 5},
}

def carve(folder: Path) -> tuple[Path, Path]:
    """en.train.json split by article: every fourth article is dev."""
    document = json.loads(TRAIN.read_text())
    parts = {"train": [], "dev": []}
    for i, article in enumerate(document["data"]):
        parts["dev" if i % 4 == 3 else "train"].append(article)
    paths = []
    for name, articles in parts.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps({"version": "xquad-en-train-by-article", "data": articles}))
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    args = parser.parse_args()
    results = saved("qa_recipe", "recipes", {})
    with tempfile.TemporaryDirectory() as tmp:
        train, dev = carve(Path(tmp))
        for name in args.recipes.split(","):
            options = {"strategy": "finetune", **RECIPES[name]}
            cfg = TrainConfig(task="qa", train=str(train), dev=str(dev), output=f"{tmp}/run-{name}", **options)
            started = time.perf_counter()
            metrics = api.train(cfg)
            t = metrics["train"]
            results[name] = {
                "options": options,
                "dev_f1": metrics["dev"]["f1"],
                "dev_exact_match": metrics["dev"]["exact_match"],
                "best_step": t["best_step"],
                "steps": t["steps"],
                "dev_history": t["dev_history"],
                "train_seconds": t["seconds"],
                "wall_seconds": time.perf_counter() - started,
                "questions": {"train": t["labelled_examples"], "dev": metrics["dev"]["questions"]},
            }
            report(results)


def report(results: dict) -> None:
    some = next(iter(results.values()))["questions"]
    lines = [
        "# QA recipe search on a dev split of XQuAD en.train.json (test not read)",
        "",
        f"Command: `.venv/bin/python bench/qa_recipe.py --recipes NAME`; seed 0; model minilm; max length 384, stride 128; "
        f"train {some['train']} / dev {some['dev']} questions (every fourth article is dev); machine: {machine()}.",
        "",
        "| recipe | options | dev F1 | dev EM | best step / steps | dev F1 by evaluation | train s | wall min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        history = " ".join(f"{h['dev']:.3f}" for h in r["dev_history"])
        lines.append(
            f"| {name} | `{r['options']}` | **{r['dev_f1']:.4f}** | {r['dev_exact_match']:.4f} | {r['best_step']}/{r['steps']} "
            f"| {history} | {r['train_seconds']:.0f} | {r['wall_seconds'] / 60:.1f} |"
        )
    write_results("qa_recipe", "\n".join(lines) + "\n", {"machine": machine(), "recipes": results})


if __name__ == "__main__":
    main()
