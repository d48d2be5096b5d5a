"""NER: CoNLL-2003 (the files as they are) and WikiANN English, each with finetune,
scratch and features, scored on the test split beside the anchors of the issue. Every run
goes through `api.train`, exactly what the `transferkit train --task ner ...` command shown
in its row does; "wall" is that whole call (reading, training, dev evaluations, scoring
dev and test). CoNLL finetune uses the default options (the issue's Done-when command);
the other rows shorten training to fit the machine, as their commands say. Results are
merged into bench/results/ner.{md,json} after every run, so parts can run separately.

    .venv/bin/python bench/ner.py [--datasets conll2003,wikiann-en] [--strategies finetune,scratch,features]
    # about 40 min for CoNLL finetune, 25 for scratch, 5 for features; 30 for WikiANN (2 CPU cores)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, option_flags, saved, scratch, shown, timing, write_runs  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

DATA = {
    "conll2003": (DATASETS / "conll2003", "txt"),
    "wikiann-en": (DATASETS / "wikiann" / "en", "tsv"),
}
# Shorter training where the defaults (8 epochs) would not fit this machine's time.
# WikiANN's sentences are unrelated to their neighbours, so its words read their own
# sentence only (`--context sentence`, with the batch size that setting was tuned with).
OPTIONS = {
    ("conll2003", "scratch"): {"epochs": 5},  # the anchor's schedule
    ("wikiann-en", "finetune"): {"epochs": 3, "evaluations": 5, "context": "sentence", "batch_size": 32},
    ("wikiann-en", "scratch"): {"epochs": 3, "evaluations": 5},
    ("wikiann-en", "features"): {"context": "sentence"},
}
ANCHORS = {  # test F1 (dev F1), all-MiniLM-L6-v2, plain transformers recipe, from the issue
    ("conll2003", "finetune"): "0.856 (3 ep, lr 5e-5) / 0.872 (5 ep, lr 1e-4)",
    ("conll2003", "scratch"): "0.613 (5 ep)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default=",".join(DATA))
    parser.add_argument("--strategies", default="finetune,scratch,features")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = scratch("ner-bench-")
    rows = saved("ner", "runs", [])
    for dataset in args.datasets.split(","):
        folder, ext = DATA[dataset]
        for strategy in args.strategies.split(","):
            options = OPTIONS.get((dataset, strategy), {})
            cfg = TrainConfig(
                task="ner", strategy=strategy, seed=args.seed, output=str(work / f"{dataset}-{strategy}"),
                **{split: str(folder / f"{split}.{ext}") for split in ("train", "dev", "test")}, **options,
            )
            started = time.perf_counter()
            m = api.train(cfg)
            wall = time.perf_counter() - started
            flags = option_flags(options)
            rows = [r for r in rows if (r["dataset"], r["strategy"]) != (dataset, strategy)]
            rows.append({
                "dataset": dataset,
                "strategy": strategy,
                "command": f"transferkit train --task ner --train {shown(folder)}/train.{ext} --dev .../dev.{ext} "
                f"--test .../test.{ext} --strategy {strategy}{flags} --seed {args.seed}",
                "test_f1": m["test"]["f1"],
                "test_precision": m["test"]["precision"],
                "test_recall": m["test"]["recall"],
                "dev_f1": m["dev"]["f1"],
                "seqeval_test_f1": seqeval_f1(Path(cfg.output)),
                "per_type_f1": {k: v["f1"] for k, v in m["test"]["per_type"].items()},
                **timing(m, wall),
            })
            rows.sort(key=lambda r: (list(DATA).index(r["dataset"]), r["strategy"] != "finetune", r["strategy"]))
            report(rows)


def seqeval_f1(run: Path) -> float:
    """seqeval's entity F1 (default, conlleval-compatible mode) on the run's test predictions."""
    from seqeval.metrics import f1_score

    records = [json.loads(line) for line in (run / "predictions" / "test.jsonl").read_text().splitlines()]
    return f1_score([r["gold"] for r in records], [r["prediction"] for r in records])


def report(rows: list[dict]) -> None:
    lines = [
        "# NER benchmark",
        "",
        f"Command: `.venv/bin/python bench/ner.py` (each row's own command below) · model: minilm "
        f"(all-MiniLM-L6-v2, uncased) · machine: {machine()}.",
        "Entity-level micro F1 (exact span and type, conlleval rules); \"seqeval F1\" is seqeval's `f1_score` on "
        "the same run's predictions/test.jsonl. Train seconds: the training loop "
        "(finetune/scratch) or embedding + head fit (features), dev evaluation excluded; wall: the whole `train` call.",
        "",
        "| data | strategy | test F1 | seqeval F1 | P / R | dev F1 | per type (test F1) | train s | wall min | anchor test F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_type = ", ".join(f"{k} {v:.3f}" for k, v in r["per_type_f1"].items())
        lines.append(
            f"| {r['dataset']} | {r['strategy']} | **{r['test_f1']:.4f}** | {r['seqeval_test_f1']:.4f} "
            f"| {r['test_precision']:.3f} / {r['test_recall']:.3f} "
            f"| {r['dev_f1']:.3f} | {per_type} | {r['train_seconds']:.0f} | {r['wall_seconds'] / 60:.1f} "
            f"| {ANCHORS.get((r['dataset'], r['strategy']), '—')} |"
        )
    write_runs("ner", lines, rows)


if __name__ == "__main__":
    main()
