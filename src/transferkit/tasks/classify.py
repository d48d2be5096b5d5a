"""Text classification: the metrics, and batched inference for a transformers classifier."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from transferkit.training.batching import PadCollator, sorted_batches


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
def classifier_probabilities(model, items: list[dict], pad_token_id: int, batch_size: int = 128) -> np.ndarray:
    """Softmax probabilities of a `*ForSequenceClassification` model, in input order,
    computed over length-sorted batches."""
    device = next(model.parameters()).device
    collate = PadCollator(pad_token_id)
    out = np.zeros((len(items), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    for batch_ids in sorted_batches([len(item["input_ids"]) for item in items], batch_size):
        batch = {k: v.to(device) for k, v in collate([items[i] for i in batch_ids]).items()}
        logits = model(**batch).logits.float()
        out[batch_ids] = torch.softmax(logits, dim=-1).cpu().numpy()
    model.train(was_training)
    return out
