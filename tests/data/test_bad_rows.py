"""`--on-bad-row skip`: every reader drops an unusable row (a CoNLL sentence, a QA
question) with its place and the error's message, keeps the rest, and still stops on
what makes a whole file unusable or on more bad rows than `--max-bad-rows`."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transferkit.data.bad_rows import BadRows
from transferkit.data.classification import read_split
from transferkit.data.conll import read_token_split
from transferkit.data.squad import read_qa_split
from transferkit.errors import UserError
from transferkit.pretraining.corpus import Corpus


def skip(max_fraction: float = 0.5) -> BadRows:
    return BadRows("skip", max_fraction)


def test_error_policy_raises_and_skip_records_line_or_place():
    with pytest.raises(UserError, match="boom"):
        BadRows().skip(UserError("a.csv:3", "boom"), "a.csv")
    bad = skip()
    bad.skip(UserError("a.csv:7", "late"), "a.csv")
    bad.skip(UserError("q.json:question q1", "no answer"), "q.json")
    bad.skip(UserError("a.csv:3", "early"), "a.csv")
    assert bad.in_file_order() == [
        {"file": "a.csv", "line": 3, "reason": "early"},
        {"file": "a.csv", "line": 7, "reason": "late"},
        {"file": "q.json", "place": "question q1", "reason": "no answer"},
    ]


def test_more_bad_rows_than_the_fraction_is_an_error():
    bad = skip(0.25)
    for line in (2, 3):
        bad.skip(UserError(f"a.csv:{line}", "empty text"), "a.csv")
    bad.check("a.csv", 6)  # 2 of 8 = 0.25: allowed
    with pytest.raises(UserError) as e:
        bad.check("a.csv", 5)  # 2 of 7
    message = str(e.value)
    assert message.startswith("a.csv: 2 of its 7 rows") and "--max-bad-rows 0.25" in message and "2: empty text" in message


def test_every_row_bad_shows_the_first_problem_not_a_higher_max_bad_rows():
    """--max-bad-rows 1 already allows the whole file: raising it cannot help."""
    bad = BadRows("skip", 1.0)
    for line in (2, 3):
        bad.skip(UserError(f"a.csv:{line}", "empty text in column 'text'"), "a.csv")
    with pytest.raises(UserError) as e:
        bad.check("a.csv", 0)
    assert str(e.value) == "a.csv: all 2 of its rows are unusable (the first: 2: empty text in column 'text'); fix the file, or the options that read it"


MESSY_CSV = "text,label\ngood one,pos\n  ,neg\nbad one,neg\ntoo,many,fields\n".encode() + "caf\xe9,pos\n".encode("latin-1") + b"fine,neg\n"


def test_a_messy_csv_keeps_its_good_rows_and_lists_the_others(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(MESSY_CSV)
    bad = skip()
    split = read_split(str(path), bad_rows=bad)
    assert split.texts == ["good one", "bad one", "fine"]
    assert split.places == [f"{path}:2", f"{path}:4", f"{path}:7"]  # lines after a skipped one keep their number
    assert [(s["line"], s["reason"].split(";")[0]) for s in bad.in_file_order()] == [
        (3, "empty text in column 'text'"), (5, "row has 3 fields but the header has 2"), (6, "not valid UTF-8"),
    ]
    with pytest.raises(UserError) as e:  # the default: the first problem, as before
        read_split(str(path))
    assert str(e.value).startswith(f"{path}:6: not valid UTF-8")


def test_max_bad_rows_counts_the_rows_of_the_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(MESSY_CSV)
    with pytest.raises(UserError, match=r"3 of its 6 rows .* --max-bad-rows 0.4"):
        read_split(str(path), bad_rows=skip(0.4))


def test_jsonl_skips_invalid_json_and_a_missing_label(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", \n{"text": "c"}\n[1]\n{"text": "d", "label": "y"}\n')
    bad = skip(0.6)
    split = read_split(str(path), bad_rows=bad)
    assert split.texts == ["a", "d"] and split.labels == ["x", "y"]
    reasons = {s["line"]: s["reason"] for s in bad.skipped}
    assert sorted(reasons) == [2, 3, 4]
    assert "invalid JSON" in reasons[2] and "empty label" in reasons[3] and "JSON object" in reasons[4]


def test_parquet_skips_rows_by_row_number(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a", None, "c"], "label": ["x", "y", None]}), path)
    bad = skip(0.7)
    assert read_split(str(path), bad_rows=bad).texts == ["a"]
    assert [s["place"] for s in bad.skipped] == ["row 2", "row 3"]


@pytest.mark.parametrize(
    "content, where, fragment",
    [
        ("text,label\nx,pos\n", None, "no column 'sentence'"),  # a missing column
        (b"t\xe9xt,label\nx,pos\ny,neg\n", ":1", "not valid UTF-8"),  # an undecodable header
        ("", ":1", "empty"),
    ],
)
def test_what_makes_the_file_unusable_stays_an_error(tmp_path, content, where, fragment):
    path = tmp_path / "a.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError, match=fragment) as e:
        read_split(str(path), text_column="sentence" if where is None else "text", bad_rows=skip(1.0))
    assert str(e.value).startswith(f"{path}{where or ':1'}:")


def test_conll_drops_a_sentence_with_a_bad_line_whole(tmp_path):
    path = tmp_path / "a.conll"
    path.write_bytes(
        b"John B-PER\nlives O\n\n"
        b"Mary B-PER\nsees X-LOC\n\n"  # a tag of no scheme
        b"Anna B-PER\nthree cols O\nhere O\n\n"  # a ragged line
        + "Jos\xe9 B-PER\nruns O\n\n".encode("latin-1")  # undecodable
        + b"Tom B-PER\nsleeps O\n"
    )
    bad = skip(0.7)
    split = read_token_split(str(path), bad_rows=bad)
    assert split.tokens == [["John", "lives"], ["Tom", "sleeps"]]
    assert split.places == [f"{path}:1", f"{path}:14"]
    assert [s["line"] for s in bad.in_file_order()] == [5, 8, 11]
    with pytest.raises(UserError, match=r":11: not valid UTF-8"):  # the default: bytes are checked first, as before
        read_token_split(str(path))


def test_conll_drops_a_sentence_its_scheme_forbids_and_jsonl_records(tmp_path):
    conll = tmp_path / "a.conll"
    conll.write_text("John B-PER\n\nMary B-PER\nsees E-PER\n\nTom B-PER\n")  # E- in IOB2
    bad = skip(0.5)
    assert read_token_split(str(conll), tag_scheme="iob2", bad_rows=bad).tokens == [["John"], ["Tom"]]
    assert bad.skipped[0]["line"] == 4
    jsonl = tmp_path / "a.jsonl"
    records = [{"tokens": ["A"], "tags": ["B-PER"]}, {"tokens": ["B", "C"], "tags": ["O"]}, {"tokens": ["D"], "tags": ["O"]}]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    bad = skip(0.5)
    assert read_token_split(str(jsonl), bad_rows=bad).tokens == [["A"], ["D"]]
    assert bad.skipped == [{"file": str(jsonl), "line": 2, "reason": "2 tokens but 1 tags; give one tag per token"}]


def test_squad_json_skips_a_question_by_its_id(tmp_path):
    context = "Lucy has a cat."
    qas = [
        {"id": "q1", "question": "What does Lucy have?", "answers": [{"text": "a cat", "answer_start": 9}]},
        {"id": "q2", "question": "", "answers": [{"text": "a cat", "answer_start": 9}]},
        {"id": "q3", "question": "Who?", "answers": [{"text": "a dog", "answer_start": 0}]},
        {"id": "q4", "question": "Who has a cat?", "answers": [{"text": "Lucy", "answer_start": 0}]},
    ]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}))
    bad = skip()
    split = read_qa_split(str(path), bad_rows=bad)
    assert split.ids == ["q1", "q4"]
    assert [(s["place"], s["reason"][:12]) for s in bad.skipped] == [("question q2", "empty questi"), ("question q3", "answer 'a do")]


def test_qa_rows_skip_bad_lines_and_squad_json_with_bad_bytes_stays_an_error(tmp_path):
    rows = [{"question": "Who?", "context": "Lucy runs.", "answers": [{"text": "Lucy", "answer_start": 0}]}] * 3
    lines = [json.dumps(dict(r, id=str(i))).encode() for i, r in enumerate(rows)]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines[:2] + [b'{"id": "\xff"}'] + lines[2:]) + b"\n")
    bad = skip()
    assert read_qa_split(str(path), bad_rows=bad).ids == ["0", "1", "2"]
    assert bad.skipped == [{"file": str(path), "line": 3, "reason": "not valid UTF-8; save the file as UTF-8"}]
    squad = tmp_path / "squad.json"
    squad.write_bytes(b'{"data": [\n"\xff"]}\n')
    with pytest.raises(UserError, match="not valid UTF-8"):
        read_qa_split(str(squad), bad_rows=skip())


def test_lm_corpus_skips_undecodable_lines_and_non_text_values(tmp_path):
    text = tmp_path / "a.txt"
    text.write_bytes(b"one\n\xff\xfe two\nthree\n")
    bad = skip()
    assert list(Corpus((str(text),), bad_rows=bad).texts()) == ["one", "three"]
    assert bad.skipped == [{"file": str(text), "line": 2, "reason": "not valid UTF-8; save the file as UTF-8"}]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"text": "a"}\n{"text": 3}\n{"text": "b"}\n{"text": "c"}\n')
    bad = skip()
    assert list(Corpus((str(jsonl),), bad_rows=bad).texts()) == ["a", "b", "c"]
    assert bad.skipped[0]["line"] == 2 and "got a number" in bad.skipped[0]["reason"]
    with pytest.raises(UserError, match=":2: not valid UTF-8"):
        list(Corpus((str(text),)).texts())
