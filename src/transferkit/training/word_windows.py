"""Sentences of words → model inputs of at most `max_length` tokens, for token tagging.

A word's tag goes on its first sub-word; the other sub-words get -100, which the loss
ignores. A sentence whose sub-words do not fit in one input is cut into windows of whole
words that overlap by about `stride` sub-words, so no word goes unpredicted; each word is
then read from the one window where it sits furthest from an edge (most context on both
sides).
"""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.training.batching import IGNORE


@dataclass
class EncodedWords:
    items: list[dict]  # model inputs per window (`labels` too when tags were given)
    sentence: list[int]  # the sentence each window comes from
    reads: list[list[tuple[int, int]]]  # per window: (word index, token position) of the words read from it


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


def _reading_window(word: int, windows: list[tuple[int, int]]) -> int:
    """The window in which `word` has the most words on its shorter side."""
    inside = [i for i, (s, e) in enumerate(windows) if s <= word < e]
    return max(inside, key=lambda i: (min(word - windows[i][0], windows[i][1] - 1 - word), -i))


def encode_words(
    tokenizer, sentences: list[list[str]], max_length: int, stride: int, tag_ids: list[list[int]] | None = None
) -> EncodedWords:
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 2:
        raise ValueError(f"max_length {max_length} leaves no room for words")
    # A word the tokenizer turns into nothing (a lone control character) would never be
    # predicted; it stands in as the unknown token instead.
    first = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    spans, window_words, encoded = [], [], EncodedWords([], [], [])
    for s, words in enumerate(sentences):
        counts = [0] * len(words)
        for w in first.word_ids(s):
            counts[w] += 1
        if 0 in counts:
            words = [word if n else tokenizer.unk_token for word, n in zip(words, counts)]
            counts = [max(n, 1) for n in counts]
        windows = word_windows(counts, budget, min(stride, budget // 2))
        reader = [_reading_window(w, windows) for w in range(len(words))] if len(windows) > 1 else [0] * len(words)
        for i, (start, end) in enumerate(windows):
            spans.append((s, start, [w for w in range(start, end) if reader[w] == i]))
            window_words.append(words[start:end])
    enc = tokenizer(window_words, is_split_into_words=True, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
    for i, (s, start, read) in enumerate(spans):
        item = {k: enc[k][i] for k in keys}
        first_token = {}
        for position, w in enumerate(enc.word_ids(i)):
            if w is not None and w not in first_token:
                first_token[w] = position
        if tag_ids is not None:
            labels = [IGNORE] * len(item["input_ids"])
            for w, position in first_token.items():
                labels[position] = tag_ids[s][start + w]
            item["labels"] = labels
        encoded.items.append(item)
        encoded.sentence.append(s)
        encoded.reads.append([(w, first_token[w - start]) for w in read])
    return encoded
