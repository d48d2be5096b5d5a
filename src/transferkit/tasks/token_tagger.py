"""Per-word tag probabilities from a transformers token classifier, over word windows.

Every NER strategy writes a `*ForTokenClassification` directory with IOB2 `id2label`
(features too: its linear head becomes the classifier layer), so this one predictor
serves them all, and `transformers.pipeline("token-classification")` reads the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from transferkit.progress import batch_progress
from transferkit.tasks import iob2_decoding
from transferkit.training.batching import PadCollator, sorted_batches
from transferkit.training.word_windows import EncodedWords, encode_words


def default_stride(max_length: int) -> int:
    """Sub-words shared by consecutive windows of a long sentence when the user gave no stride."""
    return max_length // 4


@torch.inference_mode()
def per_word(forward, encoded: EncodedWords, lengths: list[int], width: int, pad_token_id: int, batch_size: int = 64,
             progress: str | None = None) -> list[np.ndarray]:
    """`forward(batch) -> (batch, tokens, width)` read at every word's first sub-word, in
    the window that word is read from: one `(words, width)` array per sentence (with a
    bar named `progress` when the batches are many)."""
    collate = PadCollator(pad_token_id)
    out = [np.zeros((n, width), dtype=np.float32) for n in lengths]
    inputs = [{k: v for k, v in item.items() if k != "labels"} for item in encoded.items]
    for batch_ids in batch_progress(sorted_batches([len(item["input_ids"]) for item in inputs], batch_size), progress):
        values = forward(collate([inputs[i] for i in batch_ids])).float().cpu().numpy()
        for row, i in enumerate(batch_ids):
            for sentence, word, position in encoded.reads[i]:
                out[sentence][word] = values[row, position]
    return out


def on_device(model, batch: dict) -> dict:
    device = next(model.parameters()).device
    return {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def word_probabilities(model, encoded: EncodedWords, lengths: list[int], pad_token_id: int, progress: str | None = None) -> list[np.ndarray]:
    """Softmax tag probabilities for every word of every sentence (`lengths` words each)."""
    was_training = model.training
    model.eval()
    forward = lambda batch: torch.softmax(model(**on_device(model, batch)).logits.float(), dim=-1)  # noqa: E731
    out = per_word(forward, encoded, lengths, model.config.num_labels, pad_token_id, progress=progress)
    model.train(was_training)
    return out


def best_tags(model, probabilities: list[np.ndarray]) -> tuple[list[list[str]], list[np.ndarray]]:
    """The most probable valid IOB2 tags of each sentence, and each tag's probability."""
    return iob2_decoding.decode(probabilities, [model.config.id2label[i] for i in range(model.config.num_labels)])


class TokenTagger:
    """A run's NER model directory, loaded once for tagging."""

    def __init__(self, model_dir: Path, labels: list[str], max_length: int, stride: int, context: str = "sentence"):
        from transformers import AutoModelForTokenClassification

        from transferkit.serving.run_files import tokenizer_and_model

        self.labels, self.max_length, self.stride, self.context = labels, max_length, stride, context
        self.tokenizer, self.model = tokenizer_and_model(model_dir, AutoModelForTokenClassification)

    def probabilities(self, sentences: list[list[str]], documents: list[int] | None = None) -> list[np.ndarray]:
        """Every word's tag probabilities, `(words, tags)` per sentence; a model trained
        with document context reads `documents`' sentences together."""
        documents = documents if self.context == "document" else None
        encoded = encode_words(self.tokenizer, sentences, self.max_length, self.stride, documents=documents)
        lengths = [len(sentence) for sentence in sentences]
        return word_probabilities(self.model, encoded, lengths, self.tokenizer.pad_token_id, progress="tag")

    def tag(self, sentences: list[list[str]], documents: list[int] | None = None) -> tuple[list[list[str]], list[np.ndarray]]:
        """The most probable valid IOB2 tags of each sentence, and each tag's probability."""
        return best_tags(self.model, self.probabilities(sentences, documents))
