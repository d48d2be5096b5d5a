"""Extractive question answering: data of a run, SQuAD / MLQA scores, and answers with
character offsets for `predict`.

Scores are exact match and F1 (see `transferkit.evaluation.qa_metrics`), in the language
given by `--language` or detected from the contexts (`zh` when they are mostly CJK
characters, scored per character as MLQA does; otherwise the official SQuAD v1.1 rules).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from transferkit.data.squad import QASplit, read_qa_split
from transferkit.errors import UserError
from transferkit.evaluation.qa_metrics import detect_language, qa_metrics


@dataclass
class QAData:
    train: QASplit
    dev: QASplit | None
    test: QASplit | None
    labels: None = None  # span prediction has no label set


def read_labelled(path: str, cfg) -> QASplit:
    split = read_qa_split(path)
    split.language = cfg.language if cfg.language != "auto" else detect_language(split.contexts)
    return split


def load_data(cfg) -> QAData:
    """Read and check every split before any model loads."""
    train = read_labelled(cfg.train, cfg)
    if all(not answers for answers in train.answers):
        raise UserError(train.path, "no question in the training data has an answer")
    dev = read_labelled(cfg.dev, cfg) if cfg.dev else None
    test = read_labelled(cfg.test, cfg) if cfg.test else None
    return QAData(train, dev, test)


def check_known(split: QASplit, labels) -> None:
    """Any answer span is a valid target: nothing to check against the training data."""


def gold_texts(split: QASplit) -> list[list[str]]:
    return [[a.text for a in answers] for answers in split.answers]


def score_split(predictor, split: QASplit, labels=None, predictions_file: Path | None = None) -> dict:
    """Exact match and F1 on a labelled split (v2: also on the answerable and unanswerable
    questions apart); optionally one JSON line per question with `id`, `prediction` (the
    answer text, "" for none), `gold` (the answer texts), `score`, `start` and `end`."""
    readings = predictor.read(split.questions, split.contexts, split.places)
    golds = gold_texts(split)
    if predictions_file is not None:
        predictions_file.parent.mkdir(parents=True, exist_ok=True)
        with predictions_file.open("w") as f:
            for i, r, gold in zip(split.ids, readings, golds):
                record = {"id": i, "prediction": r.text, "gold": gold, "score": round(r.score, 4), "start": r.start, "end": r.end}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return qa_metrics([r.text for r in readings], golds, split.language, v2=split.version == "v2")


def predict_records(predictor, cfg, texts: list[str], input_path: str | None, context: str | None = None) -> list[dict]:
    """Questions about one `context`, or a file of `question` + `context` records (JSONL,
    CSV, SQuAD JSON) → one record per question: `id`, `question`, `answer` (text, "" when
    a v2 model finds none), `start`, `end` (characters into the context), `score`."""
    if input_path:
        split = read_qa_split(input_path, labelled=False)
        ids, questions, contexts, places = split.ids, split.questions, split.contexts, split.places
    else:
        if not texts:
            raise UserError("predict", "no question: give --question Q --context C, or --input FILE with question and context")
        if context is None or not context.strip():
            raise UserError("--context", "give the passage to answer from (--context TEXT)")
        for n, question in enumerate(texts, start=1):
            if not question.strip():
                raise UserError(f"question {n}", "empty question")
        ids = [str(n) for n in range(len(texts))]
        questions, contexts, places = list(texts), [context] * len(texts), [f"question {n + 1}" for n in range(len(texts))]
    readings = predictor.read(questions, contexts, places)
    return [
        {"id": i, "question": q, "answer": r.text, "start": r.start, "end": r.end, "score": round(r.score, 4)}
        for i, q, r in zip(ids, questions, readings)
    ]
