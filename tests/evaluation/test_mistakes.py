"""`mistakes.md`: the most confident test mistakes of a run, checked against its own
predictions file, with the words explained toward the wrong label in bold."""

import json
import re
from pathlib import Path

from conftest import sentiment_rows, write_csv
from transferkit import api
from transferkit.config import TrainConfig
from transferkit.evaluation.mistakes import highlighted, mistakes_path
from transferkit.serving.predictor import load_predictor


def test_mistakes_lie_beside_the_predictions():
    assert mistakes_path(Path("run/predictions/test.jsonl")) == Path("run/mistakes.md")
    assert mistakes_path(Path("run/predictions/test-news.jsonl")) == Path("run/mistakes-news.md")


def test_highlighted_bolds_whole_words_and_escapes_markdown():
    text = "Not *that*   good | goodness, GOOD acting, so\nvery good"
    assert highlighted(text, ["good", "very good"]) == r"Not \*that\* **good** \| goodness, **GOOD** acting, so **very good**"
    assert highlighted("a [link](x) #1", []) == r"a \[link\](x) \#1"


FLIP = {"positive": "negative", "negative": "positive"}


def test_train_writes_the_most_confident_mistakes(tmp_path):
    """A test set with every label flipped: the run's right answers are its mistakes."""
    train = write_csv(tmp_path / "train.csv", sentiment_rows(16, seed=1))
    test = write_csv(tmp_path / "test.csv", [(t, FLIP[label]) for t, label in sentiment_rows(20, seed=3)])
    run = tmp_path / "run"
    api.train(TrainConfig(train=str(train), test=[f"news={test}"], output=str(run), strategy="tfidf"))
    predictions = [json.loads(line) for line in (run / "predictions" / "test-news.jsonl").read_text().splitlines()]
    wrong = sorted((p for p in predictions if p["prediction"] != p["gold"]), key=lambda p: -p["score"])
    assert len(wrong) > 20
    text = (run / "mistakes-news.md").read_text()
    assert f"{len(wrong)} of the 40 examples are wrong" in text
    listed = re.findall(r"^## \d+\. id (\S+): gold (\w+), predicted (\w+) \(([\d.]+)\)$", text, re.MULTILINE)
    assert [(i, g, p) for i, g, p, _ in listed] == [(w["id"], w["gold"], w["prediction"]) for w in wrong[:20]]
    assert [float(s) for *_, s in listed] == [round(w["score"], 3) for w in wrong[:20]]
    # the bold words of the first mistake are its text's top contributions toward the wrong label
    first = wrong[0]
    predictor = load_predictor(run / "model")
    rows = {str(i): t for i, (t, _) in enumerate(sentiment_rows(20, seed=3))}
    [explanation] = predictor.explain([rows[first["id"]]], targets=[predictor.labels.index(first["prediction"])])
    top = [t for t, s in sorted(explanation, key=lambda ts: -ts[1])[:3] if s > 0]
    section = text.split("## 1. ")[1].split("## 2. ")[0]
    bold = {b.lower() for b in re.findall(r"\*\*(.+?)\*\*", section)}
    assert top and bold and bold <= set(top)
