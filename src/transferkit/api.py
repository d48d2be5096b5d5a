"""train / evaluate / predict as plain functions: what the CLI calls, and what a Python
user calls instead of the CLI."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from transferkit.config import TrainConfig
from transferkit.data.classification import (
    ClassificationSplit,
    check_labels_known,
    label_set,
    read_split,
)
from transferkit.data.sampling import sample_per_class
from transferkit.errors import UserError
from transferkit.models.zoo import resolve_model
from transferkit.rundir import check_output, library_versions, staged_run_dir
from transferkit.serving.predictor import load_predictor, predictions, read_info, write_info
from transferkit.strategies import USES_PRETRAINED_MODEL, strategy_module
from transferkit.tasks.classify import classification_metrics


@dataclass
class ClassificationData:
    train: ClassificationSplit
    dev: ClassificationSplit | None
    test: ClassificationSplit | None
    labels: list[str]


def load_classification_data(cfg: TrainConfig) -> ClassificationData:
    """Read and validate every split (and draw the few-shot sample) before any model loads."""
    read = lambda path: read_split(path, cfg.text_column, cfg.label_column, cfg.text_pair_column)  # noqa: E731
    train = read(cfg.train)
    labels = label_set(train)
    dev = read(cfg.dev) if cfg.dev else None
    test = read(cfg.test) if cfg.test else None
    for split in (dev, test):
        if split is not None:
            check_labels_known(split, labels)
    if cfg.labels_per_class:
        train = sample_per_class(train, cfg.labels_per_class, cfg.seed, labels)
    return ClassificationData(train, dev, test, labels)


def is_main_process() -> bool:
    """Under torchrun / `accelerate launch` every process trains; only the first writes."""
    import torch
    from accelerate import PartialState

    # cpu=True lets accelerate see a torchrun launch on a machine without a GPU (gloo)
    return PartialState(cpu=not torch.cuda.is_available()).is_main_process


def default_output(cfg: TrainConfig) -> str:
    return str(Path("runs") / f"{cfg.task}-{cfg.strategy}-{time.strftime('%Y%m%d-%H%M%S')}")


def train(cfg: TrainConfig) -> dict:
    """Train one run and write its directory; returns the metrics written to metrics.json."""
    cfg.validate()
    cfg = replace(cfg, output=cfg.output or default_output(cfg))
    output = Path(cfg.output)
    check_output(output, cfg.overwrite)
    data = load_classification_data(cfg)
    model_path = resolve_model(cfg.model) if USES_PRETRAINED_MODEL[cfg.strategy] else None

    publish = is_main_process()
    with staged_run_dir(output, cfg.overwrite, publish=publish) as staging:
        model_dir = staging / "model"
        model_dir.mkdir()
        stats = strategy_module(cfg.strategy).fit(cfg, data, model_path, model_dir)
        if not publish:  # another process of a multi-process run: the first one scores and writes
            return {}
        write_info(model_dir, cfg.task, cfg.strategy, data.labels, cfg.max_length)

        predictor = load_predictor(model_dir)
        metrics = {
            "task": cfg.task,
            "strategy": cfg.strategy,
            "model": cfg.model if model_path else None,
            "labels": data.labels,
            "dev": score_split(predictor, data.dev, data.labels) if data.dev else None,
            "test": None,
        }
        if data.test is not None:
            metrics["test"] = score_split(predictor, data.test, data.labels, staging / "predictions" / "test.jsonl")
        seconds = stats.pop("seconds")
        examples = stats.pop("examples")
        metrics["train"] = {
            "seconds": seconds,
            "examples": examples,
            "samples_per_second": examples / seconds if seconds > 0 else None,
            "labelled_examples": len(data.train),
            **stats,
        }
        metrics["versions"] = library_versions()
        resolved = replace(cfg, **_absolute_paths(cfg))
        resolved.to_yaml(staging / "config.yaml")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return metrics


def _absolute_paths(cfg: TrainConfig) -> dict:
    """config.yaml stores absolute data paths so `train --config` works from anywhere."""
    paths = {name: getattr(cfg, name) for name in ("train", "dev", "test")}
    return {name: str(Path(p).resolve()) if p else None for name, p in paths.items()}


def score_split(predictor, split: ClassificationSplit, labels: list[str], predictions_file: Path | None = None) -> dict:
    """Metrics on a labelled split; optionally one JSON line per example with
    `id`, `prediction`, `gold` and `score`."""
    predicted, scores = predictions(predictor, split.texts, split.pairs)
    if predictions_file is not None:
        predictions_file.parent.mkdir(parents=True, exist_ok=True)
        with predictions_file.open("w") as f:
            for i, p, g, s in zip(split.ids, predicted, split.labels, scores):
                f.write(json.dumps({"id": i, "prediction": p, "gold": g, "score": float(s)}, ensure_ascii=False) + "\n")
    return classification_metrics(split.labels, predicted, labels)


def _run_config(run_dir: str) -> TrainConfig:
    return TrainConfig.from_yaml(str(Path(run_dir) / "config.yaml"))


def evaluate(run_dir: str, data: str) -> dict:
    """Score a finished run on a labelled file, read with the run's column names."""
    info = read_info(run_dir)
    cfg = _run_config(run_dir)
    split = read_split(data, cfg.text_column, cfg.label_column, cfg.text_pair_column)
    check_labels_known(split, info["labels"])
    predictor = load_predictor(Path(run_dir) / "model")
    return {"task": info["task"], "strategy": info["strategy"], "data": data, **score_split(predictor, split, info["labels"])}


def predict(run_dir: str, texts: list[str] | None = None, input_path: str | None = None) -> list[dict]:
    """Predictions for texts given directly or read from a file (the run's text column),
    one record per text in input order: `id`, `text`, `prediction`, `score`."""
    read_info(run_dir)
    cfg = _run_config(run_dir)
    if input_path:
        split = read_split(input_path, cfg.text_column, None, cfg.text_pair_column)
    else:
        if not texts:
            raise UserError("predict", "no input: give texts, --input FILE, or lines on standard input")
        for n, text in enumerate(texts, start=1):
            if not text.strip():
                raise UserError(f"text {n}", "empty text")
        split = ClassificationSplit("<texts>", list(texts), None, None, [str(i) for i in range(len(texts))], [])
    predictor = load_predictor(Path(run_dir) / "model")
    predicted, scores = predictions(predictor, split.texts, split.pairs)
    return [
        {"id": i, "text": t, "prediction": p, "score": float(s)}
        for i, t, p, s in zip(split.ids, split.texts, predicted, scores)
    ]
