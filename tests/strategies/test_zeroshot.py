"""`--strategy zeroshot`: the nearest label text by cosine, with no training labels; the run
is a head over the encoder, so `predict` and `evaluate` work as for `features`."""

import csv
import json

import numpy as np

from transferkit import api
from transferkit.inference import Runtime
from transferkit.models.zoo import resolve_model
from transferkit.strategies.features import Encoder


def test_a_zeroshot_run_picks_the_nearest_label_text(cli, sentiment, tmp_path):
    descriptions = tmp_path / "labels.json"
    descriptions.write_text(json.dumps({"positive": "a wonderful, brilliant film", "negative": "a dreadful, boring film"}))
    status, out, err = cli(
        "train", "--strategy", "zeroshot", "--labels-per-class", 0, "--train", sentiment["train"], "--test", sentiment["test"],
        "--label-descriptions", descriptions, "--max-length", 32, "--output", tmp_path / "run",
    )
    assert status == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train"]["examples"] == 0
    # the same decision computed directly: cosine to each description
    encoder = Encoder(resolve_model("minilm"), "mean", 32, Runtime.create("cpu"), normalize=True)
    rows = list(csv.DictReader(sentiment["test"].open()))
    texts, gold = [r["text"] for r in rows], [r["label"] for r in rows]
    names = ["negative", "positive"]
    nearest = (encoder.embed(texts) @ encoder.embed(["a dreadful, boring film", "a wonderful, brilliant film"]).T).argmax(1)
    expected = float(np.mean([names[i] == g for i, g in zip(nearest, gold)]))
    assert metrics["test"]["accuracy"] == expected and expected >= 0.8
    again = api.evaluate(str(tmp_path / "run"), str(sentiment["test"]))
    assert again["accuracy"] == expected


def test_zero_labels_per_class_is_for_zeroshot_only(cli, sentiment, tmp_path):
    status, out, err = cli("train", "--strategy", "features", "--labels-per-class", 0, "--train", sentiment["train"], "--output", tmp_path / "run")
    assert status == 2 and "error: --labels-per-class: 0 trains on no labels" in err
    assert not (tmp_path / "run").exists()
