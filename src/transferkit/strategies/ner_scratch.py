"""`scratch` for NER: the finetune architecture and loop from random initialisation, with
the pretrained tokenizer: the no-transfer baseline."""

from __future__ import annotations

from pathlib import Path

from transferkit.strategies import ner_finetune
from transferkit.strategies.scratch import DEFAULT_LR


def fit(cfg, data, model_path: str, model_dir: Path) -> dict:
    return ner_finetune.fit(cfg, data, model_path, model_dir, from_scratch=True, default_lr=DEFAULT_LR, default_layer_lr_decay=1.0)
