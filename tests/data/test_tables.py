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
