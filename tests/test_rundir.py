"""Safe outputs: `--overwrite` replaces only transferkit's own outputs, an output never swallows
an input or the working directory, one writer per output (two real processes), leftovers of
a killed run are named, and `predict --output` is checked before predicting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_csv
from transferkit.errors import UserError
from transferkit.rundir import MARKER_FILE, lock_file, partial_dir, staged_run_dir


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(status: int, err: str, expected: str) -> None:
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err, err


def _tfidf(cli, sentiment, output, *more):
    return cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--output", output, *more)


def test_overwrite_refuses_a_folder_transferkit_did_not_write(cli, sentiment, tmp_path):
    data = tmp_path / "mydata"
    data.mkdir()
    (data / "notes.txt").write_text("my own notes")
    write_csv(data / "test.csv", [("a fine film", "positive")])
    before = _tree(data)
    status, _, err = _tfidf(cli, sentiment, data, "--overwrite")
    _one_error_line(status, err, "was not written by transferkit")
    assert _tree(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mydata"]


def test_output_holding_the_training_data_is_refused(cli, sentiment, tmp_path):
    data = tmp_path / "mydata"
    data.mkdir()
    train = write_csv(data / "train.csv", [("a fine film", "positive"), ("a dull film", "negative")])
    before = _tree(data)
    status, _, err = cli("train", "--strategy", "tfidf", "--train", train, "--output", data, "--overwrite")
    _one_error_line(status, err, "contains the input")
    assert _tree(data) == before


@pytest.mark.parametrize("output", [".", ".."])
def test_working_directory_and_its_parents_are_refused(cli, sentiment, tmp_path, monkeypatch, output):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    status, _, err = _tfidf(cli, sentiment, output, "--overwrite")
    _one_error_line(status, err, "is the working directory or one of its parents")
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_overwrite_replaces_a_run_written_before_the_marker_existed(cli, sentiment, tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    (old / "metrics.json").write_text(json.dumps({"versions": {"transferkit": "0.0.1"}}))
    (old / "stale.txt").write_text("from the old run")
    status, out, err = _tfidf(cli, sentiment, old, "--overwrite")
    assert status == 0, err
    assert not (old / "stale.txt").exists() and (old / MARKER_FILE).is_file()
    assert json.loads((old / "metrics.json").read_text())["strategy"] == "tfidf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_output_that_is_a_file_a_symlink_or_below_a_file_is_refused(cli, sentiment, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for output, expected in [(afile, "is not a directory"), (loop, "cannot be resolved"), (afile / "run", "cannot create")]:
        status, _, err = _tfidf(cli, sentiment, output, "--overwrite")
        _one_error_line(status, err, expected)
    assert afile.read_text() == "keep me"


def test_leftover_of_a_killed_run_is_named_until_overwritten(cli, sentiment, tmp_path):
    run = tmp_path / "run"
    partial_dir(run).mkdir()
    (partial_dir(run) / "model").mkdir()
    status, _, err = _tfidf(cli, sentiment, run)
    _one_error_line(status, err, f"an interrupted run left {partial_dir(run)}")
    status, _, err = _tfidf(cli, sentiment, run, "--overwrite")
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_publishing_refuses_a_directory_that_appeared_during_the_run(tmp_path):
    output = tmp_path / "run"
    with pytest.raises(UserError, match="appeared while this run was working"):
        with staged_run_dir(output, overwrite=False) as staging:
            (staging / "metrics.json").write_text("{}")
            output.mkdir()
            (output / "theirs.txt").write_text("someone else's")
    assert (output / "theirs.txt").read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_predict_output_is_checked_before_predicting(cli, sentiment, tmp_path):
    run = tmp_path / "run"
    assert _tfidf(cli, sentiment, run)[0] == 0
    texts = write_csv(tmp_path / "in.csv", [("a superb film", "x"), ("a dull film", "y")])
    before = texts.read_bytes()
    cases = [
        (texts, "would overwrite the input"),
        (run / "model" / "head.json", "would overwrite the input"),
        (tmp_path, "is a directory"),
        (_write(tmp_path / "afile", "x") / "out.jsonl", "afile is a file, not a folder"),
    ]
    for output, expected in cases:
        status, out, err = cli("predict", run, "--input", texts, "--output", output)
        _one_error_line(status, err, expected)
        assert out == ""
    assert texts.read_bytes() == before
    status, _, err = cli("predict", run, "--input", texts, "--output", tmp_path / "new" / "deep" / "out.jsonl")
    assert status == 0, err
    lines = (tmp_path / "new" / "deep" / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["a superb film", "a dull film"]
    assert [p.name for p in (tmp_path / "new" / "deep").iterdir()] == ["out.jsonl"]  # no temporary left


# -- real processes --------------------------------------------------------------------------

def _slow_train(sentiment, output: Path) -> subprocess.Popen:
    """A real `transferkit train` that runs for several seconds (40 tiny steps, about 0.3 s each on 2 cores)."""
    args = [
        sys.executable, "-m", "transferkit", "train", "--strategy", "finetune", "--train", str(sentiment["train"]),
        "--output", str(output), "--max-steps", "40", "--batch-size", "4", "--max-length", "16",
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_second_run_at_the_same_output_fails_at_once_and_the_first_finishes(sentiment, tmp_path):
    run = tmp_path / "run"
    first = _slow_train(sentiment, run)
    _wait_for(lock_file(run), first)
    second = subprocess.run(
        [sys.executable, "-m", "transferkit", "train", "--strategy", "tfidf", "--train", str(sentiment["train"]), "--output", str(run)],
        capture_output=True, text=True, timeout=120,
    )
    assert first.poll() is None, "the first run ended before the second was refused: make it longer"
    _one_error_line(second.returncode, second.stderr, f"another transferkit run (process {first.pid}) is writing this output")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["strategy"] == "finetune" and metrics["train"]["steps"] == 40
    assert json.loads(out)["output"] == str(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_sigterm_unwinds_and_leaves_nothing(sentiment, tmp_path):
    run = tmp_path / "run"
    process = _slow_train(sentiment, run)
    _wait_for(partial_dir(run), process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1] == "error: terminated; nothing was written"
    assert list(tmp_path.iterdir()) == []


def test_kill_9_leaves_a_partial_that_the_next_run_names(cli, sentiment, tmp_path):
    run = tmp_path / "run"
    process = _slow_train(sentiment, run)
    _wait_for(partial_dir(run), process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert partial_dir(run).is_dir() and not run.exists()
    status, _, err = _tfidf(cli, sentiment, run)
    _one_error_line(status, err, "an interrupted run left")
    status, _, err = _tfidf(cli, sentiment, run, "--overwrite")  # the stale lock file is taken over
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_overwrite_leaves_a_users_dot_old_folder_beside_the_output_alone(cli, sentiment, tmp_path):
    # `.NAME.old` was where a replaced run was parked; a folder of that name may be the user's
    users = tmp_path / ".run.old"
    users.mkdir()
    _write(users / "notes.txt", "mine")
    for more in ((), ("--overwrite",)):
        status, _, err = _tfidf(cli, sentiment, tmp_path / "run", *more)
        assert status == 0, err
    assert _tree(users) == {"notes.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.old", "run"], "nothing else left beside the output"


def test_a_resume_that_fails_keeps_the_folder_it_resumes(tmp_path):
    output = tmp_path / "run"
    staging = partial_dir(output)
    (staging / "checkpoint").mkdir(parents=True)
    _write(staging / "checkpoint" / "state.pt", "weights")
    with pytest.raises(UserError):
        with staged_run_dir(output, overwrite=False, resume=True):
            raise UserError("train.csv", "file not found")
    assert (staging / "checkpoint" / "state.pt").read_text() == "weights"
    with pytest.raises(UserError):  # a new run's staging folder still goes on bad input
        with staged_run_dir(tmp_path / "new", overwrite=False):
            raise UserError("train.csv", "file not found")
    assert not partial_dir(tmp_path / "new").exists()
