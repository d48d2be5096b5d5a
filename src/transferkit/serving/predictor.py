"""Load any run's `model/` directory as its task's predictor: for classification
`labels` and `predict_proba(texts, pairs) -> (n, labels) array`; for NER
`tag(sentences) -> (IOB2 tags, probabilities)`; for QA `read(questions, contexts, places)
-> answer spans`; for lm `loss(texts)` and `generate(prompts)`.

`model/transferkit.json` says which strategy wrote the directory; everything else in it is
that strategy's own standard files.
"""

from __future__ import annotations

import json
from pathlib import Path

from transferkit.errors import UserError

INFO_FILE = "transferkit.json"


def write_info(model_dir: Path, task: str, strategy: str, labels: list[str], max_length: int, **extra) -> None:
    info = {"task": task, "strategy": strategy, "labels": labels, "max_length": max_length, **extra}
    (model_dir / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False))


def read_info(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "model" / INFO_FILE
    if not path.exists():
        raise UserError(str(run_dir), "not a transferkit run directory (no model/transferkit.json); give the --output of a train run")
    return json.loads(path.read_text())


def load_predictor(model_dir: Path):
    info = json.loads((model_dir / INFO_FILE).read_text())
    strategy, labels = info["strategy"], info["labels"]
    if info["task"] == "ner":
        from transferkit.tasks.token_tagger import TokenTagger

        return TokenTagger(model_dir, labels, info["max_length"], info["stride"], info.get("context", "sentence"))
    if info["task"] == "lm":
        from transferkit.strategies.lm_finetune import CausalLMPredictor

        return CausalLMPredictor(model_dir, info["max_length"], info["base_model"])
    if info["task"] == "qa":
        from transferkit.tasks.span_reader import SpanReader

        return SpanReader(model_dir, info["max_length"], info["stride"], info["max_answer_length"], info["no_answer_threshold"])
    if strategy == "features":
        from transferkit.strategies.features import FeaturesPredictor

        return FeaturesPredictor(model_dir, labels)
    if strategy == "tfidf":
        from transferkit.strategies.tfidf import TfidfPredictor

        return TfidfPredictor(model_dir, labels)
    if strategy == "wordvec":
        from transferkit.strategies.wordvec import WordvecPredictor

        return WordvecPredictor(model_dir, labels)
    from transferkit.strategies.finetune import TransformersPredictor

    return TransformersPredictor(model_dir, labels, info["max_length"])

