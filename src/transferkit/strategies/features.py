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


class Encoder:
    """A frozen transformers encoder that turns texts into pooled vectors, with the cache.
    `normalize` scales each vector to unit length (after the cache, which keeps the pooled
    vectors), for heads fitted on a contrastively tuned space where only directions count."""

    def __init__(self, model: str, pooling: str, max_length: int, runtime, normalize: bool = False):
        self.model_name, self.pooling, self.max_length, self.runtime = model, pooling, max_length, runtime
        self.normalize = normalize
        self._model = self._tokenizer = None
        self.cache_hits = self.cache_misses = 0

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            self._model = self.runtime.place(AutoModel.from_pretrained(self.model_name, dtype=torch.float32))

    def embed(self, texts: list[str], pairs: list[str] | None = None, progress: str | None = None) -> np.ndarray:
        key = feature_cache.cache_key(self.model_name, self.pooling, self.max_length, texts, pairs)
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
        hidden = out.last_hidden_state.float()
        if self.pooling == "cls":
            return hidden[:, 0].cpu().numpy()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).cpu().numpy()

    def _embed(self, texts, pairs, progress) -> np.ndarray:
        from transferkit.training.batching import encode_texts

        self._load()
        items = encode_texts(self._tokenizer, texts, pairs, self.max_length)
        rows = self.runtime.rows(self._model, items, self._tokenizer.pad_token_id, self._pooled, batch_size=64, progress=progress)
        return np.stack(rows) if rows else np.zeros((0, self._model.config.hidden_size), dtype=np.float32)


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
        encoder = Encoder(model_path, cfg.pooling, cfg.max_length, runtime)
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
    y = np.array([labels.index(label) for label in data.train.labels])
    X = encoder.embed(data.train.texts, data.train.pairs, progress="embed train")
    X_dev = y_dev = None
    if data.dev is not None:
        X_dev = encoder.embed(data.dev.texts, data.dev.pairs, progress="embed dev")
        y_dev = np.array([labels.index(label) for label in data.dev.labels])
    head = fit_head(X, y, X_dev, y_dev, seed=cfg.seed, standardize=not encoder.normalize, without_dev_C=without_dev_C, **head_options(task, cfg, data))
    head.save(model_dir)
    save_encoder_info(model_dir, encoder, reference)
    return head


def save_encoder_info(model_dir: Path, encoder: Encoder, reference: str) -> None:
    """`encoder.json`: the encoder a head reads (by `reference`) and how it embeds."""
    info = {"encoder": reference, "pooling": encoder.pooling, "max_length": encoder.max_length, "normalize": encoder.normalize}
    (model_dir / "encoder.json").write_text(json.dumps(info, indent=2))


class FeaturesPredictor:
    """The run's head over the encoder that `encoder.json` names: an offline model by its
    name (so the run works wherever that model is installed), a local one by its path."""

    def __init__(self, model_dir: Path, labels: list[str], runtime):
        info = read_json(model_dir / "encoder.json")
        self.labels = labels
        inside = model_dir / info["encoder"]  # a tuned encoder the run holds (contrastive), by its relative path
        source = str(inside) if not Path(info["encoder"]).is_absolute() and (inside / "config.json").is_file() else resolve_reference(info["encoder"], model_dir / "encoder.json")
        self.encoder = Encoder(source, info["pooling"], info["max_length"], runtime, info.get("normalize", False))
        self.head = LinearHead.load(model_dir)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        return self.head.predict_proba(self.encoder.embed(texts, pairs, progress="embed"))
