"""Language transfer: train on English, score English and another language in the same run
(`--test en=... --test zh=...`), beside the English-only `minilm` (what a monolingual model
carries over) and the in-language upper bound. Every choice is made on English dev data;
the target language's dev split is not read, its test split only scored. Writes
bench/results/crosslingual.{md,json} (rows merge, so parts can run one at a time).

    .venv/bin/python bench/crosslingual.py --part sentiment     # SST-2 -> ChnSentiCorp, ~25 minutes on 2 cores

Parts: `sentiment` (SST-2 → ChnSentiCorp, Chinese hotel reviews). `--labels-per-class`
(default 1000) cuts each training set so a part fits in well under an hour here; the same
cut for the in-language bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, RESULTS, machine, option_flags, shown, write_runs  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

SST2, CHN = DATASETS / "sst2", DATASETS / "chnsenticorp"
PARTS = {
    # row name -> (training data, dev data, options); test sets are the part's own
    "sentiment": {
        "tests": {"en": SST2 / "test.csv", "zh": CHN / "test.csv"},
        "rows": {
            "minilm finetune (English only)": (SST2, {"model": "minilm", "strategy": "finetune"}),
            "multilingual-e5-small features": (SST2, {"model": "multilingual-e5-small", "strategy": "features"}),
            "multilingual-e5-small finetune": (SST2, {"model": "multilingual-e5-small", "strategy": "finetune"}),
            "multilingual-e5-small finetune, frozen embeddings": (SST2, {"model": "multilingual-e5-small", "strategy": "finetune", "freeze_embeddings": True}),
            "multilingual-e5-small finetune on ChnSentiCorp (in-language bound)": (CHN, {"model": "multilingual-e5-small", "strategy": "finetune"}),
        },
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=sorted(PARTS), default="sentiment")
    parser.add_argument("--labels-per-class", type=int, default=1000)
    parser.add_argument("--rows", help="only these rows (comma-separated substrings of their names)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    part = PARTS[args.part]
    work = Path(tempfile.mkdtemp(prefix="crosslingual-bench-"))
    path = RESULTS / "crosslingual.json"
    rows = {r["row"]: r for r in (json.loads(path.read_text())["runs"] if path.is_file() else [])}
    for index, (name, (folder, options)) in enumerate(part["rows"].items()):
        if args.rows and not any(s in name for s in args.rows.split(",")):
            continue
        tests = [f"{lang}={file}" for lang, file in part["tests"].items()]
        options = {**options, "labels_per_class": args.labels_per_class, "seed": args.seed}
        cfg = TrainConfig(train=str(folder / "train.csv"), dev=str(folder / "dev.csv"), test=tests, output=str(work / f"run{index}"), **options)
        started = time.perf_counter()
        metrics = api.train(cfg)
        scores = {lang: metrics["test"][lang]["accuracy"] for lang in part["tests"]}
        macro_f1 = {lang: metrics["test"][lang]["macro_f1"] for lang in part["tests"]}
        source = "en" if folder == SST2 else "zh"
        rows[name] = {
            "row": name, "part": args.part, "train": shown(folder / "train.csv"), "dev": shown(folder / "dev.csv"), "accuracy": scores, "macro_f1": macro_f1,
            "target_over_english": scores["zh"] / scores["en"] if source == "en" else None,
            "train_seconds": metrics["train"]["seconds"], "wall_seconds": time.perf_counter() - started,
            "trainable_parameters": metrics["train"].get("trainable_parameters"), "model_weights": metrics.get("model_weights"),
            "command": f"transferkit train --train {shown(folder / 'train.csv')} --dev {shown(folder / 'dev.csv')} "
                       + " ".join(f"--test {lang}={shown(file)}" for lang, file in part["tests"].items())
                       + option_flags({k: v for k, v in options.items() if v is not False}).replace(" --freeze-embeddings True", " --freeze-embeddings"),
        }
        print(rows[name], flush=True)
        report(list(rows.values()))


def report(rows: list[dict]) -> None:
    lines = [
        "# Language transfer",
        "",
        f"Machine: {machine()} · one seed (0) per row · choices (checkpoint, head C) on the training language's dev split; "
        "the other language's test split is only scored. multilingual-e5-small's weights are dequantised from a 4-bit file. "
        "ChnSentiCorp's test split is 66 % positive (always saying positive: accuracy 0.660, macro-F1 0.40), SST-2's balanced.",
        "",
        "| part | row | English test accuracy | Chinese test accuracy | Chinese macro-F1 | Chinese / English (accuracy) | train s | trainable parameters |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r['part']} | {r['row']} | {r['accuracy']['en']:.3f} | {r['accuracy']['zh']:.3f} | {r['macro_f1']['zh']:.3f} | "
          f"{'–' if r['target_over_english'] is None else format(r['target_over_english'], '.2f')} | {r['train_seconds']:.0f} | "
          f"{r['trainable_parameters'] or '–'} |" for r in rows],
    ]
    write_runs("crosslingual", lines, rows)


if __name__ == "__main__":
    main()
