"""`features` for NER (the `features` strategy calls `fit_tagger`): a frozen encoder reads each sentence once, and a logistic-regression
tagger is fitted on the last hidden state of every word's first sub-word.

The fitted head is written into the classifier layer of a `*ForTokenClassification` model
(that layer is exactly a linear map of the same hidden state), so the run directory is
the same kind finetune writes: `predict`, `evaluate` and `transformers.pipeline` read it
unchanged. The head's regularisation is chosen by dev tag accuracy (entity F1 would need
a decode per candidate; accuracy ranks the candidates the same way in practice).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from transferkit.errors import UserError
from transferkit.strategies.base import FitResult
from transferkit.strategies.linear_head import fit_head
from transferkit.tasks.token_tagger import per_word


def word_vectors(runtime, task, model, tokenizer, split, cfg) -> np.ndarray:
    """One row per word, all sentences concatenated."""
    encoded = task.encode(tokenizer, split, cfg)
    read = lambda out, batch: out.last_hidden_state.float().cpu().numpy()  # noqa: E731
    lengths = [len(s) for s in split.tokens]
    return np.concatenate(per_word(runtime, model.base_model, read, encoded, lengths, model.config.hidden_size, tokenizer.pad_token_id))


def tag_ids(split, labels: list[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[tag] for tags in split.tags for tag in tags])


def fit_tagger(task, cfg, data, model_path: str, model_dir: Path, runtime) -> FitResult:
    from transformers import set_seed

    set_seed(cfg.seed)
    tokenizer = task.load_tokenizer(model_path)
    model = runtime.place(task.build_model(model_path, data.labels, from_scratch=False))
    if not isinstance(getattr(model, "classifier", None), torch.nn.Linear):
        raise UserError("--strategy", f"features needs a token classifier that is one linear layer; {type(model).__name__} is not; use finetune")
    started = time.perf_counter()
    X, y = word_vectors(runtime, task, model, tokenizer, data.train, cfg), tag_ids(data.train, data.labels)
    X_dev = y_dev = None
    if data.dev is not None:
        X_dev, y_dev = word_vectors(runtime, task, model, tokenizer, data.dev, cfg), tag_ids(data.dev, data.labels)
    head = fit_head(X, y, X_dev, y_dev, seed=cfg.seed)
    seconds = time.perf_counter() - started
    weight, bias = classifier_weights(head, np.unique(y), len(data.labels))
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return FitResult(seconds, len(data.train), stats={"words": len(y), "C": head.C, "C_selection": head.selection})


def classifier_weights(head, classes: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """The head as one linear layer over raw hidden states: its standardisation folded in,
    one row per label (a label absent from the training tags can never win)."""
    coef, intercept = head.coef, head.intercept
    if coef.shape[0] == 1:  # two classes: logistic regression keeps one row; softmax over (0, z) is the same
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    coef = coef / head.scale
    intercept = intercept - coef @ head.mean
    weight = np.zeros((n_labels, coef.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -1e4, dtype=np.float32)
    weight[classes], bias[classes] = coef, intercept
    return weight, bias
