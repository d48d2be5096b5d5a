"""`zeroshot`: each text gets the label whose text (its name, or its `--label-descriptions`
sentence) is nearest by cosine in the encoder's space. It trains on no labelled text, so
a learning curve starts at 0 labels (`--labels-per-class 0`); the training file gives the
label set.

The result is a `features` run whose head is the label texts' unit vectors over the
encoder's unit vectors, scaled by 1 / `TEMPERATURE` (the contrastive stage's temperature),
so `predict` and `evaluate` go through the `features` predictor and its scores are a
softmax over cosine similarities.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from transferkit.strategies.base import FitResult
from transferkit.strategies.features import Encoder, HeadOnEncoder, save_encoder_info


class Zeroshot(HeadOnEncoder):
    name = "zeroshot"

    def fit(self, task, cfg, data, model_path: str, model_dir: Path, checkpoints=None) -> FitResult:
        from transferkit.data.label_texts import label_texts
        from transferkit.inference import Runtime
        from transferkit.serving.run_files import model_reference
        from transferkit.strategies.contrastive import TEMPERATURE
        from transferkit.strategies.linear_head import LinearHead

        started = time.perf_counter()
        encoder = Encoder(model_path, "mean", cfg.max_length, Runtime.create(cfg.device), normalize=True)
        texts = label_texts(cfg.label_descriptions, data.labels)
        vectors = encoder.embed(texts)
        source = "--label-descriptions" if cfg.label_descriptions else "label names"
        head = LinearHead(vectors / TEMPERATURE, np.zeros(len(texts)), None, None, 1 / TEMPERATURE, f"none: the {source}' vectors")
        head.save(model_dir)
        save_encoder_info(model_dir, encoder, model_reference(cfg.model))
        return FitResult(time.perf_counter() - started, 0, stats={"label_texts": dict(zip(data.labels, texts))})


STRATEGIES = {"zeroshot": Zeroshot()}
