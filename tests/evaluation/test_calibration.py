"""Temperature scaling, ECE, NLL and the selective-prediction table, against hand-computed
values and a brute-force search; and a run that fits its temperature on dev, records it,
and predicts with it."""

import json

import numpy as np
import pytest

from transferkit import api
from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.evaluation.calibration import LOG_T_BOUNDS, calibrate, calibration_report, ece, fit_temperature, nll, scaled, selective
from transferkit.inference import softmax
from transferkit.serving.predictor import load_predictor


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.42, 0.58, 0.0], [0.68, 0.32, 0.0], [0.62, 0.38, 0.0], [0.35, 0.33, 0.32]])
    gold = np.array([0, 1, 1, 0, 1, 1])
    # 15 bins of width 1/15: both 0.9s in (0.867, 0.933] (accuracy 1/2), 0.58 in (0.533, 0.6] (right),
    # 0.62 in (0.6, 0.667] (wrong), 0.68 in (0.667, 0.733] (right; ten bins would join it with 0.62), 0.35 (wrong)
    expected = (2 * abs(0.5 - 0.9) + abs(1 - 0.58) + abs(0 - 0.62) + abs(1 - 0.68) + abs(0 - 0.35)) / 6
    assert ece(probs, gold) == pytest.approx(expected)
    assert nll(probs[:2], gold[:2]) == pytest.approx(-np.mean(np.log([0.9, 0.1])))


def test_scaling_probabilities_is_scaling_the_logits():
    logits = np.random.default_rng(0).normal(size=(20, 4)) * 3
    assert scaled(softmax(logits), 2.5) == pytest.approx(softmax(logits / 2.5), abs=1e-9)
    assert scaled(scaled(softmax(logits), 2.5), 1 / 2.5) == pytest.approx(softmax(logits), abs=1e-9)


def overconfident(n: int, seed: int):
    """Labels drawn from softmax(z), reported as softmax(3 z): a model three times too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    gold = np.array([rng.choice(3, p=p) for p in softmax(z)])
    return softmax(3 * z), gold


def test_the_fitted_temperature_is_the_brute_force_minimum():
    probs, gold = overconfident(2000, seed=1)
    grid = np.exp(np.linspace(*LOG_T_BOUNDS, 4001))
    best = grid[np.argmin([nll(scaled(probs, t), gold) for t in grid])]
    fitted = fit_temperature(probs, gold)
    assert fitted == pytest.approx(best, rel=2e-3)
    assert fitted == pytest.approx(3.0, rel=0.15)  # undoes the overconfidence
    assert nll(scaled(probs, fitted), gold) <= nll(probs, gold)
    assert ece(scaled(probs, fitted), gold) < ece(probs, gold) / 2
    assert "note" not in calibrate(probs, gold)[1]


def test_a_dev_split_the_model_gets_all_right_stops_at_the_bound_and_says_so():
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    temperature, dev = calibrate(probs, np.array([0, 1, 0]))
    assert temperature == pytest.approx(np.exp(LOG_T_BOUNDS[0]), rel=1e-3) and "bound" in dev["note"]


def test_selective_table_by_hand():
    probs = np.array([[0.99, 0.01], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    gold = np.array([0, 1, 1, 0])
    table = {row["threshold"]: (row["coverage"], row["accuracy"]) for row in selective(probs, gold)}
    assert table[0.5] == (1.0, 0.5)
    assert table[0.7] == (0.75, pytest.approx(2 / 3))
    assert table[0.9] == table[0.95] == table[0.99] == (0.25, 1.0)
    assert selective(probs, gold, thresholds=(0.995,)) == [{"threshold": 0.995, "coverage": 0.0, "accuracy": None}]


def test_the_report_recovers_the_uncalibrated_ece():
    probs, gold = overconfident(300, seed=2)
    report = calibration_report(scaled(probs, 2.0), gold, 2.0)
    assert report["ece_uncalibrated"] == pytest.approx(ece(probs, gold), abs=1e-9)
    assert report["ece"] == pytest.approx(ece(scaled(probs, 2.0), gold)) and "ece_uncalibrated" not in calibration_report(probs, gold, None)


def run(sentiment, tmp_path, name, **options):
    cfg = TrainConfig(strategy="features", train=str(sentiment["train"]), test=str(sentiment["test"]), output=str(tmp_path / name), max_length=32, **options)
    return api.train(cfg), tmp_path / name


def test_a_run_fits_its_temperature_on_dev_and_predicts_with_it(sentiment, tmp_path):
    metrics, folder = run(sentiment, tmp_path, "dev", dev=str(sentiment["dev"]))
    temperature = metrics["calibration"]["temperature"]
    assert json.loads((folder / "model" / "transferkit.json").read_text())["temperature"] == temperature
    assert temperature != 1.0 and set(metrics["calibration"]["dev"]) == {"ece_before", "ece_after", "nll_before", "nll_after"}
    assert metrics["calibration"]["dev"]["nll_after"] <= metrics["calibration"]["dev"]["nll_before"]
    assert metrics["dev"]["nll"] == pytest.approx(metrics["calibration"]["dev"]["nll_after"], abs=1e-6)
    assert {"ece", "nll", "ece_uncalibrated", "coverage"} <= set(metrics["test"])
    predictor = load_predictor(folder / "model", device="cpu")
    texts = ["a wonderful film", "dull and tedious"]
    assert predictor.predict_proba(texts) == pytest.approx(scaled(predictor.uncalibrated.predict_proba(texts), temperature), abs=1e-6)
    evaluated = api.evaluate(str(folder), str(sentiment["test"]))
    assert evaluated["ece"] == pytest.approx(metrics["test"]["ece"]) and evaluated["coverage"] == metrics["test"]["coverage"]
    info = json.loads((folder / "model" / "transferkit.json").read_text())
    (folder / "model" / "transferkit.json").write_text(json.dumps({**info, "temperature": 0}))
    with pytest.raises(UserError, match="'temperature' is 0; it must be more than 0"):
        load_predictor(folder / "model", device="cpu")


def test_without_dev_there_is_no_temperature_and_metrics_say_so(sentiment, tmp_path):
    metrics, folder = run(sentiment, tmp_path, "nodev")
    assert metrics["calibration"]["temperature"] == 1.0 and "no dev split" in metrics["calibration"]["note"]
    assert "temperature" not in json.loads((folder / "model" / "transferkit.json").read_text())
    assert "ece_uncalibrated" not in metrics["test"] and "ece" in metrics["test"]


def test_tfidf_runs_are_not_calibrated(sentiment, tmp_path):
    cfg = TrainConfig(strategy="tfidf", train=str(sentiment["train"]), dev=str(sentiment["dev"]), output=str(tmp_path / "tfidf"))
    assert "calibration" not in api.train(cfg)
