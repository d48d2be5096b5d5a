"""`--track mlflow`: a finished train run logged to MLflow, at MLflow's own tracking URI
(`$MLFLOW_TRACKING_URI`), in the experiment `transferkit`.

One MLflow run per transferkit run, named after its run directory: the options of
config.yaml as params, every number under metrics.json's test, dev and train as a metric
(`test/accuracy`, `test/per_class/positive/f1`), tags naming the task, strategy, run
directory and registry id, and config.yaml and metrics.json as artifacts. MLflow is an
optional dependency; `check` is called when a run starts, so that a missing package or a
store MLflow refuses is said before any training, not after it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from transferkit.errors import UserError
from transferkit.tracking.registry import metric_leaves

EXPERIMENT = "transferkit"
SPLITS = ("test", "dev", "train")
# MLflow's limits (mlflow.utils.validation), kept here so that nothing is refused for its size
MAX_KEY, MAX_PARAM_VALUE, PARAMS_PER_BATCH, METRICS_PER_BATCH = 250, 6000, 100, 1000
NOT_IN_A_KEY = re.compile(r"[^\w./\- ]")  # MLflow's names: word characters, / . - and space


def _mlflow():
    try:
        import mlflow
        import mlflow.tracking
    except ImportError:
        raise UserError("--track", "mlflow is not installed; pip install 'transferkit[mlflow]'") from None
    return mlflow


def _experiment_id(client) -> str:
    """The id of the experiment `transferkit`, created if missing (by another process at
    the same time too)."""
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(EXPERIMENT)
    except Exception:  # created meanwhile by another run
        found = client.get_experiment_by_name(EXPERIMENT)
        if found is None:
            raise
        return found.experiment_id


def check() -> None:
    """Refuse `--track mlflow` before training where the run could not be logged at its
    end: mlflow missing, or a tracking store it cannot use (its default, sqlite:///mlflow.db,
    needs the full mlflow package; a local folder needs MLFLOW_ALLOW_FILE_STORE=true)."""
    mlflow = _mlflow()
    try:
        _experiment_id(mlflow.tracking.MlflowClient())
    except Exception as e:
        reason = " ".join(str(e).split())[:1000].rstrip(".")
        raise UserError("--track", f"MLflow cannot use its tracking store {mlflow.get_tracking_uri()}: {reason}; set MLFLOW_TRACKING_URI to a tracking server, or drop --track mlflow") from None


def log_run(record: dict) -> str:
    """Log a finished train run (its registry row) to MLflow; returns the MLflow run id."""
    from mlflow.entities import Metric, Param

    client = _mlflow().tracking.MlflowClient()
    run_dir = Path(record["path"])
    tags = {"task": record["task"], "strategy": record["strategy"], "path": str(run_dir), "transferkit.id": record["id"]}
    run = client.create_run(_experiment_id(client), start_time=_millis(record["started_at"]), tags=tags, run_name=run_dir.name)
    run_id = run.info.run_id
    try:
        params = [Param(_key(name), _param_value(value)) for name, value in record["config"].items()]
        for at in range(0, len(params), PARAMS_PER_BATCH):
            client.log_batch(run_id, params=params[at:at + PARAMS_PER_BATCH])
        ended = _millis(record["finished_at"])
        metrics = [Metric(_key(name), float(value), ended, 0) for name, value in metric_leaves(record["metrics"], SPLITS).items()]
        for at in range(0, len(metrics), METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[at:at + METRICS_PER_BATCH])
        for name in ("config.yaml", "metrics.json"):
            client.log_artifact(run_id, str(run_dir / name))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED", end_time=ended)
    return run_id


def _key(name: str) -> str:
    """`name` as MLflow accepts it: its characters, no empty or dot-only part, its length."""
    parts = [NOT_IN_A_KEY.sub("_", part) for part in name.split("/")]
    return "/".join(part if part.strip(".") else "_" for part in parts)[:MAX_KEY]


def _param_value(value) -> str:
    return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))[:MAX_PARAM_VALUE]


def _millis(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)
