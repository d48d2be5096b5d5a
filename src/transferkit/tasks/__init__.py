"""The tasks, by name. Each module holds one `Task` (see `base.py`) and what only that task
needs (its encoders, decoders, metrics and predictor); modules import lazily, so naming a
task costs nothing until a run uses it."""

from __future__ import annotations

from importlib import import_module

from transferkit.recipes import TASKS

MODULES = {"classify": "classify", "ner": "ner", "qa": "qa", "lm": "lm"}
assert tuple(MODULES) == TASKS, "every task of the recipe table has a module, and only those"


def get_task(name: str):
    """The `Task` named `name` (one of `recipes.TASKS`)."""
    return import_module(f"transferkit.tasks.{MODULES[name]}").TASK
