"""On-disk cache of frozen-encoder embeddings.

Embedding texts is the expensive part of the `features` strategy; fitting the head takes
seconds. The cache key covers everything that changes the vectors (the model's identity,
pooling, maximum length, the texts themselves) and nothing that does not (the head, the
seed), so a second run that only changes the head skips the encoder. Arrays are stored as
`.npy` and loaded with `allow_pickle=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from transferkit.cache import cache_root


def cache_dir() -> Path:
    return cache_root() / "features"


def model_identity(model: str) -> dict:
    """A local model is identified by its path and its weight files' sizes and times,
    so retraining a directory in place invalidates its entries; a hub id by its name."""
    path = Path(model)
    if not path.is_dir():
        return {"hub_id": model}
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
    return {"path": str(path.resolve()), "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]}


def cache_key(model: str, pooling: str, max_length: int, texts: list[str], pairs: list[str] | None, chunk_overlap: int | None = None) -> str:
    """`chunk_overlap`: texts embedded as the mean of their windows (truncated texts keep the keys they had)."""
    h = hashlib.sha256()
    h.update(json.dumps([model_identity(model), pooling, max_length, *([] if chunk_overlap is None else [chunk_overlap])]).encode())
    for i, text in enumerate(texts):
        h.update(text.encode())
        h.update(b"\x00" + (pairs[i].encode() if pairs else b"") + b"\x01")
    return h.hexdigest()[:32]


def load(key: str) -> np.ndarray | None:
    path = cache_dir() / f"{key}.npy"
    return np.load(path, allow_pickle=False) if path.exists() else None


def store(key: str, vectors: np.ndarray) -> None:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.npy"
    np.save(tmp, vectors, allow_pickle=False)
    os.replace(tmp, folder / f"{key}.npy")
