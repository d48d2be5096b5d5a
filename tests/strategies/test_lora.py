"""`--strategy lora`: for every task a run trains adapters and the task's head only, writes
the adapter and a merged plain transformers model, and that model is what peft's own
loading of the adapter onto the base model computes."""

import json

import pytest
import torch
from transformers import (
    AutoModelForQuestionAnswering, AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer, pipeline,
)

from conftest import QA_MAX_LENGTH, QA_STRIDE
from transferkit.models.zoo import resolve_model
from transferkit.strategies.lora import head_modules


def adapter_files(run):
    return sorted(p.name for p in (run / "model" / "adapter").iterdir())


def trained(run) -> dict:
    return json.loads((run / "metrics.json").read_text())["train"]


def test_classify_adapter_is_small_and_the_merged_model_is_peft_s_own_result(cli, sentiment, tmp_path):
    from peft import PeftModel

    run = tmp_path / "run"
    status, _, err = cli(
        "train", "--strategy", "lora", "--train", sentiment["train"], "--dev", sentiment["dev"], "--test", sentiment["test"],
        "--epochs", 6, "--batch-size", 8, "--max-length", 32, "--output", run,
    )
    assert status == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8
    train = metrics["train"]
    assert adapter_files(run) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert train["adapter_bytes"] * 20 < train["model_bytes"]
    assert train["trainable_parameters"] * 50 < train["parameters"]  # adapters and the classifier only
    config = (run / "config.yaml").read_text()
    assert "lora_target_modules: query,value" in config and "lora_rank: 8" in config

    texts = ["a wonderful, moving film", "dull and far too long"]
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    merged = AutoModelForSequenceClassification.from_pretrained(run / "model").eval()
    base = AutoModelForSequenceClassification.from_pretrained(resolve_model("minilm"), num_labels=2)
    adapted = PeftModel.from_pretrained(base, run / "model" / "adapter").eval()
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, adapted(**batch).logits, atol=1e-4)
    labels = [p["label"] for p in pipeline("text-classification", model=str(run / "model"))(texts)]
    status, out, err = cli("predict", run, *texts)
    assert status == 0, err
    assert [json.loads(line)["prediction"] for line in out.splitlines()] == labels


def test_ner_lora_tags_and_loads_in_the_token_classification_pipeline(cli, ner_files, tmp_path):
    run = tmp_path / "run"
    status, _, err = cli(
        "train", "--task", "ner", "--strategy", "lora", "--train", ner_files["train"], "--dev", ner_files["dev"],
        "--test", ner_files["test"], "--epochs", 6, "--batch-size", 16, "--max-length", 32, "--lora-rank", 4,
        "--output", run,
    )
    assert status == 0, err
    assert json.loads((run / "metrics.json").read_text())["test"]["f1"] > 0.5
    assert "adapter_model.safetensors" in adapter_files(run) and trained(run)["adapter_bytes"] > 0
    assert AutoModelForTokenClassification.from_pretrained(run / "model").config.id2label  # a plain model
    assert isinstance(pipeline("token-classification", model=str(run / "model"))("Alice lives in Paris"), list)


def test_qa_lora_reads_answers(cli, qa_files, tmp_path):
    run = tmp_path / "run"
    status, _, err = cli(
        "train", "--task", "qa", "--strategy", "lora", "--train", qa_files["train"], "--dev", qa_files["dev"],
        "--test", qa_files["test"], "--max-length", QA_MAX_LENGTH, "--doc-stride", QA_STRIDE, "--max-steps", 20,
        "--evaluations", 2, "--output", run,
    )
    assert status == 0, err
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert {"exact_match", "f1"} <= set(test) and "adapter_model.safetensors" in adapter_files(run)
    assert AutoModelForQuestionAnswering.from_pretrained(run / "model").qa_outputs.out_features == 2  # a plain model
    status, out, err = cli("predict", run, "--question", "Where does Alice live?", "--context", "Alice lives in Paris.")
    assert status == 0 and "answer" in json.loads(out.splitlines()[0]), err


def test_lm_lora_lowers_perplexity_and_keeps_the_tied_output_layer(cli, tiny_llama, review_corpus, tmp_path):
    lines = review_corpus.read_text().splitlines()
    (tmp_path / "train.txt").write_text("\n".join(lines[:250]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[250:]) + "\n")
    run = tmp_path / "run"
    status, _, err = cli(
        "train", "--task", "lm", "--strategy", "lora", "--model", tiny_llama, "--train", tmp_path / "train.txt",
        "--test", tmp_path / "test.txt", "--max-length", 32, "--batch-size", 8, "--max-steps", 40, "--lr", 1e-2,
        "--lora-target-modules", "all-linear", "--output", run,
    )
    assert status == 0, err
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["perplexity"] < test["perplexity_before"]
    generator = pipeline("text-generation", model=str(run / "model"))
    assert generator("the film is", max_new_tokens=3, do_sample=False)[0]["generated_text"].startswith("the film is")


def test_the_head_is_what_the_task_put_on_the_body(tiny_llama):
    from transformers import AutoModelForCausalLM

    assert head_modules(AutoModelForSequenceClassification.from_pretrained(resolve_model("minilm"), num_labels=3)) == ["classifier"]
    assert head_modules(AutoModelForQuestionAnswering.from_pretrained(resolve_model("minilm"))) == ["qa_outputs"]
    lm = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert lm.get_output_embeddings().weight is lm.get_input_embeddings().weight and head_modules(lm) == []


@pytest.mark.parametrize("options, message", [
    (["--strategy", "lora", "--lora-target-modules", "query,nosuch"], "error: --lora-target-modules: the model has no linear layer named nosuch (its linear layers: classifier, dense, key, query, value)"),
    (["--strategy", "finetune", "--lora-rank", "4"], "error: --lora-rank: applies to --strategy lora, not finetune"),
    (["--strategy", "lora", "--gradual-unfreezing", "0.5"], "error: --gradual-unfreezing: applies to --strategy finetune, not lora"),
])
def test_lora_options_are_checked(cli, sentiment, tmp_path, options, message):
    status, _, err = cli("train", "--train", sentiment["train"], "--max-steps", 2, *options, "--output", tmp_path / "run")
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()
