"""Options: checked by type and bounds, from flags, Python and YAML files (whose relative paths
are relative to the YAML file); an option of another task or strategy is an error; config.yaml
holds the options of its run only. (The defaults are the recipe table's: test_recipes.py.)"""

import pytest
import yaml

from conftest import sentiment_rows, write_csv
from transferkit.config import MaskedLMConfig, TrainConfig, Word2VecConfig
from transferkit.errors import UserError


def test_configuration_imports_no_task_strategy_or_model_zoo():
    import subprocess
    import sys

    code = "import sys, transferkit.config, transferkit.recipes; print(sorted(m for m in sys.modules if m.startswith('transferkit.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "transferkit.tasks" not in loaded and "transferkit.strategies" not in loaded and "transferkit.models" not in loaded


def test_the_names_config_keeps_apart_from_paths_are_the_zoos_and_the_vectors():
    from transferkit.config import SOURCE_NAMES
    from transferkit.models.word_vectors import GLOVE
    from transferkit.models.zoo import OFFLINE_MODELS

    assert SOURCE_NAMES == {*OFFLINE_MODELS, GLOVE}


@pytest.mark.parametrize("options, expected", [
    ({"tag_scheme": "iob2"}, "--tag-scheme: applies to --task ner, not classify"),
    ({"strategy": "finetune", "vectors": "glove-50d"}, "--vectors: applies to --strategy wordvec, not finetune"),
    ({"task": "ner", "max_answer_length": 10}, "--max-answer-length: applies to --task qa, not ner"),
    ({"strategy": "tfidf", "lr": 1e-3}, "--lr: applies to --strategy finetune, scratch, contrastive, lora, not tfidf"),
    ({"strategy": "tfidf", "model": "other"}, "--model: applies to --strategy features, zeroshot, finetune, scratch, contrastive, lora, not tfidf"),
    ({"task": "ner", "strategy": "features", "pooling": "cls"}, "--pooling: applies to --task classify and --strategy features, not ner features"),
])
def test_an_option_of_another_task_or_strategy_is_an_error(options, expected):
    with pytest.raises(UserError, match=f"^{expected}$"):
        TrainConfig(train="x", **options).check_applicable()


def test_a_flag_given_at_its_default_value_still_counts_as_given():
    TrainConfig(train="x", tag_scheme="auto").check_applicable()  # from Python: nothing to tell apart
    with pytest.raises(UserError, match="^--tag-scheme: applies to --task ner"):
        TrainConfig(train="x", tag_scheme="auto").check_applicable(given={"tag_scheme"})


def test_a_config_yaml_written_before_option_groups_still_trains(tmp_path):
    """Older runs wrote every option, with the task's defaults filled in: those values are
    what the recipe table gives, so they are not taken for options of another strategy."""
    old = {
        "task": "classify", "train": "t.csv", "model": "minilm", "strategy": "tfidf", "text_column": "text", "label_column": "label",
        "epochs": None, "lr": None, "batch_size": None, "max_length": 128, "seed": 0, "tag_scheme": "auto", "doc_stride": None,
        "max_answer_length": 30, "language": "auto", "context": None, "pooling": "mean", "vectors": None, "weighting": "mean",
        "layer_lr_decay": None, "warmup_ratio": 0.06, "weight_decay": 0.01, "evaluations": 10, "patience": 5,
        "mixed_precision": "auto", "weight_average": "none", "overwrite": False,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    TrainConfig.from_yaml(str(tmp_path / "config.yaml")).check_applicable()
    with pytest.raises(UserError, match="^--warmup-ratio: applies to --strategy finetune, scratch, contrastive, lora, not tfidf$"):
        TrainConfig(train="x", strategy="tfidf", warmup_ratio=0.2).check_applicable()


def test_config_yaml_holds_the_options_of_the_run_only(tmp_path):
    TrainConfig(train="x", strategy="tfidf").to_yaml(tmp_path / "tfidf.yaml")
    keys = set(yaml.safe_load((tmp_path / "tfidf.yaml").read_text()))
    assert "text_column" in keys and "seed" in keys
    assert not keys & {"lr", "epochs", "model", "tag_scheme", "pooling", "vectors", "max_answer_length", "resume", "overwrite"}
    TrainConfig(train="x", task="qa", strategy="finetune").resolved().to_yaml(tmp_path / "qa.yaml")
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
    "a key twice": ("seed: 1\nlr: 0.1\nseed: 2\n", "4: 'seed' is given twice (first on line 2); keep one of them"),
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


def test_test_sets_are_named_or_one_plain_file(tmp_path):
    from transferkit.config import language_of, test_sets

    assert test_sets(["data/test.csv"]) == [(None, "data/test.csv")]
    assert test_sets(["en=a.tsv", "zh-web=b.tsv"]) == [("en", "a.tsv"), ("zh-web", "b.tsv")]
    odd = tmp_path / "x=y.csv"
    odd.write_text("text,label\n")
    assert test_sets([str(odd)]) == [(None, str(odd))]  # a file of that name is a file
    with pytest.raises(UserError, match="several test sets need a name each"):
        test_sets(["a.csv", "b.csv"])
    with pytest.raises(UserError, match="'en' is given twice"):
        test_sets(["en=a.csv", "en=b.csv"])
    assert [language_of(n) for n in ("de", "zh-news", "EN_web", "news", None)] == ["de", "zh", "en", None, None]
