"""`--strategy contrastive`: pairs drawn in bounded number, the encoder tuned on them, a head
on the tuned vectors; the run predicts and evaluates as every run does."""

import json
from collections import Counter

from transferkit import api
from transferkit.strategies.contrastive import sample_pairs


def test_pairs_per_round_are_one_of_the_class_and_one_of_another():
    labels = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    pairs = sample_pairs(labels, rounds=3, max_pairs=10_000, seed=0)
    assert len(pairs) == 2 * 3 * len(labels)
    assert all((labels[i] == labels[j]) == (target == 1.0) and i != j for i, j, target in pairs)
    assert Counter(i for i, _, _ in pairs) == {i: 6 for i in range(len(labels))}  # every text anchors 2 pairs a round
    assert pairs == sample_pairs(labels, 3, 10_000, seed=0) and pairs != sample_pairs(labels, 3, 10_000, seed=1)


def test_the_number_of_pairs_is_capped_however_many_labels():
    labels = [str(i % 7) for i in range(10_000)]
    pairs = sample_pairs(labels, rounds=20, max_pairs=2_000, seed=0)
    assert len(pairs) <= 2_000 and len({i for i, _, _ in pairs}) == 1_000


def test_a_contrastive_run_tunes_its_encoder_and_predicts(cli, sentiment, tmp_path):
    status, out, err = cli(
        "train", "--strategy", "contrastive", "--train", sentiment["train"], "--test", sentiment["test"],
        "--pair-rounds", 2, "--max-length", 32, "--output", tmp_path / "run",
    )
    assert status == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train"]["pairs"] == 2 * 2 * 48 and metrics["train"]["steps"] == 12  # 192 pairs, batch 16
    assert metrics["test"]["accuracy"] >= 0.8  # the adjectives carry the label
    assert (tmp_path / "run" / "model" / "encoder" / "config.json").is_file()
    status, out, err = cli("predict", tmp_path / "run", "a wonderful and moving film")
    assert status == 0 and json.loads(out)["prediction"] == "positive", err
    again = api.evaluate(str(tmp_path / "run"), str(sentiment["test"]))
    assert again["accuracy"] == metrics["test"]["accuracy"]
