"""The recipe table: for every task × strategy that transferkit serves, the defaults of the
options a user leaves unset. It is the one home of defaults that depend on the task or the
strategy: `resolve` fills them in, `describe` writes the "(default: ...)" of each option's
help from it, and its keys are the combinations `train` accepts.

A run writes the values it used into its `config.yaml`, so a run repeats exactly with
`train --config RUN/config.yaml` even after a row here changes.

Where the numbers come from:
- classify finetune: exploratory SST-2 runs (bench/README.md): a higher peak rate for the
  head and top layers, decaying by 0.8 per layer towards the embeddings; scratch has no
  layer-wise decay (random lower layers have nothing worth protecting).
- ner: chosen on the CoNLL-2003 *dev* split (bench/ner_recipe.py,
  bench/results/ner_recipe*.md): dev F1 still rose at the last step of every shorter
  schedule, and with document context (full windows, a quarter as many examples per
  epoch) batches of 8 did best; scratch 5e-4 beat 1e-4; sentence context scored higher
  than long windows for scratch and features.
- qa: a dev split carved from XQuAD en.train.json by article (bench/qa_recipe.py,
  bench/results/qa_recipe.md): 3e-4 over 10 epochs with 10% warm-up beat 2e-4 over 8.
  QA windows hold a question and a passage, so they are longer: 384 tokens overlapping by
  128, the SQuAD reference settings.
- lm: a small model continued on in-domain text: a modest constant rate for every layer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Derived:
    """A default computed from options resolved before it (a stride from --max-length)."""

    text: str
    compute: Callable

    def __call__(self, cfg):
        return self.compute(cfg)


@dataclass(frozen=True)
class Epochs:
    """The default number of epochs: at least `minimum` epochs and at least 100 optimiser
    steps (few-shot sets need many passes), at most 30. Known only once the training
    examples are encoded, so the strategy resolves it (`epochs_for`)."""

    minimum: int

    def __str__(self) -> str:
        return f"at least {self.minimum} and at least 100 optimiser steps, at most 30"


def default_epochs(examples: int, batch_size: int, minimum: int = 4) -> int:
    steps_per_epoch = math.ceil(examples / batch_size)
    return min(30, max(minimum, math.ceil(100 / steps_per_epoch)))


# The kinds of strategy, for the option groups that apply to a kind (config.py reads these,
# so that it needs no strategy module): a new strategy is named in its kinds and its rows.
TRANSFORMER = ("finetune", "scratch", "contrastive", "lora")  # the strategies that run the training loop
PRETRAINED = ("features", "zeroshot", *TRANSFORMER)  # the strategies that start from a pretrained model (--model)
AUTO = "auto"  # not a row: `--strategy auto` picks a row's strategy from the data (strategies/auto.py)

# Rows per task (every strategy of the task), then per task × strategy, which win.
TASK_ROWS: dict[str, dict] = {
    "classify": {
        "max_length": 128, "warmup_ratio": 0.06,
        "chunk_overlap": Derived("a quarter of --max-length", lambda cfg: cfg.max_length // 4 if cfg.max_length else None),
    },
    "ner": {
        "max_length": 128, "warmup_ratio": 0.06, "context": "sentence",
        "doc_stride": Derived("a quarter of --max-length", lambda cfg: cfg.max_length // 4),
    },
    "qa": {
        "max_length": 384, "warmup_ratio": 0.1,
        "doc_stride": Derived("a third of --max-length, at most 128", lambda cfg: min(128, cfg.max_length // 3)),
    },
    "lm": {"max_length": 128, "warmup_ratio": 0.06},
}
RECIPES: dict[tuple[str, str], dict] = {
    ("classify", "tfidf"): {},
    ("classify", "wordvec"): {},
    ("classify", "features"): {},
    ("classify", "finetune"): {"lr": 1.5e-4, "layer_lr_decay": 0.8, "batch_size": 32, "epochs": Epochs(4)},
    ("classify", "scratch"): {"lr": 1e-4, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(4)},
    ("classify", "zeroshot"): {},
    # chosen on dev data (bench/contrastive_recipe.py); its steps follow `contrastive_steps`
    ("classify", "contrastive"): {"lr": 5e-5, "layer_lr_decay": 1.0, "batch_size": 32, "warmup_ratio": 0.1},
    # LoRA: the adapters start at zero and are few, so they take a higher rate than finetune
    # and no layer-wise decay; 1e-3 chosen on SST-2 dev at 64 per class (bench/lora.py --parts recipe: 0.767,
    # against 0.679 at 3e-4 and 0.768 at 3e-3); ner, qa and lm take the same rule of thumb, not tuned yet
    ("classify", "lora"): {"lr": 1e-3, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(4)},
    ("ner", "features"): {},
    ("ner", "finetune"): {"lr": 2e-4, "layer_lr_decay": 0.8, "batch_size": 8, "epochs": Epochs(8), "context": "document"},
    ("ner", "scratch"): {"lr": 5e-4, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(8)},
    ("ner", "lora"): {"lr": 1e-3, "layer_lr_decay": 1.0, "batch_size": 8, "epochs": Epochs(8), "context": "document"},
    ("qa", "finetune"): {"lr": 3e-4, "layer_lr_decay": 0.8, "batch_size": 32, "epochs": Epochs(10)},
    ("qa", "scratch"): {"lr": 5e-4, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(10)},
    ("qa", "lora"): {"lr": 1e-3, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(10)},
    ("lm", "finetune"): {"lr": 5e-5, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(1)},
    ("lm", "scratch"): {"lr": 5e-4, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(1)},
    ("lm", "lora"): {"lr": 5e-4, "layer_lr_decay": 1.0, "batch_size": 32, "epochs": Epochs(1)},
}
TASKS = tuple(TASK_ROWS)


def strategies_for(task: str) -> tuple[str, ...]:
    return tuple(strategy for t, strategy in RECIPES if t == task)


def all_strategies() -> tuple[str, ...]:
    return tuple(dict.fromkeys(strategy for _, strategy in RECIPES))


def row(task: str, strategy: str) -> dict:
    """The defaults of one run: the task's row under the task × strategy row (only the
    task's while `auto` has yet to choose the strategy)."""
    return {**TASK_ROWS[task], **({} if strategy == AUTO else RECIPES[(task, strategy)])}


def resolve(cfg):
    """`cfg` with the recipe's defaults in the options it leaves unset (None), except the
    epochs, which `epochs_for` resolves once the data are encoded."""
    for name, default in row(cfg.task, cfg.strategy).items():
        if getattr(cfg, name) is None and not isinstance(default, Epochs):
            cfg = dataclasses.replace(cfg, **{name: default(cfg) if isinstance(default, Derived) else default})
    return cfg


def epochs_for(cfg, examples: int) -> int:
    """The run's epochs: the user's, else the recipe's rule for `examples` training items."""
    if cfg.epochs is not None:
        return cfg.epochs
    return default_epochs(examples, cfg.batch_size, row(cfg.task, cfg.strategy)["epochs"].minimum)


def _shown(value) -> str:
    if isinstance(value, Derived):
        return value.text
    if isinstance(value, float) and 0 < value < 1e-2:  # 1.5e-4 and 1e-3, not 0.00015 and 0.001
        return f"{value:.1e}".replace(".0e", "e").replace("e-0", "e-")
    return str(value)


def describe(name: str) -> str | None:
    """The defaults of option `name` across the table, for its help text: the most common
    value, then the tasks and strategies that differ ("32; ner finetune 8"). None when no
    row sets it."""
    values = {(task, strategy): row(task, strategy).get(name) for task, strategy in RECIPES}
    values = {key: value for key, value in values.items() if value is not None}
    if not values:
        return None
    if any(isinstance(v, Epochs) for v in values.values()):  # the rule, then the rows that fix a number
        minimum = {task: v.minimum for (task, _), v in values.items() if isinstance(v, Epochs)}
        common = max(minimum.values(), key=list(minimum.values()).count)  # ties: the first in the table
        others = ", ".join(f"{task} {m}" for task, m in minimum.items() if m != common)
        fixed = "".join(f"; {task} {strategy} {v}" for (task, strategy), v in values.items() if not isinstance(v, Epochs))
        return f"at least 100 optimiser steps and at least {common} epochs ({others}), at most 30{fixed}"
    shown = {key: _shown(value) for key, value in values.items()}
    common = max(shown.values(), key=list(shown.values()).count)  # ties: the first in the table
    exceptions: dict[str, dict[str, str]] = {}
    for (task, strategy), text in shown.items():
        exceptions.setdefault(task, {})[strategy] = text
    parts = [common]
    for task, by_strategy in exceptions.items():
        differ = {s: v for s, v in by_strategy.items() if v != common}
        if differ and len(set(by_strategy.values())) == 1:
            parts.append(f"{task} {next(iter(differ.values()))}")
        elif differ:
            parts.append(f"{task} " + ", ".join(f"{s} {v}" for s, v in differ.items()))
    return "; ".join(parts)
