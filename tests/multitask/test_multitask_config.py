"""The multitask YAML: heads read into one `TrainConfig` each, relative paths beside the
file, and every mistake one `error: FILE:LINE: ...` line with exit status 2 and nothing
written."""

import pytest

from transferkit.errors import UserError
from transferkit.multitask.config import RUN_LEVEL, MultiTaskConfig

GOOD = """\
model: minilm
seed: 3
lr: 1e-4
batch_size: 16
tasks:
  sentiment: {task: classify, train: data/train.csv, dev: data/dev.csv, test: data/test.csv}
  entities:
    task: ner
    train: ner/train.txt
    train_examples: 40
    batch_size: 4
"""


def write(tmp_path, text: str):
    path = tmp_path / "multitask.yaml"
    path.write_text(text)
    return path


def test_each_head_is_a_finetune_config_with_the_run_options_and_paths_beside_the_file(tmp_path):
    cfg = MultiTaskConfig.from_yaml(str(write(tmp_path, GOOD)))
    assert list(cfg.heads) == ["sentiment", "entities"]
    sentiment, entities = cfg.heads.values()
    assert (sentiment.task, sentiment.strategy, entities.task, entities.strategy) == ("classify", "finetune", "ner", "finetune")
    assert sentiment.train == str(tmp_path / "data" / "train.csv") and sentiment.test == [str(tmp_path / "data" / "test.csv")]
    assert entities.train == str(tmp_path / "ner" / "train.txt") and entities.train_examples == 40
    assert all(head.seed == 3 and head.lr == 1e-4 and head.model == "minilm" for head in (sentiment, entities))
    assert (sentiment.batch_size, entities.batch_size) == (16, 4)  # the top level's is a default a head may override


def test_config_yaml_reads_back_to_the_same_options(tmp_path):
    cfg = MultiTaskConfig.from_yaml(str(write(tmp_path, GOOD)))
    cfg.to_yaml(tmp_path / "again.yaml")
    again = MultiTaskConfig.from_yaml(str(tmp_path / "again.yaml"))
    assert again.yaml_data() == cfg.yaml_data()
    assert set(again.yaml_data()) == {*RUN_LEVEL, "tasks"} and "lr" not in again.yaml_data()["tasks"]["entities"]


@pytest.mark.parametrize("text, where, message", [
    ("tasks: [\n", 2, "not valid YAML"),
    (GOOD.replace("lr: 1e-4", "lr: fast"), 3, "lr: expected a number, got 'fast'"),
    (GOOD.replace("    train_examples: 40", "    budget: 40"), 10, "tasks.entities.budget: the label budget is labels_per_class (classify) or train_examples (ner, qa)"),
    (GOOD.replace("    batch_size: 4", "    lr: 0.1"), 11, "tasks.entities.lr: one value for the whole run (one encoder, one loop): give it at the top level"),
    (GOOD.replace("    batch_size: 4", "    label_column: tag"), 11, "tasks.entities.label_column: applies to --task classify, not ner"),
    (GOOD.replace("    batch_size: 4", "    strategy: tfidf"), 11, "tasks.entities.strategy: every head fine-tunes the shared encoder"),
    (GOOD.replace("    task: ner", "    task: lm"), 8, "tasks.entities.task: lm cannot share an encoder"),
    (GOOD.replace("    task: ner\n", ""), 7, "tasks.entities: missing task"),
    (GOOD.replace("seed: 3", "tag_scheme: iob1"), 2, "tag_scheme: an option of each head: give it under the heads that need it"),
    (GOOD.replace("seed: 3", "colour: red"), 2, "colour: unknown option"),
    (GOOD.replace("test: data/test.csv}", "test: data/test.csv, reinit_layers: 1}"), 6,
     "tasks.sentiment.reinit_layers: a few-sample start of one head would change the encoder every head shares"),
    (GOOD.replace("  entities:", "  my heads:"), 7, "tasks: 'my heads' cannot name a head"),
    (GOOD.replace("  entities:", "  sentiment:"), 7, "'sentiment' is given twice (first on line 6); keep one of them"),
    (GOOD.replace("    batch_size: 4", "    train: ner/other.txt"), 11, "'train' is given twice (first on line 9); keep one of them"),
    (GOOD + "seed: 4\n", 12, "'seed' is given twice (first on line 2); keep one of them"),
    ("model: minilm\ntasks:\n  only: {task: classify, train: a.csv}\n", 2, "tasks: give two heads or more"),
    (GOOD.replace("train: ner/train.txt", "train: ner/train.txt\n    doc_stride: 200\n    max_length: 64"), 7,
     "tasks.entities: --doc-stride: must be at least 0 and less than half of --max-length"),
])
def test_a_mistake_is_one_line_naming_the_file_and_line(tmp_path, text, where, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        MultiTaskConfig.from_yaml(str(path))
    assert str(caught.value).startswith(f"{path}:{where}: ") and message in str(caught.value), str(caught.value)


def test_the_cli_prints_the_error_exits_2_and_writes_nothing(cli, tmp_path):
    path = write(tmp_path, GOOD.replace("    batch_size: 4", "    lr: 0.1"))
    status, out, err = cli("multitask", "--config", path, "--output", tmp_path / "run")
    assert status == 2 and out == "" and err.startswith(f"error: {path}:11: tasks.entities.lr: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multitask.yaml"]


def test_a_missing_data_file_fails_before_training_and_leaves_nothing(cli, tmp_path):
    status, _, err = cli("multitask", "--config", write(tmp_path, GOOD), "--output", tmp_path / "run")
    assert status == 2 and "data/train.csv" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multitask.yaml"]


def test_resume_without_an_interrupted_run_is_an_error(cli, tmp_path):
    status, _, err = cli("multitask", "--resume", "--output", tmp_path / "none")
    assert status == 2 and "nothing to resume" in err and err.count("\n") == 1


def test_heads_of_a_python_caller_must_agree_on_the_run_options():
    from transferkit.config import TrainConfig

    cfg = MultiTaskConfig({"a": TrainConfig(train="a.csv"), "b": TrainConfig(task="ner", train="b.txt", lr=1e-4)}, output="out")
    with pytest.raises(UserError, match="the heads differ in lr; one encoder and one loop take one value of each"):
        cfg.validate()
    cfg = MultiTaskConfig({"a": TrainConfig(train="a.csv", head_init="linear-probe"), "b": TrainConfig(task="ner", train="b.txt")}, output="out")
    with pytest.raises(UserError, match="^heads.a: reinit_layers, head_init: a few-sample start"):
        cfg.validate()
