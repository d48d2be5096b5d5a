"""`scratch` for causal language modelling: the same architecture and loop from random
weights, with the pretrained tokenizer: the no-transfer baseline."""

from __future__ import annotations

from pathlib import Path

from transferkit.strategies import finetune, lm_finetune

RECIPE = finetune.Recipe(lr=5e-4, layer_lr_decay=1.0, min_epochs=1)


def fit(cfg, data, model_path: str, model_dir: Path) -> dict:
    return lm_finetune.fit(cfg, data, model_path, model_dir, from_scratch=True, recipe=RECIPE)
