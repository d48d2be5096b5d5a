"""Multi-task transfer against single-task runs: SST-2 sentiment, TREC question type and
CoNLL-2003 NER as three heads on one minilm encoder, trained together by
`transferkit multitask`, then each head alone by `transferkit train --config
RUN/heads/NAME/config.yaml`: a `finetune` run with the same data, budget, seed, learning
rate, batch size and steps (proportional sampling gives each head of a pass exactly its
single-task epoch, batch for batch), so the two differ in the shared encoder alone.
Writes bench/results/multitask.{md,json}.

    .venv/bin/python bench/multitask.py          # about 15 minutes on 2 CPU cores (measured: 5.4 min each half, plus scoring)

Budgets, chosen so that both halves fit in about 20-25 minutes on 2 cores: 1,000 SST-2
training sentences (500 per class; finetune trains at about 60 sentences/s there,
bench/results/sst2.md), every TREC training question but the 500 held out as its dev split
(TREC has none; about 4,950, shorter than SST-2's), 2,000 CoNLL-2003 training sentences
(document context, the ner recipe's: about 900 windows), 3 epochs for every head, full dev
and test splits. Each half is about 1,000 optimiser steps (some 5 minutes), 10 dev
evaluations of the three dev splits (2 minutes) and the final scoring (1 minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, scratch, shown, write_results  # noqa: E402
from contrastive_recipe import trec_split  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402
from transferkit.multitask.config import MultiTaskConfig  # noqa: E402


def multitask_yaml(work: Path, trec: tuple[Path, Path], epochs: int, seed: int, sst2_per_class: int, conll_sentences: int) -> Path:
    sst2, conll = DATASETS / "sst2", DATASETS / "conll2003"
    path = work / "multitask.yaml"
    path.write_text(f"""\
model: minilm
seed: {seed}
epochs: {epochs}
tasks:
  sentiment: {{task: classify, train: {sst2 / 'train.csv'}, dev: {sst2 / 'dev.csv'}, test: {sst2 / 'test.csv'}, labels_per_class: {sst2_per_class}}}
  question_type: {{task: classify, train: {trec[0]}, dev: {trec[1]}, test: {DATASETS / 'trec' / 'test.csv'}}}
  entities: {{task: ner, train: {conll / 'train.txt'}, dev: {conll / 'dev.txt'}, test: {conll / 'test.txt'}, train_examples: {conll_sentences}}}
""")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sst2-per-class", type=int, default=500)
    parser.add_argument("--conll-sentences", type=int, default=2000)
    args = parser.parse_args()
    work = scratch("multitask-bench-")
    config = multitask_yaml(work, trec_split(work), args.epochs, args.seed, args.sst2_per_class, args.conll_sentences)

    started = time.perf_counter()
    together = api.multitask(MultiTaskConfig(MultiTaskConfig.from_yaml(str(config)).heads, output=str(work / "multitask")))
    multitask_wall = time.perf_counter() - started
    rows = []
    for name, head in together["heads"].items():
        started = time.perf_counter()
        alone = TrainConfig.from_yaml(str(work / "multitask" / "heads" / name / "config.yaml"))
        single = api.train(replace(alone, output=str(work / "single" / name)))
        metric = head["metric"]
        rows.append({
            "head": name, "task": head["task"], "metric": metric,
            "multitask_test": head["test"], "single_test": single["test"][metric],
            "multitask_dev": head["dev"], "single_dev": single["dev"][metric],
            "multitask_steps": head["steps"], "single_steps": single["train"]["steps"],
            "multitask_train_seconds": head["train_seconds"], "single_train_seconds": single["train"]["seconds"],
            "single_wall_seconds": time.perf_counter() - started,
        })

    train = together["train"]
    single_seconds = sum(r["single_train_seconds"] for r in rows)
    lines = [
        "# Multi-task transfer: three heads on one encoder against three single-task runs",
        "",
        f"Command: `.venv/bin/python bench/multitask.py` · model: minilm (all-MiniLM-L6-v2) · seed {args.seed} · "
        f"{args.epochs} epochs per head · machine: {machine()}.",
        f"Data (`{shown(DATASETS)}`): SST-2 {2 * args.sst2_per_class} training sentences ({args.sst2_per_class} per class), "
        "full dev and test; TREC coarse labels, its training split less 500 questions (seed 0) held out as dev, test 500; "
        f"CoNLL-2003 {args.conll_sentences} training sentences (seed {args.seed}), full dev and test.",
        "Multitask: `transferkit multitask --config multitask.yaml` (each head's batches drawn in proportion to its data, "
        "checkpoint chosen on the mean of the heads' dev scores); single: `transferkit train --config "
        "RUN/heads/NAME/config.yaml` (the same data, budget, seed, learning rate, batch size and epochs; "
        "checkpoint chosen on its own dev score). Train seconds exclude dev evaluation; a head's multitask seconds "
        "are the run's, split by its share of the padded tokens.",
        "",
        "| head | task | test metric | multitask | single-task | Δ | dev: multitask / single | steps: multitask / single | train s: multitask / single |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['head']} | {r['task']} | {r['metric']} | {r['multitask_test']:.4f} | {r['single_test']:.4f} "
            f"| {r['multitask_test'] - r['single_test']:+.4f} | {r['multitask_dev']:.4f} / {r['single_dev']:.4f} "
            f"| {r['multitask_steps']} / {r['single_steps']} | {r['multitask_train_seconds']:.0f} / {r['single_train_seconds']:.0f} |"
        )
    lines += [
        "",
        f"All heads: {train['steps']} steps in {train['seconds']:.0f} s of training ({multitask_wall / 60:.1f} min wall) "
        f"for one multitask run, against {sum(r['single_steps'] for r in rows)} steps in {single_seconds:.0f} s "
        f"({sum(r['single_wall_seconds'] for r in rows) / 60:.1f} min wall) for the three single-task runs. "
        "Each head's directory still holds a whole encoder (a plain transformers model), so the artefacts are as large.",
    ]
    write_results("multitask", "\n".join(lines) + "\n", {
        "machine": machine(), "epochs": args.epochs, "seed": args.seed, "rows": rows,
        "multitask": {"train_seconds": train["seconds"], "wall_seconds": multitask_wall, "steps": train["steps"],
                      "best_dev_mean": train["best_dev_mean"], "best_step": train["best_step"]},
    })


if __name__ == "__main__":
    main()
