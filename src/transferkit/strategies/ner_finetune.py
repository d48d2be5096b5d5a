"""`finetune` for NER: the pretrained encoder and a new per-token classifier trained
together, on first-sub-word labels, with the dev set's entity F1 choosing the checkpoint.

The directory it writes is a plain `*ForTokenClassification` one with IOB2 `id2label`,
so `transformers.pipeline("token-classification", aggregation_strategy="simple")` reads it.
"""

from __future__ import annotations

from pathlib import Path

from transferkit.strategies import finetune
from transferkit.tasks.ner import entity_metrics
from transferkit.tasks.token_tagger import best_tags, word_probabilities
from transferkit.training.word_windows import encode_words

# Chosen on the CoNLL-2003 *dev* split (bench/ner_recipe.py, bench/results/ner_recipe*.md):
# dev F1 still rose at the last step of every shorter schedule, and with document context
# (full 128-token windows, a quarter as many examples per epoch) batches of 8 did best.
RECIPE = finetune.Recipe(lr=2e-4, layer_lr_decay=0.8, min_epochs=8, batch_size=8)


def build_model(model_path: str, labels: list[str], from_scratch: bool):
    from transformers import AutoModelForTokenClassification

    return finetune.build_model(model_path, labels, from_scratch, AutoModelForTokenClassification)


def documents_of(split, cfg) -> list[int] | None:
    """The split's document numbers when words read their document's context, else None."""
    return split.documents if cfg.inference_settings()["context"] == "document" else None


def dev_f1_scorer(tokenizer, dev, max_length: int, window_stride: int, documents: list[int] | None):
    """The loop's dev metric: entity F1 on the dev split, tokenized once here."""
    encoded = encode_words(tokenizer, dev.tokens, max_length, window_stride, documents=documents)
    lengths = [len(sentence) for sentence in dev.tokens]

    def score(model) -> float:
        predicted, _ = best_tags(model, word_probabilities(model, encoded, lengths, tokenizer.pad_token_id))
        return entity_metrics(dev.tags, predicted)["f1"]

    return score


def fit(cfg, data, model_path: str, model_dir: Path, from_scratch: bool = False, recipe: finetune.Recipe = RECIPE) -> dict:
    tokenizer, model = finetune.tokenizer_and_model(cfg, model_path, lambda: build_model(model_path, data.labels, from_scratch))
    label_ids = {label: i for i, label in enumerate(data.labels)}
    tag_ids = [[label_ids[t] for t in tags] for tags in data.train.tags]
    stride = cfg.inference_settings()["stride"]
    train_items = encode_words(tokenizer, data.train.tokens, cfg.max_length, stride, tag_ids, documents_of(data.train, cfg)).items
    score_dev = None
    if data.dev is not None:
        score_dev = dev_f1_scorer(tokenizer, data.dev, cfg.max_length, stride, documents_of(data.dev, cfg))
    stats = finetune.train_and_save(cfg, model, tokenizer, train_items, score_dev, model_dir, recipe)
    stats["best_dev_f1"] = stats.pop("best_dev")
    stats["windows"] = len(train_items)
    return stats
