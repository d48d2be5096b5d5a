"""Texts longer than `--max-length` → overlapping windows (`--long-text chunks`).

Truncation reads a document's first `max_length` tokens and drops the rest, which for
reviews, tickets or articles is most of the evidence. With chunks each text is cut into
windows of at most `max_length` tokens (special tokens included) that share
`chunk_overlap` tokens with the next, so no token is lost and a phrase cut at one window's
edge is whole in the next. Training gives each window its text's label; prediction
averages a text's window outputs (`per_document`: the logits of a classifier, the pooled
vectors of an encoder).

A text pair (`--text-pair-column`) is read as a document and its context: the first text
is cut into windows and every window repeats the pair whole, up to half the window (a
longer pair is cut there, so every window still holds at least half a window of the
document).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.errors import UserError

CHUNKS = "chunks"


@dataclass
class Windows:
    items: list[dict]  # model inputs per window (no padding)
    document: list[int]  # the text each window belongs to; a text's windows are consecutive, in order


def chunk_overlap(settings) -> int | None:
    """The overlap a run's options (a `TrainConfig`) or its saved settings (a dict from
    `transferkit.json` or `encoder.json`) ask for; None where texts are truncated."""
    get = settings.get if isinstance(settings, dict) else lambda name: getattr(settings, name, None)
    return get("chunk_overlap") if get("long_text") == CHUNKS else None


def saved_settings(overlap: int | None) -> dict:
    """What a model's files record so that its predictor cuts texts as training did (nothing
    for truncation, so those files stay as they were)."""
    return {} if overlap is None else {"long_text": CHUNKS, "chunk_overlap": overlap}


def encode_documents(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, overlap: int | None) -> Windows:
    """One truncated item per text (`overlap` None), or each text's windows."""
    from transferkit.training.batching import encode_texts

    if overlap is None:
        return Windows(encode_texts(tokenizer, texts, pairs, max_length), list(range(len(texts))))
    if not tokenizer.is_fast:
        raise UserError("--long-text chunks", f"needs a fast (tokenizers) tokenizer; {type(tokenizer).__name__} is not one: use --long-text truncate")
    if pairs is not None:
        pairs = _cut_pairs(tokenizer, pairs, max(1, max_length // 2 - tokenizer.num_special_tokens_to_add(pair=True)))
        longest = max((len(ids) for ids in tokenizer(pairs, add_special_tokens=False)["input_ids"]), default=0)
        room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - longest
    else:
        room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    enc = tokenizer(texts, pairs, truncation="only_first" if pairs is not None else True, max_length=max_length,
                    stride=min(overlap, room - 1), return_overflowing_tokens=True)  # the tokenizer needs overlap < room
    keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
    return Windows([{k: enc[k][w] for k in keys} for w in range(len(enc["input_ids"]))], list(enc["overflow_to_sample_mapping"]))


def _cut_pairs(tokenizer, pairs: list[str], most: int) -> list[str]:
    """Each pair text cut after its `most`-th token (at that token's last character)."""
    offsets = tokenizer(pairs, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [pair if len(spans) <= most else pair[: spans[most - 1][1]] for pair, spans in zip(pairs, offsets)]


def per_document(rows: np.ndarray, document: list[int]) -> np.ndarray:
    """The mean of each text's window rows, `(texts, ...)` in text order."""
    if not document:
        return rows
    counts = np.bincount(document)
    sums = np.zeros((len(counts), *rows.shape[1:]), dtype=np.float64)
    np.add.at(sums, np.asarray(document), rows)
    return (sums / counts.reshape(-1, *([1] * (rows.ndim - 1)))).astype(rows.dtype)
