"""The recipe table: its keys are what `train` accepts and what the registries hold, its
defaults fill unset options, and help texts are written from it."""

import pytest

from transferkit import recipes
from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.strategies import get_strategy
from transferkit.tasks import get_task


def test_every_row_has_a_task_and_a_strategy_that_serve_it():
    from transferkit import strategies, tasks

    assert tuple(tasks.MODULES) == recipes.TASKS and set(strategies.MODULES) == set(recipes.all_strategies())
    for task, strategy in recipes.RECIPES:
        assert get_task(task).name == task and get_strategy(strategy).name == strategy and task in get_strategy(strategy).tasks
    assert [g.__name__ for g in get_task("ner").option_groups] == ["ExamplesOptions", "NerOptions", "WindowOptions"]
    assert [g.__name__ for g in get_strategy("scratch").option_groups] == ["ModelOptions", "UnlabeledOptions", "LongTextOptions", "TrainingOptions"]


def test_a_strategy_the_table_does_not_list_for_a_task_is_refused():
    with pytest.raises(UserError, match="^--strategy: unknown strategy 'tfidf' for ner; choose auto or one of features, finetune, scratch, lora$"):
        TrainConfig(task="ner", strategy="tfidf", train="x").validate()


def test_unset_options_take_the_recipe_tables_defaults():
    classify = TrainConfig(task="classify", strategy="finetune").resolved()
    assert (classify.max_length, classify.warmup_ratio, classify.lr, classify.batch_size, classify.layer_lr_decay) == (128, 0.06, 1.5e-4, 32, 0.8)
    assert classify.epochs is None  # resolved by the strategy once the data are encoded
    assert TrainConfig(task="classify").resolved().lr is None  # auto: only the task's row until it has chosen
    ner = TrainConfig(task="ner", strategy="finetune").resolved()
    assert (ner.max_length, ner.doc_stride, ner.context, ner.batch_size) == (128, 32, "document", 8)
    assert TrainConfig(task="ner", strategy="scratch").resolved().context == "sentence"
    assert TrainConfig(task="ner", strategy="features").resolved().context == "sentence"
    qa = TrainConfig(task="qa", strategy="finetune", train="x").resolved()
    assert (qa.max_length, qa.doc_stride, qa.warmup_ratio, qa.lr) == (384, 128, 0.1, 3e-4)
    given = TrainConfig(task="qa", strategy="finetune", max_length=256, doc_stride=64, lr=1e-5).resolved()
    assert (given.max_length, given.doc_stride, given.lr) == (256, 64, 1e-5)


def test_the_qa_stride_follows_a_short_window_unless_given():
    assert TrainConfig(task="qa", max_length=48).resolved().doc_stride == 16
    with pytest.raises(UserError, match="--doc-stride: must be at least 0 and less than half of --max-length"):
        TrainConfig(task="qa", train="x", max_length=48, doc_stride=24).resolved().validate()


def test_the_epochs_rule_resolves_from_the_number_of_training_items():
    assert recipes.default_epochs(6920, 32) == 4
    assert recipes.default_epochs(16, 32) == 30
    assert recipes.default_epochs(1024, 32) == 4
    assert recipes.default_epochs(14041, 32, minimum=8) == 8
    assert recipes.epochs_for(TrainConfig(task="ner", strategy="finetune").resolved(), 14041) == 8
    assert recipes.epochs_for(TrainConfig(task="classify", strategy="finetune", epochs=2).resolved(), 16) == 2


def test_help_texts_state_the_recipe_tables_defaults(cli):
    assert recipes.describe("max_length") == "128; qa 384"
    assert recipes.describe("lr") == (
        "5e-4; classify finetune 1.5e-4, scratch 1e-4, contrastive 5e-5, lora 1e-3; ner finetune 2e-4, lora 1e-3; "
        "qa finetune 3e-4, lora 1e-3; lm finetune 5e-5"
    )
    assert recipes.describe("batch_size") == "32; ner finetune 8, lora 8"
    assert recipes.describe("context") == "sentence; ner finetune document, lora document"
    assert recipes.describe("epochs") == "at least 100 optimiser steps and at least 4 epochs (ner 8, qa 10, lm 1), at most 30"
    assert recipes.describe("pooling") is None
    status, out, _ = cli("train", "--help")
    flat = " ".join(out.split())
    assert status == 0 and "(default: 5e-4; classify finetune 1.5e-4, scratch 1e-4, contrastive 5e-5, lora 1e-3; ner finetune 2e-4" in flat
    assert "[--task ner] The files' tag scheme" in flat and "wordvec" in flat.split("--strategy TEXT")[1].split("--train")[0]
