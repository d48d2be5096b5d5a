from transferkit.config import TrainConfig
from transferkit.evaluation.report import markdown_table, plot_learning_curve, summarise
from transferkit.experiments.learning_curve import run_curve


def test_curve_runs_every_budget_and_seed_and_reports(sentiment, tmp_path):
    base = TrainConfig(train=str(sentiment["train"]), test=str(sentiment["test"]))
    points = run_curve(base, ["tfidf"], [2, None], [0, 1], tmp_path)
    assert [(p.labels_per_class, p.seed, p.train_examples) for p in points] == [(2, 0, 4), (2, 1, 4), (None, 0, 48), (None, 1, 48)]
    assert all((tmp_path / f"tfidf-k{k}-seed{s}" / "metrics.json").exists() for k, s in [(2, 0), ("all", 1)])
    rows = summarise(points)
    assert [(r["labels_per_class"], r["seeds"]) for r in rows] == [("2", 2), ("all", 2)]
    table = markdown_table(rows)
    assert "| all | tfidf | 48 |" in table
    plot_learning_curve(points, tmp_path / "curve.png", "t")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
