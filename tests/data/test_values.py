"""How values of the wrong type are named, what an id may be, and that ids are unique."""

import pytest

from transferkit.data.values import check_unique_ids, describe, record_id
from transferkit.errors import UserError


def test_describe_names_the_json_kind_with_a_short_preview():
    assert describe(3.5) == "a number (3.5)"
    assert describe(False) == "a boolean (false)"
    assert describe(b"\x00") == "binary data (b'\\x00')"
    long = describe(["word"] * 50)
    assert long.startswith('a list (["word", ') and long.endswith('...)') and len(long) < 60


@pytest.mark.parametrize("value, expected", [(None, "7"), ("", "7"), ("a-1", "a-1"), (12, "12"), (12.0, "12"), (float("nan"), "7")])
def test_an_id_is_a_string_or_an_integer_as_written(value, expected):
    assert record_id(value, "7", "f:1") == expected


@pytest.mark.parametrize("value", [True, 1.5, ["a"], {"id": 1}])
def test_other_ids_are_errors(value):
    with pytest.raises(UserError, match=r"^f:1: expected an id \(a string or an integer\) in 'id', got "):
        record_id(value, "7", "f:1")


def test_a_repeated_id_names_both_places():
    check_unique_ids(["a", "b"], ["f:1", "f:2"])
    with pytest.raises(UserError, match=r"^f:3: row id 'a' is used again \(first at f:1\)"):
        check_unique_ids(["a", "b", "a"], ["f:1", "f:2", "f:3"], "row id")
