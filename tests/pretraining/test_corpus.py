"""Corpora are streamed from text, CSV, TSV, JSONL and Parquet files, tokenised as stated,
and bad ones fail with the file and line of the problem."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transferkit.errors import UserError
from transferkit.pretraining.corpus import Corpus, TokenisedCorpus, Tokenisation

DOCS = ["The film is great.", "I didn't like it<br /><br />at all", "O'Brien's best"]


def write_all_formats(folder):
    (folder / "a.txt").write_text("\n".join(DOCS[:2]) + "\n\n" + DOCS[2] + "\n")
    (folder / "a.csv").write_text("id,review\n" + "".join(f'{i},"{d}"\n' for i, d in enumerate(DOCS)))
    (folder / "a.tsv").write_text("review\tid\n" + "".join(f"{d}\t{i}\n" for i, d in enumerate(DOCS)))
    (folder / "a.jsonl").write_text("".join(json.dumps({"review": d}) + "\n" for d in DOCS))
    pq.write_table(pa.table({"review": DOCS}), folder / "a.parquet")
    return [folder / f"a.{suffix}" for suffix in ("txt", "csv", "tsv", "jsonl", "parquet")]


def test_every_format_gives_the_same_documents_and_restarts(tmp_path):
    for path in write_all_formats(tmp_path):
        corpus = Corpus((str(path),), text_column="review")
        assert list(corpus.texts()) == DOCS, path
        assert list(corpus.texts()) == DOCS, f"{path} read twice"


def test_several_files_in_order(tmp_path):
    paths = write_all_formats(tmp_path)
    corpus = Corpus((str(paths[1]), str(paths[3])), text_column="review")
    assert list(corpus.texts()) == DOCS + DOCS


def test_tokenisation_drops_markup_lowercases_and_keeps_apostrophes(tmp_path):
    words = list(TokenisedCorpus(Corpus((str(write_all_formats(tmp_path)[1]),), "review"), Tokenisation()))
    assert words == [["the", "film", "is", "great"], ["i", "didn't", "like", "it", "at", "all"], ["o'brien's", "best"]]
    assert Tokenisation(lowercase=False, pattern=r"\S+").words("The film.") == ["The", "film."]


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.txt", b"\n  \n", "empty.txt:1: the corpus file has no text"),
        ("bad.txt", b"fine\nalso fine\n\xff\xfe broken\n", "bad.txt:3: not valid UTF-8"),
        ("col.csv", b"review\nnice\n", "col.csv:1: no column 'text'"),
        ("col.jsonl", b'{"review": "nice"}\n', "col.jsonl:1: no column 'text'"),
        ("ragged.csv", b"text\nok\n\"a\",b\n", "ragged.csv:3: row has 2 fields"),
    ],
)
def test_bad_corpora_name_file_and_line(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError) as e:
        list(Corpus((str(tmp_path / name),)).texts())
    assert str(e.value).startswith(f"{tmp_path}/{expected}")


def test_missing_parquet_column_and_missing_file(tmp_path):
    pq.write_table(pa.table({"review": DOCS}), tmp_path / "p.parquet")
    with pytest.raises(UserError, match="no column 'text'"):
        list(Corpus((str(tmp_path / "p.parquet"),)).texts())
    with pytest.raises(UserError, match="nope.txt: file not found"):
        Corpus((str(tmp_path / "nope.txt"),))
