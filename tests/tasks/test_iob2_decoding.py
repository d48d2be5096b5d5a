"""Constrained decoding: always valid IOB2, the true best valid sequence, and argmax
wherever argmax is already valid."""

import itertools

import numpy as np
import pytest

from transferkit.data.tag_schemes import decode_spans, iob2_tags
from transferkit.tasks.iob2_decoding import allowed_transitions, best_valid_path, decode

LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def is_valid(tags: list[str]) -> bool:
    """Valid IOB2: the tags survive a round trip through spans unchanged."""
    return iob2_tags(decode_spans(tags), len(tags)) == tags


def random_probabilities(rng, words: int) -> np.ndarray:
    return rng.dirichlet(np.full(len(LABELS), 0.3), size=words)


def test_transitions_forbid_an_inside_tag_after_another_type_or_first():
    first, follows = allowed_transitions(LABELS)
    assert first.tolist() == [True, True, False, True, False]
    i_loc = LABELS.index("I-LOC")
    assert [LABELS[i] for i in np.flatnonzero(follows[:, i_loc])] == ["B-LOC", "I-LOC"]
    assert follows[:, LABELS.index("B-ORG")].all() and follows[:, LABELS.index("O")].all()


def test_an_invalid_argmax_is_repaired_to_the_more_probable_reading():
    # argmax reads "O I-LOC": B-LOC on word 0 is nearly as likely as O, so the best valid
    # sequence is B-LOC I-LOC rather than O O or O B-LOC.
    p = np.array([[0.50, 0.45, 0.0, 0.05, 0.0], [0.05, 0.15, 0.75, 0.0, 0.05]])
    tags, scores = decode([p], LABELS)
    assert [LABELS[i] for i in p.argmax(1)] == ["O", "I-LOC"]
    assert tags == [["B-LOC", "I-LOC"]]
    assert np.allclose(scores[0], [0.45, 0.75])


def test_decoding_matches_exhaustive_search_and_keeps_a_valid_argmax():
    rng = np.random.default_rng(0)
    first, follows = allowed_transitions(LABELS)
    kept = 0
    for _ in range(200):
        words = int(rng.integers(1, 6))
        p = random_probabilities(rng, words)
        path = best_valid_path(p, first, follows)
        tags = [LABELS[i] for i in path]
        assert is_valid(tags)
        log_p = lambda seq: np.log(p[np.arange(words), list(seq)]).sum()  # noqa: E731
        valid = [seq for seq in itertools.product(range(len(LABELS)), repeat=words) if is_valid([LABELS[i] for i in seq])]
        assert log_p(path) == pytest.approx(max(log_p(seq) for seq in valid), abs=1e-9)
        argmax = [LABELS[i] for i in p.argmax(1)]
        if is_valid(argmax):
            assert tags == argmax
            kept += 1
    assert 0 < kept < 200  # both branches were exercised


def test_empty_sentences_decode_to_nothing():
    tags, scores = decode([np.zeros((0, len(LABELS)), dtype=np.float32)], LABELS)
    assert tags == [[]] and len(scores[0]) == 0
