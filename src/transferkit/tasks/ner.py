"""Named-entity recognition: data of a run, entity-level metrics, and entity spans with
character offsets for `predict`.

Scores are conlleval's (and seqeval's default mode): an entity counts as found only when
its type and its exact word span match a gold one; precision, recall and F1 are
micro-averaged over all entities, and given per type.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from transferkit.data.conll import TokenSplit, check_types_known, entity_types, iob2_labels, read_token_split
from transferkit.data.sampling import pick, sample_indices
from transferkit.data.tag_schemes import decode_spans
from transferkit.errors import UserError
from transferkit.tasks.base import Request, Task, TaskData
from transferkit.tasks.word_windows import encode_words

# Raw text is split into words the way CoNLL-style corpora are: runs of letters and
# digits (joined by inner hyphens, apostrophes or dots, as in "Jean-Pierre", "U.S",
# "Köln-Ehrenfeld"), and every other non-space character on its own. Chinese and Japanese
# characters are words of one character each, as WikiANN and the Chinese NER corpora
# segment them (a run of them has no spaces, and as one `\w+` word an entity inside it could
# not be tagged).
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
WORD = re.compile(rf"[{CJK}]|[^\W{CJK}]+(?:[-'’.][^\W{CJK}]+)*|[^\w\s]")


class Ner(Task):
    name = "ner"
    primary_metric = dev_metric = "f1"
    auto_class = "AutoModelForTokenClassification"

    def read_labelled(self, path: str, cfg, bad_rows=None) -> TokenSplit:
        return read_token_split(path, cfg.tag_column, cfg.tag_scheme, bad_rows=bad_rows)

    def labels_of(self, train: TokenSplit) -> list[str]:
        """IOB2 tags: O, then B-/I- of each entity type."""
        types = entity_types(train)
        if not types:
            raise UserError(train.path, "the training data tags no entities (every tag is O)")
        return iob2_labels(types)

    def check_known(self, split: TokenSplit, labels: list[str]) -> None:
        check_types_known(split, sorted({label[2:] for label in labels if label != "O"}))

    def draw_budget(self, train: TokenSplit, cfg, labels) -> TokenSplit:
        """--train-examples N: N sentences (with their document numbers, so document
        context reads the drawn sentences of a document together)."""
        if not cfg.train_examples:
            return train
        chosen = sample_indices(len(train), cfg.train_examples, cfg.seed, train.path, "sentences")
        fields = ("tokens", "tags", "ids", "places") + (("documents",) if train.documents is not None else ())
        return replace(train, **{k: pick(getattr(train, k), chosen) for k in fields})

    def inference_settings(self, cfg) -> dict:
        return {"stride": cfg.doc_stride, "context": cfg.context}

    def _documents(self, split: TokenSplit, cfg) -> list[int] | None:
        """The split's document numbers when words read their document's context, else None."""
        return split.documents if cfg.context == "document" else None

    def encode(self, tokenizer, split: TokenSplit, cfg, tag_ids=None):
        return encode_words(tokenizer, split.tokens, cfg.max_length, cfg.doc_stride, tag_ids, self._documents(split, cfg))

    def training_items(self, tokenizer, data: TaskData, cfg) -> tuple[list[dict], dict]:
        label_ids = {label: i for i, label in enumerate(data.labels)}
        tag_ids = [[label_ids[t] for t in tags] for tags in data.train.tags]
        items = self.encode(tokenizer, data.train, cfg, tag_ids).items
        return items, {"windows": len(items)}

    def dev_scorer(self, tokenizer, data: TaskData, cfg):
        """Entity F1 on the dev split, tokenized once here."""
        from transferkit.inference import Runtime
        from transferkit.tasks.token_tagger import best_tags, word_probabilities

        encoded = self.encode(tokenizer, data.dev, cfg)
        lengths = [len(sentence) for sentence in data.dev.tokens]

        def score(model) -> float:
            probabilities = word_probabilities(Runtime.of(model), model, encoded, lengths, tokenizer.pad_token_id)
            return entity_metrics(data.dev.tags, best_tags(model, probabilities)[0])["f1"]

        return score

    def load_predictor(self, model_dir: Path, info: dict, runtime):
        from transferkit.tasks.token_tagger import TokenTagger

        return TokenTagger(model_dir, info["labels"], info["max_length"], info["stride"], info.get("context", "sentence"), runtime)

    def score_split(self, predictor, split: TokenSplit, labels: list[str], predictions_file: Path | None = None) -> dict:
        """Entity metrics on a tagged split; optionally one JSON line per sentence with
        `id`, `tokens`, `gold` and `prediction` (IOB2 tag lists) and per-word `score`s."""
        predicted, scores = predictor.tag(split.tokens, split.documents)
        if predictions_file is not None:
            predictions_file.parent.mkdir(parents=True, exist_ok=True)
            with predictions_file.open("w") as f:
                for i, tokens, gold, tags, s in zip(split.ids, split.tokens, split.tags, predicted, scores):
                    record = {"id": i, "tokens": tokens, "gold": gold, "prediction": tags, "score": [round(float(x), 4) for x in s]}
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return entity_metrics(split.tags, predicted)

    def read_request(self, cfg, texts: list[str], input_path: str | None, **passage) -> Request:
        """Raw texts (split into words here) or a pre-tokenised file (CoNLL columns or JSONL
        `tokens`; its text is the tokens joined by spaces)."""
        if input_path:
            split = read_token_split(input_path, labelled=False)
            offsets = [_joined_offsets(tokens) for tokens in split.tokens]
            raw = [" ".join(tokens) for tokens in split.tokens]
            return Request(split.ids, split.tokens, {"offsets": offsets, "texts": raw, "documents": split.documents})
        if not texts:
            raise UserError("predict", "no input: give texts, --input FILE, or lines on standard input")
        ids, words, offsets = [], [], []
        for n, text in enumerate(texts, start=1):
            split_words = words_with_offsets(text)
            if not split_words:
                raise UserError(f"text {n}", "no words in this text")
            ids.append(str(n - 1))
            words.append([w for w, _, _ in split_words])
            offsets.append([(s, e) for _, s, e in split_words])
        return Request(ids, words, {"offsets": offsets, "texts": list(texts), "documents": None})

    def records(self, predictor, request: Request) -> list[dict]:
        """`id`, `text`, `entities` (`type`, `text`, `start`, `end`, `score`), `tokens`, `tags`."""
        tags, scores = predictor.tag(request.items, request.extra["documents"])
        rows = zip(request.ids, request.extra["texts"], request.extra["offsets"], request.items, tags, scores)
        return [{"id": i, "text": t, "entities": entities(t, o, tg, s), "tokens": w, "tags": tg} for i, t, o, w, tg, s in rows]


TASK = Ner()


def entity_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """`precision`, `recall`, `f1` (micro over entities) and `per_type`, from IOB2 tags."""
    found: dict[str, list[int]] = {}  # type -> [correct, predicted, gold]
    for gold_tags, predicted_tags in zip(gold, predicted):
        gold_spans, predicted_spans = set(decode_spans(gold_tags)), set(decode_spans(predicted_tags))
        for span in gold_spans | predicted_spans:
            counts = found.setdefault(span[0], [0, 0, 0])
            counts[0] += span in gold_spans and span in predicted_spans
            counts[1] += span in predicted_spans
            counts[2] += span in gold_spans

    def scores(correct: int, n_predicted: int, n_gold: int) -> dict:
        p = correct / n_predicted if n_predicted else 0.0
        r = correct / n_gold if n_gold else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}

    totals = [sum(c[i] for c in found.values()) for i in range(3)]
    return {
        **scores(*totals),
        "sentences": len(gold),
        "entities": totals[2],
        "per_type": {kind: {**scores(*c), "support": c[2]} for kind, c in sorted(found.items())},
    }


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def entities(text: str, offsets: list[tuple[int, int]], tags: list[str], scores) -> list[dict]:
    """Entity records with character offsets into `text`; an entity's score is the mean
    probability of its words' tags."""
    found = []
    for kind, first, end in decode_spans(tags):
        start, stop = offsets[first][0], offsets[end - 1][1]
        score = float(sum(scores[first:end]) / (end - first))
        found.append({"type": kind, "text": text[start:stop], "start": start, "end": stop, "score": round(score, 4)})
    return found


def _joined_offsets(tokens: list[str]) -> list[tuple[int, int]]:
    """Character spans of the tokens in `" ".join(tokens)`."""
    spans, position = [], 0
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token) + 1
    return spans
