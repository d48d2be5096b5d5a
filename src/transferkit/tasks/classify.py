"""Text classification: labelled tables in, accuracy and macro-F1 out, and a transformers
`*ForSequenceClassification` model for the transformer strategies."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from transferkit.data.classification import ClassificationSplit, check_labels_known, label_set, read_split
from transferkit.errors import UserError
from transferkit.tasks import multilabel
from transferkit.tasks.base import Request, Task, TaskData


class Classify(Task):
    name = "classify"
    primary_metric = dev_metric = "accuracy"
    auto_class = "AutoModelForSequenceClassification"

    def read_labelled(self, path: str, cfg, bad_rows=None) -> ClassificationSplit:
        """A split read with the run's columns; the slice column is read from the splits
        that are scored (dev, test, `evaluate --data`), so the training file need not have it."""
        slice_column = None if path == cfg.train else cfg.slice_column
        return read_split(
            path, cfg.text_column, cfg.label_column, cfg.text_pair_column, multi_label=cfg.multi_label,
            separator=cfg.label_separator, slice_column=slice_column, bad_rows=bad_rows,
        )

    def labels_of(self, train: ClassificationSplit) -> list[str]:
        return label_set(train)

    def check_known(self, split: ClassificationSplit, labels: list[str]) -> None:
        check_labels_known(split, labels)

    def draw_budget(self, train: ClassificationSplit, cfg, labels: list[str]) -> ClassificationSplit:
        from transferkit.data.sampling import sample_per_class

        return sample_per_class(train, cfg.labels_per_class, cfg.seed, labels) if cfg.labels_per_class is not None else train

    def training_items(self, tokenizer, data: TaskData, cfg) -> tuple[list[dict], dict]:
        """One item per text, or with `--long-text chunks` one per window, each with its text's label."""
        from transferkit.training.text_chunks import chunk_overlap, encode_documents

        targets = self.targets(data.train, data.labels)
        windows = encode_documents(tokenizer, data.train.texts, data.train.pairs, cfg.max_length, chunk_overlap(cfg))
        for item, document in zip(windows.items, windows.document):
            item["labels"] = targets[document]
        return windows.items, {"windows": len(windows.items)} if chunk_overlap(cfg) is not None else {}

    def targets(self, split: ClassificationSplit, labels: list[str]):
        """What a model learns of a split's labels, as a numpy array: class indices `(n,)`,
        or multi-label `(n, labels)` 0/1."""
        import numpy as np

        if split.multi_label:
            return multilabel.multi_hot(split.labels, labels)
        return np.array([labels.index(label) for label in split.labels], dtype=np.int64)

    def model_config(self, data: TaskData) -> dict:
        return {"problem_type": multilabel.PROBLEM_TYPE} if data.train.multi_label else {}

    def selection(self, data: TaskData) -> tuple[str, str | None]:
        """Accuracy, or macro-F1 when the training labels are more imbalanced than
        IMBALANCE:1 (accuracy would reward predicting the large class); multi-label,
        micro-F1 at 0.5."""
        if data.train.multi_label:
            return multilabel.METRIC, "multi-label: checkpoints and the head's regularisation are chosen on dev (or cross-validated) micro-F1 at 0.5"
        ratio = imbalance(data.train.labels)
        if ratio > IMBALANCE:
            return "macro_f1", f"the training labels are imbalanced ({ratio:.1f}:1): choosing on dev (or cross-validated) macro-F1, not accuracy"
        return "accuracy", None

    def dev_scorer(self, tokenizer, data: TaskData, cfg):
        from sklearn.metrics import f1_score

        from transferkit.inference import Runtime
        from transferkit.training.text_chunks import chunk_overlap, encode_documents

        windows = encode_documents(tokenizer, data.dev.texts, data.dev.pairs, cfg.max_length, chunk_overlap(cfg))

        def probabilities(model):
            return classifier_probabilities(Runtime.of(model), model, windows.items, tokenizer.pad_token_id, document=windows.document)

        if data.train.multi_label:
            return multilabel.dev_scorer(probabilities, data)
        gold = self.targets(data.dev, data.labels)
        macro = self.selection(data)[0] == "macro_f1"

        def score(model) -> float:
            predicted = probabilities(model).argmax(1)
            if macro:
                return float(f1_score(gold, predicted, labels=range(len(data.labels)), average="macro", zero_division=0))
            return float((predicted == gold).mean())

        return score

    def training_loss(self, data: TaskData, cfg):
        """With --class-weight balanced, cross-entropy with each class weighted inversely to
        its frequency (scikit-learn's `balanced`: n / (classes × count)); multi-label,
        binary cross-entropy (`multilabel.training_loss`)."""
        if data.train.multi_label:
            return multilabel.training_loss(data, cfg)
        if cfg.class_weight != "balanced":
            return None
        import torch

        weights = torch.tensor(balanced_weights(data.train.labels, data.labels), dtype=torch.float32)

        def loss(model, batch):
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
            return torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights.to(logits.device))

        return loss

    def inference_settings(self, cfg) -> dict:
        from transferkit.training.text_chunks import chunk_overlap, saved_settings

        return {**saved_settings(chunk_overlap(cfg)), **({"multi_label": True} if cfg.multi_label else {})}

    def calibrate(self, predictor, data: TaskData, cfg) -> tuple[dict, dict | None]:
        """A temperature fitted on the dev predictions of the strategies with a pretrained
        model (`evaluation/calibration.py`); without dev data none (T = 1), and metrics.json says so.
        Multi-label: a threshold per label, chosen on dev (`multilabel.choose_thresholds`)."""
        import numpy as np

        from transferkit.evaluation.calibration import calibrate
        from transferkit.recipes import PRETRAINED

        if cfg.multi_label:
            return multilabel.calibrate(predictor, data)
        if cfg.strategy not in PRETRAINED:
            return {}, None
        if data.dev is None:
            return {}, {"temperature": 1.0, "note": "no dev split to fit a temperature on: the probabilities are the model's own"}
        probs = predictor.predict_proba(data.dev.texts, data.dev.pairs)
        temperature, dev = calibrate(probs, np.array([predictor.labels.index(label) for label in data.dev.labels]))
        return {"temperature": temperature}, {"temperature": temperature, "dev": dev}

    def calibrated(self, predictor, info: dict):
        """The dev-fitted temperature over the probabilities of every strategy; multi-label,
        the per-label sigmoids read with the thresholds chosen on dev."""
        if "temperature" in info:
            from transferkit.evaluation.calibration import TemperatureScaled

            predictor = TemperatureScaled(predictor, info["temperature"])
        if info.get("multi_label"):
            predictor = multilabel.MultiLabelPredictor(predictor, info.get("thresholds"))
        return predictor

    def load_predictor(self, model_dir: Path, info: dict, runtime):
        from transferkit.training.text_chunks import chunk_overlap

        return TransformerClassifier(model_dir, info["labels"], info["max_length"], runtime, chunk_overlap(info))

    def score_split(self, predictor, split: ClassificationSplit, labels: list[str], predictions_file: Path | None = None) -> dict:
        """Metrics on a labelled split, and with a slice column each group's (`slices`);
        optionally one JSON line per example with `id`, `prediction`, `gold` and `score`,
        and beside them the most confident mistakes (`evaluation/mistakes.py`). Multi-label
        runs score in `multilabel.score_split`."""
        if getattr(predictor, "multi_label", False):
            return multilabel.score_split(predictor, split, labels, predictions_file)
        from transferkit.evaluation.mistakes import mistakes_path, write_mistakes
        from transferkit.evaluation.slices import slice_metrics

        probs = predictor.predict_proba(split.texts, split.pairs)
        predicted, scores = best_labels(predictor.labels, probs)
        if predictions_file is not None:
            predictions_file.parent.mkdir(parents=True, exist_ok=True)
            with predictions_file.open("w") as f:
                for i, p, g, s in zip(split.ids, predicted, split.labels, scores):
                    f.write(json.dumps({"id": i, "prediction": p, "gold": g, "score": float(s)}, ensure_ascii=False) + "\n")
            write_mistakes(mistakes_path(predictions_file), predictor, split, predicted, scores)
        metrics = classification_metrics(split.labels, predicted, labels)
        metrics.update(probability_metrics(predictor, probs, split.labels))
        if split.groups is not None:
            score = lambda gold, guessed: classification_metrics(gold, guessed, labels)  # noqa: E731
            metrics["slices"] = slice_metrics(split.slice_column, split.groups, split.labels, predicted, score, metrics)
        return metrics

    def read_request(self, cfg, texts: list[str], input_path: str | None, **passage) -> Request:
        """Texts given directly, or a file's text column (and pair column)."""
        if input_path:
            split = read_split(input_path, cfg.text_column, None, cfg.text_pair_column)
        else:
            if not texts:
                raise UserError("predict", "no input: give texts, --input FILE, or lines on standard input")
            for n, text in enumerate(texts, start=1):
                if not text.strip():
                    raise UserError(f"text {n}", "empty text")
            split = ClassificationSplit("<texts>", list(texts), None, None, [str(i) for i in range(len(texts))], [])
        return Request(split.ids, split, {})

    def records(self, predictor, request: Request) -> list[dict]:
        """`id`, `text`, `prediction`, `score` per text (with `abstain_below`, the prediction is
        null where the score is below it; the score stays, to show why); with `explain`, each
        word's attribution toward the most probable label (`explanation`: `token`, `score`).
        Multi-label runs answer in `multilabel.records`."""
        if getattr(predictor, "multi_label", False):
            return multilabel.records(predictor, request)
        split = request.items
        predicted, scores = predictions(predictor, split.texts, split.pairs)
        below = request.extra.get("abstain_below")
        records = [{"id": i, "text": t, "prediction": p if below is None or s >= below else None, "score": float(s)}
                   for i, t, p, s in zip(split.ids, split.texts, predicted, scores)]
        if request.extra.get("explain"):
            from transferkit.evaluation.explain import explanations

            for record, explanation in zip(records, explanations(predictor, split.texts, split.pairs, predicted)):
                record["explanation"] = explanation
        return records


TASK = Classify()
IMBALANCE = 3.0  # largest : smallest class count above which selection is on macro-F1


def imbalance(labels: list[str]) -> float:
    """Largest : smallest class count (1.0 for no labels: a zeroshot run)."""
    counts = Counter(labels)
    return max(counts.values()) / min(counts.values()) if counts else 1.0


def balanced_weights(train_labels: list[str], labels: list[str]) -> list[float]:
    """n / (classes × count) per label, in `labels` order (scikit-learn's `balanced`). A
    label no training example carries (a continued run's model knows more classes than
    this split has) weighs nothing: it is never a target."""
    counts = Counter(train_labels)
    return [len(train_labels) / (len(counts) * counts[label]) if counts[label] else 0.0 for label in labels]


def predictions(predictor, texts: list[str], pairs: list[str] | None = None):
    """Predicted label names and their probabilities."""
    return best_labels(predictor.labels, predictor.predict_proba(texts, pairs))


def best_labels(labels: list[str], probs):
    """Each row's most probable label name, and its probability."""
    import numpy as np

    best = probs.argmax(axis=1)
    return [labels[i] for i in best], probs[np.arange(len(best)), best]


def probability_metrics(predictor, probs, gold: list[str]) -> dict:
    """How far the probabilities can be trusted (`evaluation/calibration.py`): `ece`, `nll`,
    the `coverage` table, and `ece_uncalibrated` where the run's temperature scaled them."""
    import numpy as np

    from transferkit.evaluation.calibration import calibration_report

    index = {label: i for i, label in enumerate(predictor.labels)}
    return calibration_report(probs, np.array([index[label] for label in gold]), getattr(predictor, "temperature", None))


def classification_metrics(gold: list[str], predicted: list[str], labels: list[str]) -> dict:
    """`accuracy`, `macro_f1` (over the training label set) and `per_class` precision,
    recall, F1 and support, all fractions in [0, 1]."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        "examples": len(gold),
        "per_class": per_class(labels, *precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)),
    }


def per_class(labels: list[str], precision, recall, f1, support) -> dict:
    """metrics.json's `per_class` table from scikit-learn's per-label arrays (multi-label runs too)."""
    return {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }


def classifier_probabilities(runtime, model, items: list[dict], pad_token_id: int, progress: str | None = None,
                             document: list[int] | None = None):
    """Softmax probabilities of a `*ForSequenceClassification` model, `(items, labels)` in
    input order; with `document` (the text of each item, when items are a text's windows),
    `(texts, labels)`: the softmax of each text's mean window logits. A multi-label model
    (its `problem_type`) gives each label's sigmoid instead."""
    import numpy as np

    from transferkit.inference import as_array, sigmoid, softmax
    from transferkit.training.text_chunks import per_document

    read = lambda out, batch: as_array(out.logits)  # noqa: E731
    # 32: on a 2-core CPU, sorted SST-2 sentences ran 10% faster than at 128 (torch and ONNX alike)
    rows = runtime.rows(model, items, pad_token_id, read, batch_size=32, progress=progress)
    logits = np.stack(rows) if rows else np.zeros((0, model.config.num_labels), dtype=np.float32)
    squash = sigmoid if getattr(model.config, "problem_type", None) == multilabel.PROBLEM_TYPE else softmax
    return squash(logits if document is None else per_document(logits, document))


class TransformerClassifier:
    """Any `*ForSequenceClassification` directory (finetune and scratch runs alike). Every
    classify predictor has `labels` and `predict_proba(texts, pairs) -> (texts, labels)`."""

    def __init__(self, model_dir: Path, labels: list[str], max_length: int, runtime, chunk_overlap: int | None = None):
        self.labels, self.max_length, self.runtime, self.chunk_overlap = labels, max_length, runtime, chunk_overlap
        self.tokenizer, self.model = runtime.load(model_dir, "AutoModelForSequenceClassification")

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None):
        from transferkit.training.text_chunks import encode_documents

        windows = encode_documents(self.tokenizer, texts, pairs, self.max_length, self.chunk_overlap)
        return classifier_probabilities(self.runtime, self.model, windows.items, self.tokenizer.pad_token_id, progress="classify", document=windows.document)

    def explain(self, texts: list[str], pairs: list[str] | None = None, targets: list[int] | None = None):
        """Integrated gradients of the label's logit over the first `max_length` tokens
        (see `evaluation/explain.py`)."""
        from transferkit.evaluation.explain import integrated_gradients

        def forward(input_ids, attention_mask, token_type_ids=None):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

        return integrated_gradients(forward, self.model, self.tokenizer, self.runtime, texts, pairs, self.max_length, targets)
