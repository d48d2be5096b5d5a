"""Few-shot budgets: k labelled examples per class, drawn reproducibly from a seed."""

from __future__ import annotations

import random
from collections import Counter

from transferkit.data.classification import ClassificationSplit
from transferkit.errors import UserError, warn


def sample_per_class(split: ClassificationSplit, k: int, seed: int, labels: list[str]) -> ClassificationSplit:
    """Draw `k` examples of every label (without replacement), keeping file order; none
    with k = 0 (zeroshot: the file gives only the label set). Multi-label: examples until
    every label has at least `k` (`_top_up`).

    A class with fewer than `k` examples gives all of them, with a warning that names it:
    a learning curve's top budget on data with one rare class (TREC's 86 abbreviation
    questions) is still the budget for every other class, as SetFit's sampler does it."""
    if k < 0:
        raise UserError("--labels-per-class", f"must be at least 0, got {k}")
    by_label: dict[str, list[int]] = {label: [] for label in labels}
    for i, row in enumerate(split.label_rows()):
        for label in row:
            by_label[label].append(i)
    short = [f"{label!r} has {len(by_label[label])}" for label in labels if len(by_label[label]) < k]
    if short:
        warn(split.path, f"fewer training examples than --labels-per-class {k} in {len(short)} class(es) "
                         f"({', '.join(short)}): all of theirs are drawn, the others get {k}")
    rng = random.Random(seed)
    if split.multi_label:
        return split.subset(sorted(_top_up(split.label_rows(), by_label, k, rng)))
    return split.subset(sorted(i for label in labels for i in rng.sample(by_label[label], min(k, len(by_label[label])))))


def _top_up(rows: list[tuple[str, ...]], by_label: dict[str, list[int]], k: int, rng: random.Random) -> set[int]:
    """Greedy: the labels from the rarest, each topped up to `k` examples from its own in
    random order, counting the labels that examples drawn earlier brought. A rare label's
    examples often carry common labels too, so this draws fewer than k per label taken
    apart would. Examples without a label are never drawn: every example drawn is the
    other labels' negative."""
    chosen, have = set(), Counter()
    for label in sorted(by_label, key=lambda label: len(by_label[label])):
        for i in rng.sample(by_label[label], len(by_label[label])):
            if have[label] >= k:
                break
            if i not in chosen:
                chosen.add(i)
                have.update(rows[i])
    return chosen


def sample_indices(total: int, n: int, seed: int, path: str, what: str) -> list[int]:
    """`n` of `total` examples (sentences, questions, documents) drawn with `seed`, in file
    order: the label budget of the tasks that have no classes to balance."""
    if n > total:
        raise UserError(path, f"has {total} {what}, fewer than --train-examples {n}; lower N to at most {total}")
    return sorted(random.Random(seed).sample(range(total), n))


def pick(values: list | None, indices: list[int]) -> list | None:
    return None if values is None else [values[i] for i in indices]
