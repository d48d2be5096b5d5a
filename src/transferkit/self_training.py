"""Self-training on the user's unlabelled texts (`train --unlabeled FILE`, classify).

Most users with a few labels have many unlabelled texts of the same kind. The run trains
as usual; then, for each of `--self-training-rounds` rounds, the model it has labels the
whole pool, the pool texts it is surest of join the training labels with the class it
gave them, and the strategy trains again from the pretrained model on both. Round r adds
the r × K texts of each class with the highest probability of that class among those it
was predicted, K being the run's labels per class (the median class of the labels), so
each class gains alike however skewed the model's predictions are, and later rounds,
whose model is better, add more. The rule is fixed in advance (no threshold tuned on any
split); every strategy but zeroshot takes it, since it only calls `Strategy.fit` again.
"""

from __future__ import annotations

import shutil
import statistics
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from transferkit.data.classification import ClassificationSplit
from transferkit.progress import status


def fit_self_trained(task, strategy, cfg, data, pool: ClassificationSplit, model_path: str | None, model_dir: Path,
                     checkpoints, predictor_of) -> tuple:
    """`strategy.fit` on the labels, then once per round on the labels and the pool texts
    the latest model labels most surely. `predictor_of(result)`: the predictor of the model
    `result` describes, as `predict` would load it. Returns the last `FitResult` and what
    metrics.json's `train.unlabeled` reports."""
    per_class = labels_per_class(data.train)
    result = strategy.fit(task, cfg, data, model_path, model_dir, checkpoints)
    rounds = []
    for r in range(1, cfg.self_training_rounds + 1):
        status(f"self-training round {r} of {cfg.self_training_rounds}: labelling {len(pool)} unlabelled texts ...")
        probabilities = np.asarray(predictor_of(result).predict_proba(pool.texts))
        chosen = most_confident(probabilities, r * per_class)
        labels = [data.labels[int(probabilities[i].argmax())] for i in chosen]
        train = joined(data.train, pool.subset(chosen), labels)
        rounds.append({"round": r, "added": len(chosen), "added_per_class": dict(sorted(Counter(labels).items())),
                       "lowest_probability": float(min((probabilities[i].max() for i in chosen), default=1.0))})
        shutil.rmtree(model_dir)  # the next model is written afresh: nothing of this one's may remain
        model_dir.mkdir()
        status(f"self-training round {r}: training on {len(data.train)} labels and {len(chosen)} texts the model labelled ...")
        result = strategy.fit(task, cfg, replace(data, train=train), model_path, model_dir, None)
    return result, {"labels_per_class": per_class, "rounds": rounds}


def labels_per_class(train: ClassificationSplit) -> int:
    """K: the labelled examples of the median class (the budget drawn, or the file's)."""
    return int(statistics.median(Counter(train.labels).values()))


def most_confident(probabilities: np.ndarray, per_class: int) -> list[int]:
    """Rows to add: of each class, the `per_class` rows predicted as it with the highest
    probability (all of them where fewer are), in row order."""
    predicted = probabilities.argmax(axis=1)
    chosen = []
    for label in range(probabilities.shape[1]):
        rows = np.flatnonzero(predicted == label)
        chosen.extend(rows[np.argsort(-probabilities[rows, label], kind="stable")[:per_class]].tolist())
    return sorted(chosen)


def joined(train: ClassificationSplit, texts: ClassificationSplit, labels: list[str]) -> ClassificationSplit:
    """The training split with `texts` appended under `labels` (ids and places kept, so an
    error or a record still names the pool's line)."""
    return ClassificationSplit(train.path, train.texts + texts.texts, None, train.labels + labels,
                               train.ids + [f"unlabeled:{i}" for i in texts.ids], train.places + texts.places)
