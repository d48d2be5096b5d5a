"""Turn learning-curve points into a terminal table, a Markdown report and a PNG plot."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, pstdev


@dataclass
class CurvePoint:
    """One run of a learning curve, scored on test."""

    strategy: str
    labels_per_class: int | None  # None: all training labels
    seed: int
    train_examples: int
    accuracy: float
    macro_f1: float
    train_seconds: float
    run_dir: str


def _budget(k: int | None) -> str:
    return "all" if k is None else str(k)


def summarise(points: list[CurvePoint]) -> list[dict]:
    """One row per (budget, strategy): mean and spread over seeds."""
    groups: dict[tuple, list[CurvePoint]] = defaultdict(list)
    for p in points:
        groups[(p.labels_per_class, p.strategy)].append(p)
    rows = []
    for (k, strategy), ps in groups.items():
        rows.append(
            {
                "labels_per_class": _budget(k),
                "strategy": strategy,
                "train_examples": ps[0].train_examples,
                "accuracy": mean(p.accuracy for p in ps),
                "accuracy_spread": pstdev(p.accuracy for p in ps),
                "macro_f1": mean(p.macro_f1 for p in ps),
                "train_seconds": mean(p.train_seconds for p in ps),
                "seeds": len(ps),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| labels per class | strategy | train examples | test accuracy | macro-F1 | train seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        spread = f" ± {r['accuracy_spread']:.3f}" if r["seeds"] > 1 else ""
        lines.append(
            f"| {r['labels_per_class']} | {r['strategy']} | {r['train_examples']} | {r['accuracy']:.3f}{spread} "
            f"| {r['macro_f1']:.3f} | {r['train_seconds']:.1f} |"
        )
    return "\n".join(lines)


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name in ("labels/class", "strategy", "examples", "accuracy", "macro-F1", "train s"):
        table.add_column(name, justify="right" if name not in ("strategy",) else "left")
    for r in rows:
        table.add_row(
            r["labels_per_class"], r["strategy"], str(r["train_examples"]), f"{r['accuracy']:.3f}",
            f"{r['macro_f1']:.3f}", f"{r['train_seconds']:.1f}",
        )
    Console().print(table)


def plot_learning_curve(points: list[CurvePoint], path: Path, title: str) -> None:
    """Test accuracy against training examples (log scale), one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summarise(points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        mine = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: r["train_examples"])
        ax.errorbar(
            [r["train_examples"] for r in mine], [r["accuracy"] for r in mine],
            yerr=[r["accuracy_spread"] for r in mine], marker="o", capsize=3, label=strategy,
        )
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
