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
passes; `+anchors` adds each label's name to every batch as a text of its class;
`-auto` takes the strategy's step rule (`contrastive_steps`), `-70`, `-160p` fixed steps;
`+e2e` adds cross-entropy steps of the encoder and a head started from the logistic fit.
Variants with `posthoc` also score, on the same tuned encoder, the heads of `POSTHOC_HEADS`
on the weights of `POSTHOC_ALPHAS` (rows `variant [head/wiseALPHA]`).
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, saved, scratch, write_results  # noqa: E402

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
    e2e_steps: int = 0  # then this many cross-entropy steps of the encoder and a head started from the logistic fit
    posthoc: bool = False  # also score other heads (C rules) and a weight average with the untuned encoder (`POSTHOC`)


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
    "supcon-auto": Variant("supcon", steps=0, batch=32, lr=5e-5, posthoc=True),
    "supcon-auto+anchors": Variant("supcon", steps=0, batch=32, lr=5e-5, anchors=True, posthoc=True),
    "supcon-70": Variant("supcon", steps=70, batch=32, lr=5e-5, posthoc=True),  # the square-root rule's steps for 384 texts
    "supcon-70+e2e": Variant("supcon", steps=70, batch=32, lr=5e-5, e2e_steps=40, posthoc=True),
    "supcon-160p": Variant("supcon", steps=160, batch=32, lr=5e-5, posthoc=True),
    "supcon-280p": Variant("supcon", steps=280, batch=32, lr=5e-5, posthoc=True),
    "supcon-auto+e2e": Variant("supcon", steps=0, batch=32, lr=5e-5, e2e_steps=40, posthoc=True),
    "supcon-auto+anchors+e2e": Variant("supcon", steps=0, batch=32, lr=5e-5, anchors=True, e2e_steps=40, posthoc=True),
}
# The heads `posthoc` variants also score on one tuned encoder: C by cross-validation with
# ties going to the smallest C (fit_head's rule) or to the largest, or a fixed C; each on the
# tuned weights (`wise1`) and on their average with the untuned ones (`wise0.5`).
POSTHOC_HEADS = ("cv", "cvmax", "C1", "C10", "hybrid-cv", "hybrid-C10")
POSTHOC_ALPHAS = (1.0, 0.5)


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


def sample_pairs(labels: list[int], rounds: int, seed: int) -> list[tuple[int, int, float]]:
    """SetFit's pairs, (i, j, target): per round and text, one partner of its class (1.0)
    and one of another class (0.0)."""
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    pairs = []
    for _ in range(rounds):
        for i, label in enumerate(labels):
            mates = [j for j in by_label[label] if j != i]
            if mates:
                pairs.append((i, rng.choice(mates), 1.0))
            pairs.append((i, rng.choice([j for j in range(len(labels)) if labels[j] != label]), 0.0))
    rng.shuffle(pairs)
    return pairs


def tune(variant: Variant, texts: list[str], labels: list[int], names: list[str], seed: int):
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    path = resolve_model("minilm")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32)
    if variant.loss == "pairs":
        pairs = sample_pairs(labels, variant.rounds, seed)
        steps = math.ceil(len(pairs) / variant.batch)
    else:
        from transferkit.strategies.contrastive import contrastive_steps

        steps = variant.steps or contrastive_steps(len(texts), variant.batch)
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
    if variant.e2e_steps:
        end_to_end(model, tokenizer, texts, labels, variant, seed)
    return model.eval(), tokenizer, time.perf_counter() - started, steps


def end_to_end(model, tokenizer, texts: list[str], labels: list[int], variant: Variant, seed: int) -> None:
    """Cross-entropy steps of the encoder and a linear head on its unit vectors, the head
    started from the logistic fit (C by cross-validation, ties to the largest C)."""
    y = np.array(labels)
    head = cv_head(embed(model.eval(), tokenizer, texts, True), y, seed, "cvmax")
    classes = int(y.max()) + 1
    linear = torch.nn.Linear(model.config.hidden_size, classes)
    with torch.no_grad():
        coef, intercept = torch.tensor(head.coef_, dtype=torch.float32), torch.tensor(head.intercept_, dtype=torch.float32)
        if classes == 2:  # the binary logistic fit as two softmax rows
            coef, intercept = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros_like(intercept), intercept])
        linear.weight.copy_(coef)
        linear.bias.copy_(intercept)
    params = list(model.parameters()) + list(linear.parameters())
    optimizer = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.01)
    rng = random.Random(seed)
    model.train()
    for _ in range(variant.e2e_steps):
        rows = rng.sample(range(len(texts)), min(16, len(texts)))
        z = torch.nn.functional.normalize(pooled(model, padded(tokenizer, [texts[i] for i in rows])), dim=-1)
        loss = torch.nn.functional.cross_entropy(linear(z), torch.tensor([labels[i] for i in rows]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()


def cv_head(X: np.ndarray, y: np.ndarray, seed: int, rule: str):
    """A logistic fit whose C is chosen by `rule`: `cv`/`cvmax` by 5-fold cross-validation
    with ties to the smallest/largest C, `C<value>` fixed; `hybrid-` heads see the unit
    vectors beside the texts' unit-length TF-IDF word and bigram vectors (X is then a pair)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from transferkit.strategies.linear_head import C_GRID

    def model(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=3000, random_state=seed)

    if rule.startswith("C"):
        C = float(rule[1:])
    else:
        cv = StratifiedKFold(min(5, int(np.bincount(y).min())), shuffle=True, random_state=seed)
        scores = np.array([cross_val_score(model(C), X, y, cv=cv).mean() for C in C_GRID])
        best = np.flatnonzero(scores >= scores.max() - 1e-9)
        C = C_GRID[best[-1] if rule == "cvmax" else best[0]]
    return model(C).fit(X, y)


def posthoc_scores(model, tokenizer, texts: list[str], y: list[int], dev_texts: list[str], gold: np.ndarray, seed: int) -> dict[str, float]:
    """Dev accuracy of every `POSTHOC_HEADS` head on every `POSTHOC_ALPHAS` weight average."""
    from transformers import AutoModel

    untuned = AutoModel.from_pretrained(resolve_model("minilm"), dtype=torch.float32).state_dict()
    tuned = {k: v.clone() for k, v in model.state_dict().items()}
    scores = {}
    for alpha in POSTHOC_ALPHAS:
        model.load_state_dict({k: alpha * tuned[k] + (1 - alpha) * untuned[k] if tuned[k].is_floating_point() else tuned[k] for k in tuned})
        X, X_dev = embed(model, tokenizer, texts, True), embed(model, tokenizer, dev_texts, True)
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
        both = hstack([csr_matrix(X), words.transform(texts)]).tocsr(), hstack([csr_matrix(X_dev), words.transform(dev_texts)]).tocsr()
        for rule in POSTHOC_HEADS:
            train_X, test_X = both if rule.startswith("hybrid-") else (X, X_dev)
            head = cv_head(train_X, np.array(y), seed, rule.removeprefix("hybrid-"))
            scores[f"{rule}/wise{alpha:g}"] = float((head.predict(test_X) == gold).mean())
    model.load_state_dict(tuned)
    return scores


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
    work = scratch("contrastive-recipe-")
    trec_train, trec_dev = trec_split(work)
    files = {"sst2": (DATASETS / "sst2" / "train.csv", DATASETS / "sst2" / "dev.csv"), "trec": (trec_train, trec_dev)}
    seeds = [int(s) for s in args.seeds.split(",")]
    cells = []
    for dataset in args.datasets.split(","):
        train, dev = files[dataset]
        for k in [int(b) for b in args.budgets.split(",")]:
            for name in args.variants.split(","):
                variant = VARIANTS[name]
                scores, seconds, posthoc = [], [], {}
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
                    X_test = embed(model, tokenizer, data.tests[None].texts, variant.normalize)
                    predicted = head.predict_proba(X_test).argmax(1)
                    gold = np.array([names.index(label) for label in data.tests[None].labels])
                    scores.append(float((predicted == gold).mean()))
                    seconds.append(tuned + time.perf_counter() - started)
                    print(f"{dataset} k={k} {name} seed={seed}: dev {scores[-1]:.4f}, tuning {tuned:.0f} s over {steps} steps, C={head.C}", flush=True)
                    if variant.posthoc:
                        for key, score in posthoc_scores(model, tokenizer, data.train.texts, y, data.tests[None].texts, gold, seed).items():
                            posthoc.setdefault(key, []).append(score)
                        print({key: round(v[-1], 4) for key, v in posthoc.items()}, flush=True)
                cells.append(summary(dataset, k, name, scores, seconds))
                cells += [summary(dataset, k, f"{name} [{key}]", values, seconds) for key, values in posthoc.items()]
                print(cells[-1], flush=True)
    command = (f".venv/bin/python bench/contrastive_recipe.py --datasets {args.datasets} --budgets {args.budgets} "
               f"--seeds {args.seeds} --variants {args.variants}")
    for cell in cells:
        cell["command"] = command
    record(cells)


def summary(dataset: str, k: int, variant: str, scores: list[float], seconds: list[float]) -> dict:
    return {"dataset": dataset, "labels_per_class": k, "variant": variant, "accuracies": scores,
            "mean": statistics.mean(scores), "std": statistics.stdev(scores) if len(scores) > 1 else 0.0, "seconds": statistics.mean(seconds)}


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
    new = {(c["dataset"], c["labels_per_class"], c["variant"]) for c in cells}  # runs of other variants stay; a cell measured again is replaced
    cells = [c for c in saved("contrastive_recipe", "cells", []) if "command" in c and (c["dataset"], c["labels_per_class"], c["variant"]) not in new] + cells
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
