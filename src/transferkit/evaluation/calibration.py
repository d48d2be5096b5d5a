"""How far a classifier's probabilities can be trusted, and one scalar that repairs most of it.

A fine-tuned network's top probability is usually higher than its accuracy (Guo et al.
2017, "On calibration of modern neural networks"); a logistic head on frozen features can
err either way. Temperature scaling divides the log-probabilities by one `T > 0` fitted
on dev (minimum negative log-likelihood): the ranking of the labels, and so every
prediction, stays the same, while `--abstain-below` and the scores users threshold on mean
what they say. It needs only probabilities, so one wrapper (`TemperatureScaled`) serves
every classify predictor.

Reported: the expected calibration error (ECE: 15 equal-width confidence bins, the gap
between each bin's accuracy and mean confidence, weighted by its share of examples), the
NLL, and a selective-prediction table (at each probability threshold, the share of
examples predicted and the accuracy on them).
"""

from __future__ import annotations

import numpy as np

BINS = 15
THRESHOLDS = (0.5, 0.7, 0.9, 0.95, 0.99)
# a head on barely tuned features can need T near 0.05 (its logits span little); beyond these
# bounds the dev split asks for ever sharper (or flatter) probabilities, which it cannot support
LOG_T_BOUNDS = (np.log(0.01), np.log(100.0))
TINY = np.finfo(np.float32).tiny  # log(0) guard: a probability that underflowed


def scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row-wise: for a model's softmax, the softmax of its logits / T."""
    z = np.log(np.maximum(probs, TINY)) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(probs.dtype)


def nll(probs: np.ndarray, gold: np.ndarray) -> float:
    """Mean negative log-probability of the gold labels."""
    return float(-np.log(np.maximum(probs[np.arange(len(gold)), gold], TINY)).mean()) if len(gold) else 0.0


def ece(probs: np.ndarray, gold: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: sum over bins of the top probability ((i-1)/bins, i/bins]
    of (examples in the bin / all) × |accuracy − mean confidence| in the bin."""
    if not len(gold):
        return 0.0
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> float:
    """The T minimising dev NLL of softmax(log p / T). The NLL is convex in 1/T, so it has
    one minimum over log T, which a bounded Brent search finds; a dev split the model gets
    all right (ever sharper is ever better) stops at the bound."""
    from scipy.optimize import minimize_scalar

    log_p = np.log(np.maximum(probs.astype(np.float64), TINY))
    rows = np.arange(len(gold))

    def loss(log_t: float) -> float:
        z = log_p / np.exp(log_t)
        top = z.max(axis=1)
        return float((np.log(np.exp(z - top[:, None]).sum(axis=1)) + top - z[rows, gold]).mean())

    return float(np.exp(minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-5}).x))


def selective(probs: np.ndarray, gold: np.ndarray, thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold: the share of examples whose top probability reaches it (`coverage`)
    and the accuracy on those (None where none does): what `--abstain-below` would give."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold
    table = []
    for t in thresholds:
        kept = confidence >= t
        table.append({"threshold": t, "coverage": float(kept.mean()) if len(gold) else 0.0,
                      "accuracy": float(correct[kept].mean()) if kept.any() else None})
    return table


def calibration_report(probs: np.ndarray, gold: np.ndarray, temperature: float | None) -> dict:
    """A scored split's `ece`, `nll` and `coverage` table for the probabilities predicted
    (`probs`, already scaled by `temperature` where the run has one), and the ECE the
    unscaled model had (`ece_uncalibrated`), recovered exactly: softmax(T log q) = p."""
    report = {"ece": ece(probs, gold), "nll": nll(probs, gold)}
    if temperature is not None:
        report["ece_uncalibrated"] = ece(scaled(probs, 1 / temperature), gold)
    report["coverage"] = selective(probs, gold)
    return report


def calibrate(probs: np.ndarray, gold: np.ndarray) -> tuple[float, dict]:
    """The temperature fitted on dev probabilities, and the dev ECE and NLL before and
    after (with a `note` where the fit stopped at a bound: typically a small dev split the
    model gets all right, on which sharper is always better)."""
    temperature = fit_temperature(probs, gold)
    after = scaled(probs, temperature)
    report = {"ece_before": ece(probs, gold), "ece_after": ece(after, gold), "nll_before": nll(probs, gold), "nll_after": nll(after, gold)}
    if min(abs(np.log(temperature) - bound) for bound in LOG_T_BOUNDS) < 1e-3:
        report["note"] = f"the temperature stopped at the search's bound ({temperature:.3g}): the dev predictions ask for an even more extreme one; with few dev examples the probabilities are uncertain"
    return temperature, report


class CalibratedPredictor:
    """A strategy's predictor with what the run learned on dev applied over it
    (`Task.calibrated`). Everything it does not change (labels, the model, the tokenizer,
    `explain`) is the wrapped predictor's, which `uncalibrated` is."""

    def __init__(self, predictor):
        self.uncalibrated = predictor

    def __getattr__(self, name):
        if name == "uncalibrated":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.uncalibrated, name)


class TemperatureScaled(CalibratedPredictor):
    """A classify predictor whose probabilities are softmax(log p / T), for any classify
    predictor whose run has a `temperature`."""

    def __init__(self, predictor, temperature: float):
        super().__init__(predictor)
        self.temperature = temperature

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        return scaled(self.uncalibrated.predict_proba(texts, pairs), self.temperature)
