"""`--strategy wordvec`: averaged word vectors + logistic regression, from GloVe or from
vectors trained by `pretrain word2vec`, through the same run directory as the others."""

import csv
import json

import numpy as np
import pytest
from gensim.models import KeyedVectors

from transferkit.pretraining.corpus import Tokenisation
from transferkit.strategies.wordvec import TextVectors


def test_glove_vectors_classify_sentiment(cli, sentiment, tmp_path):
    run = tmp_path / "run"
    status, out, err = cli(
        "train", "--strategy", "wordvec", "--vectors", "glove-50d", "--train", sentiment["train"],
        "--dev", sentiment["dev"], "--test", sentiment["test"], "--output", run,
    )
    assert status == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["strategy"] == "wordvec" and metrics["train"]["vectors"] == "glove-50d"
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["train"]["word_coverage"] == 1.0
    assert len((run / "predictions" / "test.jsonl").read_text().splitlines()) == 20
    status, out, _ = cli("predict", run, "a superb and delightful film")
    assert status == 0 and json.loads(out)["prediction"] == "positive"


def test_trained_vectors_with_tfidf_weighting(cli, sentiment, review_corpus, tmp_path):
    status, _, err = cli("pretrain", "word2vec", "--corpus", review_corpus, "--dimension", 16, "--min-count", 1, "--output", tmp_path / "v")
    assert status == 0, err
    status, out, err = cli(
        "train", "--strategy", "wordvec", "--vectors", tmp_path / "v", "--weighting", "tfidf",
        "--train", sentiment["train"], "--test", sentiment["test"], "--output", tmp_path / "run",
    )
    assert status == 0, err
    assert json.loads(out)["test"]["accuracy"] >= 0.7  # 16-dimensional vectors from a small corpus; chance is 0.5
    info = json.loads((tmp_path / "run" / "model" / "wordvec.json").read_text())
    # the IDF table is scikit-learn's smoothed IDF over the training texts, with the vectors' tokenisation
    from sklearn.feature_extraction.text import TfidfVectorizer

    with open(sentiment["train"], newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    reference = TfidfVectorizer(tokenizer=Tokenisation().words, lowercase=False, token_pattern=None).fit(texts)
    assert set(info["idf"]) == set(reference.vocabulary_)
    assert all(info["idf"][w] == pytest.approx(reference.idf_[i]) for w, i in reference.vocabulary_.items())
    assert info["weighting"] == "tfidf" and info["idf"]["the"] < info["unseen_idf"]
    assert info["vectors"] == str((tmp_path / "v").resolve())
    assert "vectors: " + str((tmp_path / "v").resolve()) in (tmp_path / "run" / "config.yaml").read_text()


def test_average_weights_and_skips_unknown_words(tmp_path):
    vectors = KeyedVectors(2)
    vectors.add_vectors(["good", "film"], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    text_vectors = TextVectors(vectors, Tokenisation())
    np.testing.assert_allclose(text_vectors.embed(["Good good FILM unknown"])[0], [2 / 3, 1 / 3])
    text_vectors.fit_idf(["good film", "good", "good acting"])  # idf(good) = 1, idf(film) = ln 2 + 1
    film = np.log(2) + 1
    np.testing.assert_allclose(text_vectors.embed(["good film"])[0], [1 / (1 + film), film / (1 + film)], rtol=1e-6)
    assert text_vectors.embed(["nothing known"])[0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("vectors, expected", [(None, "--vectors: missing"), ("no/such/dir", "not word vectors")])
def test_bad_vectors(cli, sentiment, tmp_path, vectors, expected):
    args = ["train", "--strategy", "wordvec", "--train", sentiment["train"], "--output", tmp_path / "run"]
    status, _, err = cli(*args, *(["--vectors", vectors] if vectors else []))
    assert status == 2 and expected in err and not (tmp_path / "run").exists()
