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


def test_long_csv_fields_and_tsv_read_as_written(tmp_path):
    long_text = "word " * 40_000
    (tmp_path / "long.csv").write_text(f'text\n"{long_text}"\nshort\n')
    assert list(Corpus((str(tmp_path / "long.csv"),)).texts()) == [long_text, "short"]
    (tmp_path / "q.tsv").write_text('text\n"Quoted" first\n"lone quote\nlast\n')
    assert list(Corpus((str(tmp_path / "q.tsv"),)).texts()) == ['"Quoted" first', '"lone quote', "last"]


@pytest.mark.parametrize("value, kind", [(5, "a number (5)"), (["a"], 'a list (["a"])')])
def test_a_jsonl_text_that_is_not_a_string_is_an_error(tmp_path, value, kind):
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": value}) + "\n")
    with pytest.raises(UserError) as e:
        list(Corpus((str(tmp_path / "c.jsonl"),)).texts())
    assert str(e.value).startswith(f"{tmp_path / 'c.jsonl'}:2: expected text in column 'text', got {kind}")


def test_a_damaged_parquet_corpus_is_a_user_error(tmp_path):
    pq.write_table(pa.table({"text": DOCS * 20}), tmp_path / "ok.parquet")
    data = (tmp_path / "ok.parquet").read_bytes()
    (tmp_path / "bad.parquet").write_bytes(data[:100] + b"\0" * 200 + data[300:])
    with pytest.raises(UserError, match=r"bad\.parquet: cannot read Parquet"):
        list(Corpus((str(tmp_path / "bad.parquet"),)).texts())
