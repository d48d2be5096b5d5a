"""Metrics per slice (`--slice-column`): each group's metrics against the predictions file
read back, the worst group among those large enough, and the gap to the overall score."""

import csv
import json

import pytest

from conftest import sentiment_rows, write_csv
from transferkit import api
from transferkit.config import TrainConfig
from transferkit.data.classification import read_split
from transferkit.evaluation.slices import MIN_EXAMPLES, slice_metrics
from transferkit.serving.predictor import load_predictor
from transferkit.tasks.classify import TASK, classification_metrics

LABELS = ["neg", "pos"]


def score(gold, predicted):
    return classification_metrics(gold, predicted, LABELS)


def test_groups_worst_and_gap():
    # a: 6 rows, 4 right; b: 5 rows, all right; c: 2 rows, both wrong (too small to be the worst)
    groups = ["a"] * 6 + ["b"] * 5 + ["c"] * 2
    gold = ["pos"] * 13
    predicted = ["pos"] * 4 + ["neg"] * 2 + ["pos"] * 5 + ["neg"] * 2
    overall = score(gold, predicted)
    result = slice_metrics("channel", groups, gold, predicted, score, overall)
    assert result["column"] == "channel" and result["min_examples"] == MIN_EXAMPLES == 5
    assert list(result["groups"]) == ["a", "b", "c"]
    assert {v: (g["examples"], g["accuracy"]) for v, g in result["groups"].items()} == {"a": (6, 4 / 6), "b": (5, 1.0), "c": (2, 0.0)}
    assert "per_class" not in result["groups"]["a"] and result["groups"]["b"]["macro_f1"] == pytest.approx(0.5)  # one class present of two
    assert result["worst"] == "a" and result["gap"] == pytest.approx(9 / 13 - 4 / 6)


def test_no_group_large_enough_has_no_worst():
    result = slice_metrics("c", ["x", "y"], ["pos", "neg"], ["pos", "pos"], score, score(["pos", "neg"], ["pos", "pos"]))
    assert result["groups"]["y"]["accuracy"] == 0.0
    assert result["worst"] is None and result["gap"] is None


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    """Train and test files with a `channel` column: test rows alternate web / app / mail."""
    folder = tmp_path_factory.mktemp("sliced")
    test = [(text, label, ["web", "app", "mail"][i % 3]) for i, (text, label) in enumerate(sentiment_rows(15, seed=3))]
    return {
        "train": write_csv(folder / "train.csv", sentiment_rows(16, seed=1)),
        "test": write_csv(folder / "test.csv", test, header=("text", "label", "channel")),
    }


@pytest.mark.parametrize("strategy", ["tfidf", "features"])
def test_score_split_adds_slices_for_every_strategy(sliced, tmp_path, strategy):
    run = tmp_path / strategy
    api.train(TrainConfig(train=str(sliced["train"]), test=str(sliced["test"]), output=str(run), strategy=strategy))
    predictor = load_predictor(run / "model")
    split = read_split(str(sliced["test"]))
    with open(sliced["test"], newline="") as f:
        split.groups = [row["channel"] for row in csv.DictReader(f)]
    split.slice_column = "channel"
    metrics = TASK.score_split(predictor, split, predictor.labels, tmp_path / "predictions" / "check.jsonl")
    # the reference: the written predictions, grouped by hand
    rows = [json.loads(line) for line in (tmp_path / "predictions" / "check.jsonl").read_text().splitlines()]
    slices = metrics["slices"]
    assert slices["column"] == "channel" and set(slices["groups"]) == {"app", "mail", "web"}
    for value, group in slices["groups"].items():
        mine = [r for r, g in zip(rows, split.groups) if g == value]
        assert group["examples"] == len(mine) == 10
        assert group["accuracy"] == pytest.approx(sum(r["prediction"] == r["gold"] for r in mine) / len(mine))
    assert slices["groups"][slices["worst"]]["accuracy"] == min(g["accuracy"] for g in slices["groups"].values())
    assert slices["gap"] == pytest.approx(metrics["accuracy"] - slices["groups"][slices["worst"]]["accuracy"])


def test_evaluate_with_a_slice_column(cli, sliced, tmp_path):
    run = tmp_path / "run"
    api.train(TrainConfig(train=str(sliced["train"]), output=str(run), strategy="tfidf"))
    status, out, err = cli("evaluate", run, "--data", sliced["test"], "--slice-column", "channel")
    assert status == 0, err
    result = json.loads(out)
    assert result["slices"]["column"] == "channel" and sum(g["examples"] for g in result["slices"]["groups"].values()) == 30
    assert result["slices"]["gap"] == pytest.approx(result["accuracy"] - result["slices"]["groups"][result["slices"]["worst"]]["accuracy"])
    assert "slices" not in json.loads(cli("evaluate", run, "--data", sliced["test"])[1])
    status, _, err = cli("evaluate", run, "--data", sliced["test"], "--slice-column", "region")
    assert status == 2 and "no column 'region'" in err and "--slice-column" in err
