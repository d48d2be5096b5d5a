"""`transferkit export --format onnx`: the export is checked against PyTorch and written
atomically, and predict / evaluate read it on onnxruntime with the same records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from transferkit import api
from transferkit.tasks import get_task


@pytest.fixture(scope="module")
def classify_export(classify_run, tmp_path_factory):
    from transferkit.serving.export import export_onnx

    out = tmp_path_factory.mktemp("exports") / "classify-onnx"
    export_onnx(str(classify_run), str(out))
    return out


def records_close(ours: list[dict], theirs: list[dict], fields: tuple[str, ...], tolerance: float = 1e-3) -> None:
    assert [{k: r[k] for k in fields} for r in ours] == [{k: r[k] for k in fields} for r in theirs]
    assert all(abs(a["score"] - b["score"]) < tolerance for a, b in zip(ours, theirs))


def test_classify_export_is_checked_and_predicts_like_the_run(classify_run, classify_export, sentiment):
    report = json.loads((classify_export / "export.json").read_text())
    assert report["check"]["agreement"] == 1.0 and report["check"]["unit"] == "examples"
    assert report["check"]["compared"] == 20  # the run's test file
    assert 0 <= report["check"]["max_logit_difference"] < 1e-3
    assert report["fused_operators"].get("Attention") == 6  # one fused attention per MiniLM layer
    texts = ["a brilliant and moving film", "dull, tedious and awful", "the plot was gripping"]
    records_close(api.predict(str(classify_export), texts), api.predict(str(classify_run), texts), ("id", "text", "prediction"))
    ours = api.evaluate(str(classify_export), str(sentiment["test"]))
    theirs = api.evaluate(str(classify_run), str(sentiment["test"]))
    assert ours["accuracy"] == theirs["accuracy"] and ours["examples"] == theirs["examples"] == 20


def test_an_export_cannot_explain(classify_export, cli):
    status, _, err = cli("predict", classify_export, "a superb film", "--explain")
    assert status == 2 and "ONNX export cannot give" in err and "explain with the torch run" in err


def test_int8_export_is_smaller_and_agrees(classify_run, classify_export, tmp_path, cli):
    # the small run's probabilities sit near 0.5, where int8 rounding flips a few: its
    # agreement is no measure of int8 (bench/inference.py measures that on SST-2)
    status, out, err = cli("export", classify_run, "--format", "onnx", "--quantize", "int8", "--output", tmp_path / "int8", "--min-agreement", "0.5")
    assert status == 0, err
    report = json.loads((tmp_path / "int8" / "export.json").read_text())
    assert report["quantize"] == "int8" and report["check"]["agreement"] >= 0.5
    assert 0 < report["check"]["max_logit_difference"] < 0.2
    fp32 = json.loads((classify_export / "export.json").read_text())["onnx_bytes"]
    assert report["onnx_bytes"] < fp32 / 2.5  # int8 weights: a quarter, plus the float embeddings' share
    status, out, err = cli("predict", tmp_path / "int8", "a wonderful story")
    assert status == 0 and json.loads(out)["prediction"] in ("positive", "negative")


def test_predicting_an_export_imports_no_torch(classify_export):
    code = (
        "import sys; from transferkit import api; "
        f"r = api.predict({str(classify_export)!r}, ['a superb film']); "
        "print(r[0]['prediction'], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False", "the ONNX runtime must start without importing torch"


@pytest.mark.parametrize("task", ["ner", "qa"])
def test_ner_and_qa_exports_agree(task, ner_run, qa_run, ner_files, qa_files, tmp_path):
    from transferkit.serving.export import export_onnx

    run = {"ner": ner_run, "qa": qa_run}[task]
    report = export_onnx(str(run), str(tmp_path / "onnx"))
    assert report["check"]["agreement"] == 1.0 and report["check"]["max_logit_difference"] < 1e-3
    assert report["check"]["unit"] == {"ner": "words", "qa": "answers"}[task]
    if task == "ner":
        texts = ["John Smith lives in Paris .", "Siemens opened an office in Tokyo ."]
        ours, theirs = api.predict(str(tmp_path / "onnx"), texts), api.predict(str(run), texts)
        assert [r["tags"] for r in ours] == [r["tags"] for r in theirs]
        data = ner_files["test"]
    else:
        context = "Mary Jones lives in Berlin. Peter Blackburn works for Reuters in Rome."
        ours = api.predict(str(tmp_path / "onnx"), ["Where does Mary Jones live?"], context=context)
        theirs = api.predict(str(run), ["Where does Mary Jones live?"], context=context)
        assert [(r["answer"], r["start"]) for r in ours] == [(r["answer"], r["start"]) for r in theirs]
        data = qa_files["test"]
    ours, theirs = api.evaluate(str(tmp_path / "onnx"), str(data)), api.evaluate(str(run), str(data))
    assert ours[get_task(task).primary_metric] == pytest.approx(theirs[get_task(task).primary_metric])


def test_poor_agreement_fails_and_writes_nothing(classify_run, tmp_path, monkeypatch, cli):
    from transferkit.serving import export

    monkeypatch.setattr(export, "compare", lambda *a: {"max_logit_difference": 3.0, "agreement": 0.5, "unit": "examples", "compared": 20})
    status, out, err = cli("export", classify_run, "--format", "onnx", "--output", tmp_path / "bad")
    assert status == 2 and err.startswith("error: ") and "agrees with the PyTorch model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))


def test_export_refusals(classify_run, classify_export, sentiment, tmp_path, cli):
    status, _, err = cli("train", "--task", "classify", "--strategy", "tfidf", "--train", sentiment["train"], "--output", tmp_path / "tfidf")
    assert status == 0, err
    status, _, err = cli("export", tmp_path / "tfidf", "--format", "onnx", "--output", tmp_path / "x")
    assert status == 2 and "no transformers head to export" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my data")
    status, _, err = cli("export", classify_run, "--format", "onnx", "--output", tmp_path / "mine", "--overwrite")
    assert status == 2 and (tmp_path / "mine" / "notes.txt").read_text() == "my data"
    status, _, err = cli("predict", classify_run, "--runtime", "onnx", "text")
    assert status == 2 and "export it first" in err
    status, _, err = cli("predict", classify_export, "--runtime", "torch", "text")
    assert status == 2 and "is an ONNX export" in err
    status, _, err = cli("predict", tmp_path / "tfidf", "--runtime", "onnx", "text")  # not "export it first": it cannot be
    assert status == 2 and err == f"error: {tmp_path / 'tfidf'}: a classify tfidf run has no transformers head to export, so --runtime onnx does not apply to it; give --runtime auto (or torch)\n"


def test_export_of_an_export_or_of_weights_predict_refuses_is_one_line(classify_run, classify_export, tmp_path, cli):
    import torch
    from safetensors.torch import load_file

    status, out, err = cli("export", classify_export, "--format", "onnx", "--output", tmp_path / "again")
    assert (status, out) == (2, "") and err == f"error: {classify_export}: is already an ONNX export; export the run it was exported from (its export.json names it as \"source\")\n"
    run = tmp_path / "bin-run"
    shutil.copytree(classify_run, run)
    torch.save(load_file(run / "model" / "model.safetensors"), run / "model" / "pytorch_model.bin")
    (run / "model" / "model.safetensors").unlink()
    _, _, predicted = cli("predict", run, "a fine film")
    status, out, err = cli("export", run, "--format", "onnx", "--output", tmp_path / "x")
    assert (status, out) == (2, "") and err == predicted and err.startswith(f"error: {run / 'model' / 'model.safetensors'}: missing;") and err.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".x", "x", ".again", "again"))]


def test_messages_name_what_is_missing_or_does_not_apply(classify_run, classify_export, tmp_path, cli):
    status, _, err = cli("export", classify_run, "--format", "onnx", "--output", tmp_path / "x", "--data", tmp_path / "nope.csv")
    assert status == 2 and err.startswith(f"error: {tmp_path / 'nope.csv'}: ") and "not found" in err and not (tmp_path / "x").exists()
    export = tmp_path / "export"
    shutil.copytree(classify_export, export)
    (export / "model" / "model.onnx").unlink()
    status, _, err = cli("predict", export, "a fine film")
    assert status == 2 and err.startswith(f"error: {export / 'model' / 'model.onnx'}: missing; the run directory is damaged"), err
