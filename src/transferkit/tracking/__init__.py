"""Recording runs: every `train` and `pretrain` run gets a row in the home run registry
(`registry.py`), running from the moment its output is checked and locked, then finished
with its scores or failed with its error line; with `--track mlflow` a finished train run
is logged to MLflow too (`mlflow_log.py`).

Recording serves the runs and must never cost one: a registry that cannot be written (a
read-only home, a damaged file) is one `note:` line and the run goes on unrecorded, and a
finished run that MLflow cannot take is one `warning:` line (its directory is written).
Only what cannot work is refused, before training: `--track mlflow` without mlflow, or
with a tracking store it cannot use.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import yaml

from transferkit.errors import UserError, warn
from transferkit.progress import note
from transferkit.tracking.registry import Registry, default_path, failed, finished, new_record, now, train_fields, train_inputs


def error_line(error: BaseException) -> str:
    """A failed run's one error line: a UserError as the CLI prints it, anything else
    as `TypeName: message`."""
    text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}".rstrip(": ")
    return " ".join(text.split())


class RunTracking:
    """One run's row, from `start` (called once the output is checked and locked: a run
    refused for its output leaves the row of the run at that path untouched) to `finish`
    (after its directory is published) or `fail`."""

    def __init__(self, make_record: Callable[[], dict] | None, track: str = "none"):
        self.make_record = make_record
        self.track = track
        self.record: dict | None = None
        self.registry: Registry | None = None
        self.clock = 0.0

    def start(self) -> None:
        if self.make_record is None:  # not the recording process of a multi-process run
            return
        self.record, self.clock = self.make_record(), time.perf_counter()
        try:
            self.registry = Registry(default_path())
        except (UserError, OSError, sqlite3.Error) as e:
            self._unrecorded(e)
        self._store()

    def stamp(self) -> dict:
        """metrics.json's `run`: the row's id and times (with its sweep and cell, when it
        is a sweep's cell), so that the row can be rebuilt from the run directory alone."""
        record = self.record
        extra = {name: record[name] for name in ("sweep", "cell") if record[name] is not None}
        return {"id": record["id"], "started_at": record["started_at"], **self._times(), **extra}

    def finish(self) -> None:
        output = Path(self.record["path"])
        try:
            metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
            config = yaml.safe_load((output / "config.yaml").read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as e:
            return self._unrecorded(e)
        self.record = finished(self.record, metrics, config, None if "run" in metrics else self._times())
        self._store()
        if self.track == "mlflow":
            from transferkit.tracking.mlflow_log import log_run

            try:
                log_run(self.record)
            except Exception as e:  # the run is written; only its copy in MLflow is missing
                warn("--track", f"the run at {output} could not be logged to MLflow: {error_line(e)[:300]}")

    def fail(self, error: BaseException) -> None:
        self.record = failed(self.record, error_line(error), self._times())
        self._store()

    def _times(self) -> dict:
        return {"finished_at": now(), "seconds": round(time.perf_counter() - self.clock, 3)}

    def _store(self) -> None:
        if self.registry is None:
            return
        try:
            self.registry.put(self.record)
        except (UserError, OSError, sqlite3.Error) as e:
            self._unrecorded(e)

    def _unrecorded(self, error: Exception) -> None:
        reason = error.message if isinstance(error, UserError) else error_line(error)
        note(f"the run registry {default_path()} cannot be written ({reason}); this run is not recorded")
        self.registry = None


@contextmanager
def _tracked(run: RunTracking) -> Iterator[RunTracking]:
    try:
        yield run
    except BaseException as error:
        if run.record is not None:  # started: its output was checked
            run.fail(error)
        raise
    if run.record is not None:
        run.finish()


def track_train(cfg, extra: dict | None = None, *, auto: bool = False, enabled: bool = True):
    """A context manager around a train run (`cfg` resolved, its output set) yielding its
    `RunTracking`: call `start()` once the output is locked, `stamp()` for metrics.json;
    the row is finished when the block ends (after the directory is published) or failed
    with the error that ends it. `extra`: a sweep cell's `sweep` and `cell`; `auto`: the
    strategy was chosen by `--strategy auto`; `enabled` False: not the recording process."""
    if not enabled:
        return _tracked(RunTracking(None))
    if cfg.track == "mlflow":
        from transferkit.tracking.mlflow_log import check

        check()

    def make_record() -> dict:
        config = cfg.absolute_paths().yaml_data()
        return new_record("train", config, cfg.output, train_inputs(config), **train_fields(config, auto), **(extra or {}))

    return _tracked(RunTracking(make_record, cfg.track))


def track_pretrain(kind: str, cfg, model: str | None = None):
    """The same for `pretrain word2vec` / `pretrain mlm` (`kind`): its inputs are the corpus
    files (and the held-out corpus)."""

    def make_record() -> dict:
        config = cfg.absolute_paths().yaml_data()
        inputs = [*config["corpus"], config.get("eval_corpus")]
        return new_record(kind, config, cfg.output, inputs, model=model, seed=cfg.seed)

    return _tracked(RunTracking(make_record))
