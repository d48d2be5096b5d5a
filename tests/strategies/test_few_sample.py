"""The few-sample fixes of `finetune`: a warm-started output layer is the logistic regression
scikit-learn fits on the same inputs (checked against scikit-learn's own pipeline), layer
re-initialisation touches the top layers only, and both are run options that metrics.json
and config.yaml record."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from conftest import sentiment_rows
from transferkit.config import FewSampleOptions
from transferkit.data.classification import ClassificationSplit
from transferkit.errors import UserError
from transferkit.models.zoo import resolve_model
from transferkit.strategies.few_sample import (
    REINIT_BELOW, REINIT_BY_DEFAULT, default_reinit_layers, output_layer, reinit_top_layers, warm_start_head,
)
from transferkit.tasks.base import TaskData


def minilm(labels: int):
    path = resolve_model("minilm")
    return AutoTokenizer.from_pretrained(path), AutoModelForSequenceClassification.from_pretrained(path, num_labels=labels)


@pytest.mark.parametrize("classes", [2, 3])
def test_warm_started_head_predicts_what_scikit_learn_fits_on_the_pooled_outputs(classes):
    tokenizer, model = minilm(classes)
    texts = [text for text, _ in sentiment_rows(12, seed=4)]
    targets = [i % classes for i in range(len(texts))]
    items = [{**tokenizer(text), "labels": label} for text, label in zip(texts, targets)]
    fitted = warm_start_head(model, items, tokenizer.pad_token_id, seed=0, class_weight=None, metric="accuracy")
    assert fitted["head_init"] == "linear-probe" and "cross-validation" in fitted["head_init_selection"]

    batch = tokenizer(texts, return_tensors="pt", padding=True)
    model.eval()
    with torch.no_grad():
        pooled = model.bert(**batch).pooler_output.numpy()  # what BERT's classifier reads
        probabilities = model(**batch).logits.softmax(-1).numpy()
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=fitted["head_init_C"], max_iter=3000)).fit(pooled, targets)
    np.testing.assert_allclose(probabilities, reference.predict_proba(pooled), atol=2e-3)


def test_reinit_redraws_the_top_layers_and_the_pooler_and_keeps_the_rest():
    _, model = minilm(2)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    torch.manual_seed(0)
    reinit_top_layers(model, 2)
    after = dict(model.named_parameters())
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    top = {name for name in before if name.startswith(("bert.encoder.layer.4.", "bert.encoder.layer.5.", "bert.pooler."))}
    assert changed <= top
    assert {name for name in top if name.endswith(".weight") and "LayerNorm" not in name} <= changed
    assert after["bert.encoder.layer.5.output.dense.bias"].abs().max() == 0
    assert abs(after["bert.encoder.layer.5.intermediate.dense.weight"].std().item() - model.config.initializer_range) < 2e-3
    with pytest.raises(UserError, match="more than the model's 6 layers"):
        reinit_top_layers(model, 7)
    kept = {name: p.detach().clone() for name, p in model.named_parameters()}
    reinit_top_layers(model, 0)
    assert all(torch.equal(kept[name], p) for name, p in model.named_parameters())


def data_of(counts: dict[str, int], continues_head: bool = False) -> TaskData:
    labels = [label for label, n in counts.items() for _ in range(n)]
    train = ClassificationSplit("train.csv", [f"text {i}" for i in range(len(labels))], None, labels, [str(i) for i in range(len(labels))], [])
    return TaskData(train, None, {}, sorted(counts), continues_head=continues_head)


def test_the_top_layer_is_redrawn_by_default_below_the_few_label_bound_of_the_median_class_unless_a_run_continues():
    assert default_reinit_layers(data_of({"a": 8, "b": 8})) == REINIT_BY_DEFAULT > 0
    assert default_reinit_layers(data_of({"a": REINIT_BELOW, "b": REINIT_BELOW, "c": 3})) == 0  # one rare class does not decide
    assert default_reinit_layers(data_of({"a": REINIT_BELOW - 1, "b": 1000, "c": 2})) == REINIT_BY_DEFAULT
    assert default_reinit_layers(data_of({"a": 8, "b": 8}, continues_head=True)) == 0
    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(FewSampleOptions)}
    assert f"{REINIT_BY_DEFAULT} below {REINIT_BELOW} labels per class" in helps["reinit_layers"]


def test_output_layer_is_the_classifier():
    _, model = minilm(3)
    assert output_layer(model) is model.classifier


def test_finetune_records_the_fixes_and_other_strategies_refuse_them(cli, sentiment, tmp_path):
    run = tmp_path / "run"
    status, _, err = cli(
        "train", "--strategy", "finetune", "--train", sentiment["train"], "--test", sentiment["test"], "--head-init", "linear-probe",
        "--epochs", 2, "--batch-size", 16, "--max-length", 32, "--output", run,
    )
    assert status == 0, err
    train = json.loads((run / "metrics.json").read_text())["train"]  # 24 labels per class: the default re-initialises
    assert train["head_init"] == "linear-probe" and train["reinit_layers"] == REINIT_BY_DEFAULT
    config = (run / "config.yaml").read_text()
    assert "head_init: linear-probe" in config and f"reinit_layers: {REINIT_BY_DEFAULT}" in config

    # continuing that run (its head and labels) keeps the top layer it learned
    status, _, err = cli("train", "--strategy", "finetune", "--model", run / "model", "--train", sentiment["train"], "--epochs", 1,
                         "--batch-size", 16, "--max-length", 32, "--output", tmp_path / "continued")
    assert status == 0, err
    assert json.loads((tmp_path / "continued" / "metrics.json").read_text())["train"]["reinit_layers"] == 0

    for strategy, option in (("features", "--head-init"), ("scratch", "--reinit-layers"), ("lora", "--reinit-layers")):
        status, _, err = cli("train", "--strategy", strategy, "--train", sentiment["train"], option, 1 if option == "--reinit-layers" else "linear-probe",
                             "--output", tmp_path / strategy)
        assert status == 2 and f"{option}: applies to --task classify and --strategy finetune, not classify {strategy}" in err
