"""`--task lm`: a causal LM trained on a corpus lowers held-out perplexity, the run
generates text, and its model directory loads in transformers' text-generation pipeline.
A tiny Llama with SmolLM2's tokenizer stands in for SmolLM2 to keep the test fast."""

import json

import pytest
from transformers import AutoTokenizer, pipeline

from transferkit.tasks.lm import blocks


def test_blocks_join_texts_with_end_of_text_and_cut_evenly(tiny_llama):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    items = blocks(tokenizer, ["a good film", "a bad one"], 4)
    ids = [i for item in items for i in item["input_ids"]]
    assert ids.count(tokenizer.eos_token_id) == 2 and ids[-1] == tokenizer.eos_token_id
    assert all(len(item["input_ids"]) == 4 for item in items[:-1]) and items[0]["labels"] == items[0]["input_ids"]


def test_train_lowers_perplexity_generates_and_loads_in_a_pipeline(cli, tiny_llama, review_corpus, tmp_path):
    lines = review_corpus.read_text().splitlines()
    (tmp_path / "train.txt").write_text("\n".join(lines[:250]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[250:]) + "\n")
    run = tmp_path / "run"
    status, out, err = cli(
        "train", "--task", "lm", "--model", tiny_llama, "--train", tmp_path / "train.txt", "--test", tmp_path / "test.txt",
        "--max-length", 32, "--batch-size", 8, "--max-steps", 40, "--lr", 3e-3, "--output", run,
    )
    assert status == 0, err
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["perplexity"] < test["perplexity_before"] / 10 and test["tokens"] > 300
    assert json.loads((run / "metrics.json").read_text())["train"]["steps"] == 40

    status, out, err = cli("generate", run, "the film is", "--max-new-tokens", 5, "--seed", 1)
    assert status == 0 and out.startswith("the film is") and len(out.strip()) > len("the film is"), err
    generator = pipeline("text-generation", model=str(run / "model"))
    assert generator("the film is", max_new_tokens=3, do_sample=False)[0]["generated_text"].startswith("the film is")


def test_generate_needs_an_lm_run(cli, sentiment, tmp_path):
    cli("train", "--strategy", "tfidf", "--train", sentiment["train"], "--output", tmp_path / "c")
    status, _, err = cli("generate", tmp_path / "c", "hello")
    assert status == 2 and "cannot generate text" in err


@pytest.fixture(scope="module")
def lm_run(tiny_llama, review_corpus, tmp_path_factory):
    """An lm run of the tiny Llama after one step: what generate's checks need (SmolLM2's
    8,192 token positions), not a good model."""
    from transferkit import api
    from transferkit.config import TrainConfig

    run = tmp_path_factory.mktemp("lm_run") / "run"
    api.train(TrainConfig(task="lm", model=str(tiny_llama), train=str(review_corpus), output=str(run), max_length=32, batch_size=8, max_steps=1))
    return run


@pytest.mark.parametrize("command", ["generate", "predict"])
def test_an_empty_prompt_is_one_line_naming_it(cli, lm_run, command):
    status, out, err = cli(command, lm_run, "the film is", "  ")
    assert (status, out, err) == (2, "", "error: prompt 2: empty prompt; give text for the model to continue\n")


def test_new_tokens_past_the_models_positions_are_refused_before_generating(cli, lm_run, tiny_llama):
    prompts = ["hi", "the film is"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    short, long = (len(tokenizer(p)["input_ids"]) for p in prompts)
    assert short < long
    # the reported 100,000,000 (past every prompt), and one token past the room the longer prompt leaves
    for new, n, length in ((100_000_000, 1, short), (8192 - long + 1, 2, long)):
        status, out, err = cli("generate", lm_run, *prompts, "--max-new-tokens", new)
        assert status == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"error: --max-new-tokens: {new:,} new tokens after the {length} of prompt {n} exceed the model's 8,192 token positions"), err
