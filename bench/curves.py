"""Learning curves with `transferkit curve` (issue #16): what transfer bought, as labels.

- `sst2`: SST-2 (`../shared/datasets/sst2`), labels per class 8, 32, 128, 512 and all
  (3,460 per class), strategies tfidf and scratch (no transfer), features, contrastive (the
  few-shot strategy `auto` picks below 512 per class) and finetune; test accuracy.
- `trec`: TREC (6 classes, short questions), 32, 77 (all of the smallest class, ABBR) and
  256 labels per class (ABBR's 77 and 256 of every other class) and all (4,952 questions, median class 935), contrastive
  against finetune, to check where `auto`'s
  switch sits with more classes and shorter texts (`bench/auto_rule.py --sweep
  bench/out/curves/trec`); dev: 500 questions held out of the training split (seed 0,
  as bench/contrastive_recipe.py holds them out), the sampled budgets drawn from the rest.
- `conll`: CoNLL-2003 (`../shared/datasets/conll2003`), 100, 500 and 2,000 training
  sentences and all (14,041), finetune against scratch; test entity F1.

Each part is one sweep in bench/out/curves/PART (resumable: run the command again to
continue, or with more seeds to add them; finished cells are kept). The report of each
(report.md, report.html, curve.png, time.png) is copied to bench/results/curves_PART/;
bench/results/curves.md says which commands made them (kept by hand: a sweep may take
several sessions).

    .venv/bin/python bench/curves.py [--parts sst2,conll] [--seeds 0,1,2] [--budgets ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, RESULTS  # noqa: E402
from contrastive_recipe import trec_split  # noqa: E402

from transferkit.config import CurveConfig  # noqa: E402
from transferkit.experiments.curve import curve  # noqa: E402

WORK = REPO / "bench" / "out" / "curves"
PARTS = {
    "sst2": dict(task="classify", data=DATASETS / "sst2", ext="csv", strategies="tfidf,features,contrastive,finetune,scratch",
                 budgets="8,32,128,512,all"),
    "trec": dict(task="classify", data=DATASETS / "trec", ext="csv", strategies="contrastive,finetune", budgets="32,77,256,all",
                 held_out_dev=trec_split),  # TREC has no dev split
    "conll": dict(task="ner", data=DATASETS / "conll2003", ext="txt", strategies="finetune,scratch", budgets="100,500,2000,all"),
}


def run_part(name: str, seeds: str, budgets: str | None) -> float:
    part = PARTS[name]
    data, ext = part["data"], part["ext"]
    train, dev = data / f"train.{ext}", data / f"dev.{ext}"
    if "held_out_dev" in part:
        (WORK / f"{name}-data").mkdir(parents=True, exist_ok=True)
        train, dev = part["held_out_dev"](WORK / f"{name}-data")
    cfg = CurveConfig(task=part["task"], train=str(train), dev=str(dev), test=str(data / f"test.{ext}"),
                      strategies=part["strategies"], budgets=budgets or part["budgets"], seeds=seeds, output=str(WORK / name))
    started = time.perf_counter()
    curve(cfg)
    kept = RESULTS / f"curves_{name}"
    kept.mkdir(parents=True, exist_ok=True)
    for file in ("report.md", "report.html", "curve.png", "time.png"):
        shutil.copyfile(WORK / name / file, kept / file)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="sst2,conll")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budgets", help="instead of each part's own")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.parts.split(","):
        seconds = run_part(name, args.seeds, args.budgets)
        print(f"{name}: {seconds:.0f} s this time")


if __name__ == "__main__":
    main()
