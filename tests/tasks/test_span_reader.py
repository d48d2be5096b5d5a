"""Decoding answer spans from start/end logits over windows, and the v2 threshold."""

import numpy as np
import pytest

from transferkit.tasks.span_reader import Reading, apply_threshold, choose_threshold, decode
from transferkit.tasks.qa_windows import QAWindows

CONTEXT = "alpha beta gamma delta epsilon zeta"
# token k of the context covers word k; tokens 0-2 are [CLS] q [SEP]
WORDS = [(0, 5), (6, 10), (11, 16), (17, 22), (23, 30), (31, 35)]


def windows_of(parts: list[list[int]]) -> QAWindows:
    offsets = [[None, None, None] + [WORDS[k] for k in part] + [None] for part in parts]
    return QAWindows([{} for _ in parts], [0] * len(parts), offsets)


def logits(n_tokens: int, start: dict, end: dict, null: float = 0.0) -> np.ndarray:
    out = np.full((2, n_tokens), -5.0)
    out[:, 0] = null / 2
    for k, v in start.items():
        out[0, k] = v
    for k, v in end.items():
        out[1, k] = v
    return out


def test_best_span_over_windows_by_summed_logits_inside_the_context_only():
    windows = windows_of([[0, 1, 2, 3], [2, 3, 4, 5]])
    first = logits(8, {3: 2.0, 1: 9.0}, {4: 2.0, 1: 9.0})  # the question token 1 scores highest: never chosen
    second = logits(8, {4: 3.0}, {6: 3.0})  # words 3..5 in the second window
    reading = decode(windows, [first, second], [CONTEXT], max_answer_length=30, v2=False)[0]
    assert (reading.text, reading.start, reading.end) == ("delta epsilon zeta", 17, 35)
    assert 0 < reading.score < 1 and reading.span_logit == pytest.approx(6.0)


def test_max_answer_length_and_order_of_start_and_end():
    windows = windows_of([[0, 1, 2, 3, 4, 5]])
    scores = logits(10, {3: 5.0, 6: 1.0}, {8: 5.0, 4: -1.0, 7: 1.0})
    assert decode(windows, [scores], [CONTEXT], max_answer_length=30, v2=False)[0].text == "alpha beta gamma delta epsilon zeta"
    assert decode(windows, [scores], [CONTEXT], max_answer_length=2, v2=False)[0].text == "alpha beta"  # 3+4
    backwards = logits(10, {8: 5.0}, {3: 5.0, 8: 1.0})
    assert decode(windows, [backwards], [CONTEXT], max_answer_length=30, v2=False)[0].text == "zeta"  # end before start: never


def test_v2_no_answer_when_the_null_logit_wins_by_more_than_the_threshold():
    windows = windows_of([[0, 1, 2]])
    reading = decode(windows, [logits(7, {3: 1.0}, {3: 1.0}, null=4.0)], [CONTEXT], 30, v2=True)[0]
    assert reading.null_logit == pytest.approx(4.0) and reading.text == "alpha"
    assert apply_threshold([reading], 1.0)[0].text == ""
    assert apply_threshold([reading], 3.0)[0].text == "alpha"


def test_threshold_maximises_v2_f1_on_dev():
    readings = [Reading(t, 0, 1, 0.5, 0.0, margin) for t, margin in [("Paris", -2.0), ("Rome", 0.5), ("Oslo", 1.0), ("Bonn", 3.0)]]
    golds = [["Paris"], [], ["Oslo"], []]
    threshold = choose_threshold(readings, golds, "en")
    best = max(sum(max(float(r.text == g) for g in gold or [""]) for r, gold in zip(apply_threshold(readings, t), golds)) for t in (-3, 0, 0.7, 1.5, 4))
    chosen = sum(max(float(r.text == g) for g in gold or [""]) for r, gold in zip(apply_threshold(readings, threshold), golds))
    assert chosen == best == 3


def _one_window(offsets: list[tuple[int, int]]) -> QAWindows:
    return QAWindows([{}], [0], [[None, None, None] + offsets + [None]])


def test_answers_start_and_end_on_the_word_boundaries_of_the_context():
    context = "Anton Chekhov wrote it."
    # sub-word tokens: Anton | Che | ##khov | wrote | it | .
    window = _one_window([(0, 5), (6, 9), (9, 13), (14, 19), (20, 22), (22, 23)])
    # the best pair by logits is "khov" (starts inside a word), then "Che" (ends inside it)
    scores = logits(10, {5: 9.0, 4: 6.0}, {5: 9.0, 4: 8.0})
    reading = decode(window, [scores], [context], max_answer_length=30, v2=False)[0]
    assert (reading.text, reading.start, reading.end) == ("Chekhov", 6, 13)
    ending = logits(10, {7: 5.0}, {8: 4.0})  # "it." : an end after punctuation is a boundary
    assert decode(window, [ending], [context], max_answer_length=30, v2=False)[0].text == "it."


def test_contexts_without_spaces_between_words_are_not_cut_to_words():
    context = "北京是中国的首都"  # one token per character
    window = _one_window([(k, k + 1) for k in range(len(context))])
    scores = logits(12, {3 + 6: 5.0}, {3 + 7: 5.0})
    assert decode(window, [scores], [context], max_answer_length=30, v2=False)[0].text == "首都"
