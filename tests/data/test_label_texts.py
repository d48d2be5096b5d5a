"""`--label-descriptions`: JSON or CSV/TSV, labels it leaves out keep their names, and a label
the training data lacks is the one-line error naming its line."""

import json

import pytest

from transferkit.data.label_texts import label_texts
from transferkit.errors import UserError


def test_descriptions_from_json_and_csv_with_names_for_the_rest(tmp_path):
    as_json = tmp_path / "d.json"
    as_json.write_text(json.dumps({"HUM": "a question about a person"}))
    assert label_texts(str(as_json), ["DESC", "HUM"]) == ["DESC", "a question about a person"]
    as_csv = tmp_path / "d.csv"
    as_csv.write_text('label,description\nDESC,"a question asking for a description, or a definition"\n')
    assert label_texts(str(as_csv), ["DESC", "HUM"]) == ["a question asking for a description, or a definition", "HUM"]
    assert label_texts(None, ["a", "b"]) == ["a", "b"]


def test_an_unknown_or_repeated_label_names_its_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("label\tdescription\nHUM\ta person\nHUMAN\ta typo\n")
    with pytest.raises(UserError) as error:
        label_texts(str(path), ["DESC", "HUM"])
    assert error.value.where == f"{path}:3" and "'HUMAN' is not among the training labels" in str(error.value)
    path.write_text("label\tdescription\nHUM\ta person\nHUM\tagain\n")
    with pytest.raises(UserError, match="described twice"):
        label_texts(str(path), ["DESC", "HUM"])
    bad = tmp_path / "d.csv"
    bad.write_text("name,text\nHUM,a person\n")
    with pytest.raises(UserError, match="header must be label,description"):
        label_texts(str(bad), ["HUM"])
