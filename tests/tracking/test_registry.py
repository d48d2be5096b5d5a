"""The run registry: one SQLite file that several processes write at once without losing a
row, and the rows `train` and `pretrain` record in it (running, then finished with the
scores of metrics.json, or failed with the error line), rebuilt alike from a run directory."""

import json
import multiprocessing
import sqlite3

import pytest
import yaml

from conftest import sentiment_rows, write_csv
from transferkit import api
from transferkit.config import TrainConfig, Word2VecConfig
from transferkit.errors import UserError
from transferkit.tracking.registry import (
    Registry, config_hash, data_fingerprint, default_path, new_record, record_of_run,
)


def record(path, **fields) -> dict:
    return {"id": fields.pop("id", "0123456789ab"), "path": str(path), "kind": "train", "status": "finished",
            "started_at": fields.pop("started_at", "2026-01-01T00:00:00+00:00"), **fields}


def _write_rows(registry_path: str, worker: int, start, count: int) -> None:
    start.wait()
    registry = Registry(registry_path)  # both create the file and its table at once too
    for k in range(count):
        registry.put(record(f"/runs/{worker}/{k}", id=f"{worker:02d}{k:010d}", config={"worker": worker, "k": k}))


def test_two_processes_writing_at_once_lose_no_row(tmp_path):
    path = str(tmp_path / "runs.sqlite")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_write_rows, args=(path, worker, start, 200)) for worker in (1, 2)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0, 0]
    rows = Registry(path).rows()
    assert sorted(row["path"] for row in rows) == sorted(f"/runs/{w}/{k}" for w in (1, 2) for k in range(200))
    assert all(row["config"] == {"worker": int(row["path"].split("/")[2]), "k": int(row["path"].split("/")[3])} for row in rows)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_filter_and_come_oldest_first_with_their_dicts_decoded(tmp_path):
    registry = Registry(tmp_path / "deeper" / "runs.sqlite")  # its folders are created
    registry.put(record(tmp_path / "b", id="b" * 12, task="ner", strategy="finetune", started_at="2026-01-02T00:00:00+00:00"))
    registry.put(record(tmp_path / "a", id="a" * 12, task="classify", strategy="tfidf", metrics={"test": {"accuracy": 0.5}}))
    registry.start(record(tmp_path / "c", id="c" * 12, task="classify", strategy="finetune", started_at="2026-01-03T00:00:00+00:00"))
    assert [row["id"][0] for row in registry.rows()] == ["a", "b", "c"]
    assert [row["id"][0] for row in registry.rows(task="classify")] == ["a", "c"]
    assert [row["id"][0] for row in registry.rows(strategy="finetune", status="running")] == ["c"]
    assert registry.rows(task="qa") == []
    assert registry.rows()[0]["metrics"] == {"test": {"accuracy": 0.5}} and registry.rows()[1]["metrics"] is None
    registry.put(record(tmp_path / "a", id="d" * 12))  # the same path: the row is replaced
    assert sorted(row["id"][0] for row in registry.rows()) == ["b", "c", "d"]


def test_find_takes_an_id_a_unique_prefix_or_a_path(tmp_path, monkeypatch):
    registry = Registry(tmp_path / "runs.sqlite")
    registry.put(record(tmp_path / "one", id="abc111111111"))
    registry.put(record(tmp_path / "two", id="abc222222222"))
    assert registry.find("abc111111111")["path"] == str(tmp_path / "one")
    assert registry.find("abc2")["path"] == str(tmp_path / "two")
    monkeypatch.chdir(tmp_path)
    assert registry.find("one")["id"] == "abc111111111"  # a relative run directory
    with pytest.raises(UserError, match=rf"^{tmp_path / 'runs.sqlite'}: 'abc' names 2 runs \(abc111111111, abc222222222\); give more of the id$"):
        registry.find("abc")
    for unknown in ("zzz", "a%", "", "abc_"):
        with pytest.raises(UserError, match=rf"^{tmp_path / 'runs.sqlite'}: no run "):
            registry.find(unknown)


def test_finish_and_fail_update_the_row_from_the_metrics(tmp_path):
    registry = Registry(tmp_path / "runs.sqlite")
    started = new_record("train", {"task": "classify", "output": "x"}, tmp_path / "run", [], task="classify", strategy="tfidf")
    registry.start(started)
    metrics = {"test": {"accuracy": 0.75, "macro_f1": 0.7}, "train": {"labelled_examples": 48, "seconds": 1.5}}
    row = registry.finish(tmp_path / "run", metrics)
    assert row == registry.find(started["id"])
    assert (row["status"], row["score"], row["labelled_examples"], row["train_seconds"], row["metrics"]) == ("finished", 0.75, 48, 1.5, metrics)
    assert row["finished_at"] >= row["started_at"] and row["seconds"] >= 0
    named = registry.finish(tmp_path / "run", {"test": {"en": {"accuracy": 0.8}, "de": {"accuracy": 0.6}}})
    assert named["score"] is None  # several test sets: no one score
    failed = registry.fail(tmp_path / "run", "boom: it broke")
    assert (failed["status"], failed["error"]) == ("failed", "boom: it broke")
    with pytest.raises(UserError, match="no run at"):
        registry.fail(tmp_path / "elsewhere", "x")


@pytest.mark.parametrize("content", [b"this is not a database at all, just some bytes" * 100, None])
def test_a_file_that_is_no_registry_is_one_line(tmp_path, content):
    path = tmp_path / "runs.sqlite"
    if content is None:  # SQLite, but another program's
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE runs (name TEXT)")
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=rf"^{path}: is not a transferkit run registry") as e:
        Registry(path)
    assert "\n" not in str(e.value)


def test_fingerprint_is_of_contents_in_order_and_the_hash_ignores_the_output(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x,y\n"), b.write_text("z\n")
    first = data_fingerprint([a, None, tmp_path / "missing.csv", "minilm", b])
    assert first == data_fingerprint([a, b]) != data_fingerprint([b, a])
    assert data_fingerprint([tmp_path / "ab.csv"]) is None and data_fingerprint([]) is None
    b.write_text("z!\n")
    assert data_fingerprint([a, b]) != first
    assert config_hash({"seed": 0, "output": "x", "task": "ner"}) == config_hash({"task": "ner", "seed": 0, "output": "y"})
    assert config_hash({"seed": 0}) != config_hash({"seed": 1})


def tfidf(sentiment, output, **options) -> TrainConfig:
    return TrainConfig(train=str(sentiment["train"]), dev=str(sentiment["dev"]), test=str(sentiment["test"]),
                       strategy="tfidf", output=str(output), **options)


def test_a_train_run_is_recorded_finished_and_rebuilt_alike_from_its_directory(sentiment, tmp_path):
    sweep = tmp_path / "sweep"
    metrics = api.train(tfidf(sentiment, sweep / "runs" / "cell", labels_per_class=8), tracking={"sweep": str(sweep), "cell": "tfidf-b8-seed0"})
    run = sweep / "runs" / "cell"
    row = Registry(default_path()).find(str(run))
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk == metrics and on_disk["run"]["id"] == row["id"]
    assert (row["status"], row["kind"], row["task"], row["strategy"], row["requested"]) == ("finished", "train", "classify", "tfidf", "tfidf")
    assert (row["budget"], row["seed"], row["model"], row["primary_metric"]) == (8, 0, None, "accuracy")
    assert row["score"] == on_disk["test"]["accuracy"] and row["labelled_examples"] == 16 == on_disk["train"]["labelled_examples"]
    assert row["train_seconds"] == on_disk["train"]["seconds"] and row["metrics"] == on_disk
    assert row["config"] == yaml.safe_load((run / "config.yaml").read_text()) and "track" not in row["config"]
    assert (row["sweep"], row["cell"]) == (str(sweep.resolve()), "tfidf-b8-seed0")
    assert row["data_fingerprint"] == data_fingerprint([sentiment["train"], sentiment["dev"], sentiment["test"]])
    assert row["started_at"] <= row["finished_at"] and 0 < row["seconds"] == on_disk["run"]["seconds"]
    assert record_of_run(run) == row


def test_a_run_written_before_the_registry_is_rebuilt_with_an_id_of_its_path(sentiment, tmp_path):
    run = tmp_path / "old"
    api.train(tfidf(sentiment, run))
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["run"]  # as a transferkit without the registry wrote it
    (run / "metrics.json").write_text(json.dumps(metrics))
    row = record_of_run(run)
    assert row["status"] == "finished" and row["score"] == metrics["test"]["accuracy"] and row["metrics"] == metrics
    assert row["id"] == record_of_run(run)["id"] != Registry(default_path()).find(str(run))["id"]  # stable, from the path
    assert row["started_at"] == row["finished_at"] and row["seconds"] is None


def test_a_run_refused_for_its_output_leaves_the_row_there_untouched(sentiment, tmp_path):
    api.train(tfidf(sentiment, tmp_path / "run"))
    before = Registry(default_path()).find(str(tmp_path / "run"))
    with pytest.raises(UserError, match="already exists"):
        api.train(tfidf(sentiment, tmp_path / "run", seed=3))
    assert Registry(default_path()).find(str(tmp_path / "run")) == before


def test_a_failed_run_is_recorded_with_its_error_line(cli, sentiment, tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(6, seed=4), header=("text", "sentiment"))
    status, _, err = cli("train", "--strategy", "tfidf", "--train", train, "--output", tmp_path / "run")
    assert status == 2
    row = Registry(default_path()).find(str(tmp_path / "run"))
    assert row["status"] == "failed" and f"error: {row['error']}\n" == err
    assert "no column 'label'" in row["error"] and row["metrics"] is None and row["finished_at"] is not None
    assert not (tmp_path / "run").exists()


def test_a_crash_is_recorded_as_its_type_and_message(sentiment, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("the disk\nwent away")

    monkeypatch.setattr(api, "score_model", crash)
    with pytest.raises(RuntimeError):
        api.train(tfidf(sentiment, tmp_path / "run"))
    assert Registry(default_path()).find(str(tmp_path / "run"))["error"] == "RuntimeError: the disk went away"


@pytest.mark.parametrize("home", ["under a file", "not a registry"])
def test_a_registry_that_cannot_be_written_costs_one_note_not_the_run(cli, sentiment, tmp_path, monkeypatch, home):
    (tmp_path / "file").write_text("x")
    if home == "under a file":  # as a read-only home: its folder cannot be created
        monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "file" / "home"))
    else:
        monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "home"))
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / "runs.sqlite").write_text("not SQLite " * 200)
    status, out, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--test", sentiment["test"], "--output", tmp_path / "run")
    assert status == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note: the run registry")]
    assert len(notes) == 1 and notes[0].endswith("this run is not recorded") and str(default_path()) in notes[0]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["run"]["id"]


def test_pretrain_word2vec_is_recorded(cli, review_corpus, tmp_path):
    status, _, err = cli("pretrain", "word2vec", "--corpus", review_corpus, "--dimension", 8, "--min-count", 1, "--epochs", 1, "--output", tmp_path / "vectors")
    assert status == 0, err
    row = Registry(default_path()).find(str(tmp_path / "vectors"))
    metrics = json.loads((tmp_path / "vectors" / "metrics.json").read_text())
    assert (row["kind"], row["status"], row["task"], row["strategy"], row["seed"], row["score"]) == ("pretrain word2vec", "finished", None, None, 0, None)
    assert row["metrics"] == metrics and row["config"] == yaml.safe_load((tmp_path / "vectors" / "config.yaml").read_text())
    assert row["data_fingerprint"] == data_fingerprint([review_corpus])
    assert Word2VecConfig(**row["config"]).dimension == 8


def test_the_registry_names_each_tasks_own_primary_metric():
    """tracking imports no task (nor torch), so it keeps the tasks' primary metrics as names:
    they must be the tasks' own."""
    from transferkit.recipes import TASKS
    from transferkit.tasks import get_task
    from transferkit.tracking.registry import PRIMARY_METRIC

    assert PRIMARY_METRIC == {task: get_task(task).primary_metric for task in TASKS}
