"""Text classification: data of a run, the metrics, and batched inference for a
transformers classifier."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from transferkit.data.classification import ClassificationSplit, check_labels_known, label_set, read_split
from transferkit.data.sampling import sample_per_class
from transferkit.errors import UserError
from transferkit.progress import batch_progress
from transferkit.training.batching import PadCollator, sorted_batches


@dataclass
class ClassificationData:
    train: ClassificationSplit
    dev: ClassificationSplit | None
    test: ClassificationSplit | None
    labels: list[str]


def read_labelled(path: str, cfg) -> ClassificationSplit:
    return read_split(path, cfg.text_column, cfg.label_column, cfg.text_pair_column)


def load_data(cfg) -> ClassificationData:
    """Read and validate every split (and draw the few-shot sample) before any model loads."""
    train = read_labelled(cfg.train, cfg)
    labels = label_set(train)
    dev = read_labelled(cfg.dev, cfg) if cfg.dev else None
    test = read_labelled(cfg.test, cfg) if cfg.test else None
    for split in (dev, test):
        if split is not None:
            check_labels_known(split, labels)
    if cfg.labels_per_class:
        train = sample_per_class(train, cfg.labels_per_class, cfg.seed, labels)
    return ClassificationData(train, dev, test, labels)


check_known = check_labels_known


def score_split(predictor, split: ClassificationSplit, labels: list[str], predictions_file: Path | None = None) -> dict:
    """Metrics on a labelled split; optionally one JSON line per example with
    `id`, `prediction`, `gold` and `score`."""
    predicted, scores = predictions(predictor, split.texts, split.pairs)
    if predictions_file is not None:
        predictions_file.parent.mkdir(parents=True, exist_ok=True)
        with predictions_file.open("w") as f:
            for i, p, g, s in zip(split.ids, predicted, split.labels, scores):
                f.write(json.dumps({"id": i, "prediction": p, "gold": g, "score": float(s)}, ensure_ascii=False) + "\n")
    return classification_metrics(split.labels, predicted, labels)


def predict_records(predictor, cfg, texts: list[str], input_path: str | None) -> list[dict]:
    """Texts given directly or read from a file (the run's text column), one record per
    text in input order: `id`, `text`, `prediction`, `score`."""
    if input_path:
        split = read_split(input_path, cfg.text_column, None, cfg.text_pair_column)
    else:
        if not texts:
            raise UserError("predict", "no input: give texts, --input FILE, or lines on standard input")
        for n, text in enumerate(texts, start=1):
            if not text.strip():
                raise UserError(f"text {n}", "empty text")
        split = ClassificationSplit("<texts>", list(texts), None, None, [str(i) for i in range(len(texts))], [])
    predicted, scores = predictions(predictor, split.texts, split.pairs)
    return [
        {"id": i, "text": t, "prediction": p, "score": float(s)}
        for i, t, p, s in zip(split.ids, split.texts, predicted, scores)
    ]


def predictions(predictor, texts: list[str], pairs: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Predicted label names and their probabilities."""
    probs = predictor.predict_proba(texts, pairs)
    best = probs.argmax(axis=1)
    return [predictor.labels[i] for i in best], probs[np.arange(len(best)), best]


def classification_metrics(gold: list[str], predicted: list[str], labels: list[str]) -> dict:
    """`accuracy`, `macro_f1` (over the training label set) and `per_class` precision,
    recall, F1 and support, all fractions in [0, 1]."""
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        "examples": len(gold),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
    }


@torch.inference_mode()
def classifier_probabilities(model, items: list[dict], pad_token_id: int, batch_size: int = 128, progress: str | None = None) -> np.ndarray:
    """Softmax probabilities of a `*ForSequenceClassification` model, in input order,
    computed over length-sorted batches (with a bar named `progress` when they are many)."""
    device = next(model.parameters()).device
    collate = PadCollator(pad_token_id)
    out = np.zeros((len(items), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    for batch_ids in batch_progress(sorted_batches([len(item["input_ids"]) for item in items], batch_size), progress):
        batch = {k: v.to(device) for k, v in collate([items[i] for i in batch_ids]).items()}
        logits = model(**batch).logits.float()
        out[batch_ids] = torch.softmax(logits, dim=-1).cpu().numpy()
    model.train(was_training)
    return out
