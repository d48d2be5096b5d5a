"""Task-dependent defaults (options left unset take the task's value, given ones are kept), and
options checked by type and bounds, from flags, Python and YAML files (whose relative paths are
relative to the YAML file)."""

import pytest
import yaml

from conftest import sentiment_rows, write_csv
from transferkit.config import MaskedLMConfig, TrainConfig, Word2VecConfig
from transferkit.errors import UserError


def test_unset_options_take_the_recipe_tables_defaults():
    classify = TrainConfig(task="classify").resolved()
    assert (classify.max_length, classify.warmup_ratio, classify.lr, classify.batch_size, classify.layer_lr_decay) == (128, 0.06, 1.5e-4, 32, 0.8)
    assert classify.epochs is None  # resolved by the strategy once the data are encoded
    ner = TrainConfig(task="ner").resolved()
    assert (ner.max_length, ner.doc_stride, ner.context, ner.batch_size) == (128, 32, "document", 8)
    assert TrainConfig(task="ner", strategy="scratch").resolved().context == "sentence"
    assert TrainConfig(task="ner", strategy="features").resolved().context == "sentence"
    qa = TrainConfig(task="qa", train="x").resolved()
    assert (qa.max_length, qa.doc_stride, qa.warmup_ratio, qa.lr) == (384, 128, 0.1, 3e-4)
    given = TrainConfig(task="qa", max_length=256, doc_stride=64, lr=1e-5).resolved()
    assert (given.max_length, given.doc_stride, given.lr) == (256, 64, 1e-5)


def test_the_qa_stride_follows_a_short_window_unless_given():
    assert TrainConfig(task="qa", max_length=48).resolved().doc_stride == 16
    with pytest.raises(UserError, match="--doc-stride: must be at least 0 and less than half of --max-length"):
        TrainConfig(task="qa", train="x", max_length=48, doc_stride=24).resolved().validate()


def test_the_epochs_rule_resolves_from_the_number_of_training_items():
    from transferkit.recipes import default_epochs, epochs_for

    assert default_epochs(6920, 32) == 4
    assert default_epochs(16, 32) == 30
    assert default_epochs(1024, 32) == 4
    assert default_epochs(14041, 32, minimum=8) == 8
    assert epochs_for(TrainConfig(task="ner").resolved(), 14041) == 8  # batch 8: 1,756 steps an epoch, 8 epochs at least
    assert epochs_for(TrainConfig(task="classify", epochs=2).resolved(), 16) == 2


def test_help_texts_state_the_recipe_tables_defaults():
    from transferkit.recipes import describe

    assert describe("max_length") == "128; qa 384"
    assert describe("lr") == "classify finetune 1.5e-4, scratch 1e-4; ner finetune 2e-4, scratch 5e-4; qa finetune 3e-4, scratch 5e-4; lm finetune 5e-5, scratch 5e-4"
    assert describe("batch_size") == "32; ner finetune 8, scratch 32"
    assert describe("pooling") is None


@pytest.mark.parametrize("options, expected", [
    ({"tag_scheme": "iob2"}, "--tag-scheme: applies to --task ner, not task classify"),
    ({"strategy": "finetune", "vectors": "glove-50d"}, "--vectors: applies to --strategy wordvec, not strategy finetune"),
    ({"task": "ner", "max_answer_length": 10}, "--max-answer-length: applies to --task qa, not task ner"),
    ({"strategy": "tfidf", "lr": 1e-3}, "--lr: applies to --strategy finetune, scratch, not strategy tfidf"),
    ({"strategy": "tfidf", "model": "other"}, "--model: applies to --strategy features, finetune, scratch, not strategy tfidf"),
    ({"task": "ner", "strategy": "features", "pooling": "cls"}, "--pooling: applies to --task classify and --strategy features, not task ner and strategy features"),
])
def test_an_option_of_another_task_or_strategy_is_an_error(options, expected):
    with pytest.raises(UserError, match=f"^{expected}$"):
        TrainConfig(train="x", **options).check_applicable()


def test_a_flag_given_at_its_default_value_still_counts_as_given():
    TrainConfig(train="x", tag_scheme="auto").check_applicable()  # from Python: nothing to tell apart
    with pytest.raises(UserError, match="^--tag-scheme: applies to --task ner"):
        TrainConfig(train="x", tag_scheme="auto").check_applicable(given={"tag_scheme"})


def test_config_yaml_holds_the_options_of_the_run_only(tmp_path):
    TrainConfig(train="x", strategy="tfidf").to_yaml(tmp_path / "tfidf.yaml")
    keys = set(yaml.safe_load((tmp_path / "tfidf.yaml").read_text()))
    assert "text_column" in keys and "seed" in keys
    assert not keys & {"lr", "epochs", "model", "tag_scheme", "pooling", "vectors", "max_answer_length", "resume", "overwrite"}
    TrainConfig(train="x", task="qa").resolved().to_yaml(tmp_path / "qa.yaml")
    qa = yaml.safe_load((tmp_path / "qa.yaml").read_text())
    assert (qa["doc_stride"], qa["max_answer_length"], qa["lr"]) == (128, 30, 3e-4) and "text_column" not in qa


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
        TrainConfig(train="x", epochs="5").resolved().validate()
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
