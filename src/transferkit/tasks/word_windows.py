"""Sentences of words → model inputs of at most `max_length` tokens, for token tagging.

A word's tag goes on its first sub-word; the other sub-words get -100, which the loss
ignores. Words are cut into windows of whole words that overlap by about `stride`
sub-words, so no word goes unpredicted; each word is then read from the one window where
it sits furthest from an edge (most context on both sides).

By default each sentence is windowed alone. Given `documents` (a document number per
sentence), consecutive sentences of one document are joined into one stream of words
before windowing, so every word sees its neighbouring sentences too: the document
context that decides "Washington" the city from "Washington" the player. The windows are
then full, so this costs no more tokens than padding short sentences to a batch's longest.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from transferkit.training.batching import IGNORE


@dataclass
class EncodedWords:
    items: list[dict]  # model inputs per window (`labels` too when tags were given)
    reads: list[list[tuple[int, int, int]]]  # per window: (sentence, word, token position) of the words read from it


def word_windows(counts: list[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """`[start, end)` word ranges of at most `budget` sub-words each (a single longer word
    gets a window of its own), consecutive ones sharing up to `stride` sub-words."""
    windows = []
    start = 0
    while True:
        end, used = start, 0
        while end < len(counts) and (used + counts[end] <= budget or end == start):
            used += counts[end]
            end += 1
        windows.append((start, end))
        if end >= len(counts):
            return windows
        next_start, shared = end, 0
        while next_start - 1 > start and shared + counts[next_start - 1] <= stride:
            next_start -= 1
            shared += counts[next_start]
        start = next_start


def reading_windows(n_words: int, windows: list[tuple[int, int]]) -> list[int]:
    """For each word, the window in which it has the most words on its shorter side (the
    earlier one on a tie). Linear in the windows' total size, for document-long streams."""
    best = [(-1, 0)] * n_words
    for i, (start, end) in enumerate(windows):
        for w in range(start, end):
            margin = min(w - start, end - 1 - w)
            if margin > best[w][0]:
                best[w] = (margin, i)
    return [window for _, window in best]


def streams(n_sentences: int, documents: list[int] | None) -> list[list[int]]:
    """Sentence indices windowed together: runs of one document, or each sentence alone."""
    if documents is None:
        return [[s] for s in range(n_sentences)]
    return [[s for s, _ in run] for _, run in groupby(enumerate(documents), key=lambda pair: pair[1])]


def encode_words(
    tokenizer,
    sentences: list[list[str]],
    max_length: int,
    stride: int,
    tag_ids: list[list[int]] | None = None,
    documents: list[int] | None = None,
) -> EncodedWords:
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 2:
        raise ValueError(f"max_length {max_length} leaves no room for words")
    # A word the tokenizer turns into nothing (a lone control character) would never be
    # predicted; it stands in as the unknown token instead.
    first = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    words, counts = [], []
    for s, sentence in enumerate(sentences):
        n = [0] * len(sentence)
        for w in first.word_ids(s):
            n[w] += 1
        words.append([word if k else tokenizer.unk_token for word, k in zip(sentence, n)])
        counts.append([max(k, 1) for k in n])
    spans, window_words = [], []
    for stream in streams(len(sentences), documents):
        where = [(s, w) for s in stream for w in range(len(sentences[s]))]
        windows = word_windows([counts[s][w] for s, w in where], budget, min(stride, budget // 2))
        reader = reading_windows(len(where), windows)
        for i, (start, end) in enumerate(windows):
            spans.append((where[start:end], [k - start for k in range(start, end) if reader[k] == i]))
            window_words.append([words[s][w] for s, w in where[start:end]])
    enc = tokenizer(window_words, is_split_into_words=True, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
    encoded = EncodedWords([], [])
    for i, (where, read) in enumerate(spans):
        item = {k: enc[k][i] for k in keys}
        first_token = {}
        for position, k in enumerate(enc.word_ids(i)):
            if k is not None and k not in first_token:
                first_token[k] = position
        if tag_ids is not None:
            labels = [IGNORE] * len(item["input_ids"])
            for k, position in first_token.items():
                s, w = where[k]
                labels[position] = tag_ids[s][w]
            item["labels"] = labels
        encoded.items.append(item)
        encoded.reads.append([(*where[k], first_token[k]) for k in read])
    return encoded
