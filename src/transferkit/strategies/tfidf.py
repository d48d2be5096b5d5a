"""`tfidf`: TF-IDF over word 1-2-grams + logistic regression, the classic no-transfer
baseline. The vectoriser is saved as its vocabulary and IDF weights (JSON +
safetensors) and rebuilt on load, so nothing is pickled."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import TfidfVectorizer

from transferkit.errors import UserError
from transferkit.serving.run_files import read_json, safetensors_shapes
from transferkit.strategies.base import FitResult
from transferkit.strategies.linear_head import HeadOnly, LinearHead, fit_head, head_options

VECTORIZER = {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": True, "min_df": 1}
PAIR_SEPARATOR = " ||| "


def _join(texts: list[str], pairs: list[str] | None) -> list[str]:
    return texts if pairs is None else [a + PAIR_SEPARATOR + b for a, b in zip(texts, pairs)]


def train_head(task, cfg, data, model_dir: Path) -> FitResult:
    labels = data.labels
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(**VECTORIZER)
    try:
        X = vectorizer.fit_transform(_join(data.train.texts, data.train.pairs))
    except ValueError:  # scikit-learn's "empty vocabulary": no word of two or more letters
        raise UserError(data.train.path, "no text has a word of two or more letters or digits; tfidf has nothing to learn from") from None
    y = task.targets(data.train, labels)
    X_dev = y_dev = None
    if data.dev is not None:
        X_dev = vectorizer.transform(_join(data.dev.texts, data.dev.pairs))
        y_dev = task.targets(data.dev, labels)
    head = fit_head(X, y, X_dev, y_dev, seed=cfg.seed, standardize=False, **head_options(task, cfg, data))
    seconds = time.perf_counter() - started
    head.save(model_dir)
    vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
    (model_dir / "vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False))
    save_file({"idf": vectorizer.idf_.astype(np.float64)}, str(model_dir / "idf.safetensors"))
    return FitResult(seconds, len(data.train), stats={"C": head.C, "C_selection": head.selection, "features": len(vocabulary)})


class TfidfPredictor:
    def __init__(self, model_dir: Path, labels: list[str]):
        self.labels = labels
        self.vectorizer = TfidfVectorizer(**VECTORIZER)
        self.vectorizer.vocabulary_ = read_json(model_dir / "vocabulary.json")
        safetensors_shapes(model_dir / "idf.safetensors")
        self.vectorizer.idf_ = load_file(str(model_dir / "idf.safetensors"))["idf"]
        self.head = LinearHead.load(model_dir)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        return self.head.predict_proba(self.vectorizer.transform(_join(texts, pairs)))

    def explain(self, texts: list[str], pairs: list[str] | None = None, targets: list[int] | None = None):
        """Each word and word pair's TF-IDF value times its weight, exactly (see
        `evaluation/explain.py`), in the order the analyser meets them (words, then pairs)."""
        from scipy import sparse

        from transferkit.evaluation.explain import linear_contributions

        documents = _join(texts, pairs)
        X = self.vectorizer.transform(documents).tocsr()
        names, analyse = self.vectorizer.get_feature_names_out(), self.vectorizer.build_analyzer()
        parts = []
        for document, row in zip(documents, X):
            first = {gram: i for i, gram in reversed(list(enumerate(analyse(document))))}
            value = dict(zip(row.indices, row.data))
            columns = sorted(value, key=lambda j: first[names[j]])
            values = sparse.csr_matrix(([value[j] for j in columns], (range(len(columns)), columns)), shape=(len(columns), X.shape[1]))
            parts.append(([str(names[j]) for j in columns], values))
        return linear_contributions(self.head, X, parts, targets)


STRATEGIES = {"tfidf": HeadOnly("tfidf", train_head, TfidfPredictor)}
