"""Text classification: labelled tables in, accuracy and macro-F1 out, and a transformers
`*ForSequenceClassification` model for the transformer strategies."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from transferkit.data.classification import ClassificationSplit, check_labels_known, label_set, read_split
from transferkit.errors import UserError
from transferkit.tasks.base import Request, Task, TaskData


class Classify(Task):
    name = "classify"
    primary_metric = dev_metric = "accuracy"
    auto_class = "AutoModelForSequenceClassification"

    def read_labelled(self, path: str, cfg) -> ClassificationSplit:
        return read_split(path, cfg.text_column, cfg.label_column, cfg.text_pair_column)

    def labels_of(self, train: ClassificationSplit) -> list[str]:
        return label_set(train)

    def check_known(self, split: ClassificationSplit, labels: list[str]) -> None:
        check_labels_known(split, labels)

    def draw_budget(self, train: ClassificationSplit, cfg, labels: list[str]) -> ClassificationSplit:
        from transferkit.data.sampling import sample_per_class

        return sample_per_class(train, cfg.labels_per_class, cfg.seed, labels) if cfg.labels_per_class is not None else train

    def training_items(self, tokenizer, data: TaskData, cfg) -> tuple[list[dict], dict]:
        from transferkit.training.batching import encode_texts

        label_ids = {label: i for i, label in enumerate(data.labels)}
        items = encode_texts(tokenizer, data.train.texts, data.train.pairs, cfg.max_length)
        for item, label in zip(items, data.train.labels):
            item["labels"] = label_ids[label]
        return items, {}

    def selection(self, data: TaskData) -> tuple[str, str | None]:
        """Accuracy, or macro-F1 when the training labels are more imbalanced than
        IMBALANCE:1 (accuracy would reward predicting the large class)."""
        ratio = imbalance(data.train.labels)
        if ratio > IMBALANCE:
            return "macro_f1", f"the training labels are imbalanced ({ratio:.1f}:1): choosing on dev (or cross-validated) macro-F1, not accuracy"
        return "accuracy", None

    def dev_scorer(self, tokenizer, data: TaskData, cfg):
        import numpy as np
        from sklearn.metrics import f1_score

        from transferkit.inference import Runtime
        from transferkit.training.batching import encode_texts

        items = encode_texts(tokenizer, data.dev.texts, data.dev.pairs, cfg.max_length)
        gold = np.array([data.labels.index(label) for label in data.dev.labels])
        macro = self.selection(data)[0] == "macro_f1"

        def score(model) -> float:
            predicted = classifier_probabilities(Runtime.of(model), model, items, tokenizer.pad_token_id).argmax(1)
            if macro:
                return float(f1_score(gold, predicted, labels=range(len(data.labels)), average="macro", zero_division=0))
            return float((predicted == gold).mean())

        return score

    def training_loss(self, data: TaskData, cfg):
        """With --class-weight balanced, cross-entropy with each class weighted inversely to
        its frequency (scikit-learn's `balanced`: n / (classes × count))."""
        if cfg.class_weight != "balanced":
            return None
        import torch

        weights = torch.tensor(balanced_weights(data.train.labels, data.labels), dtype=torch.float32)

        def loss(model, batch):
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
            return torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights.to(logits.device))

        return loss

    def load_predictor(self, model_dir: Path, info: dict, runtime):
        return TransformerClassifier(model_dir, info["labels"], info["max_length"], runtime)

    def score_split(self, predictor, split: ClassificationSplit, labels: list[str], predictions_file: Path | None = None) -> dict:
        """Metrics on a labelled split; optionally one JSON line per example with `id`,
        `prediction`, `gold` and `score`."""
        predicted, scores = predictions(predictor, split.texts, split.pairs)
        if predictions_file is not None:
            predictions_file.parent.mkdir(parents=True, exist_ok=True)
            with predictions_file.open("w") as f:
                for i, p, g, s in zip(split.ids, predicted, split.labels, scores):
                    f.write(json.dumps({"id": i, "prediction": p, "gold": g, "score": float(s)}, ensure_ascii=False) + "\n")
        return classification_metrics(split.labels, predicted, labels)

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
        """`id`, `text`, `prediction`, `score` per text."""
        split = request.items
        predicted, scores = predictions(predictor, split.texts, split.pairs)
        return [{"id": i, "text": t, "prediction": p, "score": float(s)} for i, t, p, s in zip(split.ids, split.texts, predicted, scores)]


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
    import numpy as np

    probs = predictor.predict_proba(texts, pairs)
    best = probs.argmax(axis=1)
    return [predictor.labels[i] for i in best], probs[np.arange(len(best)), best]


def classification_metrics(gold: list[str], predicted: list[str], labels: list[str]) -> dict:
    """`accuracy`, `macro_f1` (over the training label set) and `per_class` precision,
    recall, F1 and support, all fractions in [0, 1]."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        "examples": len(gold),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
    }


def classifier_probabilities(runtime, model, items: list[dict], pad_token_id: int, progress: str | None = None):
    """Softmax probabilities of a `*ForSequenceClassification` model, `(items, labels)` in input order."""
    import numpy as np

    from transferkit.inference import as_array, softmax

    read = lambda out, batch: softmax(as_array(out.logits))  # noqa: E731
    # 32: on a 2-core CPU, sorted SST-2 sentences ran 10% faster than at 128 (torch and ONNX alike)
    rows = runtime.rows(model, items, pad_token_id, read, batch_size=32, progress=progress)
    return np.stack(rows) if rows else np.zeros((0, model.config.num_labels), dtype=np.float32)


class TransformerClassifier:
    """Any `*ForSequenceClassification` directory (finetune and scratch runs alike). Every
    classify predictor has `labels` and `predict_proba(texts, pairs) -> (texts, labels)`."""

    def __init__(self, model_dir: Path, labels: list[str], max_length: int, runtime):
        self.labels, self.max_length, self.runtime = labels, max_length, runtime
        self.tokenizer, self.model = runtime.load(model_dir, "AutoModelForSequenceClassification")

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None):
        from transferkit.training.batching import encode_texts

        items = encode_texts(self.tokenizer, texts, pairs, self.max_length)
        return classifier_probabilities(self.runtime, self.model, items, self.tokenizer.pad_token_id, progress="classify")
