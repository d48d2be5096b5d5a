"""`--track mlflow`: a finished run logged to a real MLflow store (a local folder), read
back with MLflow's own client; what would fail is refused before any training."""

import json
import sys

import pytest
import yaml

from transferkit.errors import UserError
from transferkit.tracking.mlflow_log import _key
from transferkit.tracking.registry import Registry, default_path


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 refuses a local folder without it
    return store


def test_a_tracked_run_is_in_mlflow_with_its_metrics_params_tags_and_files(cli, sentiment, tmp_path, file_store):
    from mlflow.tracking import MlflowClient

    run = tmp_path / "tracked-run"
    status, _, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--dev", sentiment["dev"],
                         "--test", sentiment["test"], "--track", "mlflow", "--output", run)
    assert status == 0, err
    assert "--track" not in err
    metrics = json.loads((run / "metrics.json").read_text())
    client = MlflowClient()
    experiment = client.get_experiment_by_name("transferkit")
    [logged] = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == "tracked-run" and logged.info.status == "FINISHED"
    assert logged.data.metrics["test/accuracy"] == metrics["test"]["accuracy"]
    assert logged.data.metrics["dev/per_class/positive/f1"] == metrics["dev"]["per_class"]["positive"]["f1"]
    assert logged.data.metrics["train/seconds"] == metrics["train"]["seconds"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert logged.data.params["strategy"] == "tfidf" and logged.data.params["seed"] == "0"
    assert logged.data.params["test"] == json.dumps(config["test"]) and set(logged.data.params) == set(config)
    row = Registry(default_path()).find(str(run))
    assert logged.data.tags["transferkit.id"] == row["id"] == metrics["run"]["id"]
    assert (logged.data.tags["task"], logged.data.tags["path"]) == ("classify", str(run))
    assert sorted(f.path for f in client.list_artifacts(logged.info.run_id)) == ["config.yaml", "metrics.json"]


def test_mlflow_missing_is_refused_before_training(cli, sentiment, tmp_path, file_store, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    status, _, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--track", "mlflow", "--output", tmp_path / "run")
    assert (status, err) == (2, "error: --track: mlflow is not installed; pip install 'transferkit[mlflow]'\n")
    assert not (tmp_path / "run").exists() and not file_store.exists()
    with pytest.raises(UserError, match="no run"):
        Registry(default_path()).find(str(tmp_path / "run"))


def test_a_store_mlflow_refuses_is_said_before_training(cli, sentiment, tmp_path, file_store, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    status, _, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--track", "mlflow", "--output", tmp_path / "run")
    assert status == 2 and err.startswith(f"error: --track: MLflow cannot use its tracking store {file_store.as_uri()}: ")
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


def test_a_run_mlflow_fails_to_take_is_kept_with_a_warning(cli, sentiment, tmp_path, file_store, monkeypatch):
    import transferkit.tracking.mlflow_log as mlflow_log

    def refuse(record):
        raise ConnectionError("the server went away")

    monkeypatch.setattr(mlflow_log, "log_run", refuse)
    status, _, err = cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--track", "mlflow", "--output", tmp_path / "run")
    assert status == 0
    assert err.splitlines()[-1] == f"warning: --track: the run at {(tmp_path / 'run').resolve()} could not be logged to MLflow: ConnectionError: the server went away"
    assert Registry(default_path()).find(str(tmp_path / "run"))["status"] == "finished"


def test_keys_are_made_acceptable_to_mlflow():
    assert _key("test/per_class/a:b c/f1") == "test/per_class/a_b c/f1"
    assert _key("test/per_class/../f1") == "test/per_class/_/f1"
    assert _key("dev/per_type/Ünïcode-ok.x/f1") == "dev/per_type/Ünïcode-ok.x/f1"
    assert len(_key("x" * 400)) == 250
