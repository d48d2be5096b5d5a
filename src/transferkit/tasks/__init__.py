"""The tasks, by name. Each module holds one `Task` (see `base.py`) and what only that task
needs (its encoders, decoders, metrics and predictor); modules import lazily, so naming a
task costs nothing until a run uses it."""

from __future__ import annotations

from importlib import import_module

MODULES = {"classify": "classify", "ner": "ner", "qa": "qa", "lm": "lm"}


def get_task(name: str):
    """The `Task` named `name` (one of `recipes.TASKS`, each of which has a module here)."""
    return import_module(f"transferkit.tasks.{MODULES[name]}").TASK
