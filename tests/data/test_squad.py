"""QA readers: SQuAD v1.1 / v2.0 JSON, JSONL and CSV rows, and the answer_start rule
(repaired when the answer text occurs exactly once, an error naming the question otherwise)."""

import json

import pytest

from conftest import write_csv, write_jsonl, write_squad
from transferkit.data.squad import read_qa_split
from transferkit.errors import UserError

CONTEXT = "The city of Anna is Paris. The pet of Tom is a cat."


def test_squad_v1_json_keeps_ids_places_and_answer_offsets(tmp_path):
    path = write_squad(tmp_path / "v1.json", [
        {"id": "a1", "question": "Where does Anna live?", "context": CONTEXT, "answers": [{"text": "Paris", "answer_start": 20}]},
        {"id": "a2", "question": "Which pet?", "context": CONTEXT, "answers": [{"text": "a cat", "answer_start": 45}, {"text": "cat", "answer_start": 47}]},
    ])
    split = read_qa_split(str(path))
    assert split.ids == ["a1", "a2"] and split.version == "v1"
    assert [[(a.text, a.start, a.end) for a in answers] for answers in split.answers] == [[("Paris", 20, 25)], [("a cat", 45, 50), ("cat", 47, 50)]]
    assert split.places[1] == f"{path}:question a2"


def test_squad_v2_unanswerable_questions_make_a_v2_split(tmp_path):
    document = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "x", "question": "Where does Anna live?", "answers": [{"text": "Paris", "answer_start": 20}], "is_impossible": False},
        {"id": "y", "question": "Where does Tom live?", "answers": [], "plausible_answers": [{"text": "Paris", "answer_start": 20}], "is_impossible": True},
    ]}]}]}
    (tmp_path / "v2.json").write_text(json.dumps(document))
    split = read_qa_split(str(tmp_path / "v2.json"))
    assert split.version == "v2" and [len(a) for a in split.answers] == [1, 0]


def test_jsonl_with_datasets_style_answers_and_csv_with_a_json_cell(tmp_path):
    row = {"question": "Which pet?", "context": CONTEXT, "answers": {"text": ["a cat"], "answer_start": [45]}}
    split = read_qa_split(str(write_jsonl(tmp_path / "q.jsonl", [row])))
    assert split.ids == ["0"] and split.answers[0][0].text == "a cat" and split.places == [f"{tmp_path / 'q.jsonl'}:1"]
    csv_path = write_csv(tmp_path / "q.csv", [("Which pet?", CONTEXT, json.dumps([{"text": "cat", "answer_start": 47}]))], header=("question", "context", "answers"))
    assert read_qa_split(str(csv_path)).answers[0][0].start == 47


def test_an_answer_start_off_target_is_repaired_when_the_text_occurs_once(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"id": "r1", "question": "Where?", "context": CONTEXT, "answers": [{"text": "Paris", "answer_start": 3}]}])
    split = read_qa_split(str(path))
    assert split.answers[0][0].start == 20 and split.repaired == ["r1"]


@pytest.mark.parametrize("answer, message", [
    ({"text": "the", "answer_start": 1}, "question 'r1': answer 'the' is not at answer_start 1 and occurs 2 times in the context"),
    ({"text": "Berlin", "answer_start": 0}, "question 'r1': answer 'Berlin' does not occur in the context"),
    ({"text": "Paris"}, "question 'r1': each answer needs \"text\" and \"answer_start\""),
    ({"text": "Paris", "answer_start": -4}, "question 'r1': answer_start must be a character offset"),
])
def test_an_answer_that_cannot_be_placed_is_an_error_naming_the_question(tmp_path, answer, message):
    context = "the city of Anna is Paris, the pet of Tom is a cat"
    path = write_jsonl(tmp_path / "r.jsonl", [{"id": "r1", "question": "Where?", "context": context, "answers": [answer]}])
    with pytest.raises(UserError) as error:
        read_qa_split(str(path))
    assert str(error.value).startswith(f"{path}:1: {message}")


def test_unlabelled_reading_needs_no_answers(tmp_path):
    path = write_jsonl(tmp_path / "u.jsonl", [{"question": "Where?", "context": CONTEXT}])
    split = read_qa_split(str(path), labelled=False)
    assert split.answers is None and split.questions == ["Where?"]
    with pytest.raises(UserError, match="no column 'answers'"):
        read_qa_split(str(path))


@pytest.mark.parametrize("labelled", [True, False])
def test_a_repeated_question_id_is_an_error_naming_both_places(tmp_path, labelled):
    record = {"id": "a1", "question": "Where?", "context": CONTEXT, "answers": [{"text": "Paris", "answer_start": 20}]}
    squad = write_squad(tmp_path / "d.json", [record, {**record, "id": "a2"}, {**record, "question": "Again?"}])
    with pytest.raises(UserError) as error:
        read_qa_split(str(squad), labelled=labelled)
    assert str(error.value).startswith(
        f"{squad}:data[0].paragraphs[2].qas[0]: question id 'a1' is used again (first at {squad}:data[0].paragraphs[0].qas[0])"
    )
    rows = write_jsonl(tmp_path / "d.jsonl", [record, {**record, "id": "a2"}, {**record, "question": "Again?"}])
    with pytest.raises(UserError) as error:
        read_qa_split(str(rows), labelled=labelled)
    assert str(error.value).startswith(f"{rows}:3: question id 'a1' is used again (first at {rows}:1)")


@pytest.mark.parametrize("field, value, kind", [("question", 7, "a number (7)"), ("context", ["a", "b"], 'a list (["a", "b"])'), ("id", {"n": 1}, "an object")])
def test_a_value_of_the_wrong_type_is_named_with_its_type(tmp_path, field, value, kind):
    record = {"id": "a1", "question": "Where?", "context": CONTEXT, "answers": [], field: value}
    path = write_jsonl(tmp_path / "t.jsonl", [record])
    with pytest.raises(UserError) as error:
        read_qa_split(str(path))
    assert str(error.value).startswith(f"{path}:1: expected a") and f"got {kind}" in str(error.value)
