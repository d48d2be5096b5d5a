"""Classification's choices that depend on the labels: class weights (scikit-learn's
`balanced`, as the reference) and selection on macro-F1 when the training labels are
imbalanced."""


import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from conftest import sentiment_rows, write_csv
from transferkit import api
from transferkit.config import TrainConfig
from transferkit.tasks.classify import balanced_weights, imbalance


def test_balanced_weights_are_scikit_learns():
    train = ["a"] * 30 + ["b"] * 6 + ["c"] * 4
    expected = compute_class_weight("balanced", classes=np.array(["a", "b", "c"]), y=np.array(train))
    assert balanced_weights(train, ["a", "b", "c"]) == pytest.approx(list(expected))
    assert imbalance(train) == 7.5
    # a class the split lacks (a continued model knows it) is never a target: weight 0
    assert balanced_weights(train, ["a", "b", "c", "d"]) == pytest.approx([*expected, 0.0])


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    """40 positive and 8 negative training sentences (5:1); balanced dev and test."""
    folder = tmp_path_factory.mktemp("imbalanced")
    rows = [r for r in sentiment_rows(40, seed=1) if r[1] == "positive"] + [r for r in sentiment_rows(8, seed=4) if r[1] == "negative"]
    return {
        "train": write_csv(folder / "train.csv", rows),
        "dev": write_csv(folder / "dev.csv", sentiment_rows(10, seed=2)),
        "test": write_csv(folder / "test.csv", sentiment_rows(10, seed=3)),
    }


def run(imbalanced, tmp_path, name, **options):
    cfg = TrainConfig(train=str(imbalanced["train"]), dev=str(imbalanced["dev"]), test=str(imbalanced["test"]), output=str(tmp_path / name), **options)
    return api.train(cfg)


def test_imbalanced_training_labels_choose_on_macro_f1_and_say_so(imbalanced, tmp_path, capsys):
    plain = run(imbalanced, tmp_path, "plain", strategy="tfidf")
    assert "note: the training labels are imbalanced (5.0:1): choosing on dev (or cross-validated) macro-F1" in capsys.readouterr().err
    assert plain["train"]["selection_metric"] == "macro_f1" and plain["train"]["C_selection"] == "dev macro-F1"
    weighted = run(imbalanced, tmp_path, "weighted", strategy="tfidf", class_weight="balanced")
    assert "class_weight: balanced" in (tmp_path / "weighted" / "config.yaml").read_text()
    assert weighted["test"]["macro_f1"] >= plain["test"]["macro_f1"]


def test_finetune_with_class_weights_trains_on_the_weighted_loss(imbalanced, tmp_path):
    plain = run(imbalanced, tmp_path, "plain", strategy="finetune", max_length=16, batch_size=8, max_steps=6, evaluations=2)
    weighted = run(imbalanced, tmp_path, "weighted", strategy="finetune", max_length=16, batch_size=8, max_steps=6, evaluations=2, class_weight="balanced")
    assert "best_dev_macro_f1" in weighted["train"] and "best_dev_accuracy" not in weighted["train"]
    assert [h["loss"] for h in weighted["train"]["dev_history"]] != [h["loss"] for h in plain["train"]["dev_history"]]


def test_predict_abstains_below_the_given_probability_and_keeps_the_score(classify_run):
    texts = ["a wonderful film", "the film is dull", "i found the plot", "what a performance"]
    plain = api.predict(str(classify_run), texts)
    scores = sorted(r["score"] for r in plain)
    threshold = (scores[1] + scores[2]) / 2
    abstained = api.predict(str(classify_run), texts, abstain_below=threshold)
    assert [r["score"] for r in abstained] == [r["score"] for r in plain]
    assert [r["prediction"] for r in abstained] == [r["prediction"] if r["score"] >= threshold else None for r in plain]
    assert sum(r["prediction"] is None for r in abstained) == 2
