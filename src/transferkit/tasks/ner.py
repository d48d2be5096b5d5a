"""Named-entity recognition: data of a run, entity-level metrics, and entity spans with
character offsets for `predict`.

Scores are conlleval's (and seqeval's default mode): an entity counts as found only when
its type and its exact word span match a gold one; precision, recall and F1 are
micro-averaged over all entities, and given per type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from transferkit.data.conll import TokenSplit, check_types_known, entity_types, iob2_labels, read_token_split
from transferkit.data.tag_schemes import decode_spans
from transferkit.errors import UserError

# Raw text is split into words the way CoNLL-style corpora are: runs of letters and
# digits (joined by inner hyphens, apostrophes or dots, as in "Jean-Pierre", "U.S"), and
# every other non-space character on its own.
WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


@dataclass
class NerData:
    train: TokenSplit
    dev: TokenSplit | None
    test: TokenSplit | None
    labels: list[str]  # IOB2 tags: O, then B-/I- of each entity type


def read_labelled(path: str, cfg) -> TokenSplit:
    return read_token_split(path, cfg.tag_column, cfg.tag_scheme)


def load_data(cfg) -> NerData:
    """Read and check every split before any model loads."""
    train = read_labelled(cfg.train, cfg)
    types = entity_types(train)
    if not types:
        raise UserError(train.path, "the training data tags no entities (every tag is O)")
    dev = read_labelled(cfg.dev, cfg) if cfg.dev else None
    test = read_labelled(cfg.test, cfg) if cfg.test else None
    for split in (dev, test):
        if split is not None:
            check_types_known(split, types)
    return NerData(train, dev, test, iob2_labels(types))


def check_known(split: TokenSplit, labels: list[str]) -> None:
    check_types_known(split, sorted({label[2:] for label in labels if label != "O"}))


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


def score_split(predictor, split: TokenSplit, labels: list[str], predictions_file: Path | None = None) -> dict:
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


def predict_records(predictor, cfg, texts: list[str], input_path: str | None) -> list[dict]:
    """Raw texts (split into words here) or a pre-tokenised file (CoNLL columns or JSONL
    `tokens`; its text is the tokens joined by spaces) → one record per text:
    `id`, `text`, `entities` (`type`, `text`, `start`, `end`, `score`), `tokens`, `tags`."""
    if input_path:
        split = read_token_split(input_path, labelled=False)
        ids, words, documents = split.ids, split.tokens, split.documents
        offsets = [_joined_offsets(tokens) for tokens in words]
        raw = [" ".join(tokens) for tokens in words]
    else:
        if not texts:
            raise UserError("predict", "no input: give texts, --input FILE, or lines on standard input")
        ids, words, offsets, raw, documents = [], [], [], [], None
        for n, text in enumerate(texts, start=1):
            split_words = words_with_offsets(text)
            if not split_words:
                raise UserError(f"text {n}", "no words in this text")
            ids.append(str(n - 1))
            words.append([w for w, _, _ in split_words])
            offsets.append([(s, e) for _, s, e in split_words])
            raw.append(text)
    tags, scores = predictor.tag(words, documents)
    return [
        {"id": i, "text": t, "entities": entities(t, o, tg, s), "tokens": w, "tags": tg}
        for i, t, o, w, tg, s in zip(ids, raw, offsets, words, tags, scores)
    ]


def _joined_offsets(tokens: list[str]) -> list[tuple[int, int]]:
    """Character spans of the tokens in `" ".join(tokens)`."""
    spans, position = [], 0
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token) + 1
    return spans
