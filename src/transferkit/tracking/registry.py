"""The run registry: one row per run (train and pretrain) in one SQLite file, so that runs
can be listed, found and compared without walking folders.

Every run is recorded in the home registry, `$TRANSFERKIT_HOME/runs.sqlite` (default
`~/.transferkit/runs.sqlite`); a sweep keeps a copy of its own cells' rows in its folder.
A row is keyed on the run directory's absolute path: a new run at the same path replaces
the row of the one before. Several processes may write one registry at once (parallel
runs, a sweep's workers on one machine): the file is in WAL mode, a writer waits up to
`BUSY_SECONDS` for another's lock, and every write is one short `BEGIN IMMEDIATE`
transaction. (WAL needs shared memory between the writers, so the file belongs on a local
disk: a sweep's workers on other machines never write it, its driver does.)

A row is a plain dict (`COLUMNS`); its dict columns (config, metrics, versions) are stored
as JSON text and decoded on read.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import yaml

from transferkit.config import test_sets
from transferkit.errors import UserError, warn
from transferkit.rundir import library_versions
from transferkit.serving.run_files import damaged, read_json, require_file

FILE_NAME = "runs.sqlite"
BUSY_SECONDS = 30.0
# The test metric each task's runs are judged by: the tasks' own `primary_metric`, kept
# here as plain names so the registry (and `transferkit runs`) imports no task, no torch.
PRIMARY_METRIC = {"classify": "accuracy", "ner": "f1", "qa": "f1", "lm": "perplexity"}

COLUMNS = {  # name: SQLite type; in this order in a row
    "id": "TEXT NOT NULL",
    "path": "TEXT PRIMARY KEY",
    "kind": "TEXT NOT NULL",
    "status": "TEXT NOT NULL",
    "error": "TEXT",
    "task": "TEXT",
    "strategy": "TEXT",
    "requested": "TEXT",
    "model": "TEXT",
    "budget": "INTEGER",
    "seed": "INTEGER",
    "config": "TEXT",
    "config_hash": "TEXT",
    "data_fingerprint": "TEXT",
    "metrics": "TEXT",
    "primary_metric": "TEXT",
    "score": "REAL",
    "labelled_examples": "INTEGER",
    "train_seconds": "REAL",
    "started_at": "TEXT NOT NULL",
    "finished_at": "TEXT",
    "seconds": "REAL",
    "versions": "TEXT",
    "sweep": "TEXT",
    "cell": "TEXT",
}
JSON_COLUMNS = ("config", "metrics", "versions")
FILTERS = ("task", "strategy", "status", "sweep")


def open_registry(where: str | Path | None = None) -> Registry:
    """An existing registry to read: a .sqlite file, a sweep's folder (its runs.sqlite), or
    by default the home registry."""
    path = Path(where).expanduser() if where else default_path()
    return Registry(path / FILE_NAME if path.is_dir() else path, create=False)


def home() -> Path:
    """transferkit's own folder: `$TRANSFERKIT_HOME`, else `~/.transferkit`."""
    return Path(os.environ.get("TRANSFERKIT_HOME") or Path.home() / ".transferkit").expanduser()


def default_path() -> Path:
    """The home registry, where every run is recorded."""
    return home() / FILE_NAME


def now() -> str:
    """The time as the registry writes it: ISO 8601, UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def seconds_since(started_at: str) -> float:
    return (datetime.now(timezone.utc) - datetime.fromisoformat(started_at)).total_seconds()


class Registry:
    """One registry file, created (with its folders) on first use unless `create` is
    False (reading: a missing file is then the one-line error)."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(str(self.path), "no run registry here; give a runs.sqlite file or a sweep's folder, or train a run first")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._transaction() as db:
                db.execute(f"CREATE TABLE IF NOT EXISTS runs ({', '.join(f'{n} {t}' for n, t in COLUMNS.items())})")
        with self._transaction(write=False) as db:
            found = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        if found != list(COLUMNS):
            raise UserError(str(self.path), "is not a transferkit run registry (its runs table has other columns); give another --registry")

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; a write holds the write lock from its start (BEGIN IMMEDIATE),
        so that two writers never both read and then both write, and waits for another
        writer's lock up to BUSY_SECONDS. A read only reads (a registry one may not write
        lists too). A file that is not SQLite is the one-line error."""
        try:
            with closing(self._connect(write)) as db:
                if write:
                    _use_wal(db)
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            what = "is not a transferkit run registry" if "not a database" in str(e) else "cannot be used as the run registry"
            raise UserError(str(self.path), f"{what} ({e}); give another --registry") from None

    def _connect(self, write: bool) -> sqlite3.Connection:
        """A connection; a read of a registry this process may not write (a read-only
        folder or file) opens it immutable, since SQLite would otherwise try to create its
        WAL side files there and fail, though listing needs no write."""
        if write or (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            return sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)

    def put(self, record: dict) -> None:
        """Insert a row, or replace the row at its path."""
        values = [_stored(name, record.get(name)) for name in COLUMNS]
        with self._transaction() as db:
            db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(COLUMNS))})", values)

    def start(self, record: dict) -> None:
        self.put({**record, "status": "running"})

    def finish(self, path: str | Path, metrics: dict, config: dict | None = None) -> dict:
        """The row at `path`, finished with `metrics` (and the options it ended with)."""
        return self._update(path, lambda row: finished(row, metrics, config))

    def fail(self, path: str | Path, error: str) -> dict:
        return self._update(path, lambda row: failed(row, error))

    def _update(self, path: str | Path, change) -> dict:
        key = _key(path)
        with self._transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE path = ?", (key,)).fetchone()
            if row is None:
                raise UserError(str(self.path), f"no run at {key} in this registry")
            record = change(_decoded(row))
            db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(COLUMNS))})", [_stored(n, record[n]) for n in COLUMNS])
        return record

    def rows(self, task: str | None = None, strategy: str | None = None, status: str | None = None, sweep: str | None = None) -> list[dict]:
        """The rows, oldest first, with the given column values only."""
        given = {name: value for name, value in zip(FILTERS, (task, strategy, status, sweep)) if value is not None}
        where = " AND ".join(f"{name} = ?" for name in given) or "1"
        with self._transaction(write=False) as db:
            rows = db.execute(f"SELECT * FROM runs WHERE {where} ORDER BY started_at, rowid", list(given.values())).fetchall()
        return [_decoded(row) for row in rows]

    def find(self, ref: str) -> dict:
        """The row named by `ref`: its id, a prefix of one id only, or its run directory."""
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT * FROM runs WHERE id = ? OR path = ?", (ref, _key(ref))).fetchall()
            if not rows:
                rows = db.execute("SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\'", (_like_prefix(ref),)).fetchall()
        if len(rows) > 1:
            ids = ", ".join(sorted(row[0] for row in rows)[:5])
            raise UserError(str(self.path), f"{ref!r} names {len(rows)} runs ({ids}); give more of the id")
        if not rows:
            raise UserError(str(self.path), f"no run {ref!r} in this registry (an id, a prefix of one, or a run directory); `transferkit runs list` shows them")
        return _decoded(rows[0])


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL mode once. The switch needs the file to itself, and SQLite
    answers "database is locked" at once, without its busy wait, while another process
    holds it (two processes creating one registry at the same moment): so wait here."""
    deadline = time.monotonic() + BUSY_SECONDS
    while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _key(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def _like_prefix(ref: str) -> str:
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if ref else "\\%"  # an empty ref names nothing


def _stored(name: str, value):
    return json.dumps(value, ensure_ascii=False) if name in JSON_COLUMNS and value is not None else value


def _decoded(row: tuple) -> dict:
    """A row as a record; a JSON column damaged outside transferkit (an edit, a bad disk) is
    read as missing, with a warning naming the run, so the other rows still list."""
    record = dict(zip(COLUMNS, row))
    for name in JSON_COLUMNS:
        if record[name] is not None:
            try:
                record[name] = json.loads(record[name])
            except (TypeError, ValueError):
                warn(f"run {record['id']}", f"its {name} in the registry is not valid JSON (damaged); shown without it")
                record[name] = None
    return record


def config_hash(config: dict) -> str:
    """The options of a run, without where it was written: equal for two runs of the same
    options (json.dumps sorted, so the order of the keys does not count)."""
    shown = {k: v for k, v in config.items() if k != "output"}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def data_fingerprint(inputs: Iterable[str | Path | None]) -> str | None:
    """sha256 over the contents of the input files, in order (each preceded by its size, so
    that two files never read as their concatenation). Missing inputs, folders and names
    that are no files (a model's name) are left out; None when no file is left, or when one
    cannot be read (its reader says why, as the run reads it)."""
    digest, any_file = hashlib.sha256(), False
    for source in inputs:
        if source is None or not Path(source).expanduser().is_file():
            continue
        path = Path(source).expanduser()
        try:
            with path.open("rb") as f:
                digest.update(os.fstat(f.fileno()).st_size.to_bytes(8, "big"))
                while block := f.read(1 << 20):
                    digest.update(block)
        except OSError:
            return None
        any_file = True
    return digest.hexdigest() if any_file else None


def new_record(kind: str, config: dict, output: str | Path, inputs: Iterable[str | Path | None], *, task: str | None = None,
               strategy: str | None = None, requested: str | None = None, model: str | None = None, budget: int | None = None,
               seed: int | None = None, sweep: str | None = None, cell: str | None = None) -> dict:
    """The row of a run starting now at `output` (status running)."""
    return {
        "id": secrets.token_hex(6),
        "path": _key(output),
        "kind": kind,
        "status": "running",
        "error": None,
        "task": task,
        "strategy": strategy,
        "requested": requested,
        "model": model,
        "budget": budget,
        "seed": seed,
        "config": config,
        "config_hash": config_hash(config),
        "data_fingerprint": data_fingerprint(inputs),
        "metrics": None,
        "primary_metric": PRIMARY_METRIC.get(task),
        "score": None,
        "labelled_examples": None,
        "train_seconds": None,
        "started_at": now(),
        "finished_at": None,
        "seconds": None,
        "versions": library_versions(),
        "sweep": None if sweep is None else _key(sweep),
        "cell": cell,
    }


def train_fields(config: dict, auto: bool) -> dict:
    """The keyword arguments of `new_record` that a train run's config.yaml gives; `auto`:
    the strategy was chosen by `--strategy auto`."""
    task = config["task"]
    return {
        "task": task,
        "strategy": config["strategy"],
        "requested": "auto" if auto else config["strategy"],
        "model": config.get("model"),  # config.yaml holds it only for the strategies that read one
        "budget": config.get("labels_per_class" if task == "classify" else "train_examples"),
        "seed": config.get("seed"),
    }


def train_inputs(config: dict) -> list[str | None]:
    """The data files of a train run whose contents make its fingerprint: train, dev, each test."""
    return [config.get("train"), config.get("dev"), *(path for _, path in test_sets(config.get("test") or []))]


def finished(record: dict, metrics: dict, config: dict | None = None, times: dict | None = None) -> dict:
    """`record` finished: the scores of `metrics`, the options it ended with (`config`: what
    the run resolved), and its times: `times` or a train run's `metrics["run"]` (each with
    finished_at and seconds), else now."""
    stamp = times or metrics.get("run") or {}
    finished_at = stamp.get("finished_at") or now()
    train = metrics.get("train") or {}
    test = metrics.get("test")
    primary = record["primary_metric"]
    score = test.get(primary) if isinstance(test, dict) and primary else None
    config = record["config"] if config is None else config
    return {
        **record,
        "status": "finished",
        "error": None,
        "config": config,
        "config_hash": config_hash(config),
        "metrics": metrics,
        "score": score if isinstance(score, (int, float)) and not isinstance(score, bool) else None,  # named test sets: a dict each
        "labelled_examples": train.get("labelled_examples"),
        "train_seconds": train.get("seconds"),
        "finished_at": finished_at,
        "seconds": stamp.get("seconds", seconds_since(record["started_at"])),
    }


def metric_leaves(metrics: dict | None, splits: Iterable[str] = ("test", "dev", "train")) -> dict[str, float]:
    """Every number under the given parts of metrics.json, by its path (`test/accuracy`,
    `test/per_class/positive/f1`; named test sets `test/de/f1`)."""
    return {
        name: value for split in splits
        for name, value in _leaves((metrics or {}).get(split), split)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _leaves(value, prefix: str):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}/{key}")
    else:
        yield prefix, value


def failed(record: dict, error: str, times: dict | None = None) -> dict:
    times = times or {"finished_at": now(), "seconds": seconds_since(record["started_at"])}
    return {**record, "status": "failed", "error": error, "finished_at": times["finished_at"], "seconds": times["seconds"]}


def record_of_run(run_dir: str | Path) -> dict:
    """The finished row of a train run, rebuilt from its directory alone (config.yaml and
    metrics.json): what `train` recorded for it, for a registry that did not see the run
    (a sweep's copy)."""
    run = Path(run_dir)
    metrics = read_json(run / "metrics.json")
    try:
        config = yaml.safe_load(require_file(run / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise damaged(run / "config.yaml", f"cannot be read ({e.__class__.__name__})") from None
    if not isinstance(config, dict) or "task" not in config or not isinstance(metrics, dict):
        raise UserError(str(run), "is not a train run (its config.yaml names no task)")
    stamp = metrics.get("run")
    if not isinstance(stamp, dict):  # a run of a transferkit before the registry: an id from its path, times from its files
        written = datetime.fromtimestamp((run / "metrics.json").stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        stamp = {"id": hashlib.sha256(str(run.resolve()).encode()).hexdigest()[:12], "started_at": written, "finished_at": written, "seconds": None}
    record = new_record("train", config, run, train_inputs(config), **train_fields(config, "auto" in metrics),
                        sweep=stamp.get("sweep"), cell=stamp.get("cell"))
    record.update(id=stamp["id"], started_at=stamp["started_at"], versions=metrics.get("versions") or record["versions"])
    return finished(record, metrics, times=stamp)
