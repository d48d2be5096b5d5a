"""Tag schemes: detection, strict parsing into spans, IOB2 out, lenient decoding."""

import pytest

from transferkit.data.tag_schemes import decode_spans, detect_scheme, iob2_tags, parse_spans
from transferkit.errors import UserError


def places(tags):
    return [f"f:{i + 1}" for i in range(len(tags))]


SAME_ENTITIES = {
    # "Peter Blackburn met Anna Smith Jones in Paris": PER PER, a second PER right after, LOC
    "iob1": "I-PER I-PER O I-PER B-PER O I-LOC".split(),
    "iob2": "B-PER I-PER O B-PER B-PER O B-LOC".split(),
    "iobes": "B-PER E-PER O S-PER S-PER O S-LOC".split(),
    "io": "I-PER I-PER O I-PER I-PER O I-LOC".split(),
}


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "iobes"])
def test_each_scheme_is_detected_and_parsed_to_the_same_spans(scheme):
    tags = SAME_ENTITIES[scheme]
    assert detect_scheme([tags], [places(tags)]) == scheme
    assert parse_spans(tags, scheme, places(tags)) == [("PER", 0, 2), ("PER", 3, 4), ("PER", 4, 5), ("LOC", 6, 7)]
    assert iob2_tags(parse_spans(tags, scheme, places(tags)), len(tags)) == SAME_ENTITIES["iob2"]


def test_io_cannot_separate_adjacent_entities_of_one_type():
    tags = SAME_ENTITIES["io"]
    assert detect_scheme([tags], [places(tags)]) == "iob1"  # reads the same as IO
    assert parse_spans(tags, "iob1", places(tags)) == parse_spans(tags, "io", places(tags))
    assert parse_spans(tags, "io", places(tags)) == [("PER", 0, 2), ("PER", 3, 5), ("LOC", 6, 7)]


def test_bilou_prefixes_read_as_iobes():
    tags = "B-ORG L-ORG O U-LOC".split()
    assert detect_scheme([tags], [places(tags)]) == "iobes"
    assert parse_spans(tags, "iobes", places(tags)) == [("ORG", 0, 2), ("LOC", 3, 4)]


@pytest.mark.parametrize(
    "tags, scheme, where, message",
    [
        ("B-LOC I-PER".split(), "iob2", "f:2", "'I-PER' does not continue an entity"),
        ("O I-PER".split(), "iob2", "f:2", "does not continue an entity"),
        ("B-PER I-PER O".split(), "iobes", "f:3", "does not end with E-PER"),
        ("B-PER I-PER".split(), "iobes", "f:2", "the sentence ends inside a PER entity"),
        ("S-PER E-PER".split(), "iobes", "f:2", "does not continue an entity"),
        ("B-PER S-PER".split(), "iob2", "f:2", "'S-PER' does not belong in IOB2"),
        ("I-PER B-PER".split(), "io", "f:2", "'B-PER' does not belong in IO"),
    ],
)
def test_invalid_sequences_are_errors_at_their_line(tags, scheme, where, message):
    with pytest.raises(UserError) as error:
        parse_spans(tags, scheme, places(tags))
    assert str(error.value).startswith(where + ":") and message in str(error.value)


def test_unknown_tags_and_mixed_schemes_are_errors():
    with pytest.raises(UserError, match="f:2: tag 'PERSON' is in no known scheme"):
        detect_scheme([["O", "PERSON"]], [["f:1", "f:2"]])
    iob1, iob2 = "O I-PER".split(), "O B-LOC".split()
    with pytest.raises(UserError, match=r"a:2: the file mixes tag schemes.*B- at b:2"):
        detect_scheme([iob1, iob2], [["a:1", "a:2"], ["b:1", "b:2"]])


def test_predictions_decode_leniently_like_conlleval():
    # an I- after O or after another type opens an entity; B- always opens one
    assert decode_spans("O I-PER I-PER B-PER I-LOC O".split()) == [("PER", 1, 3), ("PER", 3, 4), ("LOC", 4, 5)]
