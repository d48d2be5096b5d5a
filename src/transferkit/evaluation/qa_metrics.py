"""Extractive-QA scores: exact match and token F1, the maximum over an example's gold
answers, averaged over examples, as fractions in [0, 1].

Written here because the official scripts are not packaged (transformers 5 dropped
`squad_metrics`; `evaluate` fetches its scripts from the hub). The rules are theirs:

- English (`en`): the official SQuAD v1.1 script: lower-case, drop ASCII punctuation
  (`string.punctuation`), drop the articles a/an/the, split on whitespace.
- Other languages: MLQA's evaluation script: every Unicode punctuation mark (category P)
  is dropped, articles per language (es, de, vi, ar; none for hi and zh), and Chinese is
  split by *mixed segmentation*: each CJK character is a token of its own, runs of other
  characters split on whitespace — a character-level F1 for text written without spaces.
- SQuAD v2.0 (some questions unanswerable): the official v2 script's rule that an empty
  answer matches only an empty one; `has_answer_*` and `no_answer_*` give the breakdown.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from functools import cache

LANGUAGES = ("en", "es", "de", "vi", "ar", "hi", "zh")
ASCII_PUNCTUATION = frozenset(string.punctuation)
ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": re.compile(r"\sال^|ال"),
}
CJK = re.compile(r"[\u4e00-\u9fa5]")


@cache
def unicode_punctuation() -> frozenset[str]:
    """MLQA's set: every Unicode character of category P, and the ASCII punctuation."""
    marks = (chr(i) for i in range(sys.maxunicode + 1))
    return frozenset(ch for ch in marks if unicodedata.category(ch).startswith("P")) | ASCII_PUNCTUATION


def detect_language(texts: list[str]) -> str:
    """`zh` when CJK ideographs make up over a fifth of the letters, else `en`."""
    letters = ideographs = 0
    for text in texts[:200]:
        letters += sum(ch.isalpha() for ch in text)
        ideographs += len(CJK.findall(text))
    return "zh" if letters and ideographs / letters > 0.2 else "en"


def _mixed_segmentation(text: str) -> list[str]:
    tokens, run = [], ""
    for ch in text:
        if CJK.match(ch) or ch in unicode_punctuation():
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    return tokens + run.split()


def answer_tokens(text: str, language: str = "en") -> list[str]:
    """The normalised tokens that exact match and F1 compare."""
    punctuation = ASCII_PUNCTUATION if language == "en" else unicode_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punctuation)
    if language in ARTICLES:
        text = ARTICLES[language].sub(" ", text)
    tokens = _mixed_segmentation(text) if language == "zh" else text.split()
    return [t for t in tokens if t.strip()]


def exact_match(prediction: str, gold: str, language: str = "en") -> float:
    return float(answer_tokens(prediction, language) == answer_tokens(gold, language))


def f1(prediction: str, gold: str, language: str = "en", empty_matches_empty: bool = False) -> float:
    """Token F1; `empty_matches_empty` is v2's rule for unanswerable questions (v1.1 scores
    an answer that normalises to nothing as 0)."""
    predicted, wanted = answer_tokens(prediction, language), answer_tokens(gold, language)
    if empty_matches_empty and (not predicted or not wanted):
        return float(predicted == wanted)
    same = sum((Counter(predicted) & Counter(wanted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def qa_metrics(predictions: list[str], golds: list[list[str]], language: str = "en", v2: bool = False) -> dict:
    """`exact_match` and `f1` over all questions (each the best over its gold answers; a
    v2 question without answer has the gold `[""]`), and for v2 the same on the answerable
    (`has_answer_*`) and unanswerable (`no_answer_*`) questions."""
    em_scores, f1_scores = [], []
    for prediction, gold in zip(predictions, golds):
        gold = gold or [""]
        em_scores.append(max(exact_match(prediction, g, language) for g in gold))
        f1_scores.append(max(f1(prediction, g, language, empty_matches_empty=v2) for g in gold))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    out = {"exact_match": mean(em_scores), "f1": mean(f1_scores), "questions": len(golds), "language": language}
    if v2:
        for name, keep in (("has_answer", True), ("no_answer", False)):
            chosen = [i for i, gold in enumerate(golds) if bool(gold) == keep]
            out[f"{name}_exact_match"] = mean([em_scores[i] for i in chosen])
            out[f"{name}_f1"] = mean([f1_scores[i] for i in chosen])
            out[f"{name}_questions"] = len(chosen)
    return out
