"""`transferkit distill`'s flow, as `api.train`'s: the options and the teacher checked
before any work; `rundir.staged_run_dir` checks, locks and stages the output (nothing is
published on an error); every file read before any model loads; the teacher labels the
texts; the student trains; `api.score_model` writes `model/transferkit.json`, calibrates
and scores dev and test as for every run. The run directory is an ordinary classify
finetune run of the student (`config.yaml` describes it as one), plus `distill.yaml` (the
options, for `distill --config` to repeat it) and, in metrics.json, `distill`: the
teacher and its own scores, the texts learned from, the loss, the labelling."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from transferkit.config import test_sets
from transferkit.distill.config import DISTILL_FILE, DistillConfig
from transferkit.distill.teacher import Teacher
from transferkit.errors import UserError
from transferkit.progress import note, status
from transferkit.rundir import staged_run_dir
from transferkit.tracking import track_train


def distill(cfg: DistillConfig) -> dict:
    """Distil the teacher run into a student run at `cfg.output`; returns its metrics."""
    from transferkit.api import checked_model

    cfg.validate()
    teacher = Teacher.open(cfg.teacher)
    student = cfg.student_config(teacher.config)
    try:
        model_path = checked_model(student)
    except UserError as e:  # the student is `train --model`'s model under another flag
        raise UserError("--student", e.message) if e.where == "--model" else e from None
    inputs = [cfg.teacher, cfg.unlabeled, cfg.dev, *(path for _, path in test_sets(cfg.test)), model_path]
    with track_train(student) as run, staged_run_dir(Path(cfg.output), cfg.overwrite, inputs=inputs) as staging:
        run.start()
        metrics = _distill_in(staging, cfg, student, teacher, model_path)
        metrics["run"] = run.stamp()
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
        return metrics


def _distill_in(staging: Path, cfg: DistillConfig, student, teacher: Teacher, model_path: str) -> dict:
    from transferkit.api import score_model
    from transferkit.data.bad_rows import BadRows, write_skipped
    from transferkit.tasks.unlabeled import read_pool, usable_pool
    from transferkit.distill.student import train_student
    from transferkit.distill.teacher import predictor_of, teacher_probabilities
    from transferkit.experiments.executors import executor_for
    from transferkit.strategies import get_strategy
    from transferkit.tasks.classify import TASK
    from transferkit.training.batching import IGNORE

    (staging / "model").mkdir()
    status(f"reading the teacher's training data ({teacher.config.train}) and the unlabelled texts ({cfg.unlabeled}) ...")
    data = teacher.data(cfg.dev, cfg.test)
    bad_rows = BadRows.of(teacher.config)
    pool = usable_pool(read_pool(cfg.unlabeled, cfg.text_column or teacher.config.text_column, bad_rows), data,
                       {"dev": cfg.dev, **dict(test_sets(cfg.test))})
    if teacher.config.on_bad_row == "skip":
        write_skipped(data.skipped + bad_rows.in_file_order(), staging, Path(cfg.output))
    metric, why = TASK.selection(data)
    if why:
        note(why)

    texts = data.train.texts + pool.texts.texts
    gold = [teacher.labels.index(label) for label in data.train.labels] + [IGNORE] * len(pool.texts)
    status(f"loading the teacher ({teacher.run}) ...")
    teacher.predictor(cfg.device)  # here, so that weights that do not load are the one-line error
    started = time.perf_counter()
    probabilities = teacher_probabilities(teacher.model_dir, texts, executor_for(cfg.executor, cfg.workers, cfg.ray_address), cfg.device)
    labelling = {"seconds": time.perf_counter() - started, "texts": len(texts), "executor": cfg.executor, "workers": cfg.workers}
    predictor_of.cache_clear()  # the teacher's memory is the student's now

    status(f"training the student ({cfg.student}) on {len(data.train)} labelled and {len(pool.texts)} unlabelled texts ...")
    result = train_student(TASK, student, data, model_path, texts, gold, probabilities, cfg.temperature, cfg.labels_weight, staging / "model")
    student = replace(student, **result.resolved)
    metrics = score_model(TASK, get_strategy("finetune"), metric, student, data, result, staging, model_path)
    metrics["data"] = {**data.report, "overlap_with_pool": pool.overlap}
    metrics["data"]["skipped_rows"]["unlabeled"] = len(bad_rows.skipped)
    metrics["distill"] = {
        "teacher": {
            "run": str(Path(teacher.run).resolve()), "strategy": teacher.info["strategy"], "model": teacher.metrics.get("model"),
            "dev": scores(teacher.metrics.get("dev")), "test": scores(teacher.metrics.get("test")),
            "dev_file": teacher.config.dev, "test_files": teacher.config.test,
        },
        "labelled_texts": len(data.train),
        "pool": pool.report,
        "loss": {"soft": "KL(teacher || student) at the temperature, times its square", "temperature": cfg.temperature,
                 "hard": "cross-entropy on the gold label, teacher's labelled texts only", "labels_weight": cfg.labels_weight},
        "labelling": labelling,
    }
    student.to_yaml(staging / "config.yaml")
    cfg.to_yaml(staging / DISTILL_FILE)
    return metrics


def scores(split) -> dict | None:
    """A split's scores in a run's metrics.json, without their tables (per class, coverage,
    slices); named test sets each."""
    if not isinstance(split, dict):
        return None
    numbers = {k: v for k, v in split.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return numbers or {name: scores(inner) for name, inner in split.items()}
