"""Question + context windows: the question whole in every window, overlapping context
parts, answer positions that map back to the answer's characters."""

import random

import pytest

from conftest import qa_context
from transferkit.data.squad import Answer
from transferkit.errors import UserError
from transferkit.models.zoo import resolve_model
from transferkit.tasks.qa_windows import encode_windows


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model("minilm"))


def test_long_context_windows_keep_the_question_and_label_the_answer_in_the_third(tokenizer):
    rng = random.Random(0)
    context, facts = qa_context(rng, facts=1, fillers=12, asked="city", position=8)
    name, value = facts["city"]
    question = f"What is the city of {name}?"
    answer = Answer(value, context.index(f"is {value}.") + 3)
    windows = encode_windows(tokenizer, [question], [context], max_length=48, stride=8, places=["q"], answers=[[answer]])
    question_ids = tokenizer(question)["input_ids"]
    assert len(windows.items) >= 4 and windows.example == [0] * len(windows.items)
    for item, offsets in zip(windows.items, windows.offsets):
        assert len(item["input_ids"]) <= 48
        assert item["input_ids"][: len(question_ids)] == question_ids  # never truncated
    # consecutive windows share 8 context tokens
    first, second = ([o for o in w if o is not None] for w in windows.offsets[:2])
    assert first[-8:] == second[:8]
    labelled = [w for w, item in enumerate(windows.items) if item["start_positions"] != 0]
    assert labelled == [2]
    item, offsets = windows.items[2], windows.offsets[2]
    span = context[offsets[item["start_positions"]][0] : offsets[item["end_positions"]][1]]
    assert span == value
    assert all(item["start_positions"] == item["end_positions"] == 0 for w, item in enumerate(windows.items) if w != 2)


def test_a_question_without_room_for_context_is_an_error_naming_its_place(tokenizer):
    question = "why " * 20
    with pytest.raises(UserError, match=r"^data.jsonl:7: the question is 20 tokens, which leaves no room"):
        encode_windows(tokenizer, ["ok?", question], ["a b c", "d e f"], max_length=16, stride=4, places=["data.jsonl:3", "data.jsonl:7"])


def test_a_long_question_shrinks_the_overlap_instead_of_failing(tokenizer):
    question = "which " * 9  # 9 tokens + 3 specials in a 16-token window: 4 context tokens each
    windows = encode_windows(tokenizer, [question], ["one two three four five six seven eight nine ten"], max_length=16, stride=6, places=["q"])
    contexts = [[o for o in w if o is not None] for w in windows.offsets]
    assert all(len(c) <= 4 for c in contexts) and len(contexts) >= 3
    assert contexts[0][-2:] == contexts[1][:2]  # the overlap became half the room
