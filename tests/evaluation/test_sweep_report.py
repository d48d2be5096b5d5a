"""The sweep report: the four files, PNGs that are PNGs, an HTML page that needs nothing
from outside (no scripts, no external references, the plots embedded), a Markdown table
that does not depend on the order of the records, and the cells still missing listed."""

import base64
import random
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from transferkit import rundir
from transferkit.evaluation.sweep_report import terminal_table, write_report

from test_curves import named, record

PNG = b"\x89PNG\r\n\x1a\n"
OPTIONS = {"title": "classify, train.csv: test accuracy", "metric": "accuracy", "higher_is_better": True,
           "budget_unit": "labels per class"}


def sweep_records():
    records = []
    for strategy, start, step in (("tfidf", 0.55, 0.04), ("features", 0.7, 0.03), ("auto", 0.78, 0.02)):
        for i, budget in enumerate((8, 32, None)):
            for seed in range(3):
                chosen = ("contrastive" if budget == 8 else "finetune") if strategy == "auto" else None
                score = start + step * i + (seed - 1) / 100  # seeds 0.01 apart: std sqrt(2/3) / 100
                records.append(record(strategy, budget, seed, score, strategy=chosen, examples=2 * budget if budget else 4000,
                                      seconds=round(0.5 + 10 * i + seed, 2)))
    records.append(record("auto", None, 3, status="failed", error="UserError: train: out of memory | try --batch-size 8"))
    records.append(record("features", 8, 3, status="running"))
    return records


class Attributes(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.references, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data"):
                self.references.append(value)
            if tag == "img" and name == "src":
                self.images.append(value)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    summary = write_report(sweep_records(), folder, **OPTIONS, notes=["Model `minilm` on <synthetic> data."])
    return folder, summary


def test_writes_the_four_files_and_no_temporary_ones(report):
    folder, summary = report
    assert sorted(p.name for p in folder.iterdir()) == ["curve.png", "report.html", "report.md", "time.png"]
    for name in ("curve.png", "time.png"):
        data = (folder / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert summary["budget_unit"] == "labels per class" and len(summary["points"]) == 9
    assert summary["cells"] == {"finished": 27, "total": 29}


def test_html_is_self_contained_with_the_plots_embedded(report):
    folder, _ = report
    page = (folder / "report.html").read_text(encoding="utf-8")
    parsed = Attributes()
    parsed.feed(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "iframe" not in parsed.tags
    assert all("http" not in ref and not ref.startswith("//") for ref in parsed.references)
    assert "url(" not in page and "@import" not in page
    embedded = [base64.b64decode(src.removeprefix("data:image/png;base64,")) for src in parsed.images]
    assert all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert embedded == [(folder / "curve.png").read_bytes(), (folder / "time.png").read_bytes()]
    assert "Model <code>minilm</code> on &lt;synthetic&gt; data." in page  # notes: inline code, HTML escaped
    assert "<strong>" in page and "UserError: train: out of memory | try --batch-size 8" in page


def test_markdown_has_every_section(report):
    folder, _ = report
    md = (folder / "report.md").read_text(encoding="utf-8")
    for heading in ("# classify, train.csv: test accuracy", "## Results", "## Learning curve", "## Score against training time",
                    "## Best strategy per budget", "## Labels saved", "## Cells not counted"):
        assert f"\n{heading}\n" in f"\n{md}"
    assert "![test accuracy against labelled examples](curve.png)" in md and "](time.png)" in md
    assert "| 8 | auto (contrastive, finetune) | 16 | **" in md  # auto's display name; bold: best at 8
    assert "`auto` chose, per budget: 8: contrastive; 32: finetune; all: finetune." in md
    assert "| vs tfidf |" in md and "(more than all)" in md
    assert "## Test accuracy by test set" not in md  # one unnamed test set: no language matrix


def test_failed_and_running_cells_are_listed(report):
    folder, _ = report
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "27 of 29 recorded runs count (1 failed, 1 running: listed at the end)." in md
    assert "| auto-ball-seed3 | auto | all | 3 | failed | UserError: train: out of memory \\| try --batch-size 8 |" in md
    assert "| features-b8-seed3 | features | 8 | 3 | running |  |" in md


def test_markdown_does_not_depend_on_record_order(tmp_path):
    records = sweep_records()
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    write_report(records, tmp_path / "a", **OPTIONS)
    write_report(shuffled, tmp_path / "b", **OPTIONS)

    def lines(name):
        return [line for line in (tmp_path / name / "report.md").read_text().splitlines() if not line.startswith("Written ")]

    assert lines("a") == lines("b")
    table = [line for line in lines("a") if line.startswith("| ")]
    assert table[1:4] == ["| 8 | auto (contrastive, finetune) | 16 | **0.780 ± 0.008** | 3 | 1.5 |",
                          "| 8 | features | 16 | 0.700 ± 0.008 | 3 | 1.5 |",
                          "| 8 | tfidf | 16 | 0.550 ± 0.008 | 3 | 1.5 |"]
    budgets = [line.split(" | ")[0] for line in table[1:10]]
    assert budgets == ["| 8"] * 3 + ["| 32"] * 3 + ["| all"] * 3


def test_language_matrix_and_lower_is_better(tmp_path):
    records = [record("finetune", 100, s, test=named(0.8 + s / 10, 0.6, 0.4), metric="f1") for s in (0, 1)]
    records += [record("scratch", 100, 0, test=named(0.5, 0.2, 0.1)), record("scratch", 1000, 0, test=named(0.9, 0.7, 0.5))]
    summary = write_report(records, tmp_path, "qa", metric="f1", higher_is_better=True, budget_unit="questions")
    md = (tmp_path / "report.md").read_text()
    assert "| questions | strategy | en | de | zh-wiki (zh) |" in md
    assert "| 100 | finetune | 0.850 | 0.600 | 0.400 |" in md
    assert summary["languages"]["tests"] == ["en", "de", "zh-wiki"]
    # finetune's mean over sets (0.6167) is reached by scratch between 100 (0.267) and 1000 (0.7)
    (saving,) = summary["savings"]
    assert saving.kind == "exact" and 1 < saving.factor < 10

    lm = [record("scratch", b, 0, test={"perplexity": p}, examples=b) for b, p in ((10, 300.0), (100, 150.0))]
    lm.append(record("finetune", 10, 0, test={"perplexity": 30.0}, examples=10))
    summary = write_report(lm, tmp_path / "lm", "lm", metric="perplexity", higher_is_better=False, budget_unit="documents")
    md = (tmp_path / "lm" / "report.md").read_text()
    assert "test perplexity (lower is better)" in md and "| 10 | finetune | 10 | **30.00** | 1 | 1.0 |" in md
    assert "> 10.0× (more than all)" in md


def test_a_sweep_with_nothing_finished_still_reports(tmp_path):
    summary = write_report([record("finetune", 8, 0, status="running")], tmp_path, **OPTIONS)
    md = (tmp_path / "report.md").read_text()
    assert "No run has finished yet." in md and "| finetune-b8-seed0 | finetune | 8 | 0 | running |  |" in md
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG) and summary["points"] == []


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    write_report(sweep_records(), tmp_path, **OPTIONS)
    before = (tmp_path / "report.md").read_text()

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(rundir.os, "replace", fail)
    with pytest.raises(OSError):
        write_report(sweep_records()[:3], tmp_path, **OPTIONS)
    assert (tmp_path / "report.md").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "report.html", "report.md", "time.png"]


def test_terminal_table(report, capsys):
    _, summary = report
    terminal_table(summary, "the title")
    out = capsys.readouterr().out
    assert "the title" in out and "0.700 ± 0.008" in out and "tfidf" in out and "1 failed, 1 running" in out


def test_importing_the_report_imports_neither_matplotlib_nor_rich():
    code = ("import sys, transferkit.evaluation.sweep_report, transferkit.evaluation.curves; "
            "print(sorted(m for m in ('matplotlib', 'rich', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
