"""`--long-text chunks`: windows that cover a long text, predictions that average its
windows (checked against the model run on each window by hand), and runs that train and
predict with them; truncation stays as it was."""

import json
import random

import numpy as np
import pytest
import torch

from conftest import NEGATIVE, POSITIVE, write_csv
from transferkit import api
from transferkit.config import TrainConfig
from transferkit.inference import softmax
from transferkit.models.zoo import resolve_model
from transferkit.serving.predictor import load_predictor
from transferkit.training.text_chunks import encode_documents, per_document
from transferkit.training.batching import encode_texts


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model("minilm"))


LONG = " ".join(f"word{i}" for i in range(40))  # 80 word pieces


def test_a_long_text_becomes_overlapping_windows_that_cover_all_its_tokens(tokenizer):
    tokens = tokenizer(LONG, add_special_tokens=False)["input_ids"]
    windows = encode_documents(tokenizer, [LONG, "short text"], None, max_length=16, overlap=4)
    own = [w["input_ids"] for w, d in zip(windows.items, windows.document) if d == 0]
    assert windows.document == [0] * len(own) + [1] and len(own) > 5
    inner = []
    for ids in own:
        assert len(ids) <= 16 and ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        inner.append(ids[1:-1])
    for a, b in zip(inner, inner[1:]):
        assert a[-4:] == b[:4]  # consecutive windows share the overlap
    assert inner[0] + [t for ids in inner[1:] for t in ids[4:]] == tokens  # every token, in order, once beyond the overlap
    assert windows.items[-1]["input_ids"] == tokenizer("short text")["input_ids"]


def test_a_pair_is_kept_whole_in_every_window_up_to_half_of_it(tokenizer):
    windows = encode_documents(tokenizer, [LONG, LONG], ["a short question", "the pair " * 20], max_length=32, overlap=4)
    short, long_pair = tokenizer("a short question", add_special_tokens=False)["input_ids"], tokenizer("the pair " * 20, add_special_tokens=False)["input_ids"]
    for item, document in zip(windows.items, windows.document):
        ids, types = item["input_ids"], item["token_type_ids"]
        second = [t for t, kind in zip(ids, types) if kind == 1][:-1]  # the pair without its [SEP]
        assert len(ids) <= 32 and second == (short if document == 0 else long_pair[: 32 // 2 - 3])


def test_truncate_is_one_item_per_text_as_before(tokenizer):
    texts, pairs = [LONG, "short text"], ["one", "two"]
    windows = encode_documents(tokenizer, texts, pairs, max_length=16, overlap=None)
    assert windows.items == encode_texts(tokenizer, texts, pairs, 16) and windows.document == [0, 1]


def test_per_document_is_the_mean_of_each_texts_rows():
    rows = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0], [0.0, 4.0], [2.0, 2.0]], dtype=np.float32)
    expected = np.array([[2.0, 4.0], [5.0, 1.0], [1.0, 3.0]])
    assert per_document(rows, [0, 0, 1, 2, 2]) == pytest.approx(expected)


def long_reviews(n_per_class: int, seed: int) -> list[tuple[str, str]]:
    """Reviews of eight sentences (about 40 word pieces), the label in every sentence."""
    rng = random.Random(seed)
    rows = [(" ".join(f"the film is {rng.choice(words)} ." for _ in range(8)), label)
            for label, words in (("positive", POSITIVE), ("negative", NEGATIVE)) for _ in range(n_per_class)]
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    return {name: write_csv(folder / f"{name}.csv", long_reviews(n, seed)) for name, n, seed in (("train", 8, 1), ("dev", 4, 2), ("test", 4, 3))}


def train(long_files, tmp_path, strategy, **options):
    cfg = TrainConfig(strategy=strategy, train=str(long_files["train"]), dev=str(long_files["dev"]), test=str(long_files["test"]),
                      output=str(tmp_path / strategy), max_length=16, long_text="chunks", chunk_overlap=4, **options)
    return api.train(cfg), tmp_path / strategy


def test_finetune_trains_on_windows_and_predicts_the_mean_of_their_logits(long_files, tmp_path, tokenizer):
    metrics, run = train(long_files, tmp_path, "finetune", max_steps=2, batch_size=8, evaluations=1)
    documents = len(long_reviews(8, 1))
    assert metrics["train"]["windows"] > 2 * documents  # each review is several windows, each a training item
    info = json.loads((run / "model" / "transferkit.json").read_text())
    assert info["long_text"] == "chunks" and info["chunk_overlap"] == 4
    classifier = load_predictor(run / "model", device="cpu").uncalibrated
    texts = [text for text, _ in long_reviews(2, seed=9)]
    by_hand = []
    for text in texts:  # every window through the model alone, its logits averaged
        windows = encode_documents(tokenizer, [text], None, 16, 4).items
        with torch.inference_mode():
            logits = [classifier.model(**{k: torch.tensor([v]) for k, v in w.items()}).logits[0].numpy() for w in windows]
        by_hand.append(np.mean(logits, axis=0))
    assert classifier.predict_proba(texts) == pytest.approx(softmax(np.array(by_hand)), abs=1e-5)
    records = api.predict(str(run), texts)
    assert [r["score"] for r in records] == pytest.approx(load_predictor(run / "model", device="cpu").predict_proba(texts).max(1), abs=1e-5)


def test_features_embeds_a_long_text_as_the_mean_of_its_windows(long_files, tmp_path):
    metrics, run = train(long_files, tmp_path, "features")
    encoder_info = json.loads((run / "model" / "encoder.json").read_text())
    assert encoder_info["long_text"] == "chunks" and encoder_info["chunk_overlap"] == 4
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    encoder = load_predictor(run / "model", device="cpu").encoder
    text = long_reviews(1, seed=9)[0][0]
    encoder._load()
    windows = encode_documents(encoder._tokenizer, [text], None, 16, 4).items
    assert len(windows) > 2
    with torch.inference_mode():  # each window alone (no padding): the mean of its token vectors
        pooled = [encoder._model(**{k: torch.tensor([v]) for k, v in w.items()}).last_hidden_state[0].mean(0).numpy() for w in windows]
    assert encoder.embed([text])[0] == pytest.approx(np.mean(pooled, axis=0), abs=1e-4)
