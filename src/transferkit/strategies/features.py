"""`features`: a frozen encoder embeds each text once (mean pooling by default), and a
logistic-regression head is fitted on the vectors. The fastest transfer strategy, and
the right one when labels are very few."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from transferkit.serving.run_files import model_reference, read_json, resolve_reference
from transferkit.strategies import feature_cache
from transferkit.strategies.base import FitResult, Strategy
from transferkit.strategies.linear_head import LinearHead, fit_head, head_options
from transferkit.training.text_chunks import chunk_overlap, saved_settings


class Encoder:
    """A frozen transformers encoder that turns texts into pooled vectors, with the cache.
    `normalize` scales each vector to unit length (after the cache, which keeps the pooled
    vectors), for heads fitted on a contrastively tuned space where only directions count.
    `chunk_overlap` (`--long-text chunks`): a text's vector is the mean of its windows'."""

    def __init__(self, model: str, pooling: str, max_length: int, runtime, normalize: bool = False, chunk_overlap: int | None = None):
        self.model_name, self.pooling, self.max_length, self.runtime = model, pooling, max_length, runtime
        self.normalize, self.chunk_overlap = normalize, chunk_overlap
        self._model = self._tokenizer = None
        self.cache_hits = self.cache_misses = 0

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            self._model = self.runtime.place(AutoModel.from_pretrained(self.model_name, dtype=torch.float32))

    def embed(self, texts: list[str], pairs: list[str] | None = None, progress: str | None = None) -> np.ndarray:
        key = feature_cache.cache_key(self.model_name, self.pooling, self.max_length, texts, pairs, self.chunk_overlap)
        vectors = feature_cache.load(key)
        if vectors is not None:
            self.cache_hits += 1
        else:
            self.cache_misses += 1
            vectors = self._embed(texts, pairs, progress)
            feature_cache.store(key, vectors)
        if self.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def _pooled(self, out, batch) -> np.ndarray:
        return pool(out.last_hidden_state, batch["attention_mask"], self.pooling).cpu().numpy()

    def loaded(self):
        """The tokenizer and torch model (loaded on first use)."""
        self._load()
        return self._tokenizer, self._model

    def _embed(self, texts, pairs, progress) -> np.ndarray:
        from transferkit.training.text_chunks import encode_documents, per_document

        self._load()
        windows = encode_documents(self._tokenizer, texts, pairs, self.max_length, self.chunk_overlap)
        rows = self.runtime.rows(self._model, windows.items, self._tokenizer.pad_token_id, self._pooled, batch_size=64, progress=progress)
        return per_document(np.stack(rows), windows.document) if rows else np.zeros((0, self._model.config.hidden_size), dtype=np.float32)


def pool(hidden, attention_mask, pooling: str):
    """Token vectors `(batch, tokens, dim)` to one float32 vector per text (a torch tensor):
    the first token's (`cls`), or the mean over the attended tokens (`mean`)."""
    hidden = hidden.float()
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class HeadOnEncoder(Strategy):
    """A classify strategy whose run is a linear head over an encoder that `encoder.json`
    names (features, contrastive, zeroshot): it predicts through `FeaturesPredictor`."""

    linear_head = True

    def load_predictor(self, task, model_dir: Path, info: dict, runtime):
        return FeaturesPredictor(model_dir, info["labels"], runtime)


class Features(HeadOnEncoder):
    """Frozen features + a logistic-regression head: pooled text vectors for classify; for
    ner, every word's vector, the head written into a token classifier (`ner_features.py`)."""

    name = "features"

    def fit(self, task, cfg, data, model_path: str, model_dir: Path, checkpoints=None) -> FitResult:
        from transferkit.inference import Runtime

        runtime = Runtime.create(cfg.device)
        if task.name == "ner":
            from transferkit.strategies.ner_features import fit_tagger

            return fit_tagger(task, cfg, data, model_path, model_dir, runtime)
        encoder = Encoder(model_path, cfg.pooling, cfg.max_length, runtime, chunk_overlap=chunk_overlap(cfg))
        started = time.perf_counter()
        head = head_on_encoder(encoder, task, cfg, data, model_dir, model_reference(cfg.model))
        stats = {"C": head.C, "C_selection": head.selection, "feature_cache": {"hits": encoder.cache_hits, "misses": encoder.cache_misses}}
        return FitResult(time.perf_counter() - started, len(data.train), stats=stats)

    def load_predictor(self, task, model_dir: Path, info: dict, runtime):
        if task.name == "classify":
            return super().load_predictor(task, model_dir, info, runtime)
        return task.load_predictor(model_dir, info, runtime)  # ner: a token classifier


STRATEGIES = {"features": Features()}


def head_on_encoder(encoder: Encoder, task, cfg, data, model_dir: Path, reference: str, without_dev_C: float | None = None) -> LinearHead:
    """A logistic head fitted on `encoder`'s vectors of the training texts (regularisation on
    dev, else `without_dev_C` or by cross-validation), saved into `model_dir` with the
    `encoder.json` that names the encoder by `reference` for `FeaturesPredictor`."""
    labels = data.labels
    y = task.targets(data.train, labels)
    X = encoder.embed(data.train.texts, data.train.pairs, progress="embed train")
    X_dev = y_dev = None
    if data.dev is not None:
        X_dev = encoder.embed(data.dev.texts, data.dev.pairs, progress="embed dev")
        y_dev = task.targets(data.dev, labels)
    head = fit_head(X, y, X_dev, y_dev, seed=cfg.seed, standardize=not encoder.normalize, without_dev_C=without_dev_C, **head_options(task, cfg, data))
    head.save(model_dir)
    save_encoder_info(model_dir, encoder, reference)
    return head


def save_encoder_info(model_dir: Path, encoder: Encoder, reference: str) -> None:
    """`encoder.json`: the encoder a head reads (by `reference`) and how it embeds."""
    info = {"encoder": reference, "pooling": encoder.pooling, "max_length": encoder.max_length, "normalize": encoder.normalize,
            **saved_settings(encoder.chunk_overlap)}
    (model_dir / "encoder.json").write_text(json.dumps(info, indent=2))


class FeaturesPredictor:
    """The run's head over the encoder that `encoder.json` names: an offline model by its
    name (so the run works wherever that model is installed), a local one by its path."""

    def __init__(self, model_dir: Path, labels: list[str], runtime):
        info = read_json(model_dir / "encoder.json")
        self.labels = labels
        inside = model_dir / info["encoder"]  # a tuned encoder the run holds (contrastive), by its relative path
        source = str(inside) if not Path(info["encoder"]).is_absolute() and (inside / "config.json").is_file() else resolve_reference(info["encoder"], model_dir / "encoder.json")
        self.encoder = Encoder(source, info["pooling"], info["max_length"], runtime, info.get("normalize", False), chunk_overlap(info))
        self.head = LinearHead.load(model_dir)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        return self.head.predict_proba(self.encoder.embed(texts, pairs, progress="embed"))

    def explain(self, texts: list[str], pairs: list[str] | None = None, targets: list[int] | None = None):
        """Integrated gradients through encoder, pooling, normalisation, standardisation and
        head, composed in torch (see `evaluation/explain.py`)."""
        import torch

        from transferkit.evaluation.explain import decision_scores, integrated_gradients

        tokenizer, model = self.encoder.loaded()
        device = self.encoder.runtime.device
        tensor = lambda a: None if a is None else torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
        coef, intercept, mean, scale = (tensor(a) for a in (self.head.coef, self.head.intercept, self.head.mean, self.head.scale))

        def forward(input_ids, attention_mask, token_type_ids=None):
            vectors = pool(model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state, attention_mask, self.encoder.pooling)
            if self.encoder.normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=1, eps=1e-12)
            if mean is not None:
                vectors = (vectors - mean) / scale
            return decision_scores(vectors @ coef.T + intercept)

        return integrated_gradients(forward, model, tokenizer, self.encoder.runtime, texts, pairs, self.encoder.max_length, targets)
