"""Choosing the `contrastive` recipe on dev data, never on a test split: SST-2's dev split,
and for TREC (which has no dev split) 500 questions held out of its training split, with
the K-per-class subsets drawn from the rest. Each variant tunes MiniLM, fits the logistic
head by cross-validation on the K labels (as a run without --dev does), and is scored on
the dev data. Writes bench/results/contrastive_recipe.{md,json}.

    .venv/bin/python bench/contrastive_recipe.py --budgets 8,64 --seeds 0,1,2 --variants pairs20,supcon

Variants (`NAME` in VARIANTS): `pairs20` is SetFit's recipe (cosine-similarity regression
over 20 rounds of pairs per text, batch 16); the `supcon*` variants are supervised
contrastive learning (Khosla et al. 2020) over class-balanced batches, where one forward
pass of B texts yields B(B-1) comparisons, so the same accuracy costs far fewer encoder
passes; `+anchors` adds each label's name to every batch as a text of its class.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, RESULTS, machine, write_results  # noqa: E402

from transferkit.config import TrainConfig  # noqa: E402
from transferkit.models.zoo import resolve_model  # noqa: E402
from transferkit.strategies.linear_head import fit_head  # noqa: E402
from transferkit.tasks import get_task  # noqa: E402


@dataclass(frozen=True)
class Variant:
    loss: str  # "pairs" or "supcon"
    steps: int = 40  # supcon optimiser steps (pairs: as many as its pairs make)
    rounds: int = 20  # pairs
    batch: int = 16
    lr: float = 2e-5
    temperature: float = 0.1
    anchors: bool = False
    normalize: bool = True  # head on unit vectors (else standardised features)
    head_prior: bool = False  # the head also sees each label's name as a training text of its class


VARIANTS = {
    "pairs20": Variant("pairs"),
    "supcon": Variant("supcon", batch=32, lr=5e-5),
    "supcon-lr2": Variant("supcon", batch=32, lr=2e-5),
    "supcon-lr1e4": Variant("supcon", batch=32, lr=1e-4),
    "supcon-t05": Variant("supcon", batch=32, lr=5e-5, temperature=0.05),
    "supcon-80": Variant("supcon", steps=80, batch=32, lr=5e-5),
    "supcon-160": Variant("supcon", steps=160, batch=32, lr=5e-5),
    "supcon+anchors": Variant("supcon", batch=32, lr=5e-5, anchors=True),
    "supcon-80+anchors": Variant("supcon", steps=80, batch=32, lr=5e-5, anchors=True),
    "supcon+anchors+prior": Variant("supcon", batch=32, lr=5e-5, anchors=True, head_prior=True),
    "supcon-std": Variant("supcon", batch=32, lr=5e-5, normalize=False),
}


def trec_split(work: Path) -> tuple[Path, Path]:
    """TREC's training split less 500 questions (seed 0), and those 500 as the dev data."""
    with open(DATASETS / "trec" / "train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    random.Random(0).shuffle(rows)
    paths = work / "trec-train.csv", work / "trec-dev.csv"
    for path, part in zip(paths, (rows[500:], rows[:500])):
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["text", "label"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(part)
    return paths


def pooled(model, batch) -> torch.Tensor:
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def padded(tokenizer, texts: list[str]) -> dict:
    return tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")


def supcon_loss(z: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    z = torch.nn.functional.normalize(z, dim=-1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(y), dtype=torch.bool)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (y[:, None] == y[None, :]) & ~self_mask
    has = positive.any(1)
    return -(log_prob.masked_fill(~positive, 0).sum(1)[has] / positive.sum(1)[has]).mean()


def balanced_batches(labels: list[int], batch: int, steps: int, seed: int) -> list[list[int]]:
    """`steps` batches with (nearly) as many texts of every class, each class cycled in a
    fresh random order, so every text is seen equally often."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    queues = {c: [] for c in by_class}
    classes = sorted(by_class)
    per = max(2, batch // len(classes))
    out = []
    for _ in range(steps):
        rows = []
        for c in classes:
            for _ in range(min(per, len(by_class[c]))):
                if not queues[c]:
                    queues[c] = rng.sample(by_class[c], len(by_class[c]))
                rows.append(queues[c].pop())
        out.append(rows)
    return out


def tune(variant: Variant, texts: list[str], labels: list[int], names: list[str], seed: int):
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    path = resolve_model("minilm")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32)
    if variant.loss == "pairs":
        from transferkit.strategies.contrastive import sample_pairs

        pairs = sample_pairs([str(y) for y in labels], variant.rounds, 10**9, seed)
        steps = math.ceil(len(pairs) / variant.batch)
    else:
        steps = variant.steps
    optimizer = torch.optim.AdamW(model.parameters(), lr=variant.lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / (steps - warmup)))
    model.train()
    batches = balanced_batches(labels, variant.batch, steps, seed) if variant.loss == "supcon" else None
    started = time.perf_counter()
    for step in range(steps):
        if variant.loss == "pairs":
            chunk = pairs[step * variant.batch:(step + 1) * variant.batch]
            a = pooled(model, padded(tokenizer, [texts[i] for i, _, _ in chunk]))
            b = pooled(model, padded(tokenizer, [texts[j] for _, j, _ in chunk]))
            target = torch.tensor([t for _, _, t in chunk])
            loss = torch.nn.functional.mse_loss(torch.cosine_similarity(a, b), target)
        else:
            rows = batches[step]
            batch_texts = [texts[i] for i in rows]
            batch_labels = [labels[i] for i in rows]
            if variant.anchors:
                batch_texts += names
                batch_labels += list(range(len(names)))
            loss = supcon_loss(pooled(model, padded(tokenizer, batch_texts)), torch.tensor(batch_labels), variant.temperature)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return model.eval(), tokenizer, time.perf_counter() - started, steps


@torch.no_grad()
def embed(model, tokenizer, texts: list[str], normalize: bool) -> np.ndarray:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(order), 64):
        rows = order[start:start + 64]
        z = pooled(model, padded(tokenizer, [texts[i] for i in rows]))
        if normalize:
            z = torch.nn.functional.normalize(z, dim=-1)
        out[rows] = z.numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="sst2,trec")
    parser.add_argument("--budgets", default="8,64")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="pairs20,supcon")
    parser.add_argument("--check-anchor-rule", type=int, metavar="DRAWS", help="only count how often --label-anchors auto turns on over DRAWS seeds of the training splits")
    args = parser.parse_args()
    if args.check_anchor_rule:
        return check_anchor_rule(args)
    torch.set_num_threads(torch.get_num_threads())
    work = Path(tempfile.mkdtemp(prefix="contrastive-recipe-"))
    trec_train, trec_dev = trec_split(work)
    files = {"sst2": (DATASETS / "sst2" / "train.csv", DATASETS / "sst2" / "dev.csv"), "trec": (trec_train, trec_dev)}
    seeds = [int(s) for s in args.seeds.split(",")]
    cells = []
    for dataset in args.datasets.split(","):
        train, dev = files[dataset]
        for k in [int(b) for b in args.budgets.split(",")]:
            for name in args.variants.split(","):
                variant = VARIANTS[name]
                scores, seconds = [], []
                for seed in seeds:
                    cfg = TrainConfig(train=str(train), test=str(dev), strategy="features", labels_per_class=k, seed=seed, output=str(work / "unused"))
                    data = get_task("classify").load_data(cfg)
                    names = data.labels
                    y = [names.index(label) for label in data.train.labels]
                    model, tokenizer, tuned, steps = tune(variant, data.train.texts, y, names, seed)
                    started = time.perf_counter()
                    X = embed(model, tokenizer, data.train.texts, variant.normalize)
                    if variant.head_prior:
                        X = np.concatenate([X, embed(model, tokenizer, names, variant.normalize)])
                        y_head = np.array(y + list(range(len(names))))
                    head = fit_head(X, y_head if variant.head_prior else np.array(y), seed=seed, standardize=not variant.normalize)
                    X_test = embed(model, tokenizer, data.test.texts, variant.normalize)
                    predicted = head.predict_proba(X_test).argmax(1)
                    gold = np.array([names.index(label) for label in data.test.labels])
                    scores.append(float((predicted == gold).mean()))
                    seconds.append(tuned + time.perf_counter() - started)
                    print(f"{dataset} k={k} {name} seed={seed}: dev {scores[-1]:.4f}, tuning {tuned:.0f} s over {steps} steps, C={head.C}", flush=True)
                cells.append({"dataset": dataset, "labels_per_class": k, "variant": name, "accuracies": scores,
                              "mean": statistics.mean(scores), "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                              "seconds": statistics.mean(seconds)})
                print(cells[-1], flush=True)
    command = (f".venv/bin/python bench/contrastive_recipe.py --datasets {args.datasets} --budgets {args.budgets} "
               f"--seeds {args.seeds} --variants {args.variants}")
    for cell in cells:
        cell["command"] = command
    record(cells)


def check_anchor_rule(args) -> None:
    """How often `--label-anchors auto` turns anchors on, over draws of K per class from the
    training splits alone (the frozen encoder; no dev or test data is read)."""
    from transferkit.inference import Runtime
    from transferkit.strategies.contrastive import anchors_decision
    from transferkit.strategies.features import Encoder

    encoder = Encoder(resolve_model("minilm"), "mean", 128, Runtime.create("cpu"), normalize=True)
    lines = ["# How often `--label-anchors auto` turns anchors on", "",
             f"Command: `.venv/bin/python bench/contrastive_recipe.py --check-anchor-rule {args.check_anchor_rule} --datasets {args.datasets} "
             f"--budgets {args.budgets}` · K per class drawn from the training splits with seeds 0–{args.check_anchor_rule - 1} · model minilm.", "",
             "| data | labels per class | anchors on |", "|---|---|---|"]
    for dataset in args.datasets.split(","):
        train = DATASETS / dataset / "train.csv"
        for k in [int(b) for b in args.budgets.split(",")]:
            on = 0
            for seed in range(args.check_anchor_rule):
                cfg = TrainConfig(train=str(train), strategy="contrastive", labels_per_class=k, seed=seed)
                data = get_task("classify").load_data(cfg)
                on += anchors_decision("auto", encoder, data.labels, data)[0]
            lines.append(f"| {dataset} | {k} | {on} of {args.check_anchor_rule} draws |")
    write_results("contrastive_anchor_rule", "\n".join(lines) + "\n", {"lines": lines})


def record(cells: list[dict]) -> None:
    """Merge `cells` into bench/results/contrastive_recipe.{md,json}."""
    earlier = RESULTS / "contrastive_recipe.json"
    if earlier.is_file():  # runs of other variants stay; a cell measured again is replaced
        new = {(c["dataset"], c["labels_per_class"], c["variant"]) for c in cells}
        cells = [c for c in json.loads(earlier.read_text()).get("cells", []) if "command" in c and (c["dataset"], c["labels_per_class"], c["variant"]) not in new] + cells
    cells.sort(key=lambda c: (c["dataset"], c["labels_per_class"]))
    commands = list(dict.fromkeys(c["command"] for c in cells))
    lines = [
        "# Choosing the contrastive recipe on dev data",
        "",
        "Dev data: SST-2's dev split; TREC: 500 training questions held out (seed 0); K per class drawn from the rest with "
        f"each seed; the head's C by cross-validation on the K labels. Model minilm · machine: {machine()}.",
        "Seconds: tuning, embedding the training texts and the dev data, and the head's cross-validation (mean over seeds).",
        "",
        "| data | labels per class | variant | dev accuracy (mean ± std) | seeds | seconds | command |",
        "|---|---|---|---|---|---|---|",
        *[f"| {c['dataset']} | {c['labels_per_class']} | {c['variant']} | {c['mean']:.3f} ± {c['std']:.3f} | {len(c['accuracies'])} | "
          f"{c['seconds']:.0f} | {commands.index(c['command']) + 1} |" for c in cells],
        "",
        "Commands:",
        "",
        *[f"{n}. `{command}`" for n, command in enumerate(commands, start=1)],
    ]
    write_results("contrastive_recipe", "\n".join(lines) + "\n", {"machine": machine(), "cells": cells})

if __name__ == "__main__":
    main()
