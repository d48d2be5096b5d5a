"""`transferkit distill`: a MiniLM student taught by a tfidf teacher (a teacher with no
tokenizer at all, so the student can only learn from the texts), its run read as any
run, the teacher's labelled texts drawn as its run drew them, the labelling in worker
processes, the loss, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from conftest import sentiment_rows


def tfidf_run(output: Path, train: Path, **options) -> Path:
    from transferkit import api
    from transferkit.config import TrainConfig

    api.train(TrainConfig(strategy="tfidf", train=str(train), output=str(output), **options))
    return output


@pytest.fixture(scope="module")
def teacher(sentiment, tmp_path_factory) -> Path:
    return tfidf_run(tmp_path_factory.mktemp("teacher") / "run", sentiment["train"], dev=str(sentiment["dev"]), test=str(sentiment["test"]))


def texts_of(path: Path) -> list[str]:
    from transferkit.data.classification import read_split

    return read_split(str(path)).texts


@pytest.fixture(scope="module")
def pool_texts(sentiment) -> list[str]:
    """Unlabelled review sentences, each once and in no labelled file."""
    labelled = {text for split in ("train", "dev", "test") for text in texts_of(sentiment[split])}
    return [text for text in dict.fromkeys(text for text, _ in sentiment_rows(40, seed=9)) if text not in labelled][:40]


def test_a_student_learns_a_tfidf_teacher_and_is_an_ordinary_run(cli, teacher, sentiment, pool_texts, tmp_path):
    train, dev, test = (texts_of(sentiment[split]) for split in ("train", "dev", "test"))
    test_text = next(text for text in test if text not in train + dev)
    train_text = next(text for text in train if text not in test + dev)
    pool = tmp_path / "pool.txt"
    pool.write_text("".join(f"{text}\n" for text in [*pool_texts, pool_texts[0], pool_texts[1], test_text, train_text]))
    out = tmp_path / "student"
    status, stdout, err = cli("distill", teacher, "--unlabeled", pool, "--dev", sentiment["dev"], "--test", sentiment["test"],
                              "--output", out, "--max-steps", 15, "--lr", 3e-4, "--batch-size", 16, "--max-length", 24)
    assert status == 0, err
    assert f"warning: {pool}: 2 texts occur more than once; each is learned once" in err
    in_test = test.count(test_text)
    assert f"warning: {sentiment['test']}: {in_test} of its 20 examples also occur in the unlabelled pool ({pool})" in err
    summary = json.loads(stdout)
    assert summary["teacher"]["strategy"] == "tfidf" and summary["texts"] == {"labelled": 48, "unlabelled": len(pool_texts) + 1}

    metrics = json.loads((out / "metrics.json").read_text())
    distilled = metrics["distill"]
    assert distilled["teacher"]["run"] == str(teacher.resolve()) and distilled["teacher"]["model"] is None
    assert distilled["teacher"]["test"]["accuracy"] == json.loads((teacher / "metrics.json").read_text())["test"]["accuracy"]
    assert distilled["pool"] == {"file": str(pool), "texts": len(pool_texts) + 4, "duplicates": 2, "training_texts": 1, "used": len(pool_texts) + 1}
    assert distilled["loss"]["temperature"] == 2.0 and distilled["loss"]["labels_weight"] == 0.5
    assert metrics["data"]["overlap_with_pool"] == {"dev": 0, "test": in_test}
    assert metrics["model"] == "minilm" and metrics["train"]["seconds"] > 0 and metrics["test"]["accuracy"] > 0.5
    assert yaml.safe_load((out / "config.yaml").read_text())["strategy"] == "finetune"
    assert yaml.safe_load((out / "distill.yaml").read_text())["teacher"] == str(teacher.resolve())

    status, stdout, err = cli("predict", out, *pool_texts)
    assert status == 0, err
    student = [json.loads(line)["prediction"] for line in stdout.splitlines()]
    taught = [json.loads(line)["prediction"] for line in cli("predict", teacher, *pool_texts)[1].splitlines()]
    assert np.mean([s == t for s, t in zip(student, taught)]) >= 0.8
    status, stdout, err = cli("evaluate", out, "--data", sentiment["test"])
    assert status == 0 and json.loads(stdout)["examples"] == 20, err

    from transformers import pipeline

    assert pipeline("text-classification", model=str(out / "model"))("a wonderful film")[0]["label"] in ("negative", "positive")


def test_the_teachers_labelled_texts_are_drawn_as_its_run_drew_them(sentiment, tmp_path):
    from transferkit.data.classification import label_set, read_split
    from transferkit.data.sampling import sample_per_class
    from transferkit.distill.teacher import Teacher

    run = tfidf_run(tmp_path / "teacher", sentiment["train"], labels_per_class=5, seed=3)
    data = Teacher.open(str(run)).data(str(sentiment["dev"]), [])
    train = read_split(str(sentiment["train"]))
    assert data.train.texts == sample_per_class(train, 5, 3, label_set(train)).texts and len(data.train) == 10
    assert len(data.dev) == 16 and data.tests == {}


def test_labelling_in_two_worker_processes_gives_the_probabilities_of_this_one(teacher, pool_texts):
    from transferkit.distill.teacher import shards, teacher_probabilities
    from transferkit.experiments.executors import LocalExecutor
    from transferkit.serving.predictor import load_predictor

    model_dir = str(teacher / "model")
    assert len(shards(model_dir, pool_texts, "cpu", 2)) == 2
    here = load_predictor(Path(model_dir), device="cpu").predict_proba(pool_texts)
    np.testing.assert_allclose(teacher_probabilities(model_dir, pool_texts, LocalExecutor(2), "cpu"), here, atol=1e-6)


def test_the_loss_is_the_softened_kl_and_the_gold_cross_entropy_per_text():
    import torch

    from transferkit.distill.student import distillation_loss, soft_targets
    from transferkit.training.batching import IGNORE

    probabilities = np.array([[0.7, 0.3], [0.2, 0.8]], dtype=np.float32)
    student = lambda **inputs: SimpleNamespace(logits=torch.log(torch.from_numpy(probabilities)))  # noqa: E731  the teacher's own
    batch = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "index": torch.tensor([0, 1]), "labels": torch.tensor([IGNORE, 1])}
    targets = soft_targets(probabilities, 2.0)
    assert float(distillation_loss(targets, 2.0, 0.0)(student, batch)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(targets, 2.0, 0.5)(student, batch)) == pytest.approx(0.5 * -np.log(0.8) / 2, rel=1e-5)
    sharper = lambda **inputs: SimpleNamespace(logits=2 * torch.log(torch.from_numpy(probabilities)))  # noqa: E731
    assert float(distillation_loss(targets, 2.0, 0.0)(sharper, batch)) > 0.01


def fake_ner_run(folder: Path) -> Path:
    (folder / "model").mkdir(parents=True)
    info = {"task": "ner", "strategy": "finetune", "labels": ["O", "B-PER", "I-PER"], "max_length": 32, "stride": 8}
    (folder / "model" / "transferkit.json").write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize("case", ["ner teacher", "multi-label teacher", "pair teacher", "distilled teacher", "no run", "damaged run",
                                  "no weights", "no training file", "empty pool", "pool of training texts", "no pool", "output exists",
                                  "ray address"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, teacher, sentiment, tmp_path, case):
    run, pool, out = tmp_path / "teacher", tmp_path / "pool.txt", tmp_path / "student"
    shutil.copytree(teacher, run)
    pool.write_text("a film i will watch again\n")
    args = []
    expected = {
        "ner teacher": (str(run), "a ner run has no classifier to teach with; give a classify run"),
        "multi-label teacher": (str(run), "a multi-label run"),
        "pair teacher": (str(run), "the teacher reads sentence pairs"),
        "distilled teacher": (str(run), "has no training file of its own (a distilled student?)"),
        "no run": (str(tmp_path / "nothing"), "not a transferkit run directory"),
        "damaged run": (str(run / "model" / "transferkit.json"), "not valid JSON"),
        "no weights": (str(run / "model" / "head.safetensors"), "missing; the run directory is damaged"),
        "no training file": (str(tmp_path / "train.csv"), "the teacher's training file"),
        "empty pool": (f"{pool}:1", "the corpus file has no text"),
        "pool of training texts": (str(pool), "every text in it is one of the labelled training texts"),
        "no pool": ("--unlabeled", "missing"),
        "output exists": (str(out), "already exists"),
        "ray address": ("--ray-address", "applies to --executor ray, not local"),
    }[case]
    if case == "ner teacher":
        shutil.rmtree(run)
        fake_ner_run(run)
    elif case == "multi-label teacher":
        info = json.loads((run / "model" / "transferkit.json").read_text())
        (run / "model" / "transferkit.json").write_text(json.dumps({**info, "multi_label": True}))
    elif case in ("pair teacher", "distilled teacher"):
        config = yaml.safe_load((run / "config.yaml").read_text())
        config.update({"text_pair_column": "second"} if case == "pair teacher" else {"train": None})
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    elif case == "damaged run":
        (run / "model" / "transferkit.json").write_text("{")
    elif case == "no weights":
        (run / "model" / "head.safetensors").unlink()
    elif case == "no training file":
        train = shutil.copy(sentiment["train"], tmp_path / "train.csv")
        tfidf_run(run, Path(train), overwrite=True)
        Path(train).unlink()
    elif case == "empty pool":
        pool.write_text("\n  \n")
    elif case == "pool of training texts":
        pool.write_text("".join(f"{text}\n" for text in dict.fromkeys(texts_of(sentiment["train"]))))
    elif case == "output exists":
        out.mkdir()
        (out / "mine.txt").write_text("keep")
    elif case == "ray address":
        args = ["--ray-address", "auto"]
    if case != "no pool":
        args += ["--unlabeled", pool]
    before = sorted(tmp_path.iterdir())
    status, stdout, err = cli("distill", run if case != "no run" else tmp_path / "nothing", "--output", out, *args)
    assert status == 2 and stdout == "" and err.count("\n") == 1 and err.startswith(f"error: {expected[0]}: "), err
    assert expected[1] in err, err
    assert sorted(tmp_path.iterdir()) == before and (case != "output exists" or (out / "mine.txt").read_text() == "keep")
