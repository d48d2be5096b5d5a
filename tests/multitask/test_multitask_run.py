"""`transferkit multitask` end to end on the small fixtures: a classify head and an ner head
trained together on one minilm encoder, each written as a run directory that `predict` and
`evaluate` read as any other; the encoder really shared; an interrupted run resumed."""

import json
import os

import pytest
from safetensors.torch import load_file

from transferkit.config import TrainConfig
from transferkit.multitask.config import MultiTaskConfig

HEADS = ("sentiment", "entities")
TIMINGS = ("seconds", "samples_per_second", "tokens_per_second", "mfu", "warmup_steps", "warmup_seconds", "train_seconds")


def write_yaml(folder, sentiment, ner_files):
    """The run's YAML, with the data given relative to it where it can be."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "multitask.yaml"
    path.write_text(f"""\
model: minilm
max_steps: 8
evaluations: 2
checkpoint_every: 3
max_length: 32
tasks:
  sentiment: {{task: classify, train: {sentiment['train']}, dev: {sentiment['dev']}, test: {sentiment['test']}, batch_size: 8}}
  entities:
    task: ner
    train: {ner_files['train']}
    dev: {ner_files['dev']}
    test: {ner_files['test']}
    train_examples: 32
    batch_size: 8
""")
    return path


@pytest.fixture(scope="session")
def multitask_run(sentiment, ner_files, tmp_path_factory):
    from transferkit import api

    folder = tmp_path_factory.mktemp("multitask")
    cfg = MultiTaskConfig.from_yaml(str(write_yaml(folder, sentiment, ner_files)))
    api.multitask(MultiTaskConfig(cfg.heads, output=str(folder / "run")))
    return folder / "run"


def test_each_head_is_a_run_directory_that_predict_and_evaluate_read(multitask_run, cli, sentiment, ner_files):
    metrics = json.loads((multitask_run / "metrics.json").read_text())
    assert list(metrics["heads"]) == list(HEADS)
    assert sum(head["steps"] for head in metrics["heads"].values()) == metrics["train"]["steps"] == 8
    assert sum(head["train_seconds"] for head in metrics["heads"].values()) == pytest.approx(metrics["train"]["seconds"])
    for name, task, data in (("sentiment", "classify", sentiment), ("entities", "ner", ner_files)):
        head = multitask_run / "heads" / name
        written = json.loads((head / "metrics.json").read_text())
        assert (written["task"], written["strategy"]) == (task, "finetune") and (head / "predictions" / "test.jsonl").is_file()
        assert metrics["heads"][name]["test"] == written["test"][metrics["heads"][name]["metric"]]
        status, out, err = cli("evaluate", head, "--data", data["test"])
        assert status == 0, err
        assert json.loads(out)[metrics["heads"][name]["metric"]] == pytest.approx(metrics["heads"][name]["test"])
    status, out, err = cli("predict", multitask_run / "heads" / "entities", "Mary Jones works for Siemens in Berlin .")
    assert status == 0 and set(json.loads(out)) >= {"entities", "tags"}, err
    status, out, err = cli("predict", multitask_run / "heads" / "sentiment", "a superb and moving story")
    assert status == 0 and json.loads(out)["prediction"] in ("positive", "negative"), err


def test_the_heads_hold_one_trained_encoder(multitask_run):
    from transferkit.models.zoo import resolve_model

    sentiment, entities = (load_file(str(multitask_run / "heads" / name / "model" / "model.safetensors")) for name in HEADS)
    encoder = [key for key in entities if key.startswith(("bert.embeddings.", "bert.encoder."))]
    assert len(encoder) > 90 and all(sentiment[key].equal(entities[key]) for key in encoder)
    assert "bert.pooler.dense.weight" in sentiment and "bert.pooler.dense.weight" not in entities  # the pooler is the classifier's
    pretrained = load_file(os.path.join(resolve_model("minilm"), "model.safetensors"))
    layer = "encoder.layer.5.attention.self.query.weight"
    assert not pretrained[layer].equal(entities[f"bert.{layer}"])


def test_config_yaml_repeats_the_run_and_each_heads_repeats_its_single_task_run(multitask_run):
    ran = MultiTaskConfig.from_yaml(str(multitask_run / "config.yaml"))
    assert list(ran.heads) == list(HEADS) and ran.heads["sentiment"].lr == 1.5e-4  # classify's recipe rate, below ner's 2e-4
    metrics = json.loads((multitask_run / "metrics.json").read_text())
    for name in HEADS:
        alone = TrainConfig.from_yaml(str(multitask_run / "heads" / name / "config.yaml"))
        alone.validate()
        assert alone.strategy == "finetune" and alone.max_steps == metrics["heads"][name]["steps"]
        assert alone.batch_size == 8 and alone.lr == ran.heads[name].lr and alone.seed == ran.heads[name].seed
    # the classify head's top layer was not redrawn: its single-task run must not redraw it either (train would, below 150 per class)
    assert TrainConfig.from_yaml(str(multitask_run / "heads" / "sentiment" / "config.yaml")).reinit_layers == 0


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(multitask_run, cli, sentiment, ner_files, tmp_path, monkeypatch):
    from transferkit.training.checkpoints import Checkpoints

    save = Checkpoints.save

    def save_then_stop(self, state):  # the first checkpoint (step 3 of 8) written, then Ctrl-C
        save(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoints, "save", save_then_stop)
    config = write_yaml(tmp_path, sentiment, ner_files)
    status, _, err = cli("multitask", "--config", config, "--output", tmp_path / "run")
    assert status == 130 and f"continue with: transferkit multitask --resume --output {tmp_path / 'run'}" in err
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(Checkpoints, "save", save)
    status, _, err = cli("multitask", "--resume", "--output", tmp_path / "run")
    assert status == 0, err
    assert "resuming from the checkpoint at step 3 of 8" in err and not (tmp_path / ".run.partial").exists()
    for name in HEADS:
        whole, resumed = (load_file(str(run / "heads" / name / "model" / "model.safetensors")) for run in (multitask_run, tmp_path / "run"))
        assert all(whole[key].equal(resumed[key]) for key in whole)
    first, second = (json.loads((run / "metrics.json").read_text()) for run in (multitask_run, tmp_path / "run"))
    for metrics in (first, second):
        metrics["train"] = {k: v for k, v in metrics["train"].items() if k not in TIMINGS}
        for head in metrics["heads"].values():
            head.pop("train_seconds")
    assert second["heads"] == first["heads"] and second["train"] == first["train"]


def test_an_output_that_exists_is_refused_before_any_work(multitask_run, cli, tmp_path, sentiment, ner_files):
    status, _, err = cli("multitask", "--config", write_yaml(tmp_path, sentiment, ner_files), "--output", multitask_run)
    assert status == 2 and "already exists; choose another --output or pass --overwrite" in err


def test_a_head_without_dev_data_and_named_test_sets(cli, sentiment, ner_files, tmp_path):
    """The checkpoint is chosen on the heads that have dev data; a head's named test sets
    are one entry each in the top-level metrics."""
    config = tmp_path / "multitask.yaml"
    config.write_text(f"""\
max_steps: 4
evaluations: 1
max_length: 32
batch_size: 8
tasks:
  sentiment: {{task: classify, train: {sentiment['train']}, dev: {sentiment['dev']}, test: [a={sentiment['test']}, b={sentiment['dev']}]}}
  entities: {{task: ner, train: {ner_files['train']}, test: {ner_files['test']}, train_examples: 16}}
""")
    status, out, err = cli("multitask", "--config", config, "--output", tmp_path / "run")
    assert status == 0, err
    heads = json.loads(out)["heads"]
    assert set(heads["sentiment"]["test"]) == {"a", "b"} and heads["sentiment"]["best_dev_accuracy"] is not None
    assert heads["entities"]["dev"] is None and heads["entities"]["best_dev_f1"] is None and heads["entities"]["test"] is not None
    assert (tmp_path / "run" / "heads" / "sentiment" / "predictions" / "test-b.jsonl").is_file()
