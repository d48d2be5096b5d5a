"""`wordvec`: each text becomes the average of its words' vectors (word2vec or GloVe),
optionally weighted by TF-IDF, and a logistic-regression head is fitted on that: the
pre-transformer transfer baseline.

The average is computed here rather than through scikit-learn's TfidfVectorizer, whose
vocabulary is the training texts' words: a word unseen in training but known to the
vectors must still count at prediction time, which is the point of transferring vectors.
`--weighting tfidf` weighs each occurrence by the word's inverse document frequency in
the training texts (scikit-learn's smoothed formula; a word unseen there gets the
largest). The run's model/ holds the head (safetensors), the IDF table (JSON) and a
reference to the vectors, which are not copied.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np

from transferkit.errors import UserError
from transferkit.models.word_vectors import GLOVE, load_vectors
from transferkit.serving.run_files import read_json
from transferkit.strategies.base import FitResult
from transferkit.strategies.linear_head import HeadOnly, LinearHead, fit_head, head_options


class TextVectors:
    """Texts to averaged word vectors with the vectors' own tokenisation."""

    def __init__(self, vectors, tokenisation, idf: dict[str, float] | None = None, unseen_idf: float = 1.0):
        self.vectors, self.tokenisation = vectors, tokenisation
        self.idf, self.unseen_idf = idf, unseen_idf

    @classmethod
    def from_source(cls, source: str, idf: dict[str, float] | None = None, unseen_idf: float = 1.0) -> "TextVectors":
        return cls(*load_vectors(source), idf, unseen_idf)

    def fit_idf(self, texts: list[str]) -> None:
        """Weigh words by their inverse document frequency in `texts` (the training split)."""
        df = Counter(word for text in texts for word in set(self.tokenisation.words(text)))
        n = len(texts)
        self.idf = {word: math.log((1 + n) / (1 + count)) + 1 for word, count in df.items()}
        self.unseen_idf = math.log(1 + n) + 1

    def embed(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        single = np.stack([self._average(text) for text in texts])
        return single if pairs is None else np.hstack([single, self.embed(pairs)])

    def _average(self, text: str) -> np.ndarray:
        index = self.vectors.key_to_index
        words = [w for w in self.tokenisation.words(text) if w in index]
        if not words:
            return np.zeros(self.vectors.vector_size, dtype=np.float32)
        weights = np.array([self._weight(w) for w in words], dtype=np.float32)
        return weights @ self.vectors.vectors[[index[w] for w in words]] / weights.sum()

    def _weight(self, word: str) -> float:
        return 1.0 if self.idf is None else self.idf.get(word, self.unseen_idf)

    def shares(self, text: str) -> tuple[list[str], np.ndarray]:
        """Every word of `text` and its share of the text's average vector, `(words, dim)`
        (zeros for a word without a vector): the rows sum to the average."""
        index = self.vectors.key_to_index
        words = self.tokenisation.words(text)
        weights = np.array([self._weight(w) if w in index else 0.0 for w in words])
        rows = np.zeros((len(words), self.vectors.vector_size))
        for i, word in enumerate(words):
            if word in index:
                rows[i] = self.vectors.vectors[index[word]]
        return words, (weights / (weights.sum() or 1.0))[:, None] * rows

    def coverage(self, texts: list[str]) -> float:
        """The fraction of word occurrences that have a vector."""
        words = [w for text in texts for w in self.tokenisation.words(text)]
        return sum(w in self.vectors.key_to_index for w in words) / max(1, len(words))


def _source(vectors: str) -> str:
    """The reference stored in the run: the offline name, or an absolute directory."""
    return vectors if vectors == GLOVE else str(Path(vectors).expanduser().resolve())


def train_head(task, cfg, data, model_dir: Path) -> FitResult:
    labels = data.labels
    started = time.perf_counter()
    source = _source(cfg.vectors)
    vectors = TextVectors.from_source(source)
    if cfg.weighting == "tfidf":
        vectors.fit_idf(data.train.texts)
    X = vectors.embed(data.train.texts, data.train.pairs)
    y = task.targets(data.train, labels)
    X_dev = y_dev = None
    if data.dev is not None:
        X_dev = vectors.embed(data.dev.texts, data.dev.pairs)
        y_dev = task.targets(data.dev, labels)
    head = fit_head(X, y, X_dev, y_dev, seed=cfg.seed, **head_options(task, cfg, data))
    seconds = time.perf_counter() - started
    head.save(model_dir)
    info = {"vectors": source, "weighting": cfg.weighting, "idf": vectors.idf, "unseen_idf": vectors.unseen_idf}
    (model_dir / "wordvec.json").write_text(json.dumps(info, ensure_ascii=False))
    stats = {"C": head.C, "C_selection": head.selection, "vectors": source, "weighting": cfg.weighting, "word_coverage": vectors.coverage(data.train.texts)}
    return FitResult(seconds, len(data.train), stats=stats)


class WordvecPredictor:
    def __init__(self, model_dir: Path, labels: list[str]):
        info = read_json(model_dir / "wordvec.json")
        self.labels = labels
        if info["vectors"] != GLOVE and not Path(info["vectors"]).is_dir():
            raise UserError(str(model_dir / "wordvec.json"), f"refers to the word vectors {info['vectors']}, which are not on this machine; restore them there, or retrain the run")
        self.vectors = TextVectors.from_source(info["vectors"], info["idf"], info["unseen_idf"])
        self.head = LinearHead.load(model_dir)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        return self.head.predict_proba(self.vectors.embed(texts, pairs))

    def explain(self, texts: list[str], pairs: list[str] | None = None, targets: list[int] | None = None):
        """Each word's share of the averaged vector times the (standardised) head's weights,
        exactly (see `evaluation/explain.py`); a word without a vector scores 0."""
        from scipy.linalg import block_diag

        from transferkit.evaluation.explain import linear_contributions

        parts = [self.vectors.shares(text) for text in texts]
        if pairs is not None:  # a pair's vector is [text average, pair average]
            parts = [(a + b, block_diag(A, B)) for (a, A), (b, B) in zip(parts, (self.vectors.shares(p) for p in pairs))]
        return linear_contributions(self.head, self.vectors.embed(texts, pairs), parts, targets)


STRATEGIES = {"wordvec": HeadOnly("wordvec", train_head, WordvecPredictor)}
