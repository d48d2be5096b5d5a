"""`pretrain word2vec` gives gensim's own vectors for the same parameters and seed, writes
both output formats, and rejects bad corpora and options with one line, exit status 2 and no output."""

import json

import numpy as np
import pytest
from gensim.models import KeyedVectors, Word2Vec

from transferkit.config import Word2VecConfig
from transferkit.pretraining.word2vec import gensim_parameters, tokenised_corpus


@pytest.mark.parametrize("algorithm", ["cbow", "skipgram"])
def test_same_vectors_as_gensim_called_directly(cli, review_corpus, tmp_path, algorithm):
    out = tmp_path / algorithm
    args = ["--corpus", review_corpus, "--output", out, "--algorithm", algorithm, "--dimension", 16, "--min-count", 2, "--epochs", 3, "--workers", 1, "--seed", 3]
    status, stdout, err = cli("pretrain", "word2vec", *args)
    assert status == 0, err
    metrics = json.loads(stdout)
    cfg = Word2VecConfig(corpus=[str(review_corpus)], output=str(out), algorithm=algorithm, dimension=16, min_count=2, epochs=3, workers=1, seed=3)
    sentences = [line.lower().split() for line in review_corpus.read_text().splitlines()]
    assert list(tokenised_corpus(cfg)) == sentences  # the fixture has plain lower-case words
    direct = Word2Vec(sentences, **gensim_parameters(cfg)).wv

    ours = KeyedVectors.load(str(out / "vectors.kv"))
    assert ours.index_to_key == direct.index_to_key and metrics["vocabulary"] == len(direct)
    np.testing.assert_array_equal(ours.vectors, direct.vectors)
    text = KeyedVectors.load_word2vec_format(str(out / "vectors.txt"))
    np.testing.assert_allclose(text["film"], direct["film"], atol=1e-5)
    assert gensim_parameters(cfg)["sg"] == (algorithm == "skipgram")


def test_several_files_and_a_csv_column(cli, review_corpus, tmp_path):
    # `--corpus A B` and `--corpus A --corpus B` both give several files
    lines = review_corpus.read_text().splitlines()
    (tmp_path / "more.csv").write_text("id,review\n" + "".join(f"{i},{line}\n" for i, line in enumerate(lines[:50])))
    status, stdout, err = cli("pretrain", "word2vec", "--corpus", review_corpus, tmp_path / "more.csv", "--text-column", "review", "--dimension", 8, "--output", tmp_path / "v")
    assert status == 0, err
    assert json.loads(stdout)["documents"] == len(lines) + 50
    status, stdout, err = cli("pretrain", "word2vec", "--corpus", review_corpus, "--corpus", review_corpus, "--dimension", 8, "--output", tmp_path / "w")
    assert status == 0 and json.loads(stdout)["documents"] == 2 * len(lines), err


BAD = {
    "empty": (lambda d: _write(d / "e.txt", b""), [], "e.txt:1: the corpus file has no text"),
    "undecodable": (lambda d: _write(d / "u.txt", b"a fine line\n\xff\xfe\n"), [], "u.txt:2: not valid UTF-8"),
    "missing column": (lambda d: _write(d / "c.csv", b"review\ngood film\n"), [], "c.csv:1: no column 'text'"),
    "vocabulary emptied by min-count": (
        lambda d: _write(d / "m.txt", b"a good film\na bad film\n"),
        ["--min-count", "5"],
        "m.txt: no word occurs at least --min-count 5 times (the most frequent word, 'a', occurs 2 time(s))",
    ),
    **{
        " ".join(extra): (lambda d: _write(d / "ok.txt", b"a good film\n" * 5), extra, expected)
        for extra, expected in [
            (["--negative", "0"], "--negative: must be at least 1 and at most 1,000,000,000, got 0 (training is by negative sampling"),
            (["--dimension", "100000000000"], "--dimension: must be at least 1 and at most 10,000, got 100000000000"),
            (["--seed", "-1"], "--seed: must be at least 0 and at most 4,294,967,295, got -1"),
            (["--window", "10000000000"], "--window: must be at least 1 and at most 1,000,000,000"),
        ]
    },
}


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", BAD)
def test_bad_corpus_one_line_exit_2_nothing_written(cli, tmp_path, case):
    make, extra, expected = BAD[case]
    status, _, err = cli("pretrain", "word2vec", "--corpus", make(tmp_path), "--output", tmp_path / "out", *extra)
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]


def test_vectors_too_big_for_memory_are_one_line(cli, tmp_path, monkeypatch):
    def no_memory(self, update=False):  # what numpy raises for a matrix larger than the memory
        raise MemoryError("Unable to allocate 1.46 TiB")

    monkeypatch.setattr(Word2Vec, "prepare_weights", no_memory)
    corpus = _write(tmp_path / "c.txt", b"a good film\n" * 5)
    status, _, err = cli("pretrain", "word2vec", "--corpus", corpus, "--output", tmp_path / "out", "--min-count", "1")
    assert status == 2 and err == "error: --dimension: not enough memory for 3 words of 100 dimensions; lower --dimension or raise --min-count\n"
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]
