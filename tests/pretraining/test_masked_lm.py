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
    status, out, err = cli("train", "--model", mlm_dir, "--train", sentiment["train"], "--test", sentiment["test"], "--epochs", 1, "--output", tmp_path / "c")
    assert status == 0, err
    assert json.loads(out)["test"]["examples"] == 20
    status, out, err = cli("train", "--task", "ner", "--model", mlm_dir, "--train", ner_files["train"], "--test", ner_files["test"], "--epochs", 1, "--max-length", 32, "--output", tmp_path / "n")
    assert status == 0, err
    assert "f1" in json.loads(out)["test"]


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


def test_bad_corpus_exits_2_and_writes_nothing(cli, tmp_path):
    (tmp_path / "c.csv").write_text("review\nnice film\n")
    status, _, err = cli("pretrain", "mlm", "--corpus", tmp_path / "c.csv", "--output", tmp_path / "out")
    assert status == 2 and "c.csv:1: no column 'text'" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
