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


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("value, kind", [(42, "a number (42)"), (True, "a boolean (true)"), (["a", "b"], 'a list (["a", "b"])'), ({"t": "x"}, 'an object ({"t": "x"})')])
def test_a_text_that_is_not_a_string_is_an_error_naming_its_type(tmp_path, value, kind):
    path = _jsonl(tmp_path / "t.jsonl", [{"text": "fine", "label": "a"}, {"text": value, "label": "b"}])
    with pytest.raises(UserError) as e:
        read_split(path)
    assert str(e.value).startswith(f"{path}:2: expected text in column 'text', got {kind}")


def test_a_parquet_list_column_is_not_taken_as_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "l.parquet"
    pq.write_table(pa.table({"text": ["fine", "good"], "pair": [["a"], ["b", "c"]], "label": ["x", "y"]}), path)
    with pytest.raises(UserError, match=r"l\.parquet:row 1: expected text in column 'pair', got a list .*--text-pair-column"):
        read_split(str(path), text_pair_column="pair")


@pytest.mark.parametrize("value, label", [(1.0, "1"), (3, "3"), (True, "true"), (False, "false"), (" pos ", "pos")])
def test_labels_that_are_class_names(tmp_path, value, label):
    path = _jsonl(tmp_path / "l.jsonl", [{"text": "x", "label": value}])
    assert read_split(path).labels == [label]


@pytest.mark.parametrize("value, fragment", [
    (0.73, "label 0.73 in column 'label' is not a whole number; classification needs class names or integer ids (is this a regression score?)"),
    ([1, 2], "expected a class name (a string or an integer) in column 'label', got a list ([1, 2])"),
    ({"c": 1}, "expected a class name (a string or an integer) in column 'label', got an object"),
])
def test_labels_that_are_not_class_names_are_errors(tmp_path, value, fragment):
    path = _jsonl(tmp_path / "l.jsonl", [{"text": "x", "label": "a"}, {"text": "y", "label": value}])
    with pytest.raises(UserError) as e:
        read_split(path)
    assert str(e.value).startswith(f"{path}:2: {fragment}")


def test_the_text_column_as_the_label_column_is_an_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,other,label\na,b,pos\n")
    for texts in ({}, {"text_pair_column": "other"}):
        label = "other" if texts else "text"
        with pytest.raises(UserError, match=f"^--label-column: '{label}' is also a text column"):
            read_split(str(path), label_column=label, **texts)


@pytest.mark.parametrize("label_column", ["label", None])
def test_a_repeated_id_is_an_error_naming_both_rows(tmp_path, label_column):
    """Predictions are written by id, for labelled splits and for predict input alike."""
    path = tmp_path / "ids.csv"
    path.write_text("id,text,label\nr1,a,pos\nr2,b,neg\nr1,c,pos\n")
    with pytest.raises(UserError) as e:
        read_split(str(path), label_column=label_column)
    assert str(e.value).startswith(f"{path}:4: id 'r1' is used again (first at {path}:2)")


def _train(tmp_path, labels):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{label}\n" for i, label in enumerate(labels)))
    return read_split(str(path)), str(path)


def test_an_ordinary_label_set_gives_no_warning(tmp_path, capsys):
    split, _ = _train(tmp_path, ["pos", "neg"] * 15)
    assert label_set(split) == ["neg", "pos"]
    assert capsys.readouterr().err == ""


def test_labels_differing_only_in_case_are_kept_apart_with_a_warning(tmp_path, capsys):
    split, path = _train(tmp_path, ["negative", "positive", "Negative", "negative"])
    assert label_set(split) == ["Negative", "negative", "positive"]
    err = capsys.readouterr().err
    assert err == (
        f"warning: {path}: labels that differ only in case are different classes: 'Negative' (1 row, first at {path}:4) "
        f"and 'negative' (2 rows, first at {path}:2); fix the labels if they mean the same class\n"
    )


def test_a_class_per_row_gives_a_warning(tmp_path, capsys):
    split, path = _train(tmp_path, [f"c{i}" for i in range(18)] + ["a", "a"])
    label_set(split)
    assert capsys.readouterr().err.startswith(f"warning: {path}: 18 of the 20 training rows have a label no other row has (19 classes)")
    small, _ = _train(tmp_path, [f"c{i}" for i in range(10)])  # a toy set below the minimum
    label_set(small)
    assert capsys.readouterr().err == ""


def test_decimal_numbers_as_labels_in_a_text_file_give_a_warning(tmp_path, capsys):
    split, path = _train(tmp_path, ["0.5", "1", "2.5", "1", "0.5", "3"])
    assert label_set(split) == ["0.5", "1", "2.5", "3"]
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {path}: every label is a number and 2 of the 4 are not whole numbers (e.g. '0.5')")
    assert err.count("\n") == 1


def test_multi_label_cells_split_on_the_separator_and_lists_in_jsonl(tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("text,label\na,sports| news |sports\nb,\nc,||\nd,7\n")
    split = read_split(str(csv_path), multi_label=True)
    assert split.multi_label and split.labels == [("news", "sports"), (), (), ("7",)]
    semicolons = tmp_path / "b.tsv"
    semicolons.write_text("text\tlabel\na\tx; y|z\n")
    assert read_split(str(semicolons), multi_label=True, separator=";").labels == [("x", "y|z")]
    jsonl = tmp_path / "a.jsonl"
    rows = [{"text": "a", "label": ["b", "a", "b"]}, {"text": "b", "label": [3, 1]}, {"text": "c", "label": []}, {"text": "d", "label": "x|y"}]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_split(str(jsonl), multi_label=True).labels == [("a", "b"), ("1", "3"), (), ("x", "y")]


@pytest.mark.parametrize("row, fragment", [({"text": "x"}, "missing value in column 'label'"), ({"text": "x", "label": [["a"]]}, "got a list")])
def test_a_missing_or_wrongly_typed_multi_label_value_is_a_bad_row(tmp_path, row, fragment):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"text": "ok", "label": ["a"]}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(UserError, match=fragment) as e:
        read_split(str(path), multi_label=True)
    assert str(e.value).startswith(f"{path}:2:")


def test_multi_label_label_set_is_the_union_and_needs_one_label(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,label\na,b|a\nb,\nc,c\n")
    split = read_split(str(path), multi_label=True)
    assert label_set(split) == ["a", "b", "c"]
    one = tmp_path / "one.csv"
    one.write_text("text,label\na,x\nb,\n")
    assert label_set(read_split(str(one), multi_label=True)) == ["x"]
    none = tmp_path / "none.csv"
    none.write_text("text,label\na,\nb,\n")
    with pytest.raises(UserError, match="has 0 label.*multi-label classification needs at least 1"):
        label_set(read_split(str(none), multi_label=True))
    test = tmp_path / "test.csv"
    test.write_text("text,label\na,a|c\nb,a|z\n")
    with pytest.raises(UserError, match="label 'z' does not occur") as e:
        check_labels_known(read_split(str(test), multi_label=True), ["a", "b", "c"])
    assert str(e.value).startswith(f"{test}:3:")


def test_slice_column_groups_rows_and_a_missing_value_is_its_own_group(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"text": "a", "label": "x", "shop": "web"}, {"text": "b", "label": "y", "shop": None}, {"text": "c", "label": "x", "shop": 3},
            {"text": "d", "label": "y"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    split = read_split(str(path), slice_column="shop")
    assert split.groups == ["web", "(missing)", "3", "(missing)"]
    assert split.subset([2, 0]).groups == ["3", "web"]
    assert read_split(str(path)).groups is None
    with pytest.raises(UserError, match="no column 'channel'.*--slice-column"):
        read_split(str(path), slice_column="channel")


def test_subset_keeps_multi_label(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,label\na,x|y\nb,y\n")
    picked = read_split(str(path), multi_label=True).subset([1])
    assert picked.multi_label and picked.labels == [("y",)] and picked.places == [f"{path}:3"]
