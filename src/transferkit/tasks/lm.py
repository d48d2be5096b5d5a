"""Causal language modelling (`--task lm`): text corpora in, held-out perplexity out,
and generation for `predict` / `generate`.

`--train/--dev/--test` are corpora read like `pretrain`'s (plain text one document per
line, or a column of CSV/TSV/JSONL/Parquet). Texts are joined with the end-of-text token
and cut into blocks of `--max-length` tokens, so nothing is padded or thrown away, and
perplexity is exp of the mean next-token cross-entropy over every token of the split.
Each split is scored by the trained model and by the model it started from
(`perplexity_before`), so a run shows what fine-tuning changed on the same text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from transferkit.errors import UserError
from transferkit.pretraining.corpus import Corpus
from transferkit.progress import batch_progress
from transferkit.training.batching import PadCollator


@dataclass
class LmData:
    train: list[str]
    dev: list[str] | None
    test: list[str] | None
    labels: list[str] = field(default_factory=list)  # none: the api writes it like a classifier's


def read_labelled(path: str, cfg) -> list[str]:
    return list(Corpus((path,), cfg.text_column).texts())


def load_data(cfg) -> LmData:
    return LmData(*(read_labelled(p, cfg) if p else None for p in (cfg.train, cfg.dev, cfg.test)))


def check_known(split, labels) -> None:
    """Text has no labels to check."""


def blocks(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    """The texts as consecutive blocks of `max_length` tokens (the last may be shorter),
    each text followed by the end-of-text token; labels are the inputs (the model shifts them)."""
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids += encoded + [tokenizer.eos_token_id]
    return [{"input_ids": ids[i : i + max_length], "labels": ids[i : i + max_length]} for i in range(0, len(ids), max_length)]


@torch.inference_mode()
def mean_loss(model, items: list[dict], pad_token_id: int, batch_size: int = 8, progress: str | None = None) -> float:
    """Mean next-token cross-entropy over all predicted tokens of `items` (with a bar
    named `progress` when the batches are many)."""
    device = next(model.parameters()).device
    collate = PadCollator(pad_token_id)
    was_training = model.training
    model.eval()
    total = count = 0.0
    for start in batch_progress(list(range(0, len(items), batch_size)), progress):
        batch = {k: v.to(device) for k, v in collate(items[start : start + batch_size]).items()}
        predicted = int((batch["labels"][:, 1:] != -100).sum())
        if predicted:
            total += float(model(**batch).loss) * predicted
            count += predicted
    model.train(was_training)
    return total / max(1.0, count)


def score_split(predictor, texts: list[str], labels, predictions_file=None) -> dict:
    """`perplexity`, `loss` and the same for the starting model (`..._before`)."""
    after, tokens = predictor.loss(texts)
    before, _ = predictor.base().loss(texts)
    return {"perplexity": math.exp(after), "loss": after, "perplexity_before": math.exp(before), "loss_before": before, "tokens": tokens}


def predict_records(predictor, cfg, texts: list[str], input_path: str | None) -> list[dict]:
    """A continuation of each prompt (given directly or read from a file), sampled with
    the generation defaults."""
    prompts = read_labelled(input_path, cfg) if input_path else list(texts)
    if not prompts:
        raise UserError("predict", "no input: give prompts, --input FILE, or lines on standard input")
    return [{"id": str(i), "text": p, "generated": g} for i, (p, g) in enumerate(zip(prompts, predictor.generate(prompts)))]
