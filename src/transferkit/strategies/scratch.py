"""`scratch`: the finetune architecture and loop from random initialisation, with the
pretrained tokenizer: the no-transfer baseline that shows what pretraining bought."""

from __future__ import annotations

from pathlib import Path

from transferkit.strategies import finetune

# No layer-wise decay: random lower layers have nothing worth protecting.
RECIPE = finetune.Recipe(lr=1e-4, layer_lr_decay=1.0)


def fit(cfg, data, model_path: str, model_dir: Path) -> dict:
    return finetune.fit(cfg, data, model_path, model_dir, from_scratch=True, recipe=RECIPE)
