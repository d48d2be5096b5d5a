"""The numbers of a learning-curve sweep, from its run records: one point per strategy and
budget (mean and spread over seeds), the best strategy at each budget, how many labels a
transfer strategy saves against each no-transfer baseline, and a strategy × test-set
matrix where the runs were scored on named (language) test sets.

Plain data in, plain data out: no plotting, no torch, and no knowledge of tasks (the
primary metric and its direction are arguments), so the report and its tests need neither.
Everything is ordered by budget (all labels last), then strategy, then seed, so the same
finished records give the same numbers in whatever order they arrive.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from statistics import mean, median, pstdev

BASELINES = ("scratch", "tfidf")  # the no-transfer strategies the labels-saved factor compares against


@dataclass(frozen=True)
class Point:
    """One strategy at one budget, over its finished seeds."""

    strategy: str  # display name: `requested`, or "auto (contrastive, finetune)"
    requested: str
    budget: int | None  # None: all labels
    examples: float  # mean labelled examples: the point's x
    mean: float  # mean primary metric over seeds: the point's y
    std: float  # population standard deviation over seeds (0 with one seed)
    seeds: int
    train_seconds: float | None  # median over the seeds that report it (one run slowed by another job on the machine moves it little)
    ran: tuple[str, ...]  # the strategies that ran here (auto's choices at this budget)


@dataclass(frozen=True)
class Saving:
    """Labels saved by a transfer strategy at one point, against one baseline.

    `needed` is the number of labelled examples at which the baseline's curve first reaches
    the point's score (linear in log examples between its points); `factor` is needed / the
    point's examples. kind "exact": interpolated; "at_most": the baseline's first point
    already reaches it, so factor is an upper bound (first x / examples); "more_than": the
    baseline never reaches it, so factor is a lower bound (last x / examples)."""

    strategy: str
    budget: int | None
    examples: float
    score: float
    baseline: str
    kind: str
    factor: float
    needed: float | None  # only for kind "exact"

    @property
    def text(self) -> str:
        factor = f"{_factor(self.factor)}×"
        if self.kind == "at_most":
            return f"≤ {factor}"
        if self.kind == "more_than":
            return f"> {factor} (more than all)"
        return factor


@dataclass(frozen=True)
class Best:
    """The best strategy at one budget, and its margin over the next best."""

    budget: int | None
    strategy: str
    mean: float
    runner_up: str | None
    margin: float | None  # how much better than the runner-up, in metric units (positive)


def budget_key(budget: int | None) -> tuple[int, int]:
    """Sort key of a budget: numbers ascending, all labels (None) last."""
    return (1, 0) if budget is None else (0, budget)


def budget_text(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def _factor(value: float) -> str:
    """Three significant digits (at least the units): 0.50, 4.00, 12.3, 143, 1250."""
    value = float(f"{value:.3g}")
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _record_key(record: dict) -> tuple:
    return (budget_key(record.get("budget")), _requested(record), record.get("seed") is None,
            record.get("seed") or 0, record.get("path") or "", record.get("id") or "")


def _requested(record: dict) -> str:
    return record.get("requested") or record.get("strategy") or "?"


def _train_field(record: dict, key: str, field: str):
    """A record's value, or, for records built by hand, the same value from metrics.json."""
    if record.get(key) is not None:
        return record[key]
    return ((record.get("metrics") or {}).get("train") or {}).get(field)


def named_tests(metrics: dict | None, metric: str) -> dict[str, dict] | None:
    """The named test sets of a run's metrics (name → its metrics), or None when the run
    was scored on one unnamed test set (or none)."""
    test = (metrics or {}).get("test")
    if not isinstance(test, dict) or _number(test.get(metric)) is not None:
        return None
    named = {name: value for name, value in test.items() if isinstance(value, dict)}
    return named or None


def score_of(record: dict, metric: str) -> float | None:
    """A finished run's test score: its one test set's metric, or with named test sets the
    mean over them (each test set counts once, whatever its size)."""
    test = (record.get("metrics") or {}).get("test")
    if not isinstance(test, dict):
        return None
    if (value := _number(test.get(metric))) is not None:
        return value
    values = [_number(t.get(metric)) for t in (named_tests(record["metrics"], metric) or {}).values()]
    return mean(values) if values and None not in values else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def display_names(records: list[dict]) -> dict[str, str]:
    """requested strategy → its display name; "auto" lists what it chose, in the order of
    the smallest budget it chose each at (so "auto (contrastive, finetune)" reads as a rule)."""
    choices: dict[str, list[tuple]] = defaultdict(list)
    for r in records:
        choices[_requested(r)].append((budget_key(r.get("budget")), r.get("strategy") or "?"))
    names = {}
    for requested, seen in choices.items():
        chosen = list(dict.fromkeys(strategy for _, strategy in sorted(seen)))
        names[requested] = f"auto ({', '.join(chosen)})" if requested == "auto" else requested
    return names


def points(records: list[dict], metric: str) -> list[Point]:
    """One point per (requested strategy, budget) from the finished, scored records,
    ordered by budget then display name."""
    scored = sorted((r for r in records if r.get("status") == "finished" and score_of(r, metric) is not None), key=_record_key)
    names = display_names(scored)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in scored:
        groups[(_requested(r), r.get("budget"))].append(r)
    out = []
    for (requested, budget), group in groups.items():
        scores = [score_of(r, metric) for r in group]
        examples = [float(x) for r in group if (x := _train_field(r, "labelled_examples", "labelled_examples")) is not None]
        seconds = [float(s) for r in group if (s := _train_field(r, "train_seconds", "seconds")) is not None]
        out.append(Point(
            strategy=names[requested], requested=requested, budget=budget,
            examples=mean(examples) if examples else math.nan, mean=mean(scores), std=pstdev(scores), seeds=len(group),
            train_seconds=median(seconds) if seconds else None,
            ran=tuple(dict.fromkeys(r.get("strategy") or "?" for r in group)),
        ))
    return sorted(out, key=lambda p: (budget_key(p.budget), p.strategy))


def curves(pts: list[Point]) -> dict[str, list[Point]]:
    """Each strategy's points, by display name, sorted by labelled examples."""
    out: dict[str, list[Point]] = defaultdict(list)
    for p in pts:
        out[p.strategy].append(p)
    return {name: sorted(ps, key=lambda p: (p.examples, budget_key(p.budget))) for name, ps in sorted(out.items())}


def labels_needed(baseline: list[tuple[float, float]], score: float, higher_is_better: bool) -> tuple[str, float]:
    """Where the baseline curve [(x, y)], sorted by x, first reaches `score`: ("exact",
    n*) interpolated linearly in log x between the two points around the crossing;
    ("at_most", x0) when its first point already reaches it; ("more_than", x_last) when
    no point does."""

    def reaches(y: float) -> bool:
        return y >= score if higher_is_better else y <= score

    for i, (x, y) in enumerate(baseline):
        if not reaches(y):
            continue
        if i == 0:
            return "at_most", x
        x0, y0 = baseline[i - 1]
        t = (score - y0) / (y - y0)  # y0 does not reach the score, y does: y != y0, 0 < t <= 1
        return "exact", math.exp(math.log(x0) + t * (math.log(x) - math.log(x0)))
    return "more_than", baseline[-1][0]


def savings(pts: list[Point], higher_is_better: bool, baselines: tuple[str, ...] = BASELINES) -> list[Saving]:
    """The labels-saved factor of every transfer point (every strategy that is not a
    baseline) against each baseline present in the sweep, ordered by budget, strategy,
    baseline. Points without labelled examples (x <= 0) have no factor."""
    by_name = curves(pts)
    base_curves = {
        p[0].requested: [(q.examples, q.mean) for q in p if q.examples > 0]
        for p in by_name.values() if p[0].requested in baselines
    }
    out = []
    for p in pts:
        if p.requested in baselines or not p.examples > 0:
            continue
        for name in sorted(base_curves):
            if not base_curves[name]:
                continue
            kind, x = labels_needed(base_curves[name], p.mean, higher_is_better)
            out.append(Saving(p.strategy, p.budget, p.examples, p.mean, name, kind, x / p.examples, x if kind == "exact" else None))
    return out


def best_per_budget(pts: list[Point], higher_is_better: bool) -> list[Best]:
    """The best strategy at each budget by mean metric (ties: the first display name)."""
    by_budget: dict[int | None, list[Point]] = defaultdict(list)
    for p in pts:
        by_budget[p.budget].append(p)
    out = []
    for budget in sorted(by_budget, key=budget_key):
        sign = 1 if higher_is_better else -1
        ranked = sorted(by_budget[budget], key=lambda p: (-sign * p.mean, p.strategy))
        first, second = ranked[0], ranked[1] if len(ranked) > 1 else None
        out.append(Best(budget, first.strategy, first.mean, second and second.strategy,
                        None if second is None else sign * (first.mean - second.mean)))
    return out


def language_matrix(records: list[dict], metric: str) -> dict | None:
    """Strategy × named test set: the mean primary metric over finished seeds, per budget.
    {"tests": [names, in the runs' order], "languages": {name: language or None},
    "rows": [{"budget", "strategy", "values": {name: mean or None}}]}; None when no
    finished run has named test sets."""
    named = sorted((r for r in records if r.get("status") == "finished" and named_tests(r.get("metrics"), metric)), key=_record_key)
    if not named:
        return None
    names = display_names([r for r in records if r.get("status") == "finished" and score_of(r, metric) is not None])
    tests: dict[str, str | None] = {}
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in named:
        for test, values in named_tests(r["metrics"], metric).items():
            tests.setdefault(test, values.get("language"))
            if (value := _number(values.get(metric))) is not None:
                groups[(r.get("budget"), names.get(_requested(r), _requested(r)))][test].append(value)
    rows = [
        {"budget": budget, "strategy": strategy, "values": {t: mean(v[t]) if v.get(t) else None for t in tests}}
        for (budget, strategy), v in sorted(groups.items(), key=lambda kv: (budget_key(kv[0][0]), kv[0][1]))
    ]
    return {"tests": list(tests), "languages": tests, "rows": rows}


def pending(records: list[dict], metric: str) -> list[dict]:
    """The cells that do not count (yet): not finished, or finished without a test score;
    each {"cell", "strategy", "budget", "seed", "status", "error"}."""
    out = []
    for r in sorted(records, key=_record_key):
        finished = r.get("status") == "finished"
        if finished and score_of(r, metric) is not None:
            continue
        error = r.get("error") if not finished else f"no test {metric} in metrics.json"
        out.append({
            "cell": r.get("cell") or (r.get("path") or "?").rstrip("/").rsplit("/", 1)[-1],
            "strategy": _requested(r), "budget": r.get("budget"), "seed": r.get("seed"),
            "status": r.get("status") or "?", "error": error,
        })
    return out


def summarise(records: list[dict], *, metric: str, higher_is_better: bool, baselines: tuple[str, ...] = BASELINES) -> dict:
    """Everything the report shows, computed once: points, best per budget, labels saved,
    the language matrix, the cells that do not count, and auto's choice per budget."""
    pts = points(records, metric)
    auto = {p.budget: p.ran for p in pts if p.requested == "auto"}
    return {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "points": pts,
        "best": best_per_budget(pts, higher_is_better),
        "savings": savings(pts, higher_is_better, baselines),
        "baselines": sorted({p.requested for p in pts if p.requested in baselines}),
        "languages": language_matrix(records, metric),
        "pending": pending(records, metric),
        "auto_choices": auto,
        "cells": {"finished": sum(p.seeds for p in pts), "total": len(records)},
    }
