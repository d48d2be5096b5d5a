"""The numbers of a learning-curve sweep from run records: points (mean and population
std over seeds), auto's display name, the labels-saved factor against hand-computed
interpolations, the best strategy per budget, the language matrix and the missing cells."""

import math

import pytest

from transferkit.evaluation.curves import (
    best_per_budget, labels_needed, language_matrix, pending, points, savings, score_of, summarise,
)


def record(requested, budget, seed, score=None, *, strategy=None, status="finished", examples=None, seconds=1.0,
           test=None, metric="accuracy", error=None):
    """One registry row as the sweep records it; `test` replaces the one unnamed test set."""
    examples = examples if examples is not None else (2 * budget if budget else 1000)
    finished = status == "finished"
    metrics = {"test": test if test is not None else {metric: score, "per_class": {"pos": {metric: score}}},
               "train": {"labelled_examples": examples, "seconds": seconds}} if finished else None
    return {
        "id": f"{abs(hash((requested, budget, seed))) % 16**12:012x}", "path": f"/sweep/runs/{requested}-{budget}-{seed}",
        "kind": "train", "status": status, "error": error, "task": "classify", "requested": requested,
        "strategy": strategy or requested, "budget": budget, "seed": seed, "metrics": metrics,
        "labelled_examples": examples if finished else None, "train_seconds": seconds if finished else None,
        "cell": f"{requested}-b{'all' if budget is None else budget}-seed{seed}",
    }


def test_points_group_by_strategy_and_budget_with_mean_and_population_std():
    records = [
        record("features", 8, 0, 0.6, examples=16, seconds=1.0),
        record("features", 8, 1, 0.7, examples=16, seconds=2.0),
        record("features", 8, 2, 0.8, examples=18, seconds=6.0),
        record("features", None, 0, 0.9, examples=1000),
        record("features", 32, 0, 0.85, examples=64),
        record("features", 32, 1, status="failed", error="boom"),
        record("features", 32, 2, status="running"),
        record("tfidf", 8, 0, 0.5),
    ]
    pts = points(records, "accuracy")
    assert [(p.strategy, p.budget) for p in pts] == [("features", 8), ("tfidf", 8), ("features", 32), ("features", None)]
    first = pts[0]
    assert first.mean == pytest.approx(0.7)
    assert first.std == pytest.approx(math.sqrt(2 / 3) * 0.1)  # population, not sample (0.1)
    assert first.examples == pytest.approx(50 / 3) and first.train_seconds == pytest.approx(2.0) and first.seeds == 3
    assert (pts[2].seeds, pts[2].std, pts[2].mean) == (1, 0.0, 0.85)  # failed and running seeds do not count
    assert pts[3].examples == 1000


def test_points_read_examples_and_seconds_from_metrics_when_the_record_lacks_them():
    r = record("features", 8, 0, 0.6, examples=16, seconds=4.0)
    r["labelled_examples"] = r["train_seconds"] = None
    (p,) = points([r], "accuracy")
    assert (p.examples, p.train_seconds) == (16, 4.0)


def test_auto_is_named_after_its_choices_in_budget_order():
    records = [
        record("auto", 128, 0, 0.9, strategy="finetune"),
        record("auto", None, 0, 0.9, strategy="finetune"),
        record("auto", 8, 0, 0.7, strategy="contrastive"),
        record("auto", 32, 0, 0.8, strategy="contrastive"),
        record("auto", 32, 1, 0.8, strategy="features"),
    ]
    pts = points(records, "accuracy")
    assert {p.strategy for p in pts} == {"auto (contrastive, features, finetune)"}
    assert [(p.budget, p.ran) for p in pts] == [(8, ("contrastive",)), (32, ("contrastive", "features")),
                                               (128, ("finetune",)), (None, ("finetune",))]
    assert summarise(records, metric="accuracy", higher_is_better=True)["auto_choices"][32] == ("contrastive", "features")


def test_labels_needed_interpolates_in_log_examples():
    curve = [(10, 0.5), (100, 0.6), (1000, 0.8)]
    kind, n = labels_needed(curve, 0.7, higher_is_better=True)
    assert kind == "exact" and n == pytest.approx(math.sqrt(100 * 1000))  # halfway in log between 100 and 1000
    kind, n = labels_needed(curve, 0.65, higher_is_better=True)
    assert n == pytest.approx(10 ** (2 + 0.25))
    assert labels_needed(curve, 0.8, True) == ("exact", pytest.approx(1000))  # reached exactly at a point
    assert labels_needed(curve, 0.45, True) == ("at_most", 10)
    assert labels_needed(curve, 0.81, True) == ("more_than", 1000)


def test_labels_needed_takes_the_first_crossing_of_a_curve_that_goes_down_again():
    kind, n = labels_needed([(10, 0.5), (100, 0.9), (1000, 0.6), (10000, 0.95)], 0.7, True)
    assert kind == "exact" and n == pytest.approx(10 ** 1.5)


def test_labels_needed_lower_is_better_reaches_at_or_below():
    curve = [(10, 200.0), (100, 100.0)]  # perplexity
    kind, n = labels_needed(curve, 150.0, higher_is_better=False)
    assert kind == "exact" and n == pytest.approx(math.sqrt(1000))
    assert labels_needed(curve, 250.0, False) == ("at_most", 10)
    assert labels_needed(curve, 50.0, False) == ("more_than", 100)


def test_savings_against_each_baseline_with_factors_and_texts():
    records = [
        record("tfidf", 5, 0, 0.5, examples=10), record("tfidf", 50, 0, 0.6, examples=100),
        record("tfidf", None, 0, 0.8, examples=1000),
        record("scratch", 5, 0, 0.4, examples=10), record("scratch", 50, 0, 0.5, examples=100),
        record("features", 5, 0, 0.7, examples=10),  # tfidf: sqrt(100*1000) = 316.2 → 31.6×; scratch: never
        record("features", 10, 0, 0.45, examples=20),  # tfidf: first point already → ≤ 10/20
        record("finetune", 5, 0, 0.9, examples=10),  # tfidf never: > 1000/10
    ]
    result = savings(points(records, "accuracy"), higher_is_better=True)
    assert all(s.strategy in ("features", "finetune") for s in result)
    by = {(s.strategy, s.budget, s.baseline): s for s in result}
    assert len(by) == 6
    exact = by[("features", 5, "tfidf")]
    assert (exact.kind, exact.examples, exact.score) == ("exact", 10, 0.7)
    assert exact.needed == pytest.approx(316.2278) and exact.factor == pytest.approx(31.62278)
    assert exact.text == "31.6×"
    never = by[("features", 5, "scratch")]
    assert (never.kind, never.factor, never.needed, never.text) == ("more_than", 10.0, None, "> 10.0× (more than all)")
    at_most = by[("features", 10, "tfidf")]
    assert (at_most.kind, at_most.factor, at_most.text) == ("at_most", 0.5, "≤ 0.50×")
    assert by[("finetune", 5, "tfidf")].text == "> 100× (more than all)"
    assert by[("features", 10, "scratch")].kind == "exact"  # 0.45: halfway in log between scratch's 10 and 100
    assert by[("features", 10, "scratch")].needed == pytest.approx(math.sqrt(1000))
    assert [(s.budget, s.strategy, s.baseline) for s in result][:2] == [(5, "features", "scratch"), (5, "features", "tfidf")]


def test_savings_lower_is_better():
    records = [
        record("scratch", 10, 0, test={"perplexity": 200.0}, examples=10),
        record("scratch", 100, 0, test={"perplexity": 100.0}, examples=100),
        record("finetune", 5, 0, test={"perplexity": 150.0}, examples=5),
        record("finetune", 50, 0, test={"perplexity": 20.0}, examples=50),
    ]
    result = {s.budget: s for s in savings(points(records, "perplexity"), higher_is_better=False)}
    assert result[5].kind == "exact" and result[5].factor == pytest.approx(math.sqrt(1000) / 5)
    assert (result[50].kind, result[50].factor) == ("more_than", 2.0)


def test_no_baseline_no_savings():
    records = [record("features", 8, 0, 0.7), record("finetune", 8, 0, 0.8)]
    assert savings(points(records, "accuracy"), True) == []
    assert summarise(records, metric="accuracy", higher_is_better=True)["baselines"] == []


def test_best_per_budget_is_direction_aware():
    records = [
        record("features", 8, 0, 0.7), record("finetune", 8, 0, 0.8), record("tfidf", 8, 0, 0.6),
        record("features", None, 0, 0.9), record("tfidf", None, 0, 0.85),
    ]
    best = best_per_budget(points(records, "accuracy"), higher_is_better=True)
    assert [(b.budget, b.strategy, b.runner_up) for b in best] == [(8, "finetune", "features"), (None, "features", "tfidf")]
    assert best[0].margin == pytest.approx(0.1) and best[1].mean == 0.9
    lower = best_per_budget(points(records, "accuracy"), higher_is_better=False)
    assert [(b.strategy, b.runner_up) for b in lower] == [("tfidf", "features"), ("tfidf", "features")]
    assert lower[0].margin == pytest.approx(0.1)
    (alone,) = best_per_budget(points([record("tfidf", 8, 0, 0.6)], "accuracy"), True)
    assert (alone.runner_up, alone.margin) == (None, None)


def named(en, de, zh):
    return {"en": {"f1": en, "language": "en"}, "de": {"f1": de, "language": "de"}, "zh-wiki": {"f1": zh, "language": "zh"}}


def test_named_test_sets_score_as_their_mean_and_fill_the_language_matrix():
    records = [
        record("finetune", 100, 0, test=named(0.8, 0.6, 0.4)),
        record("finetune", 100, 1, test=named(0.9, 0.7, 0.5)),
        record("scratch", 100, 0, test=named(0.5, 0.2, 0.1)),
        record("scratch", 100, 1, status="failed"),
    ]
    assert score_of(records[0], "f1") == pytest.approx(0.6)
    (finetune, scratch) = points(records, "f1")
    assert finetune.mean == pytest.approx(0.65) and finetune.std == pytest.approx(0.05)
    matrix = language_matrix(records, "f1")
    assert matrix["tests"] == ["en", "de", "zh-wiki"]  # the runs' order, not sorted
    assert matrix["languages"] == {"en": "en", "de": "de", "zh-wiki": "zh"}
    rows = {(r["budget"], r["strategy"]): r["values"] for r in matrix["rows"]}
    assert rows[(100, "finetune")] == pytest.approx({"en": 0.85, "de": 0.65, "zh-wiki": 0.45})
    assert rows[(100, "scratch")] == pytest.approx({"en": 0.5, "de": 0.2, "zh-wiki": 0.1})


def test_one_unnamed_test_set_has_no_language_matrix():
    records = [record("features", 8, 0, 0.7)]  # its test metrics hold a dict (per_class): still one unnamed set
    assert score_of(records[0], "accuracy") == 0.7
    assert language_matrix(records, "accuracy") is None


def test_pending_lists_unfinished_and_unscored_runs_in_a_stable_order():
    records = [
        record("finetune", None, 0, status="running"),
        record("finetune", 8, 1, status="failed", error="UserError: train: no rows"),
        record("features", 8, 0, test={"macro_f1": 0.5}),  # finished, but no accuracy
        record("features", 8, 1, 0.7),
    ]
    assert pending(records, "accuracy") == [
        {"cell": "features-b8-seed0", "strategy": "features", "budget": 8, "seed": 0, "status": "finished",
         "error": "no test accuracy in metrics.json"},
        {"cell": "finetune-b8-seed1", "strategy": "finetune", "budget": 8, "seed": 1, "status": "failed",
         "error": "UserError: train: no rows"},
        {"cell": "finetune-ball-seed0", "strategy": "finetune", "budget": None, "seed": 0, "status": "running", "error": None},
    ]
    summary = summarise(records, metric="accuracy", higher_is_better=True)
    assert summary["cells"] == {"finished": 1, "total": 4}
