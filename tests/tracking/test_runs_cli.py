"""`transferkit runs list | show | compare`: the registry's rows as a table, CSV or JSON
(parsed back here), and one-line errors for a missing registry or an unknown run."""

import csv
import io
import json
import os

import pytest

from transferkit.tracking.registry import Registry


@pytest.fixture(scope="module")
def recorded(sentiment, review_corpus, tmp_path_factory) -> dict:
    """A home of its own with three runs: tfidf, word2vec vectors, and wordvec on them."""
    from transferkit.cli import main

    folder = tmp_path_factory.mktemp("recorded")
    commands = {
        "tfidf": ["train", "--strategy", "tfidf", "--labels-per-class", "8"],
        "vectors": ["pretrain", "word2vec", "--corpus", review_corpus, "--dimension", 16, "--min-count", 1],
        "wordvec": ["train", "--strategy", "wordvec", "--vectors", folder / "vectors"],
    }
    data = ["--train", sentiment["train"], "--dev", sentiment["dev"], "--test", sentiment["test"]]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFERKIT_HOME", str(folder / "home"))
        for name, command in commands.items():
            try:
                main([str(a) for a in command + (data if command[0] == "train" else []) + ["--output", folder / name, "-q"]])
            except SystemExit as e:
                assert e.code in (0, None), name
    registry = folder / "home" / "runs.sqlite"
    return {"registry": registry, **{row["path"].rsplit("/", 1)[-1]: row for row in Registry(registry).rows()}}


def test_list_as_a_table_csv_and_json(cli, recorded):
    status, out, err = cli("runs", "list", "--registry", recorded["registry"])
    assert status == 0, err
    lines = out.splitlines()
    for name in ("tfidf", "vectors", "wordvec"):
        assert any(recorded[name]["id"] in line and name in line for line in lines)
    assert "pretrain word2vec" in out and "accuracy" in out
    status, out, _ = cli("runs", "list", "--registry", recorded["registry"], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == [recorded[name]["id"] for name in ("tfidf", "vectors", "wordvec")]
    assert rows[0]["budget"] == "8" and float(rows[0]["score"]) == recorded["tfidf"]["score"] and rows[1]["task"] == ""
    status, out, _ = cli("runs", "list", "--registry", recorded["registry"], "--format", "json", "--task", "classify")
    assert json.loads(out) == [recorded["tfidf"], recorded["wordvec"]]
    status, out, _ = cli("runs", "list", "--registry", recorded["registry"], "--format", "json", "--strategy", "wordvec", "--status", "finished")
    assert [row["id"] for row in json.loads(out)] == [recorded["wordvec"]["id"]]


def test_show_prints_the_whole_row(cli, recorded, monkeypatch):
    status, out, _ = cli("runs", "show", recorded["tfidf"]["id"][:6], "--registry", recorded["registry"])
    assert status == 0 and json.loads(out) == recorded["tfidf"]
    monkeypatch.chdir(recorded["registry"].parent.parent)
    status, out, _ = cli("runs", "show", "vectors", "--registry", recorded["registry"])  # a run directory
    assert json.loads(out)["kind"] == "pretrain word2vec"


def test_compare_puts_two_strategies_side_by_side(cli, recorded):
    tfidf, wordvec = recorded["tfidf"], recorded["wordvec"]
    refs = [tfidf["id"], wordvec["id"], "--registry", recorded["registry"]]
    status, out, err = cli("runs", "compare", *refs)
    assert status == 0, err
    [header] = [line for line in out.splitlines() if tfidf["id"] in line]
    assert header.index(tfidf["id"]) < header.index(wordvec["id"])
    [strategies] = [line for line in out.splitlines() if line.startswith("│ strategy ")]
    assert strategies.index("tfidf") < strategies.index("wordvec")

    status, out, _ = cli("runs", "compare", *refs, "--format", "csv")
    table = {line[0]: line[1:] for line in csv.reader(io.StringIO(out))}
    assert table[""] == [tfidf["id"], wordvec["id"]]
    assert table["strategy"] == ["tfidf", "wordvec"] and table["budget"] == ["8", ""]
    assert [float(v) for v in table["test/accuracy"]] == [tfidf["score"], wordvec["score"]]
    assert [float(v) for v in table["dev/macro_f1"]] == [tfidf["metrics"]["dev"]["macro_f1"], wordvec["metrics"]["dev"]["macro_f1"]]
    assert table["config: vectors"] == ["", str(recorded["registry"].parent.parent / "vectors")]
    assert table["config: strategy"] == ["tfidf", "wordvec"] and "config: seed" not in table and "config: output" not in table

    status, out, _ = cli("runs", "compare", *refs, "--format", "json")
    runs = json.loads(out)
    assert [run["id"] for run in runs] == [tfidf["id"], wordvec["id"]]
    assert runs[1]["test/accuracy"] == wordvec["score"] and runs[1]["train seconds"] == wordvec["train_seconds"]


def test_a_sweep_folder_names_its_registry(cli, recorded, tmp_path):
    sweep = tmp_path / "sweep"
    Registry(sweep / "runs.sqlite").put(recorded["tfidf"])
    status, out, _ = cli("runs", "list", "--registry", sweep, "--format", "json")
    assert status == 0 and json.loads(out) == [recorded["tfidf"]]


@pytest.mark.parametrize("args, expected", [
    (["list", "--registry", "{tmp}/none.sqlite"], "error: {tmp}/none.sqlite: no run registry here"),
    (["list"], "error: {home}/runs.sqlite: no run registry here"),
    (["show", "ffffff", "--registry", "{registry}"], "error: {registry}: no run 'ffffff' in this registry"),
    (["compare", "ffffff", "--registry", "{registry}"], "error: give at least two runs to compare"),
    (["list", "--registry", "{tmp}/bad.sqlite"], "error: {tmp}/bad.sqlite: is not a transferkit run registry"),
])
def test_errors_are_one_line_exit_2(cli, recorded, tmp_path, monkeypatch, args, expected):
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "empty-home"))
    (tmp_path / "bad.sqlite").write_text("not SQLite " * 200)
    names = {"tmp": tmp_path, "home": tmp_path / "empty-home", "registry": recorded["registry"]}
    status, out, err = cli("runs", *[a.format(**names) for a in args])
    assert status == 2 and out == "" and err.startswith(expected.format(**names)) and err.count("\n") == 1


def test_a_row_with_damaged_json_lists_with_a_warning(cli, recorded, tmp_path):
    import sqlite3

    path = tmp_path / "runs.sqlite"
    registry = Registry(path)
    for name in ("tfidf", "vectors"):
        registry.put(recorded[name])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET metrics = '{not json' WHERE id = ?", (recorded["tfidf"]["id"],))
    status, out, err = cli("runs", "list", "--registry", path, "--format", "json")
    assert status == 0, err
    rows = {row["id"]: row for row in json.loads(out)}
    assert rows[recorded["tfidf"]["id"]]["metrics"] is None and rows[recorded["vectors"]["id"]] == recorded["vectors"]
    assert f"warning: run {recorded['tfidf']['id']}: its metrics in the registry is not valid JSON" in err
    status, out, err = cli("runs", "show", recorded["tfidf"]["id"], "--registry", path)
    assert status == 0 and recorded["tfidf"]["id"] in out and "not valid JSON" in err


def test_a_registry_in_a_read_only_folder_lists(cli, recorded, tmp_path, monkeypatch):
    """Listing needs no write: a registry in a folder its reader may not write lists, and
    SQLite leaves no side files there (a WAL reader would create runs.sqlite-shm). Root
    writes anywhere whatever the modes say, so as root the folder is read-only as far as
    `os.access` tells (the check the registry makes)."""
    folder = tmp_path / "shared"
    Registry(folder / "runs.sqlite").put(recorded["tfidf"])
    for side in folder.glob("runs.sqlite-*"):
        side.unlink()
    (folder / "runs.sqlite").chmod(0o444)
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path).startswith(str(folder)) else real(path, mode, **kw))
    try:
        status, out, err = cli("runs", "list", "--registry", folder, "--format", "json")
        listed = sorted(p.name for p in folder.iterdir())
    finally:
        folder.chmod(0o755)
    assert status == 0, err
    assert json.loads(out) == [recorded["tfidf"]]
    assert listed == ["runs.sqlite"]
