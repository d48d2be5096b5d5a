import json

import pytest

from transferkit.data.classification import check_labels_known, label_set, read_split
from transferkit.errors import UserError


def test_text_pairs_integer_labels_and_ids(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"id": "q7", "a": "x", "b": "y", "y": 10}, {"a": "z", "b": "w", "y": 2}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    split = read_split(str(path), text_column="a", label_column="y", text_pair_column="b")
    assert split.texts == ["x", "z"] and split.pairs == ["y", "w"]
    assert split.labels == ["10", "2"]
    assert split.ids == ["q7", "1"]
    assert label_set(split) == ["2", "10"]  # integer labels sort numerically


def test_missing_column_names_the_columns_and_the_flag(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("sentence,label\nhi,pos\n")
    with pytest.raises(UserError) as e:
        read_split(str(path))
    assert f"{path}:1" in str(e.value) and "'sentence'" in str(e.value) and "--text-column" in str(e.value)


@pytest.mark.parametrize("row, fragment", [("  ,pos", "empty text"), ("hello,", "empty label")])
def test_empty_text_or_label(tmp_path, row, fragment):
    path = tmp_path / "a.csv"
    path.write_text(f"text,label\nfine,neg\n{row}\n")
    with pytest.raises(UserError, match=fragment) as e:
        read_split(str(path))
    assert str(e.value).startswith(f"{path}:3:")


def test_unknown_label_in_test_split_is_an_error(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\na,pos\nb,neg\n")
    test = tmp_path / "test.csv"
    test.write_text("text,label\nc,pos\nd,neutral\n")
    labels = label_set(read_split(str(train)))
    with pytest.raises(UserError, match="'neutral'") as e:
        check_labels_known(read_split(str(test)), labels)
    assert str(e.value).startswith(f"{test}:3:")


def test_one_label_is_not_a_classification_task(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,label\na,pos\nb,pos\n")
    with pytest.raises(UserError, match="at least 2"):
        label_set(read_split(str(path)))
