"""Reading CoNLL column files and JSONL token files."""

import json

import pytest

from transferkit.data.conll import read_token_split
from transferkit.errors import UserError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_conll_2003_layout_iob1_is_read_as_iob2(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n\nPeter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n"
    split = read_token_split(write(tmp_path / "a.txt", text))
    assert split.scheme == "iob1"
    assert split.tokens == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert split.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    assert split.places == [f"{tmp_path / 'a.txt'}:3", f"{tmp_path / 'a.txt'}:7"]


def test_docstart_lines_number_the_documents(tmp_path):
    text = "A O\n\nB O\n\n-DOCSTART- O\n\nC O\n-DOCSTART- O\nD O\n\n-DOCSTART- O\n\n-DOCSTART- O\n\nE O\n"
    assert read_token_split(write(tmp_path / "d.txt", text)).documents == [0, 0, 1, 2, 3]
    # no -DOCSTART- line: no documents, so document context reads each sentence alone (WikiANN's are unrelated)
    assert read_token_split(write(tmp_path / "e.txt", "A O\n\nB O\n")).documents is None
    assert read_token_split(write(tmp_path / "f.txt", "-DOCSTART- O\n\nA O\n\nB O\n")).documents == [0, 0]


def test_tab_columns_tag_column_and_jsonl(tmp_path):
    tsv = write(tmp_path / "b.tsv", "New York\tB-LOC\tx\nrocks\tO\tx\n")
    split = read_token_split(tsv, tag_column=2)
    assert split.tokens == [["New York", "rocks"]] and split.tags == [["B-LOC", "O"]]
    jsonl = write(tmp_path / "c.jsonl", json.dumps({"id": "s1", "tokens": ["Anna", "sings"], "tags": ["S-PER", "O"]}) + "\n")
    split = read_token_split(jsonl)
    assert split.ids == ["s1"] and split.tags == [["B-PER", "O"]] and split.scheme == "iobes"


def test_unlabelled_files_need_only_tokens(tmp_path):
    split = read_token_split(write(tmp_path / "d.txt", "Angela\nMerkel\n\nParis\n"), labelled=False)
    assert split.tokens == [["Angela", "Merkel"], ["Paris"]] and split.tags is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("a O\nb c O\n", "x.txt:2: 3 columns but line 1 has 2"),
        ("a PERSON\n", "x.txt:1: tag 'PERSON' is in no known scheme"),
        ("\n\n-DOCSTART- O\n", "x.txt:1: no sentences"),
        ("a I-PER\n\nb O\nc B-LOC\n", "x.txt:1: the file mixes tag schemes"),
        ("a\nb\n", "x.txt:1: one column only"),
    ],
)
def test_malformed_conll_files(tmp_path, text, message):
    with pytest.raises(UserError) as error:
        read_token_split(write(tmp_path / "x.txt", text))
    assert message in str(error.value)


@pytest.mark.parametrize(
    "record, message",
    [
        ({"tokens": ["a", "b"], "tags": ["O"]}, "2 tokens but 1 tags"),
        ({"tokens": [], "tags": []}, "empty `tokens` list"),
        ({"words": ["a"]}, "with a `tokens` list"),
        ({"tokens": ["a"], "tags": [3]}, "`tags` must be a list of non-empty strings"),
    ],
)
def test_malformed_jsonl_records(tmp_path, record, message):
    with pytest.raises(UserError) as error:
        read_token_split(write(tmp_path / "x.jsonl", json.dumps(record) + "\n"))
    assert str(error.value).startswith(f"{tmp_path / 'x.jsonl'}:1:") and message in str(error.value)


@pytest.mark.parametrize("invisible", ["\ufeff", "\u200b", "\u00a0\u00a0", " \u200b\t\ufeff "])
def test_a_line_of_invisible_characters_is_blank(tmp_path, invisible):
    """A public NER file ends with a line holding only a stray byte-order mark."""
    split = read_token_split(write(tmp_path / "i.txt", f"EU B-ORG\nrejects O\n{invisible}\nPeter B-PER\n{invisible}\n"))
    assert split.tokens == [["EU", "rejects"], ["Peter"]] and split.places[1].endswith(":4")


def test_a_byte_order_mark_opening_a_line_is_dropped(tmp_path):
    """Files concatenated with `cat` keep the BOM of each but the first at a line start."""
    text = "-DOCSTART- O\n\nEU B-ORG\n\n\ufeff-DOCSTART- O\n\n\ufeffPeter B-PER\n"
    split = read_token_split(write(tmp_path / "c.txt", text))
    assert split.tokens == [["EU"], ["Peter"]] and split.documents == [0, 1]


def test_unicode_line_separators_inside_a_token_do_not_end_the_line(tmp_path):
    split = read_token_split(write(tmp_path / "s.tsv", "a\u2028b\tB-PER\nc\x85d\tO\n"))
    assert split.tokens == [["a\u2028b", "c\x85d"]] and split.tags == [["B-PER", "O"]]


def test_repeated_jsonl_sentence_ids_are_an_error_naming_both_lines(tmp_path):
    records = [{"id": "s1", "tokens": ["Anna"], "tags": ["B-PER"]}, {"id": "s2", "tokens": ["x"], "tags": ["O"]}, {"id": "s1", "tokens": ["y"], "tags": ["O"]}]
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(UserError) as error:
        read_token_split(path)
    assert str(error.value).startswith(f"{path}:3: sentence id 's1' is used again (first at {path}:1)")
    with pytest.raises(UserError, match="sentence id 's1' is used again"):
        read_token_split(path, labelled=False)
