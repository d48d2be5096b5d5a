"""Tokenize once, pad per batch, and batch by length.

Padding every batch to its own longest example (dynamic padding) and putting examples
of similar length together (length grouping) removes most of the padding a random
batch carries: on SST-2 sentences that halves the work of a training epoch.
"""

from __future__ import annotations

import random

IGNORE = -100  # the label torch's cross-entropy skips: padding, and sub-words after a word's first


def encode_texts(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int) -> list[dict]:
    """Tokenize all texts in one call; each item keeps only the model inputs (no padding)."""
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(texts))]


def padded_width(longest: int, multiple: int = 1, limit: int | None = None) -> int:
    """A batch's length: its longest item's, rounded up to a multiple of `multiple` (length
    buckets: a compiled model sees few shapes), but not past `limit`, the longest an item
    can be (`--max-length`; past it a model's position table may end), which is then the
    last bucket."""
    width = -(-longest // multiple) * multiple
    return limit if limit is not None and width > limit >= longest else width


def pad_batch(items: list[dict], pad_token_id: int, multiple: int = 1, limit: int | None = None) -> dict:
    """A list of encoded items padded to the batch's longest (rounded up by `padded_width`),
    as int64 numpy arrays (so that runtimes without torch share it), with the
    `attention_mask`. Per-token `labels` are padded with -100; values given once per example
    (a class, an answer position) are stacked."""
    import numpy as np

    width = padded_width(max(len(item["input_ids"]) for item in items), multiple, limit)
    batch = {"attention_mask": np.zeros((len(items), width), dtype=np.int64)}
    for key, value in items[0].items():
        if not isinstance(value, list):  # one value per example: a class, an answer's position
            batch[key] = np.array([item[key] for item in items], dtype=np.int64)
        else:
            fill = IGNORE if key == "labels" else pad_token_id if key == "input_ids" else 0
            batch[key] = np.full((len(items), width), fill, dtype=np.int64)
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        batch["attention_mask"][row, :n] = 1
        for key, value in item.items():
            if isinstance(value, list):
                batch[key][row, : len(value)] = value
    return batch


class PadCollator:
    """`pad_batch` as torch tensors: the training loop's collator (`pad_to_multiple_of`
    and `max_length` as `pad_batch`'s `multiple` and `limit`)."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 1, max_length: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.max_length = max_length

    def __call__(self, items: list[dict]) -> dict:
        import torch

        batch = pad_batch(items, self.pad_token_id, self.pad_to_multiple_of, self.max_length)
        return {k: torch.from_numpy(v) for k, v in batch.items()}


class LengthGroupedBatchSampler:
    """Shuffled batches of similar-length examples, different on each pass, same for a seed.

    Examples are shuffled, cut into groups of `group_batches` batches, sorted by length
    within a group, batched, and the batches shuffled: batches stay random in content and
    order while their examples have similar lengths.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group_batches: int = 50):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.group = batch_size * group_batches
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        rng = random.Random(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        grouped = []
        for start in range(0, len(order), self.group):
            grouped.extend(sorted(order[start : start + self.group], key=self.lengths.__getitem__))
        batches = [grouped[i : i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        rng.shuffle(batches)
        return iter(batches)


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Inference batches, longest first, so padding is minimal and memory peaks early."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
