"""NER decoding ablation: one trained run's model scored on one labelled split, once with
each word's most probable tag (what `pipeline("token-classification")` does) and once
with the most probable valid IOB2 sequence (what transferkit predicts and scores with,
`transferkit.tasks.iob2_decoding`). Same word probabilities, so the difference is the
decoder alone. The decoder was chosen on dev; the test split is read only when given.

    .venv/bin/python bench/ner_decoding.py RUN ../shared/datasets/conll2003/dev.txt [.../test.txt]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, shown, write_results  # noqa: E402

from transferkit.data.conll import read_token_split  # noqa: E402
from transferkit.serving.predictor import load_predictor, read_info  # noqa: E402
from transferkit.tasks.iob2_decoding import decode  # noqa: E402
from transferkit.tasks.ner import entity_metrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a `transferkit train --task ner` output directory")
    parser.add_argument("splits", nargs="+", help="labelled CoNLL or JSONL files")
    args = parser.parse_args()
    info = read_info(args.run)
    tagger = load_predictor(Path(args.run) / "model")
    labels = info["labels"]
    splits = [Path(path) for path in args.splits]
    lines = [
        "# NER decoding: per-word argmax vs. the best valid IOB2 sequence",
        "",
        f"Command: `.venv/bin/python bench/ner_decoding.py RUN {' '.join(shown(p) for p in splits)}` · RUN: a "
        f"`{info['strategy']}` run (its words read with {info.get('context', 'sentence')} context) · machine: {machine()}.",
        "",
        "| split | decoder | entity F1 | precision | recall |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for path in splits:
        split = read_token_split(str(path))
        probabilities = tagger.probabilities(split.tokens, split.documents)
        decoders = {
            "per-word argmax": [[labels[i] for i in p.argmax(axis=1)] for p in probabilities],
            "best valid IOB2 sequence": decode(probabilities, labels)[0],
        }
        for name, tags in decoders.items():
            m = entity_metrics(split.tags, tags)
            rows.append({"split": shown(path), "decoder": name, **{k: m[k] for k in ("f1", "precision", "recall")}})
            lines.append(f"| {path.name} | {name} | {m['f1']:.4f} | {m['precision']:.4f} | {m['recall']:.4f} |")
    write_results("ner_decoding", "\n".join(lines) + "\n", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
