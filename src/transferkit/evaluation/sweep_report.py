"""The report of a learning-curve sweep: report.md, a self-contained report.html (inline
CSS, the plots embedded, no scripts, nothing fetched: it opens offline and survives being
mailed), curve.png, time.png, and the same results table on the terminal.

The sweep rewrites the report after every cell, and someone may be reading it meanwhile, so
each file is written to a temporary name and renamed into place. Both documents come from
one list of blocks (`_document`), so the Markdown and the HTML cannot say different things.
matplotlib and rich are imported inside the functions that use them: importing the CLI
must not import them.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from transferkit.evaluation.curves import BASELINES, Point, budget_text, curves, summarise
from transferkit.rundir import output_file

CURVE_FILE, TIME_FILE, MARKDOWN_FILE, HTML_FILE = "curve.png", "time.png", "report.md", "report.html"


def write_report(records: list[dict], folder: Path, title: str, *, metric: str, higher_is_better: bool,
                 budget_unit: str, notes: Sequence[str] = ()) -> dict:
    """Write curve.png, time.png, report.md and report.html into `folder` from the sweep's
    run records (only finished ones count; the others are listed as missing) and return
    the summary rendered (`curves.summarise` plus the budget unit)."""
    summary = {**summarise(records, metric=metric, higher_is_better=higher_is_better), "budget_unit": budget_unit}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = {CURVE_FILE: _curve_png(summary, title), TIME_FILE: _time_png(summary, title)}
    for name, data in images.items():
        _write(folder / name, data)
    blocks = _document(summary, title, list(notes))
    _write(folder / MARKDOWN_FILE, _markdown(blocks).encode("utf-8"))
    _write(folder / HTML_FILE, _html(blocks, title, images).encode("utf-8"))
    return summary


def terminal_table(summary: dict, title: str) -> None:
    """The results table on the terminal (rich), with the cells that do not count yet."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=_progress(summary))
    for name in (summary.get("budget_unit", "budget"), "strategy", "examples", summary["metric"], "seeds", "train s"):
        table.add_column(name, justify="left" if name == "strategy" else "right")
    for row in _result_rows(summary, markup=False):
        table.add_row(*row)
    Console().print(table)


# ---- the document: one list of blocks, rendered as Markdown and as HTML ----

def _document(summary: dict, title: str, notes: list[str]) -> list[tuple]:
    metric, unit, number = summary["metric"], summary["budget_unit"], _formatter(summary)
    direction = "higher is better" if summary["higher_is_better"] else "lower is better"
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[tuple] = [("h1", title), *(("p", note) for note in notes), ("p", f"Written {written}. {_progress(summary)}")]

    blocks.append(("h2", "Results"))
    if not summary["points"]:
        blocks.append(("p", "No run has finished yet."))
    else:
        blocks += [("table", [unit, "strategy", "labelled examples", f"test {metric} ({direction})", "seeds", "train seconds (median)"],
                    _result_rows(summary), {0, 2, 3, 4, 5}),
                   ("p", f"Mean ± population standard deviation over seeds; **bold**: the best strategy at that budget. "
                         f"The budget is in {unit}; `all`: every training label.")]
    if len(set(summary["auto_choices"].values())) > 1 or any(len(ran) > 1 for ran in summary["auto_choices"].values()):
        choices = "; ".join(f"{budget_text(b)}: {', '.join(ran)}" for b, ran in summary["auto_choices"].items())
        blocks.append(("p", f"`auto` chose, per budget: {choices}."))
    if summary["languages"]:
        blocks.append(("p", f"The runs were scored on named test sets: a run's score is the mean of its test sets' {metric} "
                            f"(each set counts once); each set's own score is in the table by test set below."))

    blocks += [("h2", "Learning curve"), ("img", f"test {metric} against labelled examples", CURVE_FILE),
               ("h2", "Score against training time"), ("img", f"test {metric} against training seconds", TIME_FILE)]

    if summary["best"]:
        blocks += [("h2", "Best strategy per budget"),
                   ("table", [unit, "best strategy", f"test {metric}", "runner-up", "ahead by"],
                    [[budget_text(b.budget), b.strategy, number(b.mean), b.runner_up or "–", "–" if b.margin is None else number(b.margin)]
                     for b in summary["best"]], {0, 2, 4})]

    blocks += [("h2", "Labels saved")] + _savings_blocks(summary)

    if summary["languages"]:
        matrix = summary["languages"]
        heads = [t if matrix["languages"][t] in (None, t) else f"{t} ({matrix['languages'][t]})" for t in matrix["tests"]]
        rows = [[budget_text(r["budget"]), r["strategy"], *("–" if r["values"][t] is None else number(r["values"][t]) for t in matrix["tests"])]
                for r in matrix["rows"]]
        blocks += [("h2", f"Test {metric} by test set"),
                   ("table", [unit, "strategy", *heads], rows, {0, *range(2, 2 + len(heads))})]

    blocks.append(("h2", "Cells not counted"))
    if summary["pending"]:
        blocks += [("p", "Runs recorded but not finished (still running, failed, or without a test score). Cells not started "
                         "yet have no record and are not listed."),
                   ("table", ["cell", "strategy", unit, "seed", "status", "error"],
                    [[p["cell"], p["strategy"], budget_text(p["budget"]), "–" if p["seed"] is None else str(p["seed"]),
                      p["status"], p["error"] or ""] for p in summary["pending"]], {2, 3})]
    else:
        blocks.append(("p", "None: every recorded run finished with a test score."))
    return blocks


def _progress(summary: dict) -> str:
    cells = summary["cells"]
    states: dict[str, int] = {}
    for p in summary["pending"]:
        states[p["status"]] = states.get(p["status"], 0) + 1
    missing = ", ".join(f"{n} {status}" for status, n in sorted(states.items()))
    return f"{cells['finished']} of {cells['total']} recorded runs count" + (f" ({missing}: listed at the end)." if missing else ".")


def _result_rows(summary: dict, markup: bool = True) -> list[list[str]]:
    best, number = {b.budget: b.strategy for b in summary["best"]}, _formatter(summary)
    rows = []
    for p in summary["points"]:
        score = number(p.mean) + (f" ± {number(p.std)}" if p.seeds > 1 else "")
        if markup and best.get(p.budget) == p.strategy:
            score = f"**{score}**"
        seconds = "–" if p.train_seconds is None else _seconds(p.train_seconds)
        rows.append([budget_text(p.budget), p.strategy, _examples(p.examples), score, str(p.seeds), seconds])
    return rows


def _savings_blocks(summary: dict) -> list[tuple]:
    baselines = summary["baselines"]
    if not baselines:
        names = ", ".join(f"`{name}`" for name in BASELINES)
        return [("p", f"No no-transfer baseline ({names}) in this sweep, so no labels-saved factors.")]
    if not summary["savings"]:
        return [("p", "No transfer strategy has finished a run yet.")]
    explanation = (
        "How many labelled examples each baseline needs to reach the strategy's mean score, as a multiple of the examples "
        "the strategy had (in brackets: that number of examples): `10×` means the baseline needs ten times the labels. "
        "Read off the baseline's curve, linearly in log(examples) between its budgets. `≤`: the baseline's smallest "
        "budget already reaches the score; `> … (more than all)`: no budget of the baseline reaches it, so the factor is "
        "at least its largest budget's examples over the strategy's."
    )
    cells: dict[tuple, dict[str, str]] = {}
    for s in summary["savings"]:
        row = cells.setdefault((s.budget, s.strategy, s.examples, s.score), {})
        row[s.baseline] = s.text + (f" ({s.needed:.0f})" if s.needed is not None else "")
    number = _formatter(summary)
    rows = [[budget_text(b), strategy, _examples(x), number(y), *(row.get(name, "–") for name in baselines)]
            for (b, strategy, x, y), row in cells.items()]
    heads = [summary["budget_unit"], "strategy", "labelled examples", f"test {summary['metric']}",
             *(f"vs {name}" for name in baselines)]
    return [("p", explanation), ("table", heads, rows, {0, *range(2, len(heads))})]


def _formatter(summary: dict):
    """How the report writes metric values: three decimals for scores within [-1, 1]
    (accuracy, F1), two otherwise (perplexity), the same for every row so columns align."""
    values = [p.mean for p in summary["points"]]
    if summary["languages"]:
        values += [v for r in summary["languages"]["rows"] for v in r["values"].values() if v is not None]
    digits = 3 if all(abs(v) <= 1 for v in values) else 2
    return lambda value: f"{value:.{digits}f}"


def _examples(value: float) -> str:
    return "–" if value != value else f"{value:.0f}"  # NaN: no run reported its examples if float(value).is_integer() else f"{value:.1f}"


def _seconds(value: float) -> str:
    return f"{value:.1f}"


# ---- Markdown ----

def _markdown(blocks: list[tuple]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind == "h1":
            out.append(f"# {rest[0]}")
        elif kind == "h2":
            out.append(f"## {rest[0]}")
        elif kind == "p":
            out.append(rest[0])
        elif kind == "img":
            out.append(f"![{rest[0]}]({rest[1]})")
        elif kind == "table":
            heads, rows, numeric = rest
            cell = lambda text: " ".join(str(text).split()).replace("|", "\\|")  # noqa: E731
            lines = ["| " + " | ".join(cell(h) for h in heads) + " |",
                     "|" + "|".join("---:" if i in numeric else "---" for i in range(len(heads))) + "|"]
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


# ---- HTML ----

STYLE = """
body { margin: 0; background: #fafafa; color: #1d1d1f; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 24px; line-height: 1.3; margin: 8px 0 16px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e3e3e3; }
p { margin: 8px 0; max-width: 80ch; }
code { font: 13px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f1f1f3; padding: 1px 4px; border-radius: 3px; }
.scroll { overflow-x: auto; margin: 8px 0 12px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; border-bottom: 2px solid #d0d0d5; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.wrap { white-space: normal; min-width: 240px; max-width: 480px; overflow-wrap: anywhere; }
tr.group td { border-top: 2px solid #c9ccd3; }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e6e6e6; }
figcaption { color: #666; font-size: 13px; }
"""


def _html(blocks: list[tuple], title: str, images: dict[str, bytes]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{_inline(rest[0])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "img":
            alt, name = rest
            data = base64.b64encode(images[name]).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(alt)} ({html.escape(name)})</figcaption></figure>")
        elif kind == "table":
            heads, rows, numeric = rest
            wide = {i for i, h in enumerate(heads) if h == "error"}
            cls = lambda i: ' class="num"' if i in numeric else ' class="wrap"' if i in wide else ""  # noqa: E731
            head = "".join(f"<th{cls(i)}>{_inline(h)}</th>" for i, h in enumerate(heads))
            grouped = len({row[0] for row in rows}) < len(rows)  # several rows per budget: a line where the budget changes
            body = "".join(
                ("<tr class=\"group\">" if grouped and 0 < r and row[0] != rows[r - 1][0] else "<tr>")
                + "".join(f"<td{cls(i)}>{_inline(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                for r, row in enumerate(rows)
            )
            out.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(out) + "\n</main>\n</body>\n</html>\n")


def _inline(text: str) -> str:
    """The little Markdown the blocks use, as HTML: `code` and **bold**; everything else escaped."""
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


# ---- plots ----

def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8.8, 5.2))
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    return plt, fig, ax, FuncFormatter(lambda v, _: f"{v:g}")


def _styles(summary: dict) -> dict[str, dict]:
    """A fixed colour per strategy (same in both plots); baselines dashed."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    names = list(curves(summary["points"]))
    baselines = {p.strategy for p in summary["points"] if p.requested in summary["baselines"]}
    return {name: {"color": palette[i % len(palette)], "linestyle": "--" if name in baselines else "-"} for i, name in enumerate(names)}


def _finish(plt, fig, ax, summary: dict, title: str, xlabel: str) -> bytes:
    metric = summary["metric"]
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {metric} ({'higher' if summary['higher_is_better'] else 'lower'} is better)")
    ax.set_title(title, fontsize=11)
    if summary["points"]:
        ax.legend(fontsize=9, loc="best", framealpha=0.9)
    else:
        ax.text(0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=ax.transAxes, color="#777")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _curve_png(summary: dict, title: str) -> bytes:
    """Test metric against labelled examples (log x), one line per strategy, mean ± std shaded."""
    plt, fig, ax, plain = _figure()
    styles = _styles(summary)
    for name, pts in curves(summary["points"]).items():
        pts = [p for p in pts if p.examples > 0]
        if not pts:
            continue
        x, y = [p.examples for p in pts], [p.mean for p in pts]
        ax.plot(x, y, marker="o", label=name, **styles[name])
        if any(p.seeds > 1 for p in pts):
            ax.fill_between(x, [p.mean - p.std for p in pts], [p.mean + p.std for p in pts], color=styles[name]["color"], alpha=0.15, linewidth=0)
    if summary["points"]:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
    return _finish(plt, fig, ax, summary, title, "labelled training examples (log scale; band: ± 1 std over seeds)")


def _time_png(summary: dict, title: str) -> bytes:
    """Test metric against median training seconds (log x), one line per strategy in budget
    order, each marker labelled with its budget."""
    plt, fig, ax, plain = _figure()
    styles = _styles(summary)
    for name, pts in curves(summary["points"]).items():
        pts: list[Point] = [p for p in pts if p.train_seconds and p.train_seconds > 0]
        if not pts:
            continue
        ax.plot([p.train_seconds for p in pts], [p.mean for p in pts], marker="o", label=name, **styles[name])
        for p in pts:
            ax.annotate(budget_text(p.budget), (p.train_seconds, p.mean), textcoords="offset points", xytext=(5, 4),
                        fontsize=8, color=styles[name]["color"])
    if summary["points"]:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
    return _finish(plt, fig, ax, summary, title, f"median training seconds (log scale; labels: budget in {summary['budget_unit']})")


def _write(path: Path, data: bytes) -> None:
    """Replace `path` whole (`rundir.output_file`: a temporary sibling renamed into place), so
    a reader mid-sweep sees the old file or the new one, never half of one."""
    with output_file(path) as partial:
        partial.write_bytes(data)
