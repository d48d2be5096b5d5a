"""`train --unlabeled`: the rule that picks the pool texts (the most confident of each
class, r × K in round r), a real self-trained run recording its rounds, and the options
refused where self-training does not apply."""

import json

import numpy as np
import pytest
import yaml

from conftest import sentiment_rows
from transferkit.data.classification import ClassificationSplit
from transferkit.self_training import labels_per_class, most_confident


def test_the_most_confident_rows_of_each_class_are_picked_alike():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05], [0.45, 0.55], [0.3, 0.7]])
    assert most_confident(probabilities, 1) == [2, 3]  # class 0: row 3 (0.95); class 1: row 2 (0.8)
    assert most_confident(probabilities, 2) == [0, 2, 3, 5]
    assert most_confident(probabilities, 10) == [0, 1, 2, 3, 4, 5]  # a class with fewer gives all it has
    assert most_confident(np.array([[0.9, 0.1], [0.8, 0.2]]), 1) == [0]  # no row predicted as class 1: none of it


def test_k_is_the_median_class():
    split = ClassificationSplit("t", ["x"] * 7, None, ["a", "a", "a", "b", "b", "c", "c"], [str(i) for i in range(7)], [""] * 7)
    assert labels_per_class(split) == 2


def test_a_self_trained_run_adds_its_confident_pool_texts_round_by_round(cli, sentiment, tmp_path):
    pool = tmp_path / "pool.txt"
    texts = [text for text, _ in sentiment_rows(30, seed=11)]
    pool.write_text("\n".join(texts) + "\n")
    run = tmp_path / "run"
    status, out, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--test", sentiment["test"], "--labels-per-class", "4",
                           "--unlabeled", pool, "--output", run)
    assert status == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    unlabeled = metrics["train"]["unlabeled"]
    assert unlabeled["labels_per_class"] == 4
    assert [r["added_per_class"] for r in unlabeled["rounds"]] == [{"negative": 4, "positive": 4}, {"negative": 8, "positive": 8}]
    assert unlabeled["pool"]["file"] == str(pool) and unlabeled["pool"]["used"] <= len(set(texts))
    assert "overlap_with_pool" in metrics["data"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["unlabeled"] == str(pool) and config["self_training_rounds"] == 2
    status, out, err = cli("predict", run, "a wonderful film")
    assert status == 0 and json.loads(out)["prediction"] in ("positive", "negative")


@pytest.mark.parametrize("more, expected", [
    (["--strategy", "zeroshot", "--labels-per-class", "0"], "--unlabeled: applies to"),
    (["--task", "ner"], "--unlabeled: applies to --task classify"),
    (["--multi-label"], "--unlabeled: self-training takes single texts with one label each, not --multi-label"),
    (["--self-training-rounds", "0"], "--self-training-rounds: must be at least 1"),
])
def test_self_training_is_refused_where_it_does_not_apply(cli, sentiment, tmp_path, more, expected):
    pool = tmp_path / "pool.txt"
    pool.write_text("a fine film\n")
    status, out, err = cli("train", "--train", sentiment["train"], "--unlabeled", pool, "--output", tmp_path / "run", *more)
    assert status == 2 and expected in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool.txt"]
