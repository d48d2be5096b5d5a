"""`features`: a frozen encoder embeds each text once (mean pooling by default), and a
logistic-regression head is fitted on the vectors. The fastest transfer strategy, and
the right one when labels are very few."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from transferkit.progress import batch_progress
from transferkit.serving.run_files import model_reference, read_json, resolve_reference
from transferkit.strategies import feature_cache
from transferkit.strategies.linear_head import LinearHead, fit_head
from transferkit.training.batching import PadCollator, encode_texts, sorted_batches


class Encoder:
    """A frozen transformers encoder that turns texts into pooled vectors, with the cache."""

    def __init__(self, model: str, pooling: str = "mean", max_length: int = 128, batch_size: int = 64):
        self.model_name, self.pooling, self.max_length, self.batch_size = model, pooling, max_length, batch_size
        self._model = self._tokenizer = None
        self.cache_hits = self.cache_misses = 0

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            self._model = AutoModel.from_pretrained(self.model_name, dtype=torch.float32).eval()
            if torch.cuda.is_available():
                self._model.cuda()

    def embed(self, texts: list[str], pairs: list[str] | None = None, progress: str | None = None) -> np.ndarray:
        key = feature_cache.cache_key(self.model_name, self.pooling, self.max_length, texts, pairs)
        cached = feature_cache.load(key)
        if cached is not None:
            self.cache_hits += 1
            return cached
        self.cache_misses += 1
        vectors = self._embed(texts, pairs, progress)
        feature_cache.store(key, vectors)
        return vectors

    @torch.inference_mode()
    def _embed(self, texts, pairs, progress) -> np.ndarray:
        self._load()
        items = encode_texts(self._tokenizer, texts, pairs, self.max_length)
        collate = PadCollator(self._tokenizer.pad_token_id)
        device = next(self._model.parameters()).device
        out = np.zeros((len(items), self._model.config.hidden_size), dtype=np.float32)
        batches = sorted_batches([len(item["input_ids"]) for item in items], self.batch_size)
        for ids in batch_progress(batches, progress):
            batch = {k: v.to(device) for k, v in collate([items[i] for i in ids]).items()}
            hidden = self._model(**batch).last_hidden_state.float()
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[ids] = pooled.cpu().numpy()
        return out


def fit(cfg, data, model_path: str, model_dir: Path) -> dict:
    encoder = Encoder(model_path, cfg.pooling, cfg.max_length)
    labels = data.labels
    y = np.array([labels.index(label) for label in data.train.labels])
    started = time.perf_counter()
    X = encoder.embed(data.train.texts, data.train.pairs, progress="embed train")
    X_dev = y_dev = None
    if data.dev is not None:
        X_dev = encoder.embed(data.dev.texts, data.dev.pairs, progress="embed dev")
        y_dev = np.array([labels.index(label) for label in data.dev.labels])
    head = fit_head(X, y, X_dev, y_dev, seed=cfg.seed)
    seconds = time.perf_counter() - started
    head.save(model_dir)
    info = {"encoder": model_reference(cfg.model), "pooling": cfg.pooling, "max_length": cfg.max_length}
    (model_dir / "encoder.json").write_text(json.dumps(info, indent=2))
    return {
        "seconds": seconds,
        "examples": len(data.train),
        "C": head.C,
        "C_selection": head.selection,
        "feature_cache": {"hits": encoder.cache_hits, "misses": encoder.cache_misses},
    }


class FeaturesPredictor:
    """The run's head over the encoder that `encoder.json` names: an offline model by its
    name (so the run works wherever that model is installed), a local one by its path."""

    def __init__(self, model_dir: Path, labels: list[str]):
        info = read_json(model_dir / "encoder.json")
        self.labels = labels
        self.encoder = Encoder(resolve_reference(info["encoder"], model_dir / "encoder.json"), info["pooling"], info["max_length"])
        self.head = LinearHead.load(model_dir)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        return self.head.predict_proba(self.encoder.embed(texts, pairs, progress="embed"))
