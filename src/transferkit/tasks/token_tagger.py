"""Per-word tag probabilities from a transformers token classifier, over word windows.

Every NER strategy writes a `*ForTokenClassification` directory with IOB2 `id2label`
(features too: its linear head becomes the classifier layer), so this one predictor
serves them all, and `transformers.pipeline("token-classification")` reads the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transferkit.inference import as_array, softmax
from transferkit.tasks import iob2_decoding
from transferkit.tasks.word_windows import EncodedWords, encode_words


def per_word(runtime, model, read, encoded: EncodedWords, lengths: list[int], width: int, pad_token_id: int,
             progress: str | None = None) -> list[np.ndarray]:
    """`read(outputs, batch) -> (batch, tokens, width)` taken at every word's first sub-word,
    in the window that word is read from: one `(words, width)` array per sentence."""
    out = [np.zeros((n, width), dtype=np.float32) for n in lengths]
    for batch_ids, values in runtime.batches(model, encoded.items, pad_token_id, read, batch_size=64, progress=progress):
        for row, i in enumerate(batch_ids):
            for sentence, word, position in encoded.reads[i]:
                out[sentence][word] = values[row, position]
    return out


def word_probabilities(runtime, model, encoded: EncodedWords, lengths: list[int], pad_token_id: int, progress: str | None = None) -> list[np.ndarray]:
    """Softmax tag probabilities for every word of every sentence (`lengths` words each)."""
    read = lambda out, batch: softmax(as_array(out.logits))  # noqa: E731
    return per_word(runtime, model, read, encoded, lengths, model.config.num_labels, pad_token_id, progress)


def best_tags(model, probabilities: list[np.ndarray]) -> tuple[list[list[str]], list[np.ndarray]]:
    """The most probable valid IOB2 tags of each sentence, and each tag's probability."""
    return iob2_decoding.decode(probabilities, [model.config.id2label[i] for i in range(model.config.num_labels)])


class TokenTagger:
    """A run's NER model directory, loaded once for tagging."""

    def __init__(self, model_dir: Path, labels: list[str], max_length: int, stride: int, context: str, runtime):
        self.labels, self.max_length, self.stride, self.context, self.runtime = labels, max_length, stride, context, runtime
        self.tokenizer, self.model = runtime.load(model_dir, "AutoModelForTokenClassification")

    def probabilities(self, sentences: list[list[str]], documents: list[int] | None = None) -> list[np.ndarray]:
        """Every word's tag probabilities, `(words, tags)` per sentence; a model trained
        with document context reads `documents`' sentences together."""
        documents = documents if self.context == "document" else None
        encoded = encode_words(self.tokenizer, sentences, self.max_length, self.stride, documents=documents)
        lengths = [len(sentence) for sentence in sentences]
        return word_probabilities(self.runtime, self.model, encoded, lengths, self.tokenizer.pad_token_id, progress="tag")

    def tag(self, sentences: list[list[str]], documents: list[int] | None = None) -> tuple[list[list[str]], list[np.ndarray]]:
        """The most probable valid IOB2 tags of each sentence, and each tag's probability."""
        return best_tags(self.model, self.probabilities(sentences, documents))
