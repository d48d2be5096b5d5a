"""NER `features`: the logistic-regression head folded into a token-classifier layer."""

import json

import numpy as np
import pytest

from transferkit import api
from transferkit.config import TrainConfig
from transferkit.strategies.linear_head import fit_head
from transferkit.strategies.ner_features import classifier_weights


@pytest.mark.parametrize("n_classes", [2, 3])
def test_folded_layer_gives_the_heads_probabilities_and_absent_labels_never_win(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)) * 3 + 1
    y = rng.integers(0, n_classes, 120) * 2  # labels 0, 2, (4): the odd ones never occur
    head = fit_head(X, y, X[:30], y[:30])
    weight, bias = classifier_weights(head, np.unique(y), n_labels=5)
    logits = X @ weight.T + bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(probs[:, np.unique(y)], head.predict_proba(X), atol=1e-4)
    assert set(logits.argmax(1)) <= set(np.unique(y))


def test_features_ner_run_tags_the_small_set(ner_files, tmp_path):
    cfg = TrainConfig(task="ner", strategy="features", train=str(ner_files["train"]), dev=str(ner_files["dev"]),
                      test=str(ner_files["test"]), output=str(tmp_path / "run"), max_length=32)
    metrics = api.train(cfg)
    assert metrics["test"]["f1"] >= 0.9
    assert metrics["train"]["C_selection"] == "dev accuracy"
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["id2label"]["1"] == "B-LOC"
