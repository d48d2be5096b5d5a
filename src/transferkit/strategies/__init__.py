"""One module per strategy. Each has `fit(cfg, data, model_path, model_dir) -> dict`
(it trains, writes `model_dir`, and returns the training statistics); prediction goes
through `transferkit.serving.predictor.load_predictor`, the same path `predict` uses."""

from __future__ import annotations

from importlib import import_module

# tfidf learns from the task data alone, wordvec from it and word vectors (--vectors); the
# others start from a pretrained encoder (scratch takes only its architecture and tokenizer).
USES_PRETRAINED_MODEL = {"features": True, "finetune": True, "scratch": True, "tfidf": False, "wordvec": False}


def strategy_module(task: str, name: str):
    """`strategies/<name>.py` for classification, `strategies/<task>_<name>.py` for other tasks."""
    return import_module(f"transferkit.strategies.{name}" if task == "classify" else f"transferkit.strategies.{task}_{name}")
