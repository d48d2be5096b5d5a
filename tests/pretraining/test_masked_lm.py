"""`pretrain mlm` on MiniLM (no masked-LM head in its checkpoint): a tied head is added,
the held-out loss falls, and the output directory trains classify and ner models."""

import json

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from transferkit.config import MaskedLMConfig
from transferkit.models.zoo import resolve_model
from transferkit.pretraining.masked_lm import MaskingCollator, sequences


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory, review_corpus):
    from transferkit import api

    out = tmp_path_factory.mktemp("mlm") / "minilm-reviews"
    cfg = MaskedLMConfig(corpus=[str(review_corpus)], output=str(out), max_length=32, batch_size=16, max_steps=30, lr=3e-4)
    api.pretrain_masked_lm(cfg)
    return out


def test_tied_head_added_and_held_out_loss_falls(mlm_dir):
    metrics = json.loads((mlm_dir / "metrics.json").read_text())
    assert metrics["mlm_head"] == "added, tied to the input embeddings"
    assert metrics["train"]["steps"] == 30
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"] - 1.0
    model = AutoModelForMaskedLM.from_pretrained(mlm_dir)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_output_keeps_the_checkpoints_pooler_for_classifiers(mlm_dir):
    original = AutoModelForSequenceClassification.from_pretrained(resolve_model("minilm"), num_labels=2)
    adapted = AutoModelForSequenceClassification.from_pretrained(mlm_dir, num_labels=2)
    torch.testing.assert_close(adapted.bert.pooler.dense.weight, original.bert.pooler.dense.weight)
    assert not torch.equal(adapted.bert.encoder.layer[5].output.dense.weight, original.bert.encoder.layer[5].output.dense.weight)


def test_train_classify_and_ner_from_the_output(cli, mlm_dir, sentiment, ner_files, tmp_path):
    """The adapted encoder is a starting point that learns both tasks (as minilm itself does
    with the same settings: tests/test_api.py, conftest's ner_run)."""
    status, out, err = cli("train", "--model", mlm_dir, "--train", sentiment["train"], "--test", sentiment["test"], "--epochs", 10, "--batch-size", 8, "--output", tmp_path / "c")
    assert status == 0, err
    assert json.loads(out)["test"]["accuracy"] >= 0.9  # the adjectives carry the label
    status, out, err = cli("train", "--task", "ner", "--model", mlm_dir, "--train", ner_files["train"], "--test", ner_files["test"], "--epochs", 6, "--batch-size", 16, "--max-length", 32, "--output", tmp_path / "n")
    assert status == 0, err
    f1 = json.loads(out)["test"]["f1"]
    assert f1 >= 0.5, f1
    for run in ("c", "n"):
        assert json.loads((tmp_path / run / "metrics.json").read_text())["model"] == str(mlm_dir)


def test_whole_word_masking_masks_every_piece_of_a_word():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    items = sequences(tokenizer, ["unbelievably overwrought screenplays " * 8, "short one"], 64, whole_word_mask=True)
    batch = MaskingCollator(tokenizer, 0.5, whole_word_mask=True, seed=0)(items)
    first = batch["labels"][0]
    pieces = tokenizer.convert_ids_to_tokens(items[0]["input_ids"])
    for i, piece in enumerate(pieces[1:-1], start=1):
        if piece.startswith("##"):  # a continuation is masked exactly when its word's previous piece is
            assert (first[i] != -100) == (first[i - 1] != -100)
    assert len(items) == 3  # the long text is cut into two sequences of at most 64 tokens
    assert (first != -100).any() and batch["input_ids"].shape[0] == 3


BAD = {
    "no text column": ("review\nnice film\n", [], "c.csv:1: no column 'text'"),
    "documents without tokens": ("text\n\u200b\u200b\n\x07\n\u200b\n", [], "c.csv: the corpus holds no tokens"),  # not the loss's nan, blamed on --lr
    "--max-length above the positions": ("text\nnice film\n", ["--max-length", "1024"], "--max-length: 1024 is more than the model's 512 token positions"),
    "--max-length below the special tokens": ("text\nnice film\n", ["--max-length", "1"], "--max-length: 1 leaves no room for the text"),
    "--lr nan": ("text\nnice film\n", ["--lr", "nan"], "--lr: must be a finite number greater than 0, got nan"),
    "--mlm-probability 0": ("text\nnice film\n", ["--mlm-probability", "0"], "--mlm-probability: must be greater than 0 and less than 1, got 0.0"),
    "--warmup-ratio 1": ("text\nnice film\n", ["--warmup-ratio", "1"], "--warmup-ratio: must be at least 0 and less than 1, got 1.0"),
    "--seed -1": ("text\nnice film\n", ["--seed", "-1"], "--seed: must be at least 0"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_corpus_or_option_exits_2_and_writes_nothing(cli, tmp_path, case):
    text, extra, expected = BAD[case]
    (tmp_path / "c.csv").write_text(text)
    status, _, err = cli("pretrain", "mlm", "--corpus", tmp_path / "c.csv", "--output", tmp_path / "out", *extra)
    assert status == 2 and expected in err and err.count("\n") == 1 and err.startswith("error: "), err
    assert not (tmp_path / "out").exists()


def test_a_loss_that_overflows_stops_pretraining_and_writes_nothing(cli, tmp_path, review_corpus):
    args = ["--corpus", review_corpus, "--output", tmp_path / "out", "--max-length", "16", "--max-steps", "3", "--warmup-ratio", "0"]
    status, _, err = cli("pretrain", "mlm", *args, "--lr", "1e10")
    assert status == 2 and "error: training: the loss became" in err and "(--lr 1e+10) is probably too high" in err, err
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]
