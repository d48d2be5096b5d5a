"""Load any run's `model/` directory as its task's predictor: for classification
`labels` and `predict_proba(texts, pairs) -> (n, labels) array`; for NER
`tag(sentences) -> (IOB2 tags, probabilities)`; for QA `read(questions, contexts, places)
-> answer spans`; for lm `loss(texts)` and `generate(prompts)`.

`model/transferkit.json` says which strategy wrote the directory; everything else in it is
that strategy's own standard files. It is checked when read (a known task and strategy,
each setting of the right type, a label list as long as the model's head) and the
weights before they load, so a damaged or tampered run fails with one line naming the
file instead of a traceback, or predictions under the wrong label names.
"""

from __future__ import annotations

import json
from pathlib import Path

from transferkit.errors import UserError
from transferkit.serving.run_files import damaged, read_json, safetensors_shapes

INFO_FILE = "transferkit.json"
EXPORT_FILE = "export.json"  # in an export's run directory: how it was made (`serving/export.py`)
INTEGER, NUMBER, TEXT = (int,), (int, float), (str,)
# the settings each task's predictor reads, with their types (None: may be null)
SETTINGS = {
    "classify": {},
    "ner": {"stride": INTEGER},
    "qa": {"stride": INTEGER, "max_answer_length": INTEGER, "no_answer_threshold": NUMBER + (type(None),)},
    "lm": {},
}
TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", type(None): "null"}
# classify: `--long-text chunks` (`training/text_chunks.py`) and the dev-fitted temperature (`evaluation/calibration.py`)
OPTIONAL = {"context": TEXT, "base_model": TEXT + (type(None),), "long_text": TEXT, "chunk_overlap": INTEGER, "temperature": NUMBER}


def write_info(model_dir: Path, task: str, strategy: str, labels: list[str], max_length: int, **extra) -> None:
    """The last file of a run's `model/`: what `load_predictor` needs to load it."""
    info = {"task": task, "strategy": strategy, "labels": labels, "max_length": max_length, **extra}
    (model_dir / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False))


def read_info(run_dir: str | Path) -> dict:
    """A run's `model/transferkit.json`, checked."""
    path = Path(run_dir) / "model" / INFO_FILE
    if not path.exists() and not (Path(run_dir) / "model").is_dir():
        raise UserError(str(run_dir), "not a transferkit run directory (no model/transferkit.json); give the --output of a train run")
    return _checked_info(path)


def _checked_info(path: Path) -> dict:
    from transferkit.recipes import TASKS, strategies_for

    info = read_json(path)
    if not isinstance(info, dict):
        raise damaged(path, "not a JSON object")
    task, strategy = info.get("task"), info.get("strategy")
    if task not in TASKS:
        raise damaged(path, f"unknown task {task!r}")
    if strategy not in strategies_for(task):
        raise damaged(path, f"unknown strategy {strategy!r} for {task}")
    required = {"max_length": INTEGER, **SETTINGS[task]}
    for key, types in {**required, **OPTIONAL}.items():
        if key not in info and key in required:
            raise damaged(path, f"no {key!r}")
        if key in info and (not isinstance(info[key], types) or isinstance(info[key], bool)):
            raise damaged(path, f"{key!r} is {info[key]!r}; it must be {' or '.join(TYPE_NAMES[t] for t in types if not (t is int and float in types))}")
    if "temperature" in info and not info["temperature"] > 0:
        raise damaged(path, f"'temperature' is {info['temperature']!r}; it must be more than 0")
    labels = info.get("labels")
    if task in ("classify", "ner"):
        least = 1 if info.get("multi_label") else 2  # each label of a multi-label run is a yes/no of its own
        if not isinstance(labels, list) or len(labels) < least or not all(isinstance(l, str) for l in labels):
            raise damaged(path, f"'labels' must be a list of at least {'one label name' if least == 1 else 'two label names'}")
        if len(set(labels)) != len(labels):
            raise damaged(path, "'labels' lists a label twice")
    if task == "classify" and "multi_label" in info:
        from transferkit.tasks.multilabel import check_info

        check_info(path, info)
    return info


def check_head(model_dir: Path, info: dict) -> None:
    """The label list must be the model head's: as many labels as outputs, and for a
    transformers model the same names in the same order as its `id2label`. (The weights
    themselves are checked by the predictors, as they load them.)"""
    labels = info["labels"]
    if info["task"] not in ("classify", "ner"):
        return
    from transferkit.strategies import get_strategy

    if info["task"] == "classify" and get_strategy(info["strategy"]).linear_head:  # head.safetensors (ner features writes a transformers model)
        head = model_dir / "head.safetensors"
        rows = safetensors_shapes(head).get("coef", [0])[0]
        outputs = 2 if rows == 1 and not info.get("multi_label") else rows  # a two-class logistic regression keeps one row
        names = None
    else:
        head = model_dir / "config.json"
        config = read_json(head)
        id2label = config.get("id2label") or {}
        names = [id2label.get(str(i)) for i in range(len(id2label))]
        outputs = config.get("num_labels", len(id2label))
    if outputs != len(labels):
        raise damaged(model_dir / INFO_FILE, f"lists {len(labels)} labels but the model's head ({head.name}) has {outputs} outputs")
    if names is not None and names != labels:
        raise damaged(model_dir / INFO_FILE, f"its labels {labels} are not the model's ({head.name} id2label: {names})")


def load_predictor(model_dir: Path, runtime: str = "auto", device: str = "auto", bf16: bool = False, batch_size: int | None = None):
    """The run's predictor. `runtime`: `torch` (on `device`: the GPU when there is one),
    `onnx` (an exported directory, `transferkit export`), or `auto`: ONNX where the
    directory holds an exported model, else torch. Predictors of one task share one
    interface whatever the strategy and runtime: classify `labels` and `predict_proba`,
    ner `tag`, qa `read`, lm `loss` and `generate`. `batch_size` overrides the predictor's."""
    from transferkit.strategies import get_strategy
    from transferkit.tasks import get_task

    model_dir = Path(model_dir)
    info = _checked_info(model_dir / INFO_FILE)
    check_head(model_dir, info)
    task, strategy = get_task(info["task"]), get_strategy(info["strategy"])
    predictor = strategy.load_predictor(task, model_dir, info, create_runtime(model_dir, info, runtime, device, bf16, batch_size))
    return task.calibrated(predictor, info)


def is_export(model_dir: Path) -> bool:
    """Whether `model_dir` is an export's: it holds the graph, or its run directory holds
    export.json (so an export that lost its graph is reported as missing that, not the
    torch weights it never had)."""
    from transferkit.serving.onnx_runtime import MODEL_FILE

    return (model_dir / MODEL_FILE).is_file() or (model_dir.parent / EXPORT_FILE).is_file()


def create_runtime(model_dir: Path, info: dict, runtime: str = "auto", device: str = "auto", bf16: bool = False, batch_size: int | None = None):
    """The runtime that runs `model_dir`'s model (`info`: its transferkit.json): the ONNX
    one imports no torch, so an exported model starts in a fraction of the time."""
    from transferkit.serving.onnx_runtime import MODEL_FILE, OnnxRuntime

    exported = is_export(model_dir)
    if runtime == "onnx" or (runtime == "auto" and exported):
        if not exported:
            from transferkit.serving.export import not_exportable

            if why := not_exportable(info):
                raise UserError(str(model_dir.parent), f"{why}, so --runtime onnx does not apply to it; give --runtime auto (or torch)")
            raise UserError(str(model_dir.parent), f"has no ONNX model ({MODEL_FILE}); export it first: transferkit export {model_dir.parent} --format onnx --output DIR")
        return OnnxRuntime.create(batch_size)
    if exported:
        raise UserError(str(model_dir.parent), "is an ONNX export, which runs on --runtime onnx (or auto), not torch; predict with the run it was exported from")
    from transferkit.inference import Runtime

    return Runtime.create(device, bf16, batch_size)
