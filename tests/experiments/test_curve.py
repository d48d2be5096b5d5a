"""`transferkit curve`: the plan of cells, the sweep's registry and report, skipping
finished cells, resuming a sweep killed with SIGKILL to the uninterrupted result, the same
rows on every executor, and a sweep for each task."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transferkit.config import CurveConfig
from transferkit.errors import UserError
from transferkit.experiments.curve import TimeLeft, plan
from transferkit.experiments.executors import LocalExecutor
from transferkit.tracking.registry import Registry

from conftest import qa_records, write_squad

TIMINGS = ("seconds", "samples_per_second", "tokens_per_second", "mfu", "warmup_steps", "warmup_seconds")


def comparable(rows: list[dict]) -> list[tuple]:
    """A sweep's rows without what differs between two sweeps of the same cells: ids, times,
    folders, library versions."""
    def metrics(m):
        m = {k: v for k, v in m.items() if k not in ("run", "versions")}
        return {**m, "train": {k: v for k, v in m["train"].items() if k not in TIMINGS}}

    return sorted(
        (row["cell"], row["status"], row["task"], row["strategy"], row["requested"], row["budget"], row["seed"], row["score"],
         row["labelled_examples"], row["config_hash"], row["data_fingerprint"], json.dumps(metrics(row["metrics"]), sort_keys=True))
        for row in rows
    )


def sweep_rows(folder: Path) -> list[dict]:
    return Registry(folder / "runs.sqlite").rows()


def test_plan_crosses_budgets_strategies_and_seeds_smallest_budgets_first(sentiment, tmp_path):
    cfg = CurveConfig(train=str(sentiment["train"]), budgets="4,all", strategies="tfidf,finetune", seeds="0,1", output=str(tmp_path), epochs=2)
    cells = plan(cfg, frozenset({"epochs"}))
    assert [c.name for c in cells] == [
        "tfidf-b4-seed0", "tfidf-b4-seed1", "finetune-b4-seed0", "finetune-b4-seed1",
        "tfidf-ball-seed0", "tfidf-ball-seed1", "finetune-ball-seed0", "finetune-ball-seed1",
    ]
    assert {c.config.labels_per_class for c in cells} == {4, None}
    assert Path(cells[0].config.output) == tmp_path / "runs" / "tfidf-b4-seed0"
    assert cells[2].config.epochs == 2 and cells[0].config.epochs is None  # a shared option only where it applies
    assert Path(cells[0].config.train).is_absolute()

    ner = plan(CurveConfig(task="ner", train=str(sentiment["train"]), budgets="10,all", seeds="0", output=str(tmp_path)))
    assert [(c.name, c.config.train_examples) for c in ner] == [
        ("finetune-b10-seed0", 10), ("scratch-b10-seed0", 10), ("finetune-ball-seed0", None), ("scratch-ball-seed0", None)]


@pytest.mark.parametrize("options, problem", [
    ({"budgets": "8,x"}, "--budgets: expected comma-separated values"),
    ({"budgets": "8,0"}, "--budgets: expected comma-separated values"),
    ({"seeds": "0,0"}, "--seeds: a value is given twice"),
    ({"strategies": "tfidf,magic"}, "--strategies: unknown strategy 'magic'"),
    ({"strategy": "tfidf"}, "--strategy: a sweep sets this per cell; give --strategies"),
    ({"strategies": "tfidf", "epochs": 3}, "--epochs: applies to"),
])
def test_a_bad_sweep_is_refused_before_any_work(sentiment, tmp_path, options, problem):
    with pytest.raises(UserError, match=problem.replace("(", r"\(")):
        plan(CurveConfig(train=str(sentiment["train"]), output=str(tmp_path / "sweep"), **options))
    assert not (tmp_path / "sweep").exists()


def test_time_left_scales_a_strategy_by_budget():
    cells = plan(CurveConfig(train=__file__, budgets="10,20,all", strategies="tfidf,features", seeds="0,1", output="/tmp/x"))
    clock = TimeLeft(LocalExecutor())
    assert clock.left(cells) == "time left unknown until a cell finishes"
    clock.add(cells[0], 10.0)  # tfidf at 10
    assert clock.estimate(cells[1]) == 10.0  # tfidf at 10, another seed
    assert clock.estimate(cells[4]) == 20.0  # tfidf at 20: twice the labels, from the one budget known
    assert clock.estimate(cells[2]) == 10.0  # features: nothing known of it yet but the mean
    clock.add(cells[2], 8.0)  # features at 10
    clock.add(cells[6], 16.0)  # features at 20
    cell_40 = plan(CurveConfig(train=__file__, budgets="40", strategies="features", seeds="0", output="/tmp/x"))[0]
    assert clock.estimate(cell_40) == pytest.approx(32.0)  # on the power law through 10 and 20 (here linear)
    clock.add(cells[6], 8.0)  # another seed at 20: 12 s on average, so time grows as budget ** 0.585
    assert clock.estimate(cell_40) == pytest.approx(8.0 * 4 ** math.log2(1.5))
    assert clock.left([cells[1], cells[4]]) == "about 30 s left"


def test_a_sweep_writes_runs_registry_and_report_and_skips_finished_cells(sentiment, tmp_path, cli):
    args = ["curve", "--train", sentiment["train"], "--test", sentiment["test"], "--strategies", "tfidf",
            "--budgets", "3,all", "--seeds", "0,1", "--output", tmp_path / "sweep"]
    status, out, err = cli(*args)
    assert status == 0, err
    sweep = tmp_path / "sweep"
    rows = sweep_rows(sweep)
    assert sorted(r["cell"] for r in rows) == ["tfidf-b3-seed0", "tfidf-b3-seed1", "tfidf-ball-seed0", "tfidf-ball-seed1"]
    assert {r["status"] for r in rows} == {"finished"}
    for row in rows:
        metrics = json.loads((sweep / "runs" / row["cell"] / "metrics.json").read_text())
        assert row["score"] == metrics["test"]["accuracy"] and row["labelled_examples"] == (6 if "b3" in row["cell"] else 48)
    assert (sweep / "report.html").is_file() and (sweep / "report.md").is_file() and (sweep / "sweep.yaml").is_file()
    assert "[4/4] tfidf-ball-seed1 finished" in err

    written = {p: p.stat().st_mtime_ns for p in sweep.glob("runs/*/metrics.json")}
    status, _, err = cli(*args)
    assert status == 0 and "4 of 4 cells already finished" in err
    assert {p: p.stat().st_mtime_ns for p in sweep.glob("runs/*/metrics.json")} == written
    assert comparable(sweep_rows(sweep)) == comparable(rows)

    described = (sweep / "sweep.yaml").read_bytes()
    status, _, err = cli(*args, "--class-weight", "balanced")  # other options: not the same sweep
    assert status == 2 and "this sweep's cell was trained with other options (class_weight)" in err
    assert (sweep / "sweep.yaml").read_bytes() == described, "a refused sweep rewrote the options of the one that ran"


def _tfidf_curve(sentiment, output, *more) -> list:
    return ["curve", "--train", sentiment["train"], "--test", sentiment["test"], "--strategies", "tfidf", "--budgets", "3",
            "--seeds", "0", "--output", output, *more]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("names", [("sweep.yaml", "report.md"), ("sweep.yaml", "runs.sqlite", "report.md", "mine.txt")])
def test_a_users_folder_that_holds_a_sweep_yaml_is_refused_and_left_byte_for_byte(sentiment, tmp_path, cli, names):
    # W&B sweeps are configured in a sweep.yaml: the name alone does not make a folder transferkit's
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(f"the user's {name}\n")
    before = _tree(folder)
    for more in ((), ("--overwrite",)):
        status, _, err = cli(*_tfidf_curve(sentiment, folder, *more))
        assert status == 2 and err.startswith("error: ") and "no transferkit sweep wrote" in err, err
        assert _tree(folder) == before


def test_a_sweep_in_a_folder_whose_parent_does_not_exist_yet(sentiment, tmp_path, cli):
    # the demo's default, runs/demo, in a fresh clone: the lock file goes beside the folder
    status, _, err = cli(*_tfidf_curve(sentiment, tmp_path / "runs" / "deep" / "sweep"))
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "runs" / "deep").iterdir()) == ["sweep"]


def test_a_running_sweep_refuses_a_second_driver_before_it_writes_anything(sentiment, tmp_path, cli):
    from transferkit.rundir import output_lock

    sweep = tmp_path / "sweep"
    assert cli(*_tfidf_curve(sentiment, sweep))[0] == 0
    before = _tree(sweep)
    with output_lock(sweep):  # as a driver still running holds it
        status, _, err = cli(*_tfidf_curve(sentiment, sweep, "--seeds", "0,1,2"))
    assert status == 2 and "another transferkit run" in err, err
    assert _tree(sweep) == before, "sweep.yaml records budgets and seeds that never ran"


@pytest.mark.parametrize("more, problem", [
    (("--workers", "0"), "--workers: must be 1 or more"),
    (("--workers", "-1"), "--workers: must be 1 or more"),
    (("--ray-address", "auto"), "--ray-address: applies to --executor ray"),
    (("--executor", "ray", "--ray-address", "127.0.0.1:1"), "--ray-address: nothing answers at 127.0.0.1:1"),
    (("--executor", "ray", "--ray-address", "ray://127.0.0.1:1"), "--ray-address: nothing answers at ray://127.0.0.1:1"),
])
def test_a_refused_sweep_leaves_no_files(sentiment, tmp_path, cli, more, problem):
    status, _, err = cli(*_tfidf_curve(sentiment, tmp_path / "sweep", *more))
    assert status == 2 and problem in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_ray_client_address_without_ray_client_is_one_line(sentiment, tmp_path, cli, monkeypatch):
    import socket

    import transferkit.experiments.executors as executors

    real = executors.importlib.util.find_spec
    monkeypatch.setattr(executors.importlib.util, "find_spec", lambda name, *a: None if name == "grpc" else real(name, *a))
    with socket.socket() as listening:  # something answers, so the check reaches Ray Client's own requirement
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        address = f"ray://127.0.0.1:{listening.getsockname()[1]}"
        status, _, err = cli(*_tfidf_curve(sentiment, tmp_path / "sweep", "--executor", "ray", "--ray-address", address))
    assert status == 2 and f"--ray-address: {address} is a Ray Client address, which needs ray[client]" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_from_a_config_file_and_a_failing_cell(sentiment, tmp_path, cli):
    config = tmp_path / "sweep.yaml"
    config.write_text(f"train: {sentiment['train']}\ntest: {sentiment['test']}\nstrategies: [tfidf, features]\nbudgets: [3]\nseeds: 0\n")
    status, _, err = cli("curve", "--config", config, "--output", tmp_path / "sweep", "--strategies", "tfidf,wordvec")
    assert status == 2 and "--vectors: missing" in err  # every cell checked before any work
    assert not (tmp_path / "sweep").exists()
    status, _, err = cli("curve", "--config", config, "--output", tmp_path / "sweep", "--text-column", "nope")
    assert status == 0, err
    rows = sweep_rows(tmp_path / "sweep")
    assert {r["status"] for r in rows} == {"failed"} and all("nope" in r["error"] for r in rows)
    assert "2 of 2 cells failed" in err


def curve_command(sentiment, output):
    return [
        sys.executable, "-m", "transferkit", "curve", "--strategies", "tfidf,finetune", "--budgets", "4,all", "--seeds", "0",
        "--max-length", "16", "--batch-size", "4", "--epochs", "2", "--evaluations", "4", "--checkpoint-every", "3",
        "--train", str(sentiment["train"]), "--dev", str(sentiment["dev"]), "--test", str(sentiment["test"]), "--output", str(output),
    ]


def test_a_sweep_killed_mid_cell_finishes_as_an_uninterrupted_one(sentiment, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    done = subprocess.run(curve_command(sentiment, whole), env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    checkpoint = killed / "runs" / ".finetune-ball-seed0.partial" / "checkpoint" / "state.pt"
    process = subprocess.Popen(curve_command(sentiment, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the sweep finished before it was killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert {r["status"] for r in sweep_rows(killed) if r["cell"] == "finetune-ball-seed0"} == {"running"}

    again = subprocess.run(curve_command(sentiment, killed), env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 4 cells already finished" in again.stderr and "finetune-ball-seed0 resumed and finished" in again.stderr
    assert comparable(sweep_rows(killed)) == comparable(sweep_rows(whole))
    assert len(sweep_rows(killed)) == 4
    assert without_times(killed / "report.md") == without_times(whole / "report.md")


def without_times(report: Path) -> str:
    """report.md without when it was written and the results table's last column (train seconds)."""
    kept, section = [], None
    for line in report.read_text().splitlines():
        section = line if line.startswith("## ") else section
        if line.startswith("Written "):
            continue
        kept.append(line.rsplit("|", 2)[0] if section == "## Results" and line.startswith("|") else line)
    assert any("train seconds" in line for line in report.read_text().splitlines())
    return "\n".join(kept)


@pytest.mark.parametrize("executor", [["--workers", "2"], ["--executor", "ray"]])
def test_every_executor_gives_the_rows_of_the_in_process_sweep(sentiment, tmp_path, cli, executor):
    args = ["curve", "--train", sentiment["train"], "--test", sentiment["test"], "--strategies", "tfidf",
            "--budgets", "3,all", "--seeds", "0,1"]
    status, _, err = cli(*args, "--output", tmp_path / "local")
    assert status == 0, err
    status, _, err = cli(*args, "--output", tmp_path / "other", *executor)
    assert status == 0, err
    assert comparable(sweep_rows(tmp_path / "other")) == comparable(sweep_rows(tmp_path / "local"))


def test_curves_for_ner_and_qa(ner_files, tmp_path, cli):
    status, _, err = cli("curve", "--task", "ner", "--train", ner_files["train"], "--test", ner_files["test"],
                         "--strategies", "features", "--budgets", "20", "--seeds", "0", "--max-length", "32", "--output", tmp_path / "ner")
    assert status == 0, err
    [row] = sweep_rows(tmp_path / "ner")
    assert row["cell"] == "features-b20-seed0" and row["labelled_examples"] == 20
    assert row["primary_metric"] == "f1" and 0 <= row["score"] <= 1

    train = write_squad(tmp_path / "train.json", qa_records(24, seed=1))
    test = write_squad(tmp_path / "test.json", qa_records(8, seed=2))
    status, _, err = cli("curve", "--task", "qa", "--train", train, "--test", test, "--strategies", "finetune", "--budgets", "8",
                         "--seeds", "0", "--epochs", "1", "--max-length", "64", "--doc-stride", "16", "--output", tmp_path / "qa")
    assert status == 0, err
    [row] = sweep_rows(tmp_path / "qa")
    assert row["labelled_examples"] == 8 and row["primary_metric"] == "f1" and (tmp_path / "qa" / "report.html").is_file()


def test_an_lm_curve_reports_perplexity_lower_is_better(tiny_llama, review_corpus, tmp_path, cli):
    lines = review_corpus.read_text().splitlines()
    (tmp_path / "train.txt").write_text("\n".join(lines[:100]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[100:130]) + "\n")
    status, _, err = cli("curve", "--task", "lm", "--model", tiny_llama, "--train", tmp_path / "train.txt", "--test", tmp_path / "test.txt",
                         "--strategies", "finetune", "--budgets", "20,all", "--seeds", "0", "--max-length", "32", "--max-steps", "10",
                         "--output", tmp_path / "lm")
    assert status == 0, err
    rows = sweep_rows(tmp_path / "lm")
    assert sorted((r["budget"] or 0, r["labelled_examples"], r["primary_metric"]) for r in rows) == [(0, 100, "perplexity"), (20, 20, "perplexity")]
    assert "test perplexity (lower is better)" in (tmp_path / "lm" / "report.md").read_text()
