"""Extractive question answering: data of a run, SQuAD / MLQA scores, and answers with
character offsets for `predict`.

Scores are exact match and F1 (see `transferkit.evaluation.qa_metrics`), in the language
given by `--language` or detected from the contexts (`zh` when they are mostly CJK
characters, scored per character as MLQA does; otherwise the official SQuAD v1.1 rules).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from transferkit.data.sampling import pick, sample_indices
from transferkit.data.squad import QASplit, read_qa_split
from transferkit.errors import UserError
from transferkit.evaluation.qa_metrics import LANGUAGES as QA_LANGUAGES
from transferkit.evaluation.qa_metrics import detect_language, qa_metrics
from transferkit.tasks.base import Request, Task, TaskData
from transferkit.tasks.qa_windows import encode_windows


class QA(Task):
    name = "qa"
    primary_metric = dev_metric = "f1"
    auto_class = "AutoModelForQuestionAnswering"

    def read_labelled(self, path: str, cfg, bad_rows=None) -> QASplit:
        split = read_qa_split(path, bad_rows=bad_rows)
        split.language = cfg.language if cfg.language != "auto" else detect_language(split.contexts)
        return split

    def read_test(self, path: str, cfg, language: str | None, bad_rows=None) -> QASplit:
        """Scored by the rules of `language` (a test set's name, `evaluate --language`) where
        MLQA has rules for it, else as `read_labelled` decides."""
        split = self.read_labelled(path, cfg, bad_rows)
        if language in QA_LANGUAGES:
            split.language = language
        return split

    def labels_of(self, train: QASplit) -> None:
        """Span prediction has no label set; the training data must hold some answer."""
        if all(not answers for answers in train.answers):
            raise UserError(train.path, "no question in the training data has an answer")
        return None

    def draw_budget(self, train: QASplit, cfg, labels) -> QASplit:
        """--train-examples N: N questions."""
        if not cfg.train_examples:
            return train
        chosen = sample_indices(len(train), cfg.train_examples, cfg.seed, train.path, "questions")
        kept = replace(train, **{k: pick(getattr(train, k), chosen) for k in ("ids", "questions", "contexts", "answers", "places")})
        return replace(kept, repaired=[i for i in train.repaired if i in set(kept.ids)])

    def build_model(self, model_path: str, labels, from_scratch: bool):
        return super().build_model(model_path, None, from_scratch)  # the span head keeps its own two outputs

    def inference_settings(self, cfg) -> dict:
        return {"stride": cfg.doc_stride, "max_answer_length": cfg.max_answer_length}

    def training_items(self, tokenizer, data: TaskData, cfg) -> tuple[list[dict], dict]:
        train = data.train
        items = encode_windows(tokenizer, train.questions, train.contexts, cfg.max_length, cfg.doc_stride, train.places, train.answers).items
        return items, {"windows": len(items), "repaired_answer_starts": len(train.repaired)}

    def dev_scorer(self, tokenizer, data: TaskData, cfg):
        from transferkit.tasks.span_reader import DevScorer

        v2 = data.train.version == "v2"  # only a model trained on unanswerable questions may answer nothing
        return DevScorer(tokenizer, data.dev, cfg.max_length, cfg.doc_stride, cfg.max_answer_length, v2)

    def learned_settings(self, model, scorer, data: TaskData) -> dict:
        """The no-answer threshold: chosen on dev for a v2 model (0 without dev), None for v1."""
        if data.train.version != "v2":
            return {"no_answer_threshold": None}
        return {"no_answer_threshold": scorer.threshold(model) if scorer else 0.0}

    def load_predictor(self, model_dir: Path, info: dict, runtime):
        from transferkit.tasks.span_reader import SpanReader

        return SpanReader(model_dir, info["max_length"], info["stride"], info["max_answer_length"], info["no_answer_threshold"], runtime)

    def score_split(self, predictor, split: QASplit, labels=None, predictions_file: Path | None = None) -> dict:
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

    def read_request(self, cfg, texts: list[str], input_path: str | None, context: str | None = None) -> Request:
        """Questions about one `context`, or a file of `question` + `context` records (JSONL,
        CSV, SQuAD JSON)."""
        if input_path:
            split = read_qa_split(input_path, labelled=False)
            return Request(split.ids, (split.questions, split.contexts, split.places), {})
        if not texts:
            raise UserError("predict", "no question: give --question Q --context C, or --input FILE with question and context")
        if context is None or not context.strip():
            raise UserError("--context", "give the passage to answer from (--context TEXT)")
        for n, question in enumerate(texts, start=1):
            if not question.strip():
                raise UserError(f"question {n}", "empty question")
        places = [f"question {n + 1}" for n in range(len(texts))]
        return Request([str(n) for n in range(len(texts))], (list(texts), [context] * len(texts), places), {})

    def read_items(self, cfg, items: list) -> Request:
        """`{"question", "context"}` objects (`transferkit serve`), each with its own passage."""
        if not items:
            raise UserError("predict", "no question: give items with a question and a context")
        for n, item in enumerate(items, start=1):
            for field in ("question", "context"):
                if not isinstance(item, dict) or not isinstance(item.get(field), str) or not item[field].strip():
                    raise UserError(f"item {n}", f"needs a non-empty {field!r} (text)")
        places = [f"item {n + 1}" for n in range(len(items))]
        questions, contexts = [item["question"] for item in items], [item["context"] for item in items]
        return Request([str(n) for n in range(len(items))], (questions, contexts, places), {})

    def records(self, predictor, request: Request) -> list[dict]:
        """`id`, `question`, `answer` (text, "" when a v2 model finds none), `start`, `end`
        (characters into the context), `score` per question."""
        questions, contexts, places = request.items
        readings = predictor.read(questions, contexts, places)
        return [
            {"id": i, "question": q, "answer": r.text, "start": r.start, "end": r.end, "score": round(r.score, 4)}
            for i, q, r in zip(request.ids, questions, readings)
        ]


TASK = QA()


def gold_texts(split: QASplit) -> list[list[str]]:
    return [[a.text for a in answers] for answers in split.answers]
