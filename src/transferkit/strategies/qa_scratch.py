"""`scratch` for extractive QA: the finetune architecture and loop from random
initialisation, with the pretrained tokenizer: the no-transfer baseline."""

from __future__ import annotations

from pathlib import Path

from transferkit.strategies import finetune, qa_finetune

# NER's scratch choice (5e-4 beat 1e-4 on CoNLL dev); not searched again for QA.
RECIPE = finetune.Recipe(lr=5e-4, layer_lr_decay=1.0, min_epochs=10)


def fit(cfg, data, model_path: str, model_dir: Path) -> dict:
    return qa_finetune.fit(cfg, data, model_path, model_dir, from_scratch=True, recipe=RECIPE)
