"""`transferkit multitask`'s YAML: one pretrained encoder (`model`), the options of the one
training loop, and `tasks`, a mapping of head names to each head's `train` options:

    model: minilm
    seed: 0
    epochs: 3
    tasks:
      sentiment: {task: classify, train: sst2/train.csv, dev: sst2/dev.csv, test: sst2/test.csv}
      entities: {task: ner, train: conll/train.txt, dev: conll/dev.txt, train_examples: 2000}

Each head becomes one `TrainConfig` (its own options and the run's, which are the same in
every head), so a head's options are checked, resolved and written to its config.yaml
exactly as `train`'s are. Every error names the file and the line. Imports no torch: the
CLI reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from transferkit.config import GROUP_OF, TrainConfig, key_lines, read_yaml
from transferkit.errors import UserError
from transferkit.recipes import AUTO

STRATEGY = "finetune"  # every head trains in the one loop, the encoder with it
# Tasks whose model is an encoder with a head on top. lm's output layer is its own input
# embeddings, which a shared encoder would have to tie to every head; it is left out.
HEAD_TASKS = ("classify", "ner", "qa")
# Per-head options that may also stand at the top level, as every head's default.
HEAD_DEFAULTS = ("batch_size", "max_length")
# One value for the whole run: the seed, the device, and the options of every group that
# applies to the fine-tuning strategy whatever the task (the encoder, the loop, gradual
# unfreezing; a group added later joins by itself), but the per-head defaults above.
RUN_LEVEL = ("seed", "device", *(
    name for name, group in GROUP_OF.items()
    if "task" not in group.APPLIES_TO and STRATEGY in group.APPLIES_TO.get("strategy", ()) and name not in HEAD_DEFAULTS
))
# `train`'s options that a head's single-task config.yaml holds (as what the head did: no
# layer redrawn) but the multitask YAML does not take.
SINGLE_TASK_ONLY = ("reinit_layers", "head_init")
HINTS = {  # keys that are no multitask option, and what to do instead
    "strategy": "every head fine-tunes the shared encoder; leave it out",
    "output": "give the run directory with --output",
    "overwrite": "a command-line flag: --overwrite",
    "resume": "a command-line flag: --resume",
    "track": "multitask runs are not recorded by --track; leave it out",
    "budget": "the label budget is labels_per_class (classify) or train_examples (ner, qa)",
    **dict.fromkeys(SINGLE_TASK_ONLY, "a few-sample start of one head would change the encoder every head shares; "
                                      "multitask starts every head from the pretrained model, so leave it out"),
}
HEAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # it names the head's folder, heads/NAME


@dataclass
class MultiTaskConfig:
    """`multitask`'s options: each head's `TrainConfig` by head name (in the YAML's order),
    and where to write. A Python caller builds the heads' `TrainConfig`s directly (their
    run-level options must agree)."""

    heads: dict[str, TrainConfig] = field(default_factory=dict)
    output: str | None = None
    overwrite: bool = False
    resume: bool = False

    def __post_init__(self):
        self.heads = {name: replace(cfg, strategy=STRATEGY) if cfg.strategy == AUTO else cfg for name, cfg in self.heads.items()}

    @classmethod
    def from_yaml(cls, path: str) -> "MultiTaskConfig":
        data, root = read_yaml(path)
        if not isinstance(data, dict):
            raise UserError(path, "expected a mapping: model, seed, the loop's options, and tasks (head name: its options)")
        lines = key_lines(root)
        for key in data:
            if (problem := _top_level_problem(key)) is not None:
                raise UserError(f"{path}:{lines.get(key, 1)}", f"{key}: {problem}")
        tasks = data.get("tasks")
        where = f"{path}:{lines['tasks']}" if "tasks" in lines else path
        if not isinstance(tasks, dict):
            raise UserError(where, "tasks: expected a mapping of head names to their options (task, train, dev, test, ...)")
        if len(tasks) < 2:
            raise UserError(where, "tasks: give two heads or more (one task alone trains with `transferkit train`)")
        shared = {key: value for key, value in data.items() if key != "tasks"}
        node = _value_of(root, "tasks")
        head_lines = key_lines(node)
        heads = {}
        for name, entry in tasks.items():
            line = head_lines.get(str(name), lines["tasks"])
            if not isinstance(name, str) or not HEAD_NAME.fullmatch(name):
                raise UserError(f"{path}:{line}", f"tasks: {name!r} cannot name a head: it names the head's folder, so use letters, digits, _ and -")
            heads[name] = _head(name, entry, _value_of(node, name), shared, lines, path, line)
        return cls(heads)

    def validate(self) -> None:
        """Two heads or more, each of a task with an encoder and a head and each valid as a
        `train` run, agreeing on the run-level options."""
        if not self.output:
            raise UserError("--output", "missing; give the run directory to write")
        if len(self.heads) < 2:
            raise UserError("multitask", "give two heads or more (one task alone trains with `transferkit train`)")
        for name, cfg in self.heads.items():
            if not HEAD_NAME.fullmatch(name):
                raise UserError("multitask", f"{name!r} cannot name a head: it names the head's folder, so use letters, digits, _ and -")
            if cfg.task not in HEAD_TASKS:
                raise UserError(f"heads.{name}", f"task: {_task_problem(cfg.task)}")
            if cfg.strategy != STRATEGY:
                raise UserError(f"heads.{name}", f"strategy: {HINTS['strategy']}")
            if cfg.reinit_layers or cfg.head_init != TrainConfig.head_init:  # 0 layers and the default head change nothing
                raise UserError(f"heads.{name}", f"reinit_layers, head_init: {HINTS['reinit_layers']}")
            cfg.validate()
        differ = [name for name in RUN_LEVEL if len({repr(getattr(cfg, name)) for cfg in self.heads.values()}) > 1]
        if differ:
            raise UserError("multitask", f"the heads differ in {', '.join(differ)}; one encoder and one loop take one value of each")

    def yaml_data(self) -> dict:
        """What `from_yaml` reads back: the run-level options once, then under `tasks` each
        head's own (every option that applies to it, input paths absolute)."""
        heads = {name: cfg.absolute_paths().yaml_data() for name, cfg in self.heads.items()}
        first = next(iter(heads.values()), {})
        return {
            **{name: first[name] for name in RUN_LEVEL if name in first},
            "tasks": {name: {k: v for k, v in options.items() if k not in RUN_LEVEL and k not in ("strategy", "output", *SINGLE_TASK_ONLY)}
                      for name, options in heads.items()},
        }

    def to_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.yaml_data(), sort_keys=False))


def _top_level_problem(key) -> str | None:
    if key == "tasks" or key in RUN_LEVEL or key in HEAD_DEFAULTS:
        return None
    if key in HINTS:
        return HINTS[key]
    if key in GROUP_OF:
        return "an option of each head: give it under the heads that need it, in tasks"
    return "unknown option"


def _head_key_problem(key, task: str) -> str | None:
    if key in RUN_LEVEL:
        return "one value for the whole run (one encoder, one loop): give it at the top level, beside tasks"
    if key in HINTS:
        return HINTS[key]
    if key not in GROUP_OF:
        return "unknown option"
    group = GROUP_OF[key]
    if not group.applies(task, STRATEGY):
        chosen = " ".join({"task": task, "strategy": STRATEGY}[axis] for axis in group.APPLIES_TO)
        return f"applies to {group.describe_scope()}, not {chosen}"
    return None


def _task_problem(task) -> str:
    if task == "lm":
        return "lm cannot share an encoder (its output layer is its input embeddings); give classify, ner or qa"
    return f"expected one of {', '.join(HEAD_TASKS)}, got {task!r}"


def _head(name: str, entry, node, shared: dict, shared_lines: dict, path: str, line: int) -> TrainConfig:
    """One head's `TrainConfig` (its entry at `line`): its options over the top level's, checked."""
    place = f"{path}:{line}"
    if not isinstance(entry, dict):
        raise UserError(place, f"tasks.{name}: expected a mapping of the head's options (task, train, dev, test, ...)")
    lines = key_lines(node)

    def at(key) -> str:
        return f"{path}:{lines.get(key, line)}"

    if "task" not in entry:
        raise UserError(place, f"tasks.{name}: missing task; give {', '.join(HEAD_TASKS)}")
    if entry["task"] not in HEAD_TASKS:
        raise UserError(at("task"), f"tasks.{name}.task: {_task_problem(entry['task'])}")
    for key in entry:
        if (problem := _head_key_problem(key, entry["task"])) is not None:
            raise UserError(at(key), f"tasks.{name}.{key}: {problem}")
    if "train" not in entry:
        raise UserError(place, f"tasks.{name}: missing train; give the head's training data file")
    options = TrainConfig.checked_options({**shared, **entry}, {**shared_lines, **lines}, path)
    cfg = TrainConfig(**options, strategy=STRATEGY)
    try:
        cfg.validate()
    except UserError as e:
        raise UserError(place, f"tasks.{name}: {e}") from None
    return cfg


def _value_of(node, key: str):
    """The value node of `key` in a YAML mapping node (None where there is none)."""
    if isinstance(node, yaml.MappingNode):
        return next((value for k, value in node.value if k.value == key), None)
    return None
