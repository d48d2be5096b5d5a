import pytest

from transferkit.data.classification import ClassificationSplit
from transferkit.data.sampling import sample_per_class
from transferkit.errors import UserError


def make_split(counts: dict[str, int]) -> ClassificationSplit:
    labels = [label for label, n in counts.items() for _ in range(n)]
    texts = [f"t{i}" for i in range(len(labels))]
    return ClassificationSplit("train.csv", texts, None, labels, [str(i) for i in range(len(labels))], ["p"] * len(labels))


def test_k_per_class_reproducible_and_seed_dependent():
    split = make_split({"a": 30, "b": 20, "c": 25})
    one = sample_per_class(split, 5, seed=1, labels=["a", "b", "c"])
    assert sorted(one.labels) == ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    assert one.texts == sample_per_class(split, 5, seed=1, labels=["a", "b", "c"]).texts
    assert one.texts != sample_per_class(split, 5, seed=2, labels=["a", "b", "c"]).texts


def test_k_larger_than_a_class_draws_all_of_it_and_warns_naming_it(capsys):
    split = make_split({"a": 30, "b": 3, "c": 2})
    drawn = sample_per_class(split, 4, seed=0, labels=["a", "b", "c"])
    assert sorted(drawn.labels) == ["a"] * 4 + ["b"] * 3 + ["c"] * 2
    err = capsys.readouterr().err
    assert err.startswith("warning: train.csv: ") and "'b' has 3, 'c' has 2" in err and "the others get 4" in err
    assert err.count("\n") == 1
    sample_per_class(split, 3, seed=0, labels=["a", "b", "c"])
    assert "'b'" not in capsys.readouterr().err  # b has exactly 3: not short
    with pytest.raises(UserError, match="at least 0"):
        sample_per_class(split, -1, seed=0, labels=["a", "b", "c"])


def test_n_examples_are_drawn_reproducibly_in_file_order():
    from transferkit.data.sampling import sample_indices

    drawn = sample_indices(100, 10, seed=3, path="train.txt", what="sentences")
    assert drawn == sorted(drawn) and len(set(drawn)) == 10 and drawn == sample_indices(100, 10, 3, "train.txt", "sentences")
    assert drawn != sample_indices(100, 10, 4, "train.txt", "sentences")
    with pytest.raises(UserError, match="^train.txt: has 5 sentences, fewer than --train-examples 6; lower N to at most 5$"):
        sample_indices(5, 6, 0, "train.txt", "sentences")


def test_multi_label_budget_draws_until_every_label_has_k_rarest_first():
    from collections import Counter

    rows = [("a",)] * 40 + [("a", "b")] * 6 + [("b", "c")] * 5 + [()] * 10 + [("c",)] * 8
    split = ClassificationSplit("train.csv", [f"t{i}" for i in range(len(rows))], None, rows,
                                [str(i) for i in range(len(rows))], ["p"] * len(rows), multi_label=True)
    drawn = sample_per_class(split, 4, seed=3, labels=["a", "b", "c"])
    counts = Counter(label for row in drawn.labels for label in row)
    assert min(counts[label] for label in "abc") >= 4 and () not in drawn.labels
    # b (11 texts) and c (13) are topped up first, so a needs fewer draws of its own than 4
    assert len(drawn) < 12
    assert drawn.ids == sorted(drawn.ids, key=int)  # file order
    assert drawn.texts == sample_per_class(split, 4, seed=3, labels=["a", "b", "c"]).texts
    more = sample_per_class(split, 12, seed=3, labels=["a", "b", "c"])  # b has 11: all of them
    assert sum("b" in row for row in more.labels) == 11 and sum("a" in row for row in more.labels) >= 12


def test_a_multi_label_example_is_drawn_for_each_of_its_labels_and_kept_once():
    labels = [("a", "b"), ("a",), ("b",), (), ("a", "b")]
    split = ClassificationSplit("t.csv", list("vwxyz"), None, labels, list("01234"), ["p"] * 5, multi_label=True)
    drawn = sample_per_class(split, 2, seed=0, labels=["a", "b"])
    assert drawn.multi_label and len(set(drawn.ids)) == len(drawn.ids)
    for label in ("a", "b"):
        assert sum(label in row for row in drawn.labels) >= 2
