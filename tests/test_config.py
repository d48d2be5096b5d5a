"""Task-dependent defaults (options left unset take the task's value, given ones are kept), and
options checked by type and bounds, from flags, Python and YAML files (whose relative paths are
relative to the YAML file)."""

import pytest
import yaml

from conftest import sentiment_rows, write_csv
from transferkit.config import MaskedLMConfig, TrainConfig, Word2VecConfig
from transferkit.errors import UserError


def test_unset_options_take_the_tasks_defaults():
    classify = TrainConfig(task="classify").with_task_defaults()
    assert (classify.max_length, classify.warmup_ratio) == (128, 0.06)
    ner = TrainConfig(task="ner").with_task_defaults()
    assert (ner.max_length, ner.doc_stride, ner.inference_settings()["stride"]) == (128, None, 32)
    qa = TrainConfig(task="qa", train="x").with_task_defaults()
    assert (qa.max_length, qa.doc_stride, qa.warmup_ratio) == (384, 128, 0.1)
    assert qa.inference_settings() == {"stride": 128, "max_answer_length": 30}
    given = TrainConfig(task="qa", max_length=256, doc_stride=64).with_task_defaults()
    assert (given.max_length, given.doc_stride) == (256, 64)


def test_the_qa_stride_follows_a_short_window_unless_given():
    assert TrainConfig(task="qa", max_length=48).with_task_defaults().doc_stride == 16
    with pytest.raises(UserError, match="--doc-stride: must be at least 0 and less than half of --max-length"):
        TrainConfig(task="qa", train="x", max_length=48, doc_stride=24).with_task_defaults().validate()


YAML_TYPE_ERRORS = {
    "a word for an integer": ("epochs: five\n", "2: epochs: expected an integer, got 'five'"),
    "a bool for an integer": ("epochs: true\n", "2: epochs: expected an integer, got true"),
    "a float for an integer": ("batch_size: 8.5\n", "2: batch_size: expected an integer, got 8.5"),
    "a word for a number": ("lr: abc\n", "2: lr: expected a number, got 'abc'"),
    "a number for a path": ("train: 3\n", "2: train: expected a string, got 3"),
    "a list for a string": ("model: [minilm]\n", "2: model: expected a string, got [\"minilm\"]"),
    "nothing for an integer": ("seed:\n", "2: seed: expected an integer, got nothing"),
    "not one of the choices": ("tag_scheme: bio\n", "2: tag_scheme: expected one of auto, iob1, iob2, iobes, io, got 'bio'"),
    "out of bounds": ("warmup_ratio: 1\n", "2: warmup_ratio: must be at least 0 and less than 1, got 1.0"),
    "not finite": ("lr: .nan\n", "2: lr: must be a finite number greater than 0, got nan"),
}


@pytest.mark.parametrize("case", YAML_TYPE_ERRORS)
def test_yaml_values_are_checked_against_the_options_types_naming_file_line_and_key(tmp_path, case):
    text, expected = YAML_TYPE_ERRORS[case]
    path = tmp_path / "c.yaml"
    path.write_text("task: classify\n" + text)
    with pytest.raises(UserError) as e:
        TrainConfig.from_yaml(str(path))
    assert str(e.value) == f"{path}:{expected}"


def test_yaml_numbers_in_exponent_notation_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1e-4\nweight_decay: 0\n")  # YAML 1.1 reads 1e-4 as a string
    cfg = TrainConfig.from_yaml(str(path))
    assert (cfg.lr, cfg.weight_decay) == (1e-4, 0.0) and isinstance(cfg.weight_decay, float)


def test_options_set_in_python_are_checked_too():
    with pytest.raises(UserError, match="^--epochs: expected an integer, got '5'$"):
        TrainConfig(train="x", epochs="5").with_task_defaults().validate()
    with pytest.raises(UserError, match="^--negative: must be at least 1"):
        Word2VecConfig(corpus=["c.txt"], output="o", negative=0).validate()
    with pytest.raises(UserError, match="^--mlm-probability: must be greater than 0 and less than 1, got 1.0$"):
        MaskedLMConfig(corpus=["c.txt"], output="o", mlm_probability=1.0).validate()


def test_unreadable_config_paths_are_one_line_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    for path, expected in [(tmp_path, "is a directory"), (tmp_path / "file" / "c.yaml", "cannot read the config file")]:
        with pytest.raises(UserError, match=expected):
            TrainConfig.from_yaml(str(path))


def test_relative_input_paths_in_a_yaml_are_relative_to_its_folder(cli, tmp_path, monkeypatch):
    folder = tmp_path / "experiment"
    (folder / "data").mkdir(parents=True)
    write_csv(folder / "data" / "train.csv", sentiment_rows(6, seed=1))
    (folder / "run.yaml").write_text("strategy: tfidf\ntrain: data/train.csv\ntest: data/train.csv\noutput: out\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status, out, err = cli("train", "--config", folder / "run.yaml")
    assert status == 0, err
    assert (elsewhere / "out" / "metrics.json").exists()  # the output is where the user runs it
    assert not (folder / "out").exists()
    written = yaml.safe_load((elsewhere / "out" / "config.yaml").read_text())
    assert written["train"] == str(folder / "data" / "train.csv")

    # a flag on the command line is relative to the working directory, as always
    status, _, err = cli("train", "--config", folder / "run.yaml", "--train", "data/train.csv", "--output", "out2")
    assert status == 2 and "error: data/train.csv: file not found" in err


def test_a_yaml_model_or_vectors_name_stays_a_name_unless_a_folder_beside_it_has_that_name(tmp_path):
    (tmp_path / "my-encoder").mkdir()
    path = tmp_path / "c.yaml"
    path.write_text("model: my-encoder\nvectors: glove-50d\n")
    cfg = TrainConfig.from_yaml(str(path))
    assert (cfg.model, cfg.vectors) == (str(tmp_path / "my-encoder"), "glove-50d")
    path.write_text("model: minilm\n")
    (tmp_path / "minilm").mkdir()
    assert TrainConfig.from_yaml(str(path)).model == "minilm"


def test_config_yaml_stores_input_paths_absolute_so_it_reproduces_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Word2VecConfig(corpus=["a.txt", "b.txt"], output="out").to_yaml(tmp_path / "config.yaml")
    monkeypatch.chdir("/")
    assert Word2VecConfig.from_yaml(str(tmp_path / "config.yaml")).corpus == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
