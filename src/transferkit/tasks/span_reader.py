"""Answer spans from a transformers `*ForQuestionAnswering` model, over context windows.

Decoding follows the reference SQuAD recipe (transformers' `run_qa` post-processing):
in each window the `n_best` highest start and end logits over context tokens are paired,
pairs with the end before the start or longer than `max_answer_length` tokens are
dropped, and a pair scores `start_logit + end_logit`. Tokens that would start or end an
answer inside a word (`inside_word`) are no candidates at all, so the n-best list holds
only answers on the context's word boundaries. Raw logits (not per-window
softmaxes) are what make windows comparable: a window that does not hold the answer was
trained to put its mass on `[CLS]`, which lowers its span logits. The answer is the best
pair over all of a question's windows; its reported `score` is its softmax probability
among the n-best pairs (and, for v2, the no-answer option).

SQuAD v2: the no-answer logit is the lowest `[CLS]` start + end logit over the windows,
and a question gets no answer when it beats the best span by more than a threshold,
chosen to maximise F1 on dev (`choose_threshold`, the official v2 script's search).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transferkit.evaluation.qa_metrics import f1, qa_metrics
from transferkit.inference import as_array
from transferkit.tasks.qa_windows import QAWindows, encode_windows

N_BEST = 20


@dataclass
class Reading:
    """The best span of one question, and the no-answer logit that competes with it."""

    text: str
    start: int | None  # characters into the context; None for no answer
    end: int | None
    score: float  # probability among the n-best candidates
    span_logit: float  # start + end logit of the best span (-inf when no span fits)
    null_logit: float  # the lowest [CLS] start + end logit over the windows
    null_score: float = 0.0  # v2: the probability of "no answer" among the same candidates

    def no_answer(self) -> "Reading":
        return Reading("", None, None, self.null_score, self.span_logit, self.null_logit, self.null_score)


def window_logits(runtime, model, windows: QAWindows, pad_token_id: int, progress: str | None = None) -> list[np.ndarray]:
    """`(2, tokens)` start and end logits of every window, in window order."""
    read = lambda out, batch: np.stack([as_array(out.start_logits), as_array(out.end_logits)], axis=1)  # noqa: E731
    rows = runtime.rows(model, windows.items, pad_token_id, read, batch_size=64, progress=progress)
    return [row[:, : len(item["input_ids"])] for row, item in zip(rows, windows.items)]


def decode(windows: QAWindows, logits: list[np.ndarray], contexts: list[str], max_answer_length: int, v2: bool) -> list[Reading]:
    """The best answer span of every question (`contexts[i]` is question i's context)."""
    candidates: list[list[tuple[float, int, int]]] = [[] for _ in contexts]
    null = [np.inf] * len(contexts)
    for w, (i, offsets) in enumerate(zip(windows.example, windows.offsets)):
        start_logits, end_logits = logits[w]
        null[i] = min(null[i], float(start_logits[0] + end_logits[0]))
        starts = _top(start_logits, np.array([o is not None and not inside_word(contexts[i], o[0]) for o in offsets]))
        ends = _top(end_logits, np.array([o is not None and not inside_word(contexts[i], o[1]) for o in offsets]))
        for s in starts:
            for e in ends:
                if s <= e < s + max_answer_length:
                    candidates[i].append((float(start_logits[s] + end_logits[e]), offsets[s][0], offsets[e][1]))
    readings = []
    for i, found in enumerate(candidates):
        found = sorted(found, reverse=True)[:N_BEST]
        if not found:
            readings.append(Reading("", None, None, float(v2), float("-inf"), null[i], float(v2)))
            continue
        logit, start, end = found[0]
        pool = np.array([c[0] for c in found] + ([null[i]] if v2 else []))
        weights = np.exp(pool - pool.max()) / np.exp(pool - pool.max()).sum()
        readings.append(Reading(contexts[i][start:end], start, end, float(weights[0]), logit, null[i], float(weights[-1]) if v2 else 0.0))
    return readings


def inside_word(text: str, position: int) -> bool:
    """Whether `position` falls between two letters or digits of one word of a script
    that separates words with spaces (Latin, Greek, Cyrillic). An answer never starts
    or ends there: a sub-word token such as `##khov` of "Chekhov" is not where a span
    begins. Other scripts are left alone: Chinese or Japanese have no spaces to tell
    words apart, and in Korean or Arabic an answer can end before an attached particle."""
    return 0 < position < len(text) and _spaced_letter(text[position - 1]) and _spaced_letter(text[position])


def _spaced_letter(char: str) -> bool:
    if not char.isalnum():
        return False
    if char.isascii():
        return True
    return unicodedata.name(char, "").startswith(("LATIN", "GREEK", "CYRILLIC"))


def _top(logits: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Positions of the `N_BEST` highest logits among the tokens where a span may start
    (or end): context tokens at a word's edge."""
    positions = np.flatnonzero(inside)
    return positions[np.argsort(-logits[positions], kind="stable")[:N_BEST]]


def apply_threshold(readings: list[Reading], threshold: float) -> list[Reading]:
    """No answer where the no-answer logit beats the best span's by more than `threshold`."""
    return [r.no_answer() if r.null_logit - r.span_logit > threshold else r for r in readings]


def choose_threshold(readings: list[Reading], golds: list[list[str]], language: str) -> float:
    """The threshold that maximises v2 F1 on these labelled questions: each question's
    no-answer margin is a candidate, tried from answering none to answering all."""
    margins = np.array([r.null_logit - r.span_logit for r in readings])
    answered = np.array([max(f1(r.text, g, language, empty_matches_empty=True) for g in gold or [""]) for r, gold in zip(readings, golds)])
    unanswered = np.array([0.0 if gold else 1.0 for gold in golds])
    order = np.argsort(margins, kind="stable")
    # total F1 when the questions with the k smallest margins are answered, k = 0..n
    totals = unanswered.sum() + np.concatenate([[0.0], np.cumsum(answered[order] - unanswered[order])])
    k = int(np.argmax(totals))
    finite = margins[np.isfinite(margins)]
    if k == 0:
        return float(finite.min() - 1.0) if finite.size else 0.0
    return float(margins[order[k - 1]])


class SpanReader:
    """A run's QA model directory, loaded once for answering. `no_answer_threshold` is
    None for a model trained on SQuAD v1-style data (every question has an answer)."""

    def __init__(self, model_dir: Path, max_length: int, stride: int, max_answer_length: int, no_answer_threshold: float | None, runtime):
        self.max_length, self.stride, self.max_answer_length = max_length, stride, max_answer_length
        self.no_answer_threshold, self.runtime = no_answer_threshold, runtime
        self.tokenizer, self.model = runtime.load(model_dir, "AutoModelForQuestionAnswering")

    def read(self, questions: list[str], contexts: list[str], places: list[str]) -> list[Reading]:
        windows = encode_windows(self.tokenizer, questions, contexts, self.max_length, self.stride, places)
        logits = window_logits(self.runtime, self.model, windows, self.tokenizer.pad_token_id, progress="read")
        v2 = self.no_answer_threshold is not None
        readings = decode(windows, logits, contexts, self.max_answer_length, v2)
        return apply_threshold(readings, self.no_answer_threshold) if v2 else readings


class DevScorer:
    """The loop's dev metric for QA, F1 on the dev split (tokenized once here); for a model
    that can answer "no answer" (v2), at the threshold that is best on dev."""

    def __init__(self, tokenizer, dev, max_length: int, stride: int, max_answer_length: int, v2: bool):
        self.dev, self.v2, self.max_answer_length = dev, v2, max_answer_length
        self.pad_token_id = tokenizer.pad_token_id
        self.windows = encode_windows(tokenizer, dev.questions, dev.contexts, max_length, stride, dev.places)
        self.golds = [[a.text for a in answers] for answers in dev.answers]

    def readings(self, model) -> list[Reading]:
        from transferkit.inference import Runtime

        logits = window_logits(Runtime.of(model), model, self.windows, self.pad_token_id)
        return decode(self.windows, logits, self.dev.contexts, self.max_answer_length, self.v2)

    def threshold(self, model) -> float:
        return choose_threshold(self.readings(model), self.golds, self.dev.language)

    def __call__(self, model) -> float:
        readings = self.readings(model)
        if self.v2:
            readings = apply_threshold(readings, choose_threshold(readings, self.golds, self.dev.language))
        return qa_metrics([r.text for r in readings], self.golds, self.dev.language, self.v2)["f1"]
