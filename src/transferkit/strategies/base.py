"""What a strategy is: how a run turns a task's data (and maybe a pretrained model) into a
model directory. A strategy declares the tasks it serves in the recipe table, trains in
`fit`, and says what it measured and which values it used in a `FitResult`; prediction
goes through `load_predictor`, the same path `predict` uses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FitResult:
    """What `fit` reports. `resolved` holds the option values the run used where the user
    gave none (epochs, ...): they go into config.yaml, so the run repeats from it exactly."""

    seconds: float  # training time (dev evaluation excluded)
    examples: int  # examples processed over all steps (a head fit: the training examples)
    best_dev: float | None = None  # the loop's best dev score (higher is better), None without dev
    learned: dict = field(default_factory=dict)  # what prediction needs that training chose
    resolved: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)  # what else metrics.json's `train` reports

    @classmethod
    def of_loop(cls, loop, settings, learned: dict, resolved: dict | None = None, stats: dict | None = None) -> "FitResult":
        """What a model trained by `training.loop.train_loop` (its `LoopResult`, with
        `settings`) reports: the loop's times, best dev score, resolved options and
        statistics, with the caller's own beside them."""
        return cls(seconds=loop.seconds, examples=loop.examples, best_dev=loop.best_score, learned=learned,
                   resolved={"epochs": settings.epochs, **loop.resolved_options(), **(resolved or {})},
                   stats={**loop.stats(settings), **(stats or {})})


class Strategy(ABC):
    name: str
    uses_pretrained_model: bool = True  # whether --model is resolved and its tokenizer checked
    selects_on_dev: bool = False  # whether it keeps its best dev evaluation (metrics.json: best_dev_<metric>)
    linear_head: bool = False  # whether a classify run's head is model/head.safetensors (checked against its labels)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks it serves: its rows in the recipe table."""
        from transferkit.recipes import RECIPES

        return tuple(task for task, strategy in RECIPES if strategy == self.name)

    @property
    def option_groups(self) -> list[type]:
        """Its `train` option groups (declared in `config.py`)."""
        from transferkit.config import OPTION_GROUPS

        return [g for g in OPTION_GROUPS if self.name in g.APPLIES_TO.get("strategy", ())]

    @abstractmethod
    def fit(self, task, cfg, data, model_path: str | None, model_dir: Path, checkpoints=None) -> FitResult:
        """Train on `data` and write everything prediction needs into `model_dir`;
        `checkpoints` (a `training.checkpoints.Checkpoints`) is where a training loop saves
        and resumes its state."""

    def load_predictor(self, task, model_dir: Path, info: dict, runtime):
        """The run's predictor: by default the task's, over the transformers model directory."""
        return task.load_predictor(model_dir, info, runtime)
