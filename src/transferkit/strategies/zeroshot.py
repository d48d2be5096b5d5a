"""`zeroshot`: each text gets the label whose text (its name, or its `--label-descriptions`
sentence) is nearest by cosine in the encoder's space. It trains on no labelled text, so
a learning curve starts at 0 labels (`--labels-per-class 0`); the training file gives the
label set.

The result is a `features` run whose head is the label texts' unit vectors over the
encoder's unit vectors, scaled by 1 / `TEMPERATURE` (the contrastive stage's temperature),
so `predict` and `evaluate` go through the `features` predictor and its scores are a
softmax over cosine similarities.

It refuses `--multi-label`: a softmax picks one label, and a sigmoid of a cosine similarity
has no scale that says "applies" without labelled texts to set a threshold on.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from transferkit.errors import UserError
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
        from transferkit.training.text_chunks import chunk_overlap

        if data.train.multi_label:
            raise UserError("--multi-label", "zeroshot picks one label per text; for several, train features or contrastive on a few labelled texts per label (--labels-per-class 1 or more)")
        started = time.perf_counter()
        # the label texts are short; the overlap is for the texts the run will predict
        encoder = Encoder(model_path, "mean", cfg.max_length, Runtime.create(cfg.device), normalize=True, chunk_overlap=chunk_overlap(cfg))
        texts = label_texts(cfg.label_descriptions, data.labels)
        vectors = encoder.embed(texts)
        source = "--label-descriptions" if cfg.label_descriptions else "label names"
        head = LinearHead(vectors / TEMPERATURE, np.zeros(len(texts)), None, None, 1 / TEMPERATURE, f"none: the {source}' vectors")
        head.save(model_dir)
        save_encoder_info(model_dir, encoder, model_reference(cfg.model))
        return FitResult(time.perf_counter() - started, 0, stats={"label_texts": dict(zip(data.labels, texts))})


STRATEGIES = {"zeroshot": Zeroshot()}
