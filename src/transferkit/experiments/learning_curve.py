"""A learning curve: the same data trained with several strategies at several label
budgets (k examples per class, or all) and seeds, each run a normal run directory."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from transferkit import api
from transferkit.config import TrainConfig
from transferkit.evaluation.report import CurvePoint


def run_curve(
    base: TrainConfig,
    strategies: list[str],
    budgets: list[int | None],
    seeds: list[int],
    output: Path,
    overwrite: bool = False,
) -> list[CurvePoint]:
    """Train every (strategy, budget, seed) and return one point per run, scored on test."""
    plan = [(s, k, seed) for k in budgets for s in strategies for seed in seeds]
    points = []
    started = time.perf_counter()
    for n, (strategy, k, seed) in enumerate(plan, start=1):
        name = f"{strategy}-k{k if k else 'all'}-seed{seed}"
        print(f"[{n}/{len(plan)}] {name} (elapsed {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        cfg = dataclasses.replace(  # the shared options that apply to this cell's strategy
            base, strategy=strategy, labels_per_class=k, seed=seed, output=str(output / name), overwrite=overwrite
        ).only_applicable()
        metrics = api.train(cfg)
        chosen = metrics["strategy"]  # `auto`'s choice, shown beside it
        points.append(
            CurvePoint(
                strategy if chosen == strategy else f"{strategy} ({chosen})",
                k,
                seed,
                metrics["train"]["labelled_examples"],
                metrics["test"]["accuracy"],
                metrics["test"]["macro_f1"],
                metrics["train"]["seconds"],
                cfg.output,
            )
        )
    return points
