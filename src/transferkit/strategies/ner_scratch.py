"""`scratch` for NER: the finetune architecture and loop from random initialisation, with
the pretrained tokenizer: the no-transfer baseline."""

from __future__ import annotations

from pathlib import Path

from transferkit.strategies import finetune, ner_finetune

# Chosen on CoNLL-2003 dev like the finetune recipe: 5e-4 beat 1e-4 (bench/results/ner_recipe.md).
RECIPE = finetune.Recipe(lr=5e-4, layer_lr_decay=1.0, min_epochs=8)


def fit(cfg, data, model_path: str, model_dir: Path) -> dict:
    return ner_finetune.fit(cfg, data, model_path, model_dir, from_scratch=True, recipe=RECIPE)
