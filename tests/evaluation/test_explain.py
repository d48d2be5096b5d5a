"""Explanations (`predict --explain`): linear runs' contributions add up to the logit the
prediction came from; integrated gradients add up to the score of the text minus that of
its baseline, each computed here on the model directly; words come whole, as written."""

import json

import numpy as np
import pytest
import torch

from conftest import sentiment_rows, write_csv
from transferkit import api
from transferkit.config import TrainConfig
from transferkit.serving.predictor import load_predictor


def trained(tmp_path_factory, files: dict, strategy: str, **options):
    run = tmp_path_factory.mktemp(strategy) / "run"
    api.train(TrainConfig(train=str(files["train"]), output=str(run), strategy=strategy, **options))
    return run


@pytest.fixture(scope="module")
def tfidf_run(sentiment, tmp_path_factory):
    return trained(tmp_path_factory, sentiment, "tfidf")


@pytest.fixture(scope="module")
def finetune_run(sentiment, tmp_path_factory):
    # 8 steps from the pretrained top layer (not redrawn, as few labels would have it) pull the logits apart enough to check sums on
    return trained(tmp_path_factory, sentiment, "finetune", max_steps=8, batch_size=16, max_length=32, lr=3e-4, reinit_layers=0)


TEXTS = ["the film is dreadful", "A superb, gripping story zzzz", "what a boring performance by the cast"]


def test_tfidf_contributions_add_up_to_the_log_odds(tfidf_run):
    predictor = load_predictor(tfidf_run / "model")
    probabilities = predictor.predict_proba(TEXTS)
    vocabulary = predictor.vectorizer.vocabulary_
    analyse = predictor.vectorizer.build_analyzer()
    for text, explanation, p in zip(TEXTS, predictor.explain(TEXTS), probabilities):
        tokens = [t for t, _ in explanation]
        # every word and word pair of the text the vocabulary has, once: words in text order, then pairs
        assert tokens == list(dict.fromkeys(g for g in analyse(text) if g in vocabulary))
        assert "zzzz" not in tokens
        predicted = int(p.argmax())
        side = 1 if predicted == 1 else -1  # a two-class head scores z toward class 1, -z toward class 0
        total = sum(s for _, s in explanation) + side * float(predictor.head.intercept[0])
        assert total == pytest.approx(np.log(p[predicted] / p[1 - predicted]), abs=1e-5)


def test_predict_explain_records_tfidf(cli, tfidf_run):
    status, out, err = cli("predict", tfidf_run, "the film is dreadful", "--explain")
    assert status == 0, err
    record = json.loads(out)
    assert [e["token"] for e in record["explanation"]][:4] == ["the", "film", "is", "dreadful"]
    score = record["score"]
    intercept = float(load_predictor(tfidf_run / "model").head.intercept[0])
    side = 1 if record["prediction"] == "positive" else -1  # labels sorted: negative, positive
    total = sum(e["score"] for e in record["explanation"]) + side * intercept
    assert total == pytest.approx(np.log(score / (1 - score)), abs=1e-5)
    assert max(record["explanation"], key=lambda e: e["score"])["token"] == "dreadful"


def test_wordvec_contributions_add_up_to_the_logit_with_standardisation(tmp_path_factory):
    rows = [(f"a {w} film", label) for label, words in (("good", ["superb", "wonderful", "brilliant", "charming"]),
                                                         ("bad", ["awful", "dreadful", "boring", "tedious"]),
                                                         ("meh", ["average", "ordinary", "mediocre", "forgettable"])) for w in words]
    folder = tmp_path_factory.mktemp("three")
    run = trained(tmp_path_factory, {"train": write_csv(folder / "train.csv", rows * 2)}, "wordvec", vectors="glove-50d", weighting="tfidf")
    predictor = load_predictor(run / "model")
    texts = ["an awful and boring film", "a charming film qqqq"]
    head = predictor.head
    assert head.mean is not None and head.coef.shape[0] == 3
    logits = head.logits(predictor.vectors.embed(texts))  # the prediction's own path
    offsets = head.intercept - (head.coef / head.scale) @ head.mean
    for text, explanation, z in zip(texts, predictor.explain(texts), logits):
        t = int(z.argmax())
        assert [w for w, _ in explanation] == predictor.vectors.tokenisation.words(text)
        assert sum(s for _, s in explanation) + offsets[t] == pytest.approx(z[t], abs=1e-4)
    assert dict(predictor.explain(texts)[1])["qqqq"] == 0.0  # no vector: no share of the average
    # toward another class: that class's logit
    other = predictor.explain(texts[:1], targets=[int(logits[0].argmin())])[0]
    assert sum(s for _, s in other) + offsets[logits[0].argmin()] == pytest.approx(logits[0].min(), abs=1e-4)


def baseline_difference(model, tokenizer, text, pair=None, target=None, score=lambda out: out.logits):
    """f(text) - f(baseline) for the target (default: the argmax), straight from the model:
    the baseline keeps [CLS] and [SEP] and puts [PAD] everywhere else."""
    enc = tokenizer(text, pair, return_tensors="pt")
    ids = enc["input_ids"]
    special = torch.tensor(tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True)).bool()
    baseline = ids.masked_fill(~special, tokenizer.pad_token_id)
    with torch.no_grad():
        f = score(model(**enc))[0]
        f0 = score(model(**{**enc, "input_ids": baseline}))[0]
    target = int(f.argmax()) if target is None else target
    return float(f[target] - f0[target]), target


def test_finetune_integrated_gradients_are_complete_and_whole_words(finetune_run):
    predictor = load_predictor(finetune_run / "model", runtime="torch")
    text = "The FILM was unwatchable, frankly!"
    [explanation] = predictor.explain([text])
    assert [t for t, _ in explanation] == ["The", "FILM", "was", "unwatchable", ",", "frankly", "!"]  # un ##watch ##able merged
    expected, target = baseline_difference(predictor.model, predictor.tokenizer, text)
    assert abs(expected) > 0.1
    assert sum(s for _, s in explanation) == pytest.approx(expected, rel=0.05, abs=0.01)
    # toward the other label, and a text pair (its words after the first text's, token types kept)
    [other] = predictor.explain([text], targets=[1 - target])
    assert sum(s for _, s in other) == pytest.approx(baseline_difference(predictor.model, predictor.tokenizer, text, target=1 - target)[0], rel=0.05, abs=0.01)
    [paired] = predictor.explain(["the film"], ["was superb"])
    assert [t for t, _ in paired] == ["the", "film", "was", "superb"]
    assert sum(s for _, s in paired) == pytest.approx(baseline_difference(predictor.model, predictor.tokenizer, "the film", "was superb")[0], rel=0.05, abs=0.01)


def test_features_integrated_gradients_go_through_pooling_and_the_head(sentiment, tmp_path_factory):
    predictor = load_predictor(trained(tmp_path_factory, sentiment, "features") / "model", runtime="torch")
    head, encoder = predictor.head, predictor.encoder
    tokenizer, model = encoder.loaded()

    def score(out):  # the prediction's numpy path: mean pooling, then the saved head (standardised)
        z = head.logits(out.last_hidden_state.mean(1).numpy())
        return torch.tensor(np.concatenate([-z, z], axis=1))  # two classes: -z toward class 0, z toward class 1

    texts = ["what a dreadful story", "superb acting and charming music"]
    for text, explanation in zip(texts, predictor.explain(texts)):
        expected, target = baseline_difference(model, tokenizer, text, score=score)
        assert target == int(predictor.predict_proba([text])[0].argmax())
        assert sum(s for _, s in explanation) == pytest.approx(expected, rel=0.05, abs=0.01)


def test_predict_explain_finetune_records(cli, finetune_run):
    status, out, err = cli("predict", finetune_run, "the film is dreadful", "a superb, moving story", "--explain")
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [[e["token"] for e in r["explanation"]] for r in records] == [["the", "film", "is", "dreadful"], ["a", "superb", ",", "moving", "story"]]
    assert all(isinstance(e["score"], float) for r in records for e in r["explanation"])


@pytest.mark.parametrize("strategy, options", [
    ("tfidf", {}), ("wordvec", {"vectors": "glove-50d"}), ("features", {}), ("zeroshot", {}),
    ("contrastive", {"max_steps": 2}), ("finetune", {"max_steps": 2}), ("scratch", {"max_steps": 2}),
])
def test_every_classify_strategy_explains_and_slices(strategy, options, tmp_path):
    """`--slice-column` and `predict --explain` are the task's, so every strategy has them:
    each group of the slice column is scored, and each word of a text gets an attribution."""
    rows = sentiment_rows(12, seed=7)
    shops = [("north", "south")[i % 2] for i in range(len(rows))]
    write_csv(tmp_path / "train.csv", sentiment_rows(12, seed=8))  # no shop column: training need not have it
    write_csv(tmp_path / "test.csv", [(t, l, s) for (t, l), s in zip(rows, shops)], header=("text", "label", "shop"))
    run = tmp_path / "run"
    metrics = api.train(TrainConfig(strategy=strategy, train=str(tmp_path / "train.csv"), dev=str(tmp_path / "test.csv"),
                                    test=str(tmp_path / "test.csv"), slice_column="shop", output=str(run), **options))
    slices = metrics["test"]["slices"]
    assert slices["column"] == "shop" and {v: g["examples"] for v, g in slices["groups"].items()} == {"north": 12, "south": 12}
    [record] = api.predict(str(run), ["a wonderful and moving film"], explain=True)
    tokens = [e["token"] for e in record["explanation"]]
    assert {"wonderful", "moving", "film"} <= set(tokens) and set(tokens) <= {"a", "wonderful", "and", "moving", "film", "wonderful and", "a wonderful", "and moving", "moving film"}
    assert any(e["score"] != 0 for e in record["explanation"])
