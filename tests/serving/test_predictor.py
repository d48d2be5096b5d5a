"""Run directories are checked when loaded: a damaged or tampered run fails with one
`error:` line naming the file (exit 2), never a traceback or predictions under the wrong
label names; and a run travels (it names offline models, its files are shareable)."""

import json
import os
import shutil
import stat

import pytest

from transferkit import api
from transferkit.config import TrainConfig
from transferkit.models.zoo import resolve_model


@pytest.fixture(scope="module")
def runs(sentiment, tmp_path_factory):
    """A tfidf run (a head.safetensors head) and a finetune run (a transformers model
    directory), trained once on the small sentiment files."""
    folder = tmp_path_factory.mktemp("runs")
    for strategy, extra in (("tfidf", {}), ("finetune", {"epochs": 1, "max_length": 16, "batch_size": 16})):
        api.train(TrainConfig(strategy=strategy, train=str(sentiment["train"]), output=str(folder / strategy), **extra))
    return folder


def _edit_info(run, **changes):
    path = run / "model" / "transferkit.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "invalid JSON": ("tfidf", lambda run: (run / "model" / "transferkit.json").write_text('{"task": "classify",'), "model/transferkit.json: not valid JSON (line 1"),
    "not an object": ("tfidf", lambda run: (run / "model" / "transferkit.json").write_text("[1, 2]"), "model/transferkit.json: not a JSON object"),
    "unknown task": ("tfidf", lambda run: _edit_info(run, task="translate"), "model/transferkit.json: unknown task 'translate'"),
    "unknown strategy": ("tfidf", lambda run: _edit_info(run, strategy="magic"), "model/transferkit.json: unknown strategy 'magic' for classify"),
    "wrong type": ("tfidf", lambda run: _edit_info(run, max_length="long"), "model/transferkit.json: 'max_length' is 'long'; it must be an integer"),
    "labels not strings": ("tfidf", lambda run: _edit_info(run, labels=[1, 2]), "'labels' must be a list of at least two label names"),
    "a label too many (linear head)": ("tfidf", lambda run: _edit_info(run, labels=["negative", "neutral", "positive"]), "lists 3 labels but the model's head (head.safetensors) has 2 outputs"),
    "truncated head": ("tfidf", lambda run: _truncate(run / "model" / "head.safetensors"), "model/head.safetensors: truncated or not a safetensors file"),
    "missing idf": ("tfidf", lambda run: (run / "model" / "idf.safetensors").unlink(), "model/idf.safetensors: missing"),
    "directory for a file": ("tfidf", lambda run: ((run / "model" / "vocabulary.json").unlink(), (run / "model" / "vocabulary.json").mkdir()), "model/vocabulary.json: not a regular file"),
    "missing config.yaml": ("tfidf", lambda run: (run / "config.yaml").unlink(), "config.yaml: missing"),
    "missing transferkit.json": ("tfidf", lambda run: (run / "model" / "transferkit.json").unlink(), "model/transferkit.json: missing"),
    "truncated weights": ("finetune", lambda run: _truncate(run / "model" / "model.safetensors"), "model/model.safetensors: truncated or not a safetensors file"),
    "missing weights": ("finetune", lambda run: (run / "model" / "model.safetensors").unlink(), "model/model.safetensors: missing"),
    "labels swapped": ("finetune", lambda run: _edit_info(run, labels=["positive", "negative"]), "its labels ['positive', 'negative'] are not the model's (config.json id2label: ['negative', 'positive'])"),
    "a label too many (transformers)": ("finetune", lambda run: _edit_info(run, labels=["negative", "neutral", "positive"]), "lists 3 labels but the model's head (config.json) has 2 outputs"),
    "damaged tokenizer": ("finetune", lambda run: (run / "model" / "tokenizer.json").write_text("{not json"), "model: cannot be loaded"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_run_is_one_line_naming_the_file(cli, runs, tmp_path, case):
    strategy, damage, expected = DAMAGE[case]
    run = tmp_path / "run"
    shutil.copytree(runs / strategy, run)
    damage(run)
    status, out, err = cli("predict", run, "a wonderful film")
    assert status == 2 and out == "", err
    assert err.count("\n") == 1 and err.startswith(f"error: {run}"), err
    assert expected in err and "the run directory is damaged; retrain it, or restore it from a copy" in err, err


def test_evaluate_checks_the_run_too(cli, runs, sentiment, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs / "finetune", run)
    _truncate(run / "model" / "model.safetensors")
    status, _, err = cli("evaluate", run, "--data", sentiment["test"])
    assert status == 2 and "model.safetensors: truncated" in err


def test_an_undamaged_copy_predicts(cli, runs, tmp_path):
    shutil.copytree(runs / "finetune", tmp_path / "run")
    status, out, err = cli("predict", tmp_path / "run", "a wonderful film")
    assert status == 0 and json.loads(out)["prediction"] in ("negative", "positive"), err


def test_a_features_run_names_its_offline_encoder_and_works_moved(cli, sentiment, tmp_path):
    status, _, err = cli("train", "--strategy", "features", "--train", sentiment["train"], "-o", tmp_path / "a")
    assert status == 0, err
    assert json.loads((tmp_path / "a" / "model" / "encoder.json").read_text())["encoder"] == "minilm"
    shutil.move(tmp_path / "a", tmp_path / "b")
    status, out, err = cli("predict", tmp_path / "b", "a wonderful film")
    assert status == 0 and json.loads(out)["prediction"] in ("negative", "positive"), err
    # a run written before, with the absolute path of the encoder, still loads where that path exists
    encoder = tmp_path / "b" / "model" / "encoder.json"
    encoder.write_text(json.dumps({**json.loads(encoder.read_text()), "encoder": resolve_model("minilm")}))
    assert cli("predict", tmp_path / "b", "a wonderful film")[0] == 0
    encoder.write_text(json.dumps({**json.loads(encoder.read_text()), "encoder": str(tmp_path / "gone")}))
    status, _, err = cli("predict", tmp_path / "b", "a wonderful film")
    assert status == 2 and f"encoder.json: refers to the model {tmp_path / 'gone'}, which is not on this machine" in err


@pytest.mark.parametrize("strategy", ["tfidf", "finetune"])
def test_run_files_have_the_modes_the_umask_allows(sentiment, tmp_path, strategy):
    previous = os.umask(0o027)
    try:
        api.train(TrainConfig(strategy=strategy, train=str(sentiment["train"]), output=str(tmp_path / "run"), epochs=1, max_length=16).only_applicable())
    finally:
        os.umask(previous)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "run", *(tmp_path / "run").rglob("*")]}
    assert any(name.endswith(".safetensors") for name in modes)  # the files safetensors writes privately
    assert modes == {name: 0o750 if (tmp_path / name).is_dir() else 0o640 for name in modes}
