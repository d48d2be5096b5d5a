"""Multi-label classification (`--multi-label`): each text has a set of labels (none, one or
several), read as sorted tuples (`data.classification`). Everything that differs from one
label per text lives here, and `classify` dispatches to it.

Every strategy gives one sigmoid probability per label: finetune and scratch train with
binary cross-entropy (the model's `problem_type` is `multi_label_classification`, so the
transformers pipeline reads it with a sigmoid too), the linear heads are one logistic
regression per label (one-vs-rest). A label applies where its probability reaches its
threshold. The thresholds are chosen per label on dev after training (`calibrate`, which
`Task.calibrate` calls), from the run's own predictor, so every strategy gets them the same
way; they are stored in `model/transferkit.json` and applied by `predict`, `evaluate` and
`serve`. Without dev data each is 0.5. Checkpoints and the heads' regularisation are
chosen on dev micro-F1 at 0.5.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from transferkit.errors import UserError
from transferkit.evaluation.calibration import CalibratedPredictor

PROBLEM_TYPE = "multi_label_classification"  # transformers' name: BCE loss, sigmoid in its pipeline
METRIC = "micro_f1"  # what selects checkpoints and regularisation: every (text, label) decision counts alike
DEFAULT_THRESHOLD = 0.5
# A grid rather than every dev score: with a few dozen dev texts, a threshold fitted between
# two dev scores is chosen by one example; steps of 0.05 are coarse enough not to be.
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


def multi_hot(label_sets, labels: list[str]) -> np.ndarray:
    """`(texts, labels)` int array, 1 where the text carries the label."""
    column = {label: j for j, label in enumerate(labels)}
    rows = np.zeros((len(label_sets), len(labels)), dtype=np.int64)
    for i, label_set in enumerate(label_sets):
        rows[i, [column[label] for label in label_set]] = 1
    return rows


def positives(label_sets) -> Counter:
    """How many texts carry each label."""
    return Counter(label for label_set in label_sets for label in label_set)


def pos_weights(train_sets, labels: list[str]) -> list[float]:
    """With `--class-weight balanced`: each label's positives weigh negatives / positives
    (BCE's `pos_weight`), so each label's two sides count alike; this is the ratio
    scikit-learn's `balanced` gives a binary problem, as the one-vs-rest heads use it. A
    label no training text carries gets 1 (it has no positive to weigh)."""
    counts, n = positives(train_sets), len(train_sets)
    return [(n - counts[label]) / counts[label] if counts[label] else 1.0 for label in labels]


def training_loss(data, cfg):
    """Binary cross-entropy over the labels (with `--class-weight balanced`, `pos_weights`).
    transferkit's own rather than the model's: the loop's collator stacks the multi-hot
    targets as integers, and BCE needs them as floats."""
    import torch

    weights = torch.tensor(pos_weights(data.train.labels, data.labels), dtype=torch.float32) if cfg.class_weight == "balanced" else None

    def loss(model, batch):
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
        pos_weight = None if weights is None else weights.to(logits.device)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"].float(), pos_weight=pos_weight)

    return loss


def decide(probabilities: np.ndarray, thresholds) -> np.ndarray:
    """`(texts, labels)` 0/1: a label applies where its probability reaches its threshold."""
    return (probabilities >= np.asarray(thresholds, dtype=np.float64)).astype(np.int64)


def micro_f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    return _f1(gold, predicted, "micro")


def _f1(gold: np.ndarray, predicted: np.ndarray, average: str) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(gold, predicted, average=average, zero_division=0))


def dev_scorer(probabilities, data):
    """The loop's dev score: micro-F1 at 0.5 of `probabilities(model)` on the dev texts."""
    gold = multi_hot(data.dev.labels, data.labels)
    return lambda model: micro_f1(gold, decide(probabilities(model), DEFAULT_THRESHOLD))


def choose_thresholds(probabilities: np.ndarray, gold: np.ndarray) -> list[float]:
    """Per label, the `THRESHOLD_GRID` value with the best F1 on dev; ties go to the one
    closest to 0.5, so a label dev says nothing about (no positives: F1 0 everywhere) keeps 0.5."""
    chosen = []
    for scores, truth in zip(probabilities.T, gold.T.astype(bool)):
        best = None
        for t in THRESHOLD_GRID:
            predicted = scores >= t
            tp = int((predicted & truth).sum())
            f1 = 2 * tp / (predicted.sum() + truth.sum()) if tp else 0.0
            key = (f1, -abs(t - DEFAULT_THRESHOLD))
            if best is None or key > best[0]:
                best = (key, t)
        chosen.append(best[1])
    return chosen


def calibrate(predictor, data) -> tuple[dict, dict]:
    """The thresholds, chosen on dev from the trained predictor's own probabilities (0.5
    each without dev): for `model/transferkit.json`, and for metrics.json with how."""
    if data.dev is not None and len(data.dev):
        thresholds = choose_thresholds(predictor.predict_proba(data.dev.texts, data.dev.pairs), multi_hot(data.dev.labels, data.labels))
        how = "each label's best dev F1 over 0.05, 0.10, ..., 0.95 (ties: nearest 0.5)"
    else:
        thresholds, how = [DEFAULT_THRESHOLD] * len(data.labels), "no dev split: 0.5 for every label"
    chosen = dict(zip(data.labels, thresholds))
    return {"thresholds": chosen}, {"thresholds": chosen, "chosen_by": how}


def check_info(path: Path, info: dict) -> None:
    """A multi-label run's `transferkit.json`: `multi_label` true and, where given, one
    threshold in [0, 1] for each of its labels."""
    from transferkit.serving.run_files import damaged

    if info["multi_label"] is not True:
        raise damaged(path, f"'multi_label' is {info['multi_label']!r}; it must be true or absent")
    thresholds = info.get("thresholds")
    if thresholds is None:
        return
    if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(info["labels"]):
        raise damaged(path, "'thresholds' must map each of its labels to a number")
    for label, t in thresholds.items():
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
            raise damaged(path, f"the threshold of {label!r} is {t!r}; it must be a number from 0 to 1")


class MultiLabelPredictor(CalibratedPredictor):
    """A multi-label run's predictor: `Classify.calibrated` puts it around the strategy's
    predictor (whose `predict_proba` gives per-label sigmoid probabilities) with the
    thresholds the run chose."""

    multi_label = True

    def __init__(self, predictor, thresholds: dict[str, float] | None):
        super().__init__(predictor)
        self.thresholds = np.array([(thresholds or {}).get(label, DEFAULT_THRESHOLD) for label in predictor.labels])

    def label_sets(self, probabilities: np.ndarray) -> list[list[str]]:
        return [[label for label, on in zip(self.labels, row) if on] for row in decide(probabilities, self.thresholds)]


def metrics(gold: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """`micro_f1`, `macro_f1` (over every label), `subset_accuracy` (the whole set right),
    `examples` and `per_class` precision, recall, F1 and support, of multi-hot arrays."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    from transferkit.tasks.classify import per_class

    return {
        "micro_f1": micro_f1(gold, predicted),
        "macro_f1": _f1(gold, predicted, "macro"),
        "subset_accuracy": float(accuracy_score(gold, predicted)),
        "examples": len(gold),
        "per_class": per_class(labels, *precision_recall_fscore_support(gold, predicted, average=None, zero_division=0)),
    }


def score_split(predictor: MultiLabelPredictor, split, labels: list[str], predictions_file: Path | None = None) -> dict:
    """`metrics` at the run's thresholds, and micro- and macro-F1 with 0.5 for every label
    (`at_0.5`: beside them, what the dev thresholds bought); with a slice column each
    group's metrics (`slices`, the worst group by micro-F1); optionally one JSON line per
    text with `id`, `prediction` and `gold` (label lists) and `scores`."""
    probabilities = predictor.predict_proba(split.texts, split.pairs)
    gold = multi_hot(split.labels, labels)
    if predictions_file is not None:
        predictions_file.parent.mkdir(parents=True, exist_ok=True)
        with predictions_file.open("w") as f:
            for i, chosen, g, row in zip(split.ids, predictor.label_sets(probabilities), split.labels, probabilities):
                record = {"id": i, "prediction": chosen, "gold": list(g), "scores": dict(zip(labels, map(float, row)))}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    predicted, at_half = decide(probabilities, predictor.thresholds), decide(probabilities, DEFAULT_THRESHOLD)
    scores = {**metrics(gold, predicted, labels), "at_0.5": {"micro_f1": micro_f1(gold, at_half), "macro_f1": _f1(gold, at_half, "macro")}}
    if split.groups is not None:
        from transferkit.evaluation.slices import slice_metrics

        score = lambda g, p: metrics(np.array(g), np.array(p), labels)  # noqa: E731
        scores["slices"] = slice_metrics(split.slice_column, split.groups, gold, predicted, score, scores, primary=METRIC)
    return scores


def records(predictor: MultiLabelPredictor, request) -> list[dict]:
    """`id`, `text`, `prediction` (the labels that apply, possibly none) and `scores` (each
    label's probability) per text. A multi-label run has no one score to abstain below, nor
    one label to explain."""
    for option in ("abstain_below", "explain"):
        if request.extra.get(option) not in (None, False):
            raise UserError(f"--{option.replace('_', '-')}", "applies to single-label runs; this run is multi-label (its records give every label's probability)")
    split = request.items
    probabilities = predictor.predict_proba(split.texts, split.pairs)
    return [
        {"id": i, "text": t, "prediction": predicted, "scores": dict(zip(predictor.labels, map(float, row)))}
        for i, t, predicted, row in zip(split.ids, split.texts, predictor.label_sets(probabilities), probabilities)
    ]
