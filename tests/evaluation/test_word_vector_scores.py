"""evaluate-vectors scores vectors on gensim's analogy, WordSim-353 and SimLex-999 files
and counts what it had to skip."""

import json

import numpy as np
from gensim.models import KeyedVectors

from transferkit.evaluation.word_vectors import evaluate


def test_a_tiny_vocabulary_answers_what_it_can_and_counts_the_rest():
    # One-hot vectors, except iraq = greece + baghdad - athens: the questions the vocabulary
    # covers (athens:greece::baghdad:iraq twice in the file, and once the other way round)
    # are all answered right.
    words = ["tiger", "cat", "love", "sex", "old", "new", "athens", "greece", "baghdad", "iraq"]
    matrix = np.eye(len(words), dtype=np.float32)
    matrix[9] = matrix[7] + matrix[8] - matrix[6]
    vectors = KeyedVectors(len(words))
    vectors.add_vectors(words, matrix)
    scores = evaluate(vectors)
    assert set(scores) == {"analogy", "wordsim353", "simlex999", "oov"}
    assert scores["oov"]["analogy"]["total"] == 19544 and scores["oov"]["analogy"]["skipped"] == 19544 - 3
    assert scores["analogy"] == 1.0
    assert scores["oov"]["wordsim353"]["total"] == 353 and 0 < scores["oov"]["wordsim353"]["skipped"] < 353
    assert scores["oov"]["simlex999"]["total"] == 999 and scores["oov"]["simlex999"]["skipped"] == 998
    assert scores["simlex999"] is None  # one pair has no rank correlation


def test_no_known_word_gives_no_scores():
    vectors = KeyedVectors(2)
    vectors.add_vectors(["zzqx", "qqzx"], np.eye(2, dtype=np.float32))
    scores = evaluate(vectors)
    assert scores["analogy"] is None and scores["wordsim353"] is None and scores["simlex999"] is None
    assert scores["oov"]["wordsim353"] == {"skipped": 353, "total": 353}


def test_cli_on_a_trained_directory(cli, review_corpus, tmp_path):
    status, _, err = cli("pretrain", "word2vec", "--corpus", review_corpus, "--dimension", 8, "--min-count", 1, "--output", tmp_path / "v")
    assert status == 0, err
    status, out, err = cli("evaluate-vectors", tmp_path / "v")
    scores = json.loads(out)
    assert status == 0 and scores["vocabulary"] > 20 and scores["oov"]["analogy"]["skipped"] == 19544 and scores["analogy"] is None
    status, _, err = cli("evaluate-vectors", tmp_path)
    assert status == 2 and "not word vectors" in err
