"""Metrics per slice of the data (`--slice-column`): each group of rows that share a value
(a product, a channel, a language), the worst group and its gap to the whole.

An overall score can hide a group the model fails; this names it. A group's metrics are
the scalar ones of the task's metric function (per-class tables for every group would
swamp metrics.json). The worst group is chosen among groups of at least `MIN_EXAMPLES`
rows: below that one mistake moves a group's accuracy by 20 points or more, so the
"worst" group would mostly be the smallest. Smaller groups are still listed.
"""

from __future__ import annotations

from typing import Callable

MIN_EXAMPLES = 5


def slice_metrics(column: str, groups: list[str], gold: list, predicted: list, metrics: Callable[[list, list], dict],
                  overall: dict, primary: str = "accuracy") -> dict:
    """`{"column", "min_examples", "groups": {value: metrics}, "worst", "gap"}`: `metrics(gold,
    predicted)` of each group's rows (with `examples`, its row count), in value order; the
    group of at least `MIN_EXAMPLES` rows that scores worst on `primary`, and how far below
    the `overall` score it is (`worst` and `gap` are None when no group is that large)."""
    rows: dict[str, list[int]] = {}
    for i, value in enumerate(groups):
        rows.setdefault(value, []).append(i)
    scored = {}
    for value in sorted(rows):
        chosen = rows[value]
        result = metrics([gold[i] for i in chosen], [predicted[i] for i in chosen])
        scored[value] = {"examples": len(chosen), **{k: v for k, v in result.items() if not isinstance(v, dict)}}
    eligible = [value for value in scored if scored[value]["examples"] >= MIN_EXAMPLES]
    worst = min(eligible, key=lambda value: scored[value][primary], default=None)
    gap = None if worst is None else overall[primary] - scored[worst][primary]
    return {"column": column, "min_examples": MIN_EXAMPLES, "groups": scored, "worst": worst, "gap": gap}
