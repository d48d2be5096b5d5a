"""`finetune`: all weights of the pretrained encoder and a new classification head are
trained together (AdamW, warm-up, linear decay, early stopping on dev accuracy).

The model directory it writes is a plain transformers one with `id2label`, so
`transformers.pipeline("text-classification", model=...)` reads it without transferkit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from transferkit.tasks.classify import classifier_probabilities
from transferkit.training.batching import PadCollator, encode_texts
from transferkit.training.loop import LoopSettings, default_epochs, train_loop



@dataclass(frozen=True)
class Recipe:
    """A strategy's defaults for what the user leaves unset."""

    lr: float
    layer_lr_decay: float
    min_epochs: int = 4
    batch_size: int = 32


# From exploratory SST-2 runs (see bench/README.md): a higher peak rate for the head and
# top layers, decaying by 0.8 per layer towards the embeddings.
RECIPE = Recipe(lr=1.5e-4, layer_lr_decay=0.8)


def build_model(model_path: str, labels: list[str] | None, from_scratch: bool, auto_class=None):
    """A pretrained encoder with a new head for `labels` (by default a sequence classifier;
    `labels=None` keeps the head's own outputs, as a span head's start and end), or,
    `from_scratch`, the same architecture with random weights. Always float32: a
    directory saved in half precision records that dtype, and training in it would round
    most updates away."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    auto_class = auto_class or AutoModelForSequenceClassification
    names = {} if labels is None else {
        "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}
    }
    if from_scratch:
        return auto_class.from_config(AutoConfig.from_pretrained(model_path, **names), dtype=torch.float32)
    return auto_class.from_pretrained(model_path, dtype=torch.float32, **names)


def dev_accuracy_scorer(tokenizer, dev, label_ids: dict[str, int], max_length: int):
    """The loop's dev metric: accuracy of a model on the dev split, tokenized once here."""
    items = encode_texts(tokenizer, dev.texts, dev.pairs, max_length)
    gold = np.array([label_ids[label] for label in dev.labels])

    def score(model) -> float:
        return float((classifier_probabilities(model, items, tokenizer.pad_token_id).argmax(1) == gold).mean())

    return score


def tokenizer_and_model(cfg, model_path: str, build):
    """The pretrained tokenizer and `build()`'s model, built after seeding: the new head's
    (or, for scratch, every layer's) initial weights come from the run's seed."""
    from transformers import AutoTokenizer, set_seed

    set_seed(cfg.seed)
    return AutoTokenizer.from_pretrained(model_path), build()


def fit(cfg, data, model_path: str, model_dir: Path, from_scratch: bool = False, recipe: Recipe = RECIPE) -> dict:
    tokenizer, model = tokenizer_and_model(cfg, model_path, lambda: build_model(model_path, data.labels, from_scratch))
    label_ids = {label: i for i, label in enumerate(data.labels)}
    train_items = encode_texts(tokenizer, data.train.texts, data.train.pairs, cfg.max_length)
    for item, label in zip(train_items, data.train.labels):
        item["labels"] = label_ids[label]
    score_dev = dev_accuracy_scorer(tokenizer, data.dev, label_ids, cfg.max_length) if data.dev is not None else None
    stats = train_and_save(cfg, model, tokenizer, train_items, score_dev, model_dir, recipe)
    stats["best_dev_accuracy"] = stats.pop("best_dev")
    return stats


def train_and_save(cfg, model, tokenizer, train_items, score_dev, model_dir: Path, recipe: Recipe) -> dict:
    """Run the loop with the run's settings (the recipe's where the user gave none), save
    model and tokenizer to `model_dir`, and return the training statistics."""
    batch_size = cfg.batch_size or recipe.batch_size
    settings = LoopSettings(
        epochs=cfg.epochs or default_epochs(len(train_items), batch_size, recipe.min_epochs),
        lr=cfg.lr or recipe.lr,
        layer_lr_decay=cfg.layer_lr_decay or recipe.layer_lr_decay,
        batch_size=batch_size,
        seed=cfg.seed,
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        evaluations=cfg.evaluations,
        patience=cfg.patience,
        mixed_precision=cfg.mixed_precision,
        max_steps=cfg.max_steps,
        weight_average=cfg.weight_average == "ema",
    )
    result = train_loop(model, train_items, PadCollator(tokenizer.pad_token_id), settings, score_dev, cfg.strategy)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return {
        "seconds": result.seconds,
        "examples": result.examples,
        "epochs": settings.epochs,
        "lr": settings.lr,
        "layer_lr_decay": settings.layer_lr_decay,
        "batch_size": settings.batch_size,
        "steps": result.steps,
        "best_dev": result.best_score,
        "best_step": result.best_step,
        "best_weights": result.best_weights,
        "mixed_precision": result.mixed_precision,
        "dev_history": result.history,
    }


class TransformersPredictor:
    """Any `*ForSequenceClassification` directory: finetune and scratch runs alike."""

    def __init__(self, model_dir: Path, labels: list[str], max_length: int):
        from transformers import AutoModelForSequenceClassification

        from transferkit.serving.run_files import tokenizer_and_model

        self.labels, self.max_length = labels, max_length
        self.tokenizer, self.model = tokenizer_and_model(model_dir, AutoModelForSequenceClassification)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        items = encode_texts(self.tokenizer, texts, pairs, self.max_length)
        return classifier_probabilities(self.model, items, self.tokenizer.pad_token_id, progress="classify")
