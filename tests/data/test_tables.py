import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transferkit.data.tables import read_table
from transferkit.errors import UserError


def test_reads_csv_with_quoted_multiline_field_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\n"two\nlines",pos\nplain,neg\n')
    table = read_table(path)
    assert table.columns == ["text", "label"]
    assert [r["text"] for r in table.rows] == ["two\nlines", "plain"]
    assert table.places == [f"{path}:2", f"{path}:4"]


def test_reads_tsv_jsonl_and_parquet(tmp_path):
    (tmp_path / "a.tsv").write_text("text\tlabel\nhello, world\tpos\n")
    assert read_table(tmp_path / "a.tsv").rows == [{"text": "hello, world", "label": "pos"}]
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "x", "label": 1}) + "\n\n" + json.dumps({"text": "y", "label": 0}) + "\n")
    table = read_table(tmp_path / "a.jsonl")
    assert [r["label"] for r in table.rows] == [1, 0]
    assert table.places[1].endswith(":3")
    pq.write_table(pa.table({"text": ["p", "q"], "label": ["a", "b"]}), tmp_path / "a.parquet")
    assert read_table(tmp_path / "a.parquet").rows[1] == {"text": "q", "label": "b"}


@pytest.mark.parametrize(
    "name, content, where, fragment",
    [
        ("empty.csv", b"", ":1", "empty"),
        ("header.csv", b"text,label\n", ":2", "no data rows"),
        ("ragged.csv", b"text,label\nok,pos\ntoo,many,fields\n", ":3", "3 fields"),
        ("bytes.csv", b"text,label\nok,pos\n\xff\xfe bad,neg\n", ":3", "UTF-8"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": \n', ":2", "invalid JSON"),
        ("list.jsonl", b"[1, 2]\n", ":1", "JSON object"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, content, where, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as e:
        read_table(path)
    assert str(e.value).startswith(f"{path}{where}:")
    assert fragment in str(e.value)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(UserError, match="unknown file type"):
        read_table(tmp_path / "data.xlsx")


def test_a_csv_field_longer_than_pythons_csv_limit_is_read_and_the_limit_restored(tmp_path):
    import csv

    limit = csv.field_size_limit()
    path = tmp_path / "long.csv"
    path.write_text(f'text,label\n"{"word " * 40_000}",pos\nshort,neg\n')
    table = read_table(path)
    assert len(table.rows[0]["text"]) == 200_000 > limit
    assert table.places == [f"{path}:2", f"{path}:3"]
    assert csv.field_size_limit() == limit


def test_tsv_is_read_as_written_without_quote_processing(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\n"Quoted" words first\tpos\n"a lone quote\tneg\nlast, "row"\tpos\n')
    table = read_table(path)
    assert [r["text"] for r in table.rows] == ['"Quoted" words first', '"a lone quote', 'last, "row"']
    assert table.places == [f"{path}:2", f"{path}:3", f"{path}:4"]


def test_a_tsv_row_with_an_extra_tab_names_its_line(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text('text\tlabel\n"ok\tpos\na\tb\tc\n')
    with pytest.raises(UserError, match=r"r\.tsv:3: row has 3 fields but the header has 2; a TSV field cannot hold a tab"):
        read_table(path)


def test_an_unclosed_csv_quote_is_reported_where_it_opens(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('text,label\nok,pos\n"never closed,neg\nmore,pos\nand more,neg\n')
    with pytest.raises(UserError) as e:
        read_table(path)
    assert str(e.value).startswith(f"{path}:3: a quoted field starts here and is never closed")


def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path):
    """json.dumps(ensure_ascii=False) writes U+2028 and U+0085 unescaped; they do not end a line."""
    path = tmp_path / "u.jsonl"
    texts = ["one\u2028two", "three\x85four"]
    path.write_text("".join(json.dumps({"text": t, "label": 1}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    table = read_table(path)
    assert [r["text"] for r in table.rows] == texts and table.places == [f"{path}:1", f"{path}:2"]


@pytest.mark.parametrize("cut", [lambda b: b[: len(b) // 2], lambda b: b[:100] + b"\0" * 200 + b[300:]])
def test_a_damaged_parquet_file_is_a_user_error(tmp_path, cut):
    """pyarrow raises ArrowInvalid for some damage and a plain OSError for other."""
    pq.write_table(pa.table({"text": ["p"] * 50, "label": ["a"] * 50}), tmp_path / "ok.parquet")
    (tmp_path / "bad.parquet").write_bytes(cut((tmp_path / "ok.parquet").read_bytes()))
    with pytest.raises(UserError, match=r"bad\.parquet: cannot read Parquet: .*; the file is damaged or not Parquet"):
        read_table(tmp_path / "bad.parquet")
