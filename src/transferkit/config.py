"""One typed configuration per command. Each field's `help` becomes the CLI option's
help text, and `config.yaml` in a run directory is this dataclass written out, so a
flag, a YAML key and a metrics field always carry the same name."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from transferkit.errors import UserError
from transferkit.pretraining.corpus import DEFAULT_TOKEN_PATTERN
from transferkit.recipes import AUTO, PRETRAINED, TASKS, TRANSFORMER, strategies_for

TAG_SCHEMES = ("auto", "iob1", "iob2", "iobes", "io")
QA_LANGUAGES = ("auto", "en", "es", "de", "vi", "ar", "hi", "zh")
CONTEXTS = ("document", "sentence")
DEVICES = ("auto", "cpu", "cuda")


def _opt(default, help: str, **extra):
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, "multiple": True, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class Bounds:
    """The values a numeric option accepts; an open end excludes the bound itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""  # appended to the message, in parentheses

    def contains(self, value) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return low_ok and high_ok

    def problem(self, value) -> str | None:
        """Why `value` is out of bounds (None if it is within them)."""
        if self.contains(value):
            return None
        parts = []
        if self.low is not None:
            parts.append(f"{'greater than' if self.low_open else 'at least'} {_number(self.low)}")
        if self.high is not None:
            parts.append(f"{'less than' if self.high_open else 'at most'} {_number(self.high)}")
        finite = "a finite number " if isinstance(value, float) and not math.isfinite(value) else ""
        why = f" ({self.why})" if self.why else ""
        return f"must be {finite}{' and '.join(parts)}, got {value}{why}"


def _number(x) -> str:
    return f"{x:,}" if isinstance(x, int) and abs(x) >= 10_000 else str(x)


# Beyond these a run would not end in a lifetime (and C code under gensim overflows a 32-bit int).
MAX_COUNT = 10**9
COUNT = Bounds(1, MAX_COUNT)  # every integer option without bounds of its own
SEED = Bounds(0, 2**32 - 1, why="numpy's seed range")
POSITIVE = Bounds(0, None, low_open=True)
NON_NEGATIVE = Bounds(0)
FRACTION = Bounds(0, 1, low_open=True, high_open=True)
WARMUP = Bounds(0, 1, high_open=True)

# `path=` marks options naming files read: in a `--config` YAML a relative one is relative to
# the YAML file's folder, and config.yaml stores it absolute. "or-name" options may also be a
# name (an offline model, glove-50d): they are taken as a path only where that path exists.
INPUT, INPUT_OR_NAME = "input", "or-name"


class YamlConfig:
    """YAML in and out for a command's config dataclass: `config.yaml` in an output
    directory is the dataclass written out, and `--config` reads it back. Each option's
    value is checked against its field's type and bounds, both here (naming the YAML file,
    line and key) and in `validate` (naming the flag)."""

    def yaml_data(self) -> dict:
        """The options config.yaml holds (every field, unless a command says otherwise)."""
        return dataclasses.asdict(self)

    def to_yaml(self, path: Path) -> None:
        data = self.absolute_paths().yaml_data()
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def absolute_paths(self):
        """These options with every input path absolute, as config.yaml stores them."""
        return dataclasses.replace(self, **{
            f.name: _map_paths(getattr(self, f.name), _absolute, f.metadata["path"], named=f.metadata.get("named", False))
            for f in _path_fields(type(self))
        })

    @classmethod
    def from_yaml(cls, path: str):
        data, root = read_yaml(path)
        data = data or {}
        if not isinstance(data, dict):
            raise UserError(path, "expected a mapping of option names to values")
        return cls(**cls.checked_options(data, key_lines(root), path))

    @classmethod
    def checked_options(cls, data: dict, lines: dict[str, int], path: str) -> dict:
        """`data`, a mapping of option names to values read from the YAML file `path`
        (`lines`: the line of each key), checked against this dataclass's fields, with
        relative input paths made relative to the file's folder: the keyword arguments of
        `cls`, or a `UserError` naming the file, the line and the option. (`multitask` reads
        each head's options, nested in its YAML, through this too.)"""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - set(fields))
        if unknown:
            raise UserError(path, f"unknown option(s) {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        folder = Path(path).parent
        for name, value in data.items():
            if fields[name].metadata.get("comma_separated") and isinstance(value, (list, int)) and not isinstance(value, bool):
                value = ",".join(map(str, value if isinstance(value, list) else [value]))  # `budgets: [8, all]`, `seeds: 0`
            value = _from_yaml_scalar(hints[name], value)
            problem = _field_problem(fields[name], hints[name], value)
            if problem:
                raise UserError(f"{path}:{lines[name]}" if name in lines else path, f"{name}: {problem}")
            if "path" in fields[name].metadata:
                value = _map_paths(value, _beside, fields[name].metadata["path"], folder, named=fields[name].metadata.get("named", False))
            data[name] = value
        return data

    def check_fields(self) -> None:
        """Every option of the right type and within its bounds, or a `UserError` naming its flag."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            problem = _field_problem(f, hints[f.name], getattr(self, f.name))
            if problem:
                raise UserError(flag(f.name), problem)


def read_yaml(path: str) -> tuple[object, yaml.Node | None]:
    """A YAML file's data and its node tree (where each key's line is); a file that cannot
    be read or parsed is the one-line error naming it, and the line where it can."""
    text = _read_config_file(path)
    try:
        data, root = yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise UserError(where, f"not valid YAML: {getattr(e, 'problem', None) or e}") from None
    _refuse_duplicate_keys(root, path)
    return data, root


def _refuse_duplicate_keys(node: yaml.Node | None, path: str) -> None:
    """A key given twice in one mapping (at any depth) is the one-line error at its second
    line: YAML loaders keep the last silently, so one of the two values would be lost."""
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                raise UserError(f"{path}:{key.start_mark.line + 1}", f"{name!r} is given twice (first on line {seen[name]}); keep one of them")
            seen.setdefault(name, key.start_mark.line + 1)
            _refuse_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, path)


def key_lines(node: yaml.Node | None) -> dict:
    """The line (from 1) of each key of a YAML mapping node; none for any other node."""
    return {key.value: key.start_mark.line + 1 for key, _ in node.value} if isinstance(node, yaml.MappingNode) else {}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _read_config_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(path, "config file not found") from None
    except IsADirectoryError:
        raise UserError(path, "is a directory; give a YAML file of options") from None
    except UnicodeDecodeError:
        raise UserError(path, "not valid UTF-8; save the config file as UTF-8") from None
    except OSError as e:
        raise UserError(path, f"cannot read the config file: {e.strerror or e}") from None


def _base_type(hint) -> tuple[object, bool]:
    """(the type without None, whether None is allowed) of a field's type hint."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _from_yaml_scalar(hint, value):
    """YAML 1.1, which PyYAML reads, takes `1e-4` (no dot) for a string: a number-like string
    where a number is expected is that number, an integer there is a float, and one file
    name where a list of files is expected is a list of one."""
    base, _ = _base_type(hint)
    if base is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(base) is list and isinstance(value, str):
        return [value]
    return value


EXPECTED = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _field_problem(f: dataclasses.Field, hint, value) -> str | None:
    """What is wrong with `value` for field `f` (None when nothing is)."""
    base, optional = _base_type(hint)
    if value is None:
        return None if optional else f"expected {EXPECTED.get(base, 'a value')}, got nothing"
    if typing.get_origin(base) is list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return f"expected a list of strings, got {_shown(value)}"
        return None
    if base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, base)
    if not ok:
        return f"expected {EXPECTED[base]}, got {_shown(value)}"
    if "choices" in f.metadata and value not in f.metadata["choices"]:
        return f"expected one of {', '.join(f.metadata['choices'])}, got {_shown(value)}"
    bounds = f.metadata.get("bounds", COUNT if base is int else None)
    return bounds.problem(value) if bounds else None


def _shown(value) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _path_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "path" in f.metadata]


def _map_paths(value, convert, kind: str, *args, named: bool = False):
    """`convert(path, kind, *args)` applied to an option's path, or to each path of a list
    (with `named`, the path part of each `NAME=PATH`)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        return convert(value, kind, *args)
    parts = [_named(v) if named else (None, v) for v in value]
    return [convert(path, kind, *args) if name is None else f"{name}={convert(path, kind, *args)}" for name, path in parts]


NAMED = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,31})=(.+)")


def _named(value: str) -> tuple[str | None, str]:
    """`NAME=PATH` as (NAME, PATH); a file that exists under the whole string, or a string
    that does not have that shape, is (None, the string)."""
    match = NAMED.fullmatch(value)
    return (None, value) if match is None or Path(value).expanduser().exists() else (match[1], match[2])


def test_sets(values: list[str]) -> list[tuple[str | None, str]]:
    """Each `--test` as (name, path): `NAME=PATH` names a test set (a language code such as
    `de`, or any name: `de-news`); one plain PATH is the run's one unnamed test set."""
    sets = [_named(v) for v in values]
    names = [name for name, _ in sets]
    if len(sets) > 1 and None in names:
        raise UserError("--test", "several test sets need a name each: --test NAME=PATH (for example --test en=en.tsv --test de=de.tsv)")
    repeated = sorted({n for n in names if n is not None and names.count(n) > 1})
    if repeated:
        raise UserError("--test", f"the test set name {repeated[0]!r} is given twice; give each test set its own name")
    return sets


def language_of(name: str | None) -> str | None:
    """The language a test set's name gives: its first part (before `-` or `_`) when that is
    a two- or three-letter code (`de`, `zh-news`), else None."""
    code = re.split(r"[-_]", name or "")[0]
    return code.lower() if re.fullmatch(r"[A-Za-z]{2,3}", code) else None


# Names an INPUT_OR_NAME option may hold instead of a path: the offline models and the
# offline word vectors. Kept here as plain names, so that configuration imports neither
# the model zoo nor the vectors (tests/test_config.py checks they agree with both).
SOURCE_NAMES = frozenset({"minilm", "mpnet", "smollm2-135m", "multilingual-e5-small", "glove-50d"})


def _is_name(value: str) -> bool:
    return value in SOURCE_NAMES


def _beside(value: str, kind: str, folder: Path) -> str:
    """A YAML file's relative path, relative to the YAML file's folder."""
    path = Path(value).expanduser()
    if path.is_absolute() or (kind == INPUT_OR_NAME and (_is_name(value) or not (folder / path).exists())):
        return value
    return str(folder / path)


def _absolute(value: str, kind: str) -> str:
    """A path as config.yaml stores it: absolute, so `--config` reads it from anywhere (a
    symlink loop as given, made absolute: its reader reports it)."""
    path = Path(value).expanduser()
    if kind == INPUT_OR_NAME and (_is_name(value) or not path.exists()):
        return value
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
        return os.path.abspath(path)


class OptionGroup:
    """A group of `train` options that belongs to some tasks or strategies: `APPLIES_TO`
    maps "task" and/or "strategy" to the names it serves (empty: every run). A group's
    option given to a run it does not apply to is an error, not silently ignored."""

    APPLIES_TO: dict[str, tuple[str, ...]] = {}

    @classmethod
    def applies(cls, task: str, strategy: str) -> bool:
        """Whether the group serves `task` with `strategy`; with `auto` (not chosen yet), with
        any strategy of the task."""
        if strategy == AUTO:
            return any(cls.applies(task, s) for s in strategies_for(task))
        return all(chosen in cls.APPLIES_TO.get(axis, (chosen,)) for axis, chosen in (("task", task), ("strategy", strategy)))

    @classmethod
    def describe_scope(cls) -> str:
        return " and ".join(f"--{axis} {', '.join(names)}" for axis, names in cls.APPLIES_TO.items())


@dataclass
class RunOptions(OptionGroup):
    """What every run has: the task, the data, the strategy, where to write."""

    task: str = _opt("classify", "Task: " + ", ".join(TASKS) + ".", choices=TASKS)
    strategy: str = _opt(
        AUTO,
        "How to adapt: " + "; ".join(f"{t} {', '.join(strategies_for(t))}" for t in TASKS)
        + ". auto chooses from the training data (classify: contrastive with few labels per class, finetune with many) and says why.",
    )
    train: str | None = _opt(None, "Training data: classify CSV, TSV, JSONL or Parquet; ner CoNLL columns or JSONL tokens/tags; qa SQuAD JSON, or JSONL/CSV with question, context, answers; lm text (one document per line) or a table's text column.", path=INPUT)
    dev: str | None = _opt(None, "Development data: picks the checkpoint (early stopping) and the head's regularisation.", path=INPUT)
    test: list[str] = _opt(
        [],
        "Test data, scored once at the end: one file (metrics.json `test`, predictions/test.jsonl), or several named NAME=PATH, "
        "repeated (`--test en=en.tsv --test de=de.tsv`: one `test` entry and one predictions/test-NAME.jsonl each; a name "
        "that starts with a language code, such as de or zh-news, sets that test set's language).",
        path=INPUT, named=True,
    )
    output: str | None = _opt(None, "Run directory to write (default: runs/<task>-<strategy>-<time>).", short="-o")
    seed: int = _opt(0, "Random seed: the same seed repeats a CPU run exactly.", bounds=SEED)
    device: str = _opt("auto", "Where to train and predict: auto (a GPU when there is one), cpu or cuda.", choices=DEVICES)
    overwrite: bool = _opt(False, "Replace an existing run directory (or an interrupted run's checkpoint).")
    resume: bool = _opt(False, "Continue the interrupted run at --output from its last checkpoint, with its options.")


@dataclass
class TrackingOptions(OptionGroup):
    """Where a run is logged besides the run registry ($TRANSFERKIT_HOME/runs.sqlite),
    which records every run. How a run is watched, not what it computes: config.yaml
    leaves it out, so a tracked and an untracked run have the same options."""

    track: str = _opt(
        "none",
        "mlflow: also log the finished run (its options, test/dev/train metrics, config.yaml and metrics.json) to MLflow "
        "at $MLFLOW_TRACKING_URI, experiment transferkit (pip install 'transferkit[mlflow]'); none: the run registry only.",
        choices=("none", "mlflow"),
    )


@dataclass
class ModelOptions(OptionGroup):
    """The pretrained model and how much of a text it reads (strategies that use one)."""

    APPLIES_TO = {"strategy": PRETRAINED}
    model: str = _opt("minilm", "Offline model name (see `transferkit models list`), local transformers directory, or hub id.", path=INPUT_OR_NAME)
    max_length: int | None = _opt(None, "Maximum tokens per example; longer texts are truncated (ner, qa: cut into windows).", recipe=True)


@dataclass
class TextColumnOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify", "lm")}
    text_column: str = _opt("text", "Column holding the text (lm: of a CSV/TSV/JSONL/Parquet corpus).")


@dataclass
class ClassifyOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",)}
    text_pair_column: str | None = _opt(None, "Column holding the second text of a sentence pair.")
    label_column: str = _opt("label", "Column holding the label.")
    labels_per_class: int | None = _opt(None, "Train on K examples per class drawn from --train with --seed (few-shot budgets; a class with fewer gives all it has, with a warning); 0 with zeroshot.", bounds=Bounds(0, MAX_COUNT))
    class_weight: str = _opt(
        "none",
        "none, or balanced: each class weighs inversely to its frequency in training (the loss of finetune and "
        "scratch, the logistic head of the others). Either way, training labels more imbalanced than 3:1 make the "
        "dev checkpoint and the head's regularisation be chosen on macro-F1 instead of accuracy.",
        choices=("none", "balanced"),
    )


@dataclass
class UnlabeledOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",), "strategy": tuple(s for s in strategies_for("classify") if s != "zeroshot")}
    unlabeled: str | None = _opt(
        None,
        "Unlabelled in-domain texts (one per line, or the --text-column of a table) to self-train on: the trained model "
        "labels them, its most confident texts of each class join the training labels (as many per class as it had "
        "labels), and it trains again from the pretrained model; repeated --self-training-rounds times.",
        path=INPUT,
    )
    self_training_rounds: int = _opt(2, "With --unlabeled, how many times the model labels the pool and trains again.", bounds=Bounds(1, 10))


@dataclass
class DataOptions(OptionGroup):
    """How the readers treat rows they cannot use (every task)."""

    on_bad_row: str = _opt(
        "error",
        "error: a row that cannot be used (empty text, missing label, undecodable bytes, ragged columns; ner: a "
        "sentence with a bad line; qa: a bad record) stops the run with its file and line; skip: drop it, list it in "
        "RUN/skipped_rows.jsonl with its line and reason, and count it in metrics.json.",
        choices=("error", "skip"),
    )
    max_bad_rows: float = _opt(0.01, "With --on-bad-row skip, the largest fraction of a file's rows that may be skipped; more is an error.", bounds=Bounds(0, 1))


@dataclass
class MultiLabelOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",)}
    multi_label: bool = _opt(
        False,
        "Each example has a set of labels (none, one or several): the label column holds them separated by "
        "--label-separator (JSONL and Parquet: a list). Sigmoid outputs, one threshold per label chosen on dev.",
    )
    label_separator: str = _opt("|", "What separates the labels of one example in the label column, with --multi-label.")


@dataclass
class SliceOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",)}
    slice_column: str | None = _opt(
        None,
        "Column whose values group the dev and test rows (product, channel, language): metrics.json gets each "
        "group's metrics, the worst group and its gap to the overall metric.",
    )


@dataclass
class LongTextOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",), "strategy": PRETRAINED}
    long_text: str = _opt(
        "truncate",
        "Texts longer than --max-length: truncate (read the first --max-length tokens) or chunks (cut into "
        "overlapping windows of --max-length, each trained on the text's label; predictions average the windows' outputs).",
        choices=("truncate", "chunks"),
    )
    chunk_overlap: int | None = _opt(None, "Tokens shared by consecutive windows with --long-text chunks.", bounds=Bounds(0, MAX_COUNT), recipe=True)


@dataclass
class ExamplesOptions(OptionGroup):
    APPLIES_TO = {"task": ("ner", "qa", "lm")}
    train_examples: int | None = _opt(None, "Train on N examples drawn from --train with --seed (a label budget): ner sentences, qa questions, lm documents.")


@dataclass
class NerOptions(OptionGroup):
    APPLIES_TO = {"task": ("ner",)}
    tag_column: int | None = _opt(None, "The column holding the tags, counting from 1 (default: the last).")
    tag_scheme: str = _opt("auto", "The files' tag scheme: auto (detect), iob1, iob2, iobes or io.", choices=TAG_SCHEMES)
    context: str | None = _opt(
        None,
        "What a word sees: document (the sentences of its document around it, up to --max-length; -DOCSTART- "
        "lines open documents, and a file without them has none, so each sentence is read alone) or sentence (its own sentence only).",
        choices=CONTEXTS, recipe=True,
    )


@dataclass
class WindowOptions(OptionGroup):
    APPLIES_TO = {"task": ("ner", "qa")}
    doc_stride: int | None = _opt(None, "Sub-words shared by consecutive windows of a sentence (context) longer than --max-length.", bounds=Bounds(0, MAX_COUNT), recipe=True)


@dataclass
class QAOptions(OptionGroup):
    APPLIES_TO = {"task": ("qa",)}
    max_answer_length: int = _opt(30, "The longest answer to predict, in sub-word tokens.")
    language: str = _opt("auto", "Language of the answers, for scoring (zh: per character, as MLQA); auto detects it from the contexts.", choices=QA_LANGUAGES)


@dataclass
class TrainingOptions(OptionGroup):
    """The training loop (strategies that train the network)."""

    APPLIES_TO = {"strategy": TRANSFORMER}
    epochs: int | None = _opt(None, "Training epochs.", recipe=True)
    max_steps: int | None = _opt(None, "Train exactly this many optimiser steps, passing over the data as often as that takes (overrides --epochs). contrastive's default: ten passes over the labels, at least 40 steps and at most 200.")
    lr: float | None = _opt(None, "Peak learning rate.", bounds=POSITIVE, recipe=True)
    batch_size: int | None = _opt(None, "Training batch size.", recipe=True)
    layer_lr_decay: float | None = _opt(None, "Layer-wise learning-rate decay: each layer below the head trains at this fraction of the rate above it.", bounds=Bounds(0, 1, low_open=True), recipe=True)
    warmup_ratio: float | None = _opt(None, "Fraction of optimiser steps spent warming the learning rate up.", bounds=WARMUP, recipe=True)
    weight_decay: float = _opt(0.01, "AdamW weight decay.", bounds=NON_NEGATIVE)
    freeze_embeddings: str = _opt(
        "auto",
        "Keep the embedding layer as pretrained: yes, no, or auto (yes for a vocabulary of 100,000 words or more, "
        "as multilingual encoders have, unless it is also the output layer). Trained on one language, a multilingual "
        "encoder then keeps the other languages' words where they were, and most of the optimiser state and step time "
        "go (multilingual-e5-small: 96M of 118M parameters; NER 3.8x faster). Chosen on WikiANN German dev.",
        choices=("auto", "yes", "no"),
    )
    freeze_layers: int = _opt(0, "Keep the lowest N transformer layers as pretrained.", bounds=Bounds(0, 1000))
    evaluations: int = _opt(10, "How many times training scores the dev set (spread evenly over the steps).")
    patience: int = _opt(5, "Stop after this many dev evaluations without improvement (counted once the dev score has first improved).")
    mixed_precision: str = _opt("auto", "no, fp16, bf16 or auto (bf16/fp16 on a GPU, none on a CPU); fp16 or bf16 where the device lacks it falls back, with a warning.", choices=("auto", "no", "fp16", "bf16"))
    weight_average: str = _opt(
        "none",
        "ema also scores a moving average of the weights at each dev evaluation and keeps it where it "
        "scores best (costs a second dev pass; on CoNLL-2003 dev it led 8 of 10 evaluations but not the best one, "
        "bench/results/ner_weight_average.md); none does not.",
        choices=("ema", "none"),
    )
    checkpoint_every: int | None = _opt(
        None,
        "Save a checkpoint (model, optimiser, schedule, random states, data position) every N optimiser steps, "
        "for --resume; 0 never (default: about every 10 minutes of training).",
        bounds=Bounds(0, MAX_COUNT),
    )
    compile: bool = _opt(
        False,
        "Train the model compiled by torch.compile (on a GPU with CUDA graphs). The first steps wait for the "
        "compiler (a minute or more) and each new batch shape compiles again, hence batches padded to multiples "
        "of 16 by default with it. Off by default.",
    )
    pad_to_multiple_of: int | None = _opt(
        None,
        "Pad each training batch to a length that is a multiple of N (not past --max-length): length buckets, so a "
        "compiled model sees few shapes and GPU matrix shapes suit tensor cores (default: 16 with --compile, 8 on a "
        "GPU, 1 on a CPU: each batch as long as its longest example).",
        bounds=Bounds(1, 1024),
    )
    peak_flops: float | None = _opt(
        None,
        "The training device's peak dense bf16 FLOP/s (989e12 for an H100 SXM), for the model FLOPs utilisation "
        "(MFU) shown while training and in metrics.json (default: from a table of known GPUs by name; on a CPU or an "
        "unknown GPU MFU is reported only with this).",
        bounds=Bounds(10**9, None, why="in FLOP/s, not TFLOP/s: 989e12 for 989 TFLOP/s"),
    )


@dataclass
class UnfreezingOptions(OptionGroup):
    APPLIES_TO = {"strategy": ("finetune",)}
    gradual_unfreezing: float = _opt(
        0.0,
        "Unfreeze the model one layer at a time, top first, over this fraction of the optimiser steps (ULMFiT's "
        "gradual unfreezing; the head trains from the first step, the embeddings last; with --layer-lr-decay, its "
        "discriminative learning rates). 0: every layer trains from the start.",
        bounds=Bounds(0, 1),
    )


@dataclass
class FewSampleOptions(OptionGroup):
    """Fine-tuning on few labels (strategies/few_sample.py)."""

    APPLIES_TO = {"task": ("classify",), "strategy": ("finetune",)}
    head_init: str = _opt(
        "random",
        "How the classifier's output layer starts: random, or linear-probe (a logistic regression fitted, its C "
        "cross-validated, on what the layer reads in the pretrained model; then every weight fine-tunes). random by "
        "default: with MiniLM at 8 and 64 labels per class linear-probe cost 3 to 22 dev points (bench/results/finetune_fixes.md).",
        choices=("random", "linear-probe"),
    )
    reinit_layers: int | None = _opt(
        None,
        "Re-initialise the top N transformer layers (and the pooler) before fine-tuning (default: 1 below 150 labels "
        "per class, the median class, where it helped on dev; else 0; bench/results/finetune_fixes.md).",
        bounds=Bounds(0, 1000),
    )


@dataclass
class LoraOptions(OptionGroup):
    APPLIES_TO = {"strategy": ("lora",)}
    lora_rank: int = _opt(8, "Rank of each low-rank update (its A and B matrices).", bounds=Bounds(1, 4096))
    lora_alpha: float = _opt(16.0, "LoRA scaling: each update is multiplied by alpha / rank.", bounds=POSITIVE)
    lora_dropout: float = _opt(0.1, "Dropout on the adapters' input.", bounds=Bounds(0, 1, high_open=True))
    lora_target_modules: str = _opt(
        "auto",
        "The linear layers that get adapters: comma-separated names (query,value), all-linear, or auto "
        "(peft's default for the model type: the attention's query and value projections).",
    )


@dataclass
class FeaturesOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",), "strategy": ("features",)}
    pooling: str = _opt("mean", "How token vectors become one text vector: mean or cls.", choices=("mean", "cls"))


@dataclass
class LabelTextOptions(OptionGroup):
    APPLIES_TO = {"task": ("classify",), "strategy": ("contrastive", "zeroshot")}
    label_descriptions: str | None = _opt(
        None,
        "What each label means: a JSON object of label: sentence, or a CSV/TSV with label and description columns "
        "(labels it leaves out keep their names). zeroshot classifies by them; contrastive may anchor its classes with them.",
        path=INPUT,
    )


@dataclass
class ContrastiveOptions(OptionGroup):
    APPLIES_TO = {"strategy": ("contrastive",)}
    label_anchors: str = _opt(
        "auto",
        "on: each label's text (its name, or --label-descriptions) joins every batch as a member of its class; "
        "auto: on where the label texts alone classify the training texts clearly better than chance; off.",
        choices=("auto", "on", "off"),
    )


@dataclass
class WordvecOptions(OptionGroup):
    APPLIES_TO = {"strategy": ("wordvec",)}
    vectors: str | None = _opt(None, "Word vectors: a `pretrain word2vec` output directory or glove-50d.", path=INPUT_OR_NAME)
    weighting: str = _opt("mean", "How word vectors become one text vector: mean, or tfidf (weighted by the words' TF-IDF).", choices=("mean", "tfidf"))


# In this order in `train --help` and in config.yaml.
OPTION_GROUPS = (
    RunOptions, TrackingOptions, DataOptions, ModelOptions, TextColumnOptions, ClassifyOptions, UnlabeledOptions, MultiLabelOptions, SliceOptions,
    LongTextOptions, ExamplesOptions, NerOptions, WindowOptions,
    QAOptions, TrainingOptions, UnfreezingOptions, FewSampleOptions, LoraOptions, FeaturesOptions, LabelTextOptions, ContrastiveOptions, WordvecOptions,
)
GROUP_OF = {f.name: group for group in OPTION_GROUPS for f in dataclasses.fields(group) if f.name in group.__annotations__}


@dataclass
class TrainConfig(YamlConfig, *reversed(OPTION_GROUPS)):
    """`train`'s options: every group's, flat, as flags and as config.yaml keys. A run uses
    the groups that apply to its task and strategy (`applicable_fields`); the recipe table
    fills what it leaves unset (`resolved`)."""

    def __post_init__(self):
        if self.test is None or isinstance(self.test, str):  # one file (or none), as Python callers give it
            self.test = [self.test] if self.test else []

    def applicable_fields(self) -> list[str]:
        return [name for name, group in GROUP_OF.items() if group.applies(self.task, self.strategy)]

    def check_applicable(self, given: set[str] = frozenset()) -> None:
        """An option of a group that does not apply to this run is an error when it is
        named in `given` (the flags typed on the command line), or set to anything but its
        default or the recipe table's value (which config.yaml files written before option
        groups existed hold for every option)."""
        defaults = type(self)()
        recipe = type(self)(task=self.task, strategy=self.strategy).resolved()
        for name, group in GROUP_OF.items():
            if group.applies(self.task, self.strategy):
                continue
            if name in given or getattr(self, name) not in (getattr(defaults, name), getattr(recipe, name)):
                chosen = " ".join(getattr(self, axis) for axis in group.APPLIES_TO)
                raise UserError(flag(name), f"applies to {group.describe_scope()}, not {chosen}")

    def only_applicable(self) -> "TrainConfig":
        """This configuration with every option that does not apply to its task and strategy
        back at its default (a sweep's shared options, for one cell)."""
        defaults = type(self)()
        applicable = set(self.applicable_fields())
        return dataclasses.replace(self, **{n: getattr(defaults, n) for n in GROUP_OF if n not in applicable})

    def resolved(self) -> "TrainConfig":
        """The recipe table's defaults filled in where options are unset (the epochs wait for the data)."""
        from transferkit.recipes import resolve

        return resolve(self)

    def validate(self) -> None:
        """Check a configuration before any work: every option in range, the strategy one
        that serves the task, no option of another task or strategy."""
        if not self.train:
            raise UserError("--train", "missing; give the training data file")
        self.check_fields()
        test_sets(self.test)  # several need names, each its own
        if self.strategy not in (AUTO, *strategies_for(self.task)):
            raise UserError("--strategy", f"unknown strategy {self.strategy!r} for {self.task}; choose auto or one of {', '.join(strategies_for(self.task))}")
        if self.labels_per_class == 0 and self.strategy not in (AUTO, "zeroshot"):
            raise UserError("--labels-per-class", f"0 trains on no labels: only --strategy zeroshot (or auto) can; give at least 1 for {self.strategy}")
        if self.strategy == "wordvec" and not self.vectors:
            raise UserError("--vectors", "missing; --strategy wordvec needs word vectors: a `pretrain word2vec` output directory or glove-50d")
        if self.doc_stride is not None and self.max_length is not None and not self.doc_stride < self.max_length // 2:
            raise UserError("--doc-stride", "must be at least 0 and less than half of --max-length")
        if self.chunk_overlap is not None and self.max_length is not None and not self.chunk_overlap < self.max_length // 2:
            raise UserError("--chunk-overlap", "must be at least 0 and less than half of --max-length")
        if self.multi_label and not self.label_separator.strip():
            raise UserError("--label-separator", "must hold a character other than whitespace")
        if self.unlabeled and (self.multi_label or self.text_pair_column):
            raise UserError("--unlabeled", f"self-training takes single texts with one label each, not {'--multi-label' if self.multi_label else '--text-pair-column'}")

    def yaml_data(self) -> dict:
        """What config.yaml holds: the options that apply to this run, with the values it used."""
        data = dataclasses.asdict(self)
        return {name: data[name] for name in data if name in set(self.applicable_fields()) and name not in ("overwrite", "resume", "track")}


ALGORITHMS = ("cbow", "skipgram")


@dataclass
class Word2VecConfig(YamlConfig):
    """`pretrain word2vec`: gensim's parameters under their own meaning, defaults as gensim's
    except the seed (0, as everywhere in transferkit)."""

    corpus: list[str] = _opt([], "Corpus file; repeat for several. Plain text (one document per line), or CSV/TSV/JSONL/Parquet with --text-column.", path=INPUT)
    text_column: str = _opt("text", "Column holding the text in CSV/TSV/JSONL/Parquet corpus files.")
    output: str | None = _opt(None, "Directory to write (vectors.kv, vectors.txt, config.yaml, metrics.json).", short="-o")
    algorithm: str = _opt("cbow", "cbow (predict a word from its context) or skipgram (the context from the word).", choices=ALGORITHMS)
    dimension: int = _opt(100, "Vector size.", bounds=Bounds(1, 10_000))
    window: int = _opt(5, "Largest distance between a word and a context word.")
    min_count: int = _opt(5, "Ignore words seen fewer times than this.")
    negative: int = _opt(5, "Negative samples per positive one.", bounds=Bounds(1, MAX_COUNT, why="training is by negative sampling, which needs at least one"))
    epochs: int = _opt(5, "Passes over the corpus.")
    workers: int = _opt(2, "Training threads; 1 makes a run repeat exactly with the same seed.", bounds=Bounds(1, 1_000))
    seed: int = _opt(0, "Random seed of the initial vectors and the sampling.", bounds=SEED)
    keep_case: bool = _opt(False, "Keep upper case (by default text is lower-cased).")
    token_pattern: str = _opt(DEFAULT_TOKEN_PATTERN, "Regular expression of a word; every match is one token (after HTML tags are dropped).")
    overwrite: bool = _opt(False, "Replace an existing output directory.")

    def validate(self) -> None:
        if not self.output:
            raise UserError("--output", "missing; give the directory to write the vectors to")
        self.check_fields()


@dataclass
class MaskedLMConfig(YamlConfig):
    """`pretrain mlm`: continued masked-LM pretraining of an encoder on in-domain text."""

    model: str = _opt("minilm", "Encoder to continue: offline name, local transformers directory, or hub id.", path=INPUT_OR_NAME)
    corpus: list[str] = _opt([], "Corpus file; repeat for several. Plain text (one document per line), or CSV/TSV/JSONL/Parquet with --text-column.", path=INPUT)
    text_column: str = _opt("text", "Column holding the text in CSV/TSV/JSONL/Parquet corpus files.")
    eval_corpus: str | None = _opt(None, "Held-out text for the masked-LM loss before and after (default: --eval-fraction of the corpus documents).", path=INPUT)
    eval_fraction: float = _opt(0.05, "Fraction of the corpus documents held out when there is no --eval-corpus (at most 2,000 documents).", bounds=FRACTION)
    output: str | None = _opt(None, "Directory to write: a transformers encoder directory (with its masked-LM head) that `train --model DIR` accepts.", short="-o")
    max_length: int = _opt(128, "Tokens per training sequence; longer documents are cut into several sequences.")
    batch_size: int = _opt(32, "Sequences per optimiser step.")
    lr: float = _opt(1e-4, "Peak learning rate (warm-up, then linear decay).", bounds=POSITIVE)
    epochs: int = _opt(1, "Passes over the corpus (unless --max-steps is given).")
    max_steps: int | None = _opt(None, "Train exactly this many optimiser steps, passing over the data as often as that takes (overrides --epochs).")
    mlm_probability: float = _opt(0.15, "Fraction of tokens (of words, with --whole-word-mask) to mask.", bounds=FRACTION)
    whole_word_mask: bool = _opt(False, "Mask all sub-words of a chosen word together.")
    warmup_ratio: float = _opt(0.06, "Fraction of optimiser steps spent warming the learning rate up.", bounds=WARMUP)
    weight_decay: float = _opt(0.01, "AdamW weight decay.", bounds=NON_NEGATIVE)
    seed: int = _opt(0, "Random seed (masking, order, new head weights).", bounds=SEED)
    mixed_precision: str = _opt("auto", "no, fp16, bf16 or auto (bf16/fp16 on a GPU, none on a CPU); fp16 or bf16 where the device lacks it falls back, with a warning.", choices=("auto", "no", "fp16", "bf16"))
    overwrite: bool = _opt(False, "Replace an existing output directory.")

    def validate(self) -> None:
        if not self.output:
            raise UserError("--output", "missing; give the directory to write the model to")
        self.check_fields()


EXECUTORS = ("local", "ray")
# `train` options a sweep varies itself (its cells' strategy, budget and seed), so `curve` has no flag for them
SWEPT = {"strategy": "strategies", "labels_per_class": "budgets", "train_examples": "budgets", "seed": "seeds", "resume": None}


@dataclass
class SweepOptions:
    """What a learning-curve sweep varies, and where its cells run."""

    budgets: str | None = _opt(None, "Label budgets, comma-separated; `all` is every label: classify labels per class, ner sentences, qa questions, lm documents (default: classify 8,32,128,512,all; ner and qa 100,500,2000,all; lm 100,1000,all).", comma_separated=True)
    strategies: str | None = _opt(None, "Strategies, comma-separated (default: classify tfidf,features,finetune,scratch; ner, qa and lm finetune,scratch).", comma_separated=True)
    seeds: str = _opt("0,1,2", "Random seeds, comma-separated: every strategy and budget is trained once per seed (the spread over seeds is the band of the plot).", comma_separated=True)
    executor: str = _opt("local", "Where cells run: local (this machine: in this process, or --workers processes) or ray (a Ray cluster: --ray-address, else a local Ray instance).", choices=EXECUTORS)
    workers: int = _opt(1, "Cells trained at once: local, processes sharing this machine's cores; ray, cells per machine's worth of CPUs.", bounds=Bounds(1, 1_000))
    ray_address: str | None = _opt(None, "An existing Ray cluster (auto, HOST:6379 or ray://HOST:10001); every machine must see --output and the data at the same paths.")


@dataclass
class CurveConfig(SweepOptions, TrainConfig):
    """`curve`'s options: the sweep's (`SweepOptions`) and any `train` option, which every
    cell takes where it applies. --output is the sweep's folder: its cells are run
    directories under `runs/`."""

    output: str | None = _opt(None, "The sweep's folder: sweep.yaml, runs.sqlite (its registry), report.html, report.md, the plots, and a run directory per cell under runs/. Run the same command again to continue a sweep.", short="-o")
    overwrite: bool = _opt(False, "Train every cell again, replacing the run directories of cells already finished.")

    def train_config(self) -> TrainConfig:
        """The `train` options every cell shares."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)})

    def yaml_data(self) -> dict:
        """sweep.yaml: the sweep's options and the `train` options given (not at their defaults)."""
        defaults = type(self)()
        data = dataclasses.asdict(self)
        return {name: value for name, value in data.items() if name not in SWEPT and name not in ("overwrite",)
                and (name in SweepOptions.__annotations__ or value != getattr(defaults, name))}
