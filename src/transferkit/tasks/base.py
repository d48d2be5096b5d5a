"""What a task is: the interface every task (classify, ner, qa, lm) implements, and the
data of a run. A strategy trains through this interface alone, and `api` scores, loads and
predicts through it, so a new task is one module here plus its rows in the recipe table.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

DevScorer = Callable[[Any], float]  # model -> dev score, higher is better (the loop keeps the best)


@dataclass
class TaskData:
    """The splits of a run, read and checked before any model loads, and the training
    split's label set (classify: class names; ner: IOB2 tags; none for qa and lm)."""

    train: Any
    dev: Any | None
    tests: dict[str | None, Any]  # by name (`--test NAME=PATH`); the one unnamed test set is None
    labels: list[str] | None
    skipped: list[dict] = field(default_factory=list)  # the rows --on-bad-row skip dropped: {"file", "line" or "place", "reason"}
    report: dict = field(default_factory=dict)  # metrics.json's `data`: `skipped_rows`, `overlap_with_train` per split
    continues_head: bool = False  # `--model` is an earlier run's model whose head (labels, their order) this run keeps training


@dataclass
class Request:
    """What `predict` was asked, parsed by the task (from texts, an input file, or later an
    HTTP body): the items to predict and what renders their records."""

    ids: list[str]
    items: Any
    extra: dict


class Task(ABC):
    """One task. Class attributes declare it; methods supply what differs between tasks."""

    name: str
    primary_metric: str  # the test metric a run is judged by
    higher_is_better: bool = True
    dev_metric: str  # the dev score the loop selects on, as metrics.json's `best_dev_<dev_metric>`
    dev_sign: float = 1.0  # dev_metric = dev_sign * the loop's score (lm: -loss)
    auto_class: str  # the transformers Auto class of its models

    @property
    def option_groups(self) -> list[type]:
        """The `train` option groups of this task (declared in `config.py`, where `--help`
        reads them without importing any task)."""
        from transferkit.config import OPTION_GROUPS

        return [g for g in OPTION_GROUPS if self.name in g.APPLIES_TO.get("task", ())]

    # --- data ----------------------------------------------------------------------------
    @abstractmethod
    def read_labelled(self, path: str, cfg, bad_rows=None) -> Any:
        """One labelled split, read with the run's data options; `bad_rows`
        (`data.bad_rows.BadRows`) decides what an unusable row does (default: an error)."""

    @abstractmethod
    def labels_of(self, train) -> list[str] | None:
        """The label set a training split defines (or raises a one-line error)."""

    def check_known(self, split, labels: list[str] | None) -> None:
        """A dev/test/evaluate split may only use labels the model knows."""

    @abstractmethod
    def draw_budget(self, train, cfg, labels):
        """The training split cut to the run's label budget (unchanged without one)."""

    def load_data(self, cfg) -> TaskData:
        """Read and check every split, and draw the label budget, before any model loads.
        With `--model` an earlier run's model directory whose labels cover the training
        split's (English NER continued on a few German sentences), the run keeps that
        model's labels and head rather than starting a new head. Rows are skipped as
        `--on-bad-row` says (each split's own `--max-bad-rows`), and dev and test examples
        that also occur in train are counted and warned about (`TaskData.report`)."""
        from transferkit.config import language_of, test_sets
        from transferkit.data.bad_rows import BadRows
        from transferkit.errors import warn

        tested = dict(test_sets(cfg.test))
        paths = {"dev": cfg.dev, **tested}
        bad = {"train": BadRows.of(cfg), "dev": BadRows.of(cfg), "tests": {name: BadRows.of(cfg) for name in tested}}
        train = self.read_labelled(cfg.train, cfg, bad["train"])
        labels = self.labels_of(train)
        continues_head = labels is not None and bool(trained := trained_labels(cfg.model)) and set(labels) <= set(trained)
        if continues_head:
            labels = trained  # continuing a run's model: its head, in its order, is kept
        dev = self.read_labelled(cfg.dev, cfg, bad["dev"]) if cfg.dev else None
        tests = {name: self.read_test(path, cfg, language_of(name), bad["tests"][name]) for name, path in tested.items()}
        for split in (dev, *tests.values()):
            if split is not None:
                self.check_known(split, labels)
        seen = set(self.example_keys(train))

        def overlap(split, name: str | None) -> int:
            n = sum(key in seen for key in self.example_keys(split))
            if n:
                warn(paths[name], f"{n} of its {len(split)} examples also occur in the training data ({cfg.train}); scores on them overstate the model")
            return n

        counted = lambda b, _: len(b.skipped)  # noqa: E731
        report = {
            "skipped_rows": {"train": len(bad["train"].skipped), **_per_split(bad["dev"] if dev is not None else None, bad["tests"], counted)},
            "overlap_with_train": _per_split(dev, tests, overlap),
        }
        skipped = [row for b in (bad["train"], bad["dev"], *bad["tests"].values()) for row in b.in_file_order()]
        return TaskData(self.draw_budget(train, cfg, labels), dev, tests, labels, skipped, report, continues_head)

    def read_test(self, path: str, cfg, language: str | None, bad_rows=None) -> Any:
        """A test split; `language` is what its name says (qa scores by that language's rules)."""
        return self.read_labelled(path, cfg, bad_rows)

    def example_keys(self, split) -> list:
        """What makes two examples the same, one hashable key per example: dev and test
        examples whose key a training example has are counted (`TaskData.report`)."""
        return split.example_keys()

    # --- transformer strategies ----------------------------------------------------------
    def load_tokenizer(self, model_path: str):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_path)

    def build_model(self, model_path: str, labels: list[str] | None, from_scratch: bool):
        """A pretrained model with a new head for `labels`, or (`from_scratch`) the same
        architecture with random weights. Always float32: a directory saved in half
        precision records that dtype, and training in it would round most updates away."""
        import torch
        import transformers

        auto_class = getattr(transformers, self.auto_class)
        names = {} if labels is None else {
            "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}
        }
        if from_scratch:
            return auto_class.from_config(transformers.AutoConfig.from_pretrained(model_path, **names), dtype=torch.float32)
        # a trained model directory with other labels gets a new head of the right size
        return auto_class.from_pretrained(model_path, dtype=torch.float32, ignore_mismatched_sizes=labels is not None, **names)

    def model_config(self, data: TaskData) -> dict:
        """Fields this data sets in a new model's config, saved with it (classify
        multi-label: `problem_type`, so that the transformers pipeline reads sigmoids)."""
        return {}

    def prepare(self, model, tokenizer):
        """The model once built, set up for this task's tokenizer (lm: the pad token it generates with)."""
        return model

    @abstractmethod
    def training_items(self, tokenizer, data: TaskData, cfg) -> tuple[list[dict], dict]:
        """The training split encoded for the loop (token lists with `labels`), and what to
        report about the encoding (windows, blocks, ...)."""

    @abstractmethod
    def dev_scorer(self, tokenizer, data: TaskData, cfg) -> DevScorer:
        """The loop's dev score (of `selection(data)`'s metric), with the dev split encoded once here."""

    def selection(self, data: TaskData) -> tuple[str, str | None]:
        """The metric that chooses a checkpoint or a head's regularisation for this data, and
        why when it is not `dev_metric` (a line the run prints)."""
        return self.dev_metric, None

    def training_loss(self, data: TaskData, cfg):
        """`loss(model, batch)` for the loop, or None for the model's own loss."""
        return None

    def learned_settings(self, model, scorer: DevScorer | None, data: TaskData) -> dict:
        """What prediction needs that training chose (a qa no-answer threshold)."""
        return {}

    def inference_settings(self, cfg) -> dict:
        """What a saved model needs besides `max_length` to predict as it was scored."""
        return {}

    def calibrate(self, predictor, data: TaskData, cfg) -> tuple[dict, dict | None]:
        """After training, with the run's predictor loaded: the settings calibration learned on
        dev (written into `transferkit.json`, so every later load applies them), and what
        metrics.json says about it (None: this run has nothing to say)."""
        return {}, None

    def calibrated(self, predictor, info: dict):
        """Any strategy's predictor with what `calibrate` wrote into `info` (the model's
        `transferkit.json`) applied; `serving.predictor.load_predictor` calls it on every load."""
        return predictor

    # --- scoring and prediction ----------------------------------------------------------
    @abstractmethod
    def load_predictor(self, model_dir: Path, info: dict, runtime):
        """The predictor of a transformer model directory this task's strategies wrote."""

    @abstractmethod
    def score_split(self, predictor, split, labels, predictions_file: Path | None = None) -> dict:
        """Metrics on a labelled split; optionally one JSON line per example."""

    @abstractmethod
    def read_request(self, cfg, texts: list[str], input_path: str | None, **passage) -> Request:
        """What to predict: texts given directly, or a file read with the run's options."""

    def read_items(self, cfg, items: list) -> Request:
        """What to predict from the items of an HTTP request (`transferkit serve`): texts,
        checked as `predict` checks them."""
        return self.read_request(cfg, items, None)

    @abstractmethod
    def records(self, predictor, request: Request) -> list[dict]:
        """One JSON record per requested item, in input order."""


def _per_split(dev, tests: dict, value: Callable) -> dict:
    """`value(split, name)` of the dev split (name `dev`) and of each test split (its name;
    None for the one unnamed), shaped as metrics.json's scores are: `dev`, and `test`
    holding the unnamed test set's value or one value per name."""
    out = {"dev": value(dev, "dev")} if dev is not None else {}
    if None in tests:
        out["test"] = value(tests[None], None)
    elif tests:
        out["test"] = {name: value(split, name) for name, split in tests.items()}
    return out


def trained_labels(model: str | None) -> list[str] | None:
    """The labels, in head order, of a model directory trained on them (a run's `model/`);
    None for an encoder without a trained head: an offline name, a hub id, or a directory
    whose config names its outputs only LABEL_0, LABEL_1, ... as transformers' default."""
    config = Path(model).expanduser() / "config.json" if model else None
    if config is None or not config.is_file():
        return None
    try:
        id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
        labels = [id2label[key] for key in sorted(id2label, key=int)]
    except (ValueError, TypeError, KeyError):
        return None  # not a config this can read labels from; loading the model says what is wrong
    return None if all(label == f"LABEL_{i}" for i, label in enumerate(labels)) else labels
