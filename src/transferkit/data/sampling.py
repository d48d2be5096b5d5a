"""Few-shot budgets: k labelled examples per class, drawn reproducibly from a seed."""

from __future__ import annotations

import random

from transferkit.data.classification import ClassificationSplit
from transferkit.errors import UserError


def sample_per_class(split: ClassificationSplit, k: int, seed: int, labels: list[str]) -> ClassificationSplit:
    """Draw `k` examples of every label (without replacement), keeping file order; none
    with k = 0 (zeroshot: the file gives only the label set)."""
    if k < 0:
        raise UserError("--labels-per-class", f"must be at least 0, got {k}")
    by_label: dict[str, list[int]] = {label: [] for label in labels}
    for i, label in enumerate(split.labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    chosen = []
    for label in labels:
        pool = by_label[label]
        if len(pool) < k:
            raise UserError(
                split.path,
                f"class {label!r} has {len(pool)} training examples, fewer than --labels-per-class {k}; "
                f"lower K to at most {min(len(v) for v in by_label.values())}",
            )
        chosen.extend(rng.sample(pool, k))
    return split.subset(sorted(chosen))


def sample_indices(total: int, n: int, seed: int, path: str, what: str) -> list[int]:
    """`n` of `total` examples (sentences, questions, documents) drawn with `seed`, in file
    order: the label budget of the tasks that have no classes to balance."""
    if n > total:
        raise UserError(path, f"has {total} {what}, fewer than --train-examples {n}; lower N to at most {total}")
    return sorted(random.Random(seed).sample(range(total), n))


def pick(values: list | None, indices: list[int]) -> list | None:
    return None if values is None else [values[i] for i in indices]
