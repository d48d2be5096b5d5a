"""The unlabelled pool: the user's in-domain texts, which classify runs learn from without
labels (`train --unlabeled`: self-training) and `distill` has its teacher label for the
student.

Read by the corpus reader (`pretraining/corpus.py`: plain text one per line, or a table's
text column, with `--on-bad-row` as the teacher's run reads files). Two texts are the same
as the leakage check says (`Task.example_keys`: the text, runs of whitespace as one space).
"""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.data.classification import ClassificationSplit
from transferkit.errors import UserError, warn


@dataclass
class Pool:
    texts: ClassificationSplit  # the texts the student learns from, unlabelled, in file order
    report: dict  # metrics.json's `distill.pool` or `train.unlabeled`
    overlap: dict  # dev and test examples also in the pool, per split: metrics.json's `data.overlap_with_pool`


def read_pool(path: str, text_column: str, bad_rows) -> ClassificationSplit:
    """Every non-blank text of the file (an empty file is the corpus reader's one-line error)."""
    from transferkit.pretraining.corpus import Corpus

    documents = list(Corpus((path,), text_column, bad_rows).documents())
    return ClassificationSplit(path, [text for text, _ in documents], None, None, [str(n) for n in range(len(documents))],
                               [where for _, where in documents])


def usable_pool(pool: ClassificationSplit, data, test_paths: dict) -> Pool:
    """The pool's texts a run learns from: each text once (a repeated one would count
    several times in the loss; dropped with a warning), none of the labelled training
    texts (learned with their labels already). Dev and test examples that occur in the
    pool are counted (metrics.json `data.overlap_with_pool`) and warned about as
    `Task.load_data` does for the training file: the model learned its own (or a
    teacher's) answers on them. `test_paths`: each split's file by its name (`dev`, a test set's)."""
    from transferkit.tasks.base import _per_split
    from transferkit.tasks.classify import TASK

    keys = TASK.example_keys(pool)
    first: dict = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    if duplicates := len(keys) - len(first):
        warn(pool.path, f"{duplicates} texts occur more than once; each is learned once")
    labelled = set(TASK.example_keys(data.train))
    keep = [i for key, i in first.items() if key not in labelled]
    if not keep:
        raise UserError(pool.path, "every text in it is one of the labelled training texts; give unlabelled texts that are not among them")

    def overlap(split, name) -> int:
        n = sum(key in first for key in TASK.example_keys(split))
        if n:
            warn(test_paths[name], f"{n} of its {len(split)} examples also occur in the unlabelled pool ({pool.path}); scores on them overstate the model")
        return n

    report = {"file": pool.path, "texts": len(keys), "duplicates": duplicates, "training_texts": len(first) - len(keep), "used": len(keep)}
    return Pool(pool.subset(keep), report, _per_split(data.dev, data.tests, overlap))
