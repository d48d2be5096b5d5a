"""A logistic-regression head over fixed vectors, stored without pickle.

scikit-learn fits it (its regularisation chosen on dev, or by cross-validation when there
is no dev); prediction is a few lines of numpy over the saved arrays, so a run directory
holds safetensors + JSON, never a pickle that could run code when loaded. For multi-label
data (multi-hot targets) it is one logistic regression per label (`OneVsRest`), each row of
`coef` read with its own sigmoid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from transferkit.inference import sigmoid
from transferkit.strategies.base import Strategy

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
F1_AVERAGES = {"macro_f1": "macro", "micro_f1": "micro"}  # the F1 metrics that may choose C


@dataclass
class LinearHead:
    coef: np.ndarray  # (1, d) for two classes, else (classes, d); one-vs-rest: (labels, d)
    intercept: np.ndarray
    mean: np.ndarray | None  # standardisation of dense inputs; None for sparse ones
    scale: np.ndarray | None
    C: float
    selection: str  # how C was chosen
    one_vs_rest: bool = False  # multi-label: a sigmoid per label rather than a softmax over classes

    def logits(self, X) -> np.ndarray:
        if self.mean is not None:
            X = (X - self.mean) / self.scale
        return np.asarray(X @ self.coef.T) + self.intercept

    def predict_proba(self, X) -> np.ndarray:
        """`(n, classes)` probabilities summing to 1, or one-vs-rest `(n, labels)` each its own."""
        z = self.logits(X)
        if self.one_vs_rest:
            return sigmoid(z)
        if z.shape[1] == 1:
            p = sigmoid(z[:, 0])
            return np.stack([1.0 - p, p], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, folder: Path, name: str = "head") -> None:
        arrays = {"coef": self.coef, "intercept": self.intercept}
        if self.mean is not None:
            arrays.update(mean=self.mean, scale=self.scale)
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}, str(folder / f"{name}.safetensors"))
        meta = {"C": self.C, "selection": self.selection, **({"one_vs_rest": True} if self.one_vs_rest else {})}
        (folder / f"{name}.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path, name: str = "head") -> "LinearHead":
        from transferkit.serving.run_files import read_json, safetensors_shapes

        safetensors_shapes(folder / f"{name}.safetensors")  # whole, or the run is damaged
        arrays = load_file(str(folder / f"{name}.safetensors"))
        meta = read_json(folder / f"{name}.json")
        one_vs_rest = meta.get("one_vs_rest", False) is True
        return cls(arrays["coef"], arrays["intercept"], arrays.get("mean"), arrays.get("scale"), meta["C"], meta["selection"], one_vs_rest)


class OneVsRest(ClassifierMixin, BaseEstimator):
    """One binary `estimator` per column of a multi-hot target, with `coef_` and
    `intercept_` stacked as a multinomial model has them. A label that every (or no)
    training text carries has nothing to separate: its row is zeros, and its intercept the
    smoothed log-odds of the label in training (scikit-learn's own one-vs-rest keeps no
    weights for such a label)."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, Y):
        coef, intercept = np.zeros((Y.shape[1], X.shape[1])), np.zeros(Y.shape[1])
        for j, y in enumerate(Y.T):
            if y.min() == y.max():
                intercept[j] = np.log((y.sum() + 0.5) / (len(y) - y.sum() + 0.5))
            else:
                fitted = clone(self.estimator).fit(X, y)
                coef[j], intercept[j] = fitted.coef_[0], fitted.intercept_[0]
        self.coef_, self.intercept_ = coef, intercept
        self.classes_ = np.arange(Y.shape[1])  # what scikit-learn's scorers ask a classifier for (its own one-vs-rest's)
        return self

    def predict(self, X):
        """Multi-hot, a label where its probability is over 0.5."""
        return (np.asarray(X @ self.coef_.T) + self.intercept_ > 0).astype(np.int64)


def fit_head(X, y: np.ndarray, X_dev=None, y_dev=None, seed: int = 0, standardize: bool = True,
             class_weight: str | None = None, metric: str = "accuracy", without_dev_C: float | None = None) -> LinearHead:
    """Fit on (X, y) with C chosen by the dev score, else `without_dev_C` where given, else
    by stratified k-fold CV, else 1.0. `class_weight="balanced"` weighs each class inversely
    to its frequency (scikit-learn's rule); `metric` ("accuracy", "macro_f1" or "micro_f1")
    is what chooses C. A multi-hot `y` `(n, labels)` fits one-vs-rest (each label's two sides
    balanced alike with "balanced"), its C chosen on all labels at once, with plain k-fold CV
    (scikit-learn stratifies no multi-label data)."""
    one_vs_rest = y.ndim == 2
    mean = scale = None
    if standardize:
        mean = X.mean(axis=0)
        scale = X.std(axis=0) + 1e-6
        X = (X - mean) / scale
        if X_dev is not None:
            X_dev = (X_dev - mean) / scale

    def model(C: float):
        logistic = LogisticRegression(C=C, max_iter=3000, random_state=seed, class_weight=class_weight)
        return OneVsRest(logistic) if one_vs_rest else logistic

    def dev_score(fitted) -> float:
        if metric in F1_AVERAGES:
            return f1_score(y_dev, fitted.predict(X_dev), average=F1_AVERAGES[metric], zero_division=0)
        return fitted.score(X_dev, y_dev)

    named = {"accuracy": "accuracy", "macro_f1": "macro-F1", "micro_f1": "micro-F1"}[metric]
    if X_dev is not None and len(y_dev):
        scores = [dev_score(model(C).fit(X, y)) for C in C_GRID]
        C, selection = C_GRID[int(np.argmax(scores))], f"dev {named}"
    elif without_dev_C is not None:
        C, selection = without_dev_C, "fixed (no dev data)"
    else:
        folds = min(5, int(y.sum(axis=0).min() if one_vs_rest else np.bincount(y).min()))
        if folds >= 2:
            cv = (KFold if one_vs_rest else StratifiedKFold)(folds, shuffle=True, random_state=seed)
            scoring = f"f1_{F1_AVERAGES[metric]}" if metric in F1_AVERAGES else None
            scores = [cross_val_score(model(C), X, y, cv=cv, scoring=scoring).mean() for C in C_GRID]
            C, selection = C_GRID[int(np.argmax(scores))], f"{folds}-fold cross-validation" + (f" ({named})" if scoring else "")
        else:
            C, selection = 1.0, "default (too few examples per class to cross-validate)"
    fitted = model(C).fit(X, y)
    return LinearHead(fitted.coef_, fitted.intercept_, mean, scale, float(C), selection, one_vs_rest)


def head_options(task, cfg, data) -> dict:
    """`fit_head`'s class weighting and selection metric for a classify run."""
    return {"class_weight": "balanced" if cfg.class_weight == "balanced" else None, "metric": task.selection(data)[0]}


@dataclass
class HeadOnly(Strategy):
    """A strategy that needs no pretrained model: vectors computed from the texts alone
    (TF-IDF, averaged word vectors) and a linear head. `train(task, cfg, data, model_dir)`
    fits and writes it; `predictor(model_dir, labels)` reads it back."""

    name: str
    train: Callable
    predictor: type
    uses_pretrained_model = False
    linear_head = True

    def fit(self, task, cfg, data, model_path, model_dir: Path, checkpoints=None):
        return self.train(task, cfg, data, model_dir)

    def load_predictor(self, task, model_dir: Path, info: dict, runtime):
        return self.predictor(model_dir, info["labels"])
