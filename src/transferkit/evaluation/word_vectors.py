"""Intrinsic scores of word vectors on the test sets that ship inside gensim's package:
analogy accuracy on Mikolov et al.'s `questions-words.txt` (19,544 questions, "a is to b
as c is to ?"), and Spearman correlation with human similarity judgements on
WordSim-353 and SimLex-999.

gensim's own evaluators compute the scores, with their defaults (the 300,000 most
frequent words, case-insensitive). A question or pair with a word outside that
vocabulary is skipped, so each score comes with how many were skipped: vectors trained
on a small corpus can score well on the few questions they can answer.
"""

from __future__ import annotations

import logging
import math


RESTRICT_VOCAB = 300_000  # gensim's default: only the most frequent words answer


def _test_set(name: str) -> str:
    from gensim.test.utils import datapath

    return datapath(name)


def _items(path: str, skip) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip() and not skip(line))


def evaluate(vectors) -> dict:
    """`analogy`, `wordsim353`, `simlex999` and `oov` (skipped and total per test set). A
    score that cannot be computed (too few questions or pairs in the vocabulary) is None."""
    logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-section INFO lines
    analogies = _test_set("questions-words.txt")
    accuracy, sections = vectors.evaluate_word_analogies(analogies, restrict_vocab=RESTRICT_VOCAB)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    answered = len(total["correct"]) + len(total["incorrect"])
    questions = _items(analogies, lambda line: line.startswith(":"))
    scores = {"analogy": float(accuracy) if answered else None, "oov": {"analogy": {"skipped": questions - answered, "total": questions}}}
    known = {key.upper() for key in vectors.index_to_key[:RESTRICT_VOCAB]}
    for name, filename in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        path = _test_set(filename)
        with open(path, encoding="utf-8") as f:
            pairs = [line.split("\t")[:2] for line in f if line.strip() and not line.startswith("#")]
        skipped = sum(1 for a, b in pairs if a.upper() not in known or b.upper() not in known)
        try:
            _, spearman, _ = vectors.evaluate_word_pairs(path, restrict_vocab=RESTRICT_VOCAB)
            scores[name] = None if math.isnan(spearman.statistic) else float(spearman.statistic)
        except ValueError:  # gensim's and scipy's way of saying that too few pairs are known
            scores[name] = None
        scores["oov"][name] = {"skipped": skipped, "total": len(pairs)}
    return {key: scores[key] for key in ("analogy", "wordsim353", "simlex999", "oov")}
