"""The teacher: a finished classify run, checked before any work, its labelled training
texts drawn as its run drew them, and its class probabilities for many texts computed in
shards on a sweep executor, so that a pool of millions of texts can be labelled on a Ray
cluster as a learning curve's cells are trained there."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.progress import status

SHARD_TEXTS = 10_000  # texts per shard at most: a few seconds to minutes of a worker's time, a small message


@dataclass
class Teacher:
    run: str
    info: dict  # its model/transferkit.json
    config: TrainConfig  # its config.yaml
    metrics: dict  # its metrics.json

    @property
    def model_dir(self) -> str:
        return str(Path(self.run) / "model")

    @property
    def labels(self) -> list[str]:
        """The classes, in the order of its probabilities' columns (and the student's head)."""
        return self.info["labels"]

    @classmethod
    def open(cls, run: str) -> "Teacher":
        """The run at `run`, refused with the one-line error unless it is a single-label
        classify run on one text per example whose model, config.yaml, metrics.json and
        training file are there; the weights are checked when the labelling loads them."""
        from transferkit.api import run_config
        from transferkit.serving.predictor import check_head, read_info
        from transferkit.serving.run_files import damaged, read_json

        info = read_info(run)  # a missing or damaged run is the one-line error here
        if info["task"] != "classify":
            raise UserError(run, f"a {info['task']} run has no classifier to teach with; give a classify run")
        if info.get("multi_label"):
            raise UserError(run, "a multi-label run: distill teaches one distribution over the classes per text; give a single-label classify run")
        check_head(Path(run) / "model", info)
        config = run_config(run)
        if config.text_pair_column:
            raise UserError(run, "the teacher reads sentence pairs; distill's unlabelled texts are single texts, so give a run on one text per example")
        if not config.train:
            raise UserError(run, "has no training file of its own (a distilled student?); distill also learns the teacher's outputs on its labelled texts: give a run of `transferkit train`")
        if not Path(config.train).is_file():
            raise UserError(str(config.train), f"the teacher's training file (its config.yaml, {run}) is not there; distill also learns the teacher's outputs on its labelled texts: put the file back at that path")
        metrics = read_json(Path(run) / "metrics.json")
        if not isinstance(metrics, dict):
            raise damaged(Path(run) / "metrics.json", "not a JSON object")
        return cls(run, info, config, metrics)

    def data(self, dev: str | None, test: list[str]):
        """The teacher's labelled training texts, drawn as its run drew them (its training
        file, columns, `--labels-per-class` and seed, through the classify task's
        `load_data`), and the student's dev and test splits read with the same options,
        checked against its labels, their examples also in the training file warned about."""
        from transferkit.tasks.classify import TASK

        data = TASK.load_data(replace(self.config, dev=dev, test=list(test), slice_column=None))
        if unknown := sorted(set(data.labels) - set(self.labels)):
            raise UserError(str(self.config.train), f"has labels the teacher's model does not know ({', '.join(unknown)}); has the file changed since the teacher was trained?")
        return replace(data, labels=self.labels)

    def predictor(self, device: str):
        """Its predictor, as `predict` loads it (a calibrated run's temperature applied);
        the labelling in this process reuses it."""
        return predictor_of(self.model_dir, device)


@lru_cache(maxsize=1)
def predictor_of(model_dir: str, device: str):
    """A teacher's predictor, loaded once per process (every shard a process labels uses it)."""
    from transferkit.serving.predictor import load_predictor

    predictor = load_predictor(Path(model_dir), device=device)
    if not (hasattr(predictor, "labels") and hasattr(predictor, "predict_proba")):
        raise UserError(str(Path(model_dir).parent), "its predictor gives no class probabilities; give a classify run")
    return predictor


def label_shard(shard: dict) -> dict:
    """One shard's texts labelled by the teacher: a module-level function of a plain dict,
    so that an executor runs it in this process, in a worker process or on a Ray node."""
    predictor = predictor_of(shard["model_dir"], shard["device"])
    return {"status": "finished", "start": shard["start"], "probabilities": predictor.predict_proba(shard["texts"])}


def shards(model_dir: str, texts: list[str], device: str, workers: int) -> list[dict]:
    """`texts` cut into consecutive shards: at least one per worker, at most `SHARD_TEXTS` texts each."""
    size = max(1, min(SHARD_TEXTS, math.ceil(len(texts) / workers)))
    return [{"model_dir": model_dir, "device": device, "start": start, "texts": texts[start:start + size]}
            for start in range(0, len(texts), size)]


def teacher_probabilities(model_dir: str, texts: list[str], executor, device: str = "auto"):
    """The teacher's class probabilities for `texts`, `(texts, labels)` in their order,
    labelled shard by shard on `executor` (`experiments.executors`: local, or Ray). A
    shard that fails stops the labelling with its error."""
    import numpy as np

    todo = shards(model_dir, texts, device, executor.workers)
    done: dict[int, np.ndarray] = {}

    def finished(shard: dict, result: dict) -> None:
        if result.get("status") != "finished":
            end = shard["start"] + len(shard["texts"])
            raise UserError(str(Path(model_dir).parent), f"labelling texts {shard['start'] + 1} to {end} failed: {result.get('error')}")
        done[shard["start"]] = result["probabilities"]
        status(f"labelled {sum(map(len, done.values()))} of {len(texts)} texts")

    executor.map(label_shard, todo, lambda shard: None, finished)
    return np.concatenate([done[start] for start in sorted(done)]).astype(np.float32)
