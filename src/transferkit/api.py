"""train / evaluate / predict / pretrain as plain functions: what the CLI calls, and what a Python
user calls instead of the CLI.

The task modules (`transferkit.tasks.classify`, `.ner`, `.qa`) supply what
differs between tasks, with the same functions: `load_data(cfg)`, `read_labelled(path,
cfg)`, `check_known(split, labels)`, `score_split(...)` and `predict_records(...)`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from importlib import import_module
from pathlib import Path

from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.models.zoo import check_max_length, resolve_model
from transferkit.progress import status
from transferkit.rundir import library_versions, staged_run_dir
from transferkit.serving.predictor import load_predictor, read_info, write_info
from transferkit.strategies import USES_PRETRAINED_MODEL, strategy_module


def task_module(task: str):
    return import_module(f"transferkit.tasks.{task}")


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
    cfg = cfg.with_task_defaults()
    cfg.validate()
    cfg = replace(cfg, output=cfg.output or default_output(cfg))
    output = Path(cfg.output)
    inputs = [cfg.train, cfg.dev, cfg.test, cfg.vectors, cfg.model]
    publish = is_main_process()
    with staged_run_dir(output, cfg.overwrite, publish=publish, inputs=inputs) as staging:
        model_path = resolve_model(cfg.model) if USES_PRETRAINED_MODEL[cfg.strategy] else None
        if model_path:
            check_max_length(cfg.max_length, model_path, pair=bool(cfg.text_pair_column), room=2 if cfg.task == "ner" or cfg.text_pair_column else 1)
        task = task_module(cfg.task)
        status(f"reading the data ({cfg.train}) ...")
        data = task.load_data(cfg)
        status(f"training {cfg.task} {cfg.strategy} on {len(data.train)} examples" + (f", loading {cfg.model} ..." if model_path else " ..."))
        model_dir = staging / "model"
        model_dir.mkdir()
        stats = strategy_module(cfg.task, cfg.strategy).fit(cfg, data, model_path, model_dir)
        if not publish:  # another process of a multi-process run: the first one scores and writes
            return {}
        # what prediction needs: from the options, and what training chose (a qa no-answer threshold)
        learned = stats.pop("inference", {})
        write_info(model_dir, cfg.task, cfg.strategy, data.labels, cfg.max_length, **cfg.inference_settings(), **learned)

        predictor = load_predictor(model_dir)
        metrics = {
            "task": cfg.task,
            "strategy": cfg.strategy,
            "model": cfg.model if model_path else None,
            "labels": data.labels,
            "dev": task.score_split(predictor, data.dev, data.labels) if data.dev else None,
            "test": None,
        }
        if data.test is not None:
            metrics["test"] = task.score_split(predictor, data.test, data.labels, staging / "predictions" / "test.jsonl")
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
    """config.yaml stores absolute data paths (and a vectors directory's) so `train
    --config` works from anywhere."""
    paths = {name: getattr(cfg, name) for name in ("train", "dev", "test")}
    if cfg.vectors and Path(cfg.vectors).expanduser().is_dir():
        paths["vectors"] = str(Path(cfg.vectors).expanduser())
    return {name: str(Path(p).resolve()) if p else None for name, p in paths.items()}


def _run_config(run_dir: str) -> TrainConfig:
    """The run's options (its data columns, ...), from the `config.yaml` it wrote."""
    from transferkit.serving.run_files import require_file

    return TrainConfig.from_yaml(str(require_file(Path(run_dir) / "config.yaml")))


def evaluate(run_dir: str, data: str) -> dict:
    """Score a finished run on a labelled file, read with the run's data options."""
    info = read_info(run_dir)
    task = task_module(info["task"])
    split = task.read_labelled(data, _run_config(run_dir))
    task.check_known(split, info["labels"])
    status(f"loading the {info['task']} model of {run_dir} ...")
    predictor = load_predictor(Path(run_dir) / "model")
    return {"task": info["task"], "strategy": info["strategy"], "data": data, **task.score_split(predictor, split, info["labels"])}


def predict(run_dir: str, texts: list[str] | None = None, input_path: str | None = None, context: str | None = None,
            questions: list[str] | None = None) -> list[dict]:
    """Predictions for texts given directly or read from a file, one record per text in
    input order (the fields depend on the task: see the task module's `predict_records`).
    For qa the texts are questions about `context`; `questions` come before them (and,
    like `context`, are refused by a run of another task)."""
    info = read_info(run_dir)
    cfg = _run_config(run_dir)
    for option, given in (("--question", questions), ("--context", context is not None)):
        if given and info["task"] != "qa":
            raise UserError(option, f"applies to qa runs; {run_dir} is a {info['task']} run")
    status(f"loading the {info['task']} model of {run_dir} ...")
    predictor = load_predictor(Path(run_dir) / "model")
    passage = {} if context is None else {"context": context}
    texts = list(questions or []) + list(texts or [])
    return task_module(info["task"]).predict_records(predictor, cfg, texts, input_path, **passage)



def generate(run_dir: str, prompts: list[str], **options) -> list[dict]:
    """Continuations of each prompt by a `--task lm` run (options: `max_new_tokens`,
    `greedy`, `temperature`, `top_k`, `top_p`, `seed`)."""
    info = read_info(run_dir)
    if info["task"] != "lm":
        raise UserError(str(run_dir), f"a {info['task']} run cannot generate text; give a --task lm run")
    predictor = load_predictor(Path(run_dir) / "model")
    return [{"prompt": p, "generated": g} for p, g in zip(prompts, predictor.generate(prompts, **options))]


def pretrain_word2vec(cfg) -> dict:
    """Train word2vec vectors on a corpus and write `cfg.output`; returns its metrics."""
    from transferkit.pretraining import word2vec

    return {**word2vec.train(cfg), "output": cfg.output}


def pretrain_masked_lm(cfg) -> dict:
    """Continue masked-LM pretraining of an encoder on a corpus and write `cfg.output`."""
    from transferkit.pretraining import masked_lm

    return {**masked_lm.train(cfg), "output": cfg.output}


def evaluate_vectors(source: str) -> dict:
    """Analogy, WordSim-353 and SimLex-999 scores of word vectors (a directory or glove-50d)."""
    from transferkit.evaluation.word_vectors import evaluate
    from transferkit.models.word_vectors import load_vectors

    vectors, _ = load_vectors(source)
    return {"vectors": source, "vocabulary": len(vectors), **evaluate(vectors)}
