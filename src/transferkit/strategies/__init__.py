"""The strategies, by name. Each module holds one or more `Strategy` objects (see `base.py`);
which tasks each serves is the recipe table's (`transferkit.recipes`). Modules import
lazily, so naming a strategy costs nothing until a run uses it."""

from __future__ import annotations

from importlib import import_module

MODULES = {
    "tfidf": "tfidf", "wordvec": "wordvec", "features": "features", "finetune": "finetune", "scratch": "finetune",
    "contrastive": "contrastive", "zeroshot": "zeroshot", "lora": "lora",
}


def get_strategy(name: str):
    """The `Strategy` named `name`."""
    return getattr(import_module(f"transferkit.strategies.{MODULES[name]}"), "STRATEGIES")[name]
