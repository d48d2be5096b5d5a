"""NER metrics equal seqeval's (conlleval's rules), on IOB1 input and on real model predictions."""

import json
import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from conftest import write_conll
from transferkit.data.conll import read_token_split
from transferkit.tasks.ner import entities, entity_metrics, words_with_offsets


def seqeval_scores(gold, predicted):
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    return {
        "precision": precision_score(gold, predicted),
        "recall": recall_score(gold, predicted),
        "f1": f1_score(gold, predicted),
        "per_type": {k: v for k, v in report.items() if "avg" not in k},
    }


def assert_same(ours, theirs):
    for key in ("precision", "recall", "f1"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12)
    assert set(ours["per_type"]) == set(theirs["per_type"])
    for kind, scores in theirs["per_type"].items():
        assert ours["per_type"][kind]["f1"] == pytest.approx(scores["f1-score"], abs=1e-12)
        assert ours["per_type"][kind]["support"] == scores["support"]


def corrupt(tags, rng):
    """Model-like mistakes: wrong types, dropped entities, I- tags after O."""
    kinds = ["PER", "LOC", "ORG"]
    out = []
    for tag in tags:
        r = rng.random()
        if r < 0.1:
            out.append("O")
        elif r < 0.2:
            out.append(f"I-{rng.choice(kinds)}")
        elif r < 0.25 and tag != "O":
            out.append(f"{tag[:2]}{rng.choice(kinds)}")
        else:
            out.append(tag)
    return out


def test_iob1_input_scores_equal_seqeval_on_the_raw_iob1_tags(tmp_path):
    from conftest import ner_sentences
    from transferkit.data.tag_schemes import parse_spans

    rng = random.Random(0)
    sentences = ner_sentences(60, seed=9)
    # the same gold written in IOB1 (I- opens; B- only between adjacent entities of one type)
    iob1 = []
    for tokens, tags in sentences:
        spans = parse_spans(tags, "iob2", ["x"] * len(tags))
        out, previous_end, previous_kind = ["O"] * len(tags), None, None
        for kind, start, end in spans:
            prefix = "B" if previous_end == start and previous_kind == kind else "I"
            out[start : end] = [f"{prefix}-{kind}"] + [f"I-{kind}"] * (end - start - 1)
            previous_end, previous_kind = end, kind
        iob1.append((tokens, out))
    split = read_token_split(str(write_conll(tmp_path / "iob1.txt", iob1)))
    assert split.scheme == "iob1" and split.tags == [tags for _, tags in sentences]
    predicted = [corrupt(tags, rng) for tags in split.tags]
    raw_iob1_gold = [tags for _, tags in iob1]
    assert_same(entity_metrics(split.tags, predicted), seqeval_scores(raw_iob1_gold, predicted))


def test_metrics_equal_seqeval_on_a_trained_models_predictions(ner_run):
    records = [json.loads(line) for line in (ner_run / "predictions" / "test.jsonl").read_text().splitlines()]
    gold, predicted = [r["gold"] for r in records], [r["prediction"] for r in records]
    assert any(tag != "O" for tags in predicted for tag in tags)
    metrics = json.loads((ner_run / "metrics.json").read_text())["test"]
    assert_same(metrics, seqeval_scores(gold, predicted))


def test_words_of_chinese_are_characters_and_german_words_stay_whole():
    assert [w for w, _, _ in words_with_offsets("我住在北京。iPhone在上海")] == ["我", "住", "在", "北", "京", "。", "iPhone", "在", "上", "海"]
    german = "Die Straße nach Köln-Ehrenfeld gehört Müller & Söhne."
    assert [w for w, _, _ in words_with_offsets(german)] == ["Die", "Straße", "nach", "Köln-Ehrenfeld", "gehört", "Müller", "&", "Söhne", "."]
    text = "我住在北京。"
    words = words_with_offsets(text)
    found = entities(text, [(s, e) for _, s, e in words], ["O", "O", "O", "B-LOC", "I-LOC", "O"], [1, 1, 1, 0.9, 0.7, 1])
    assert found == [{"type": "LOC", "text": "北京", "start": 3, "end": 5, "score": 0.8}]


def test_entities_carry_character_offsets_into_the_text():
    text = "Angela Merkel visited Paris, again."
    words = words_with_offsets(text)
    assert [w for w, _, _ in words] == ["Angela", "Merkel", "visited", "Paris", ",", "again", "."]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]
    found = entities(text, [(s, e) for _, s, e in words], tags, [0.9, 0.7, 1, 0.8, 1, 1, 1])
    assert found == [
        {"type": "PER", "text": "Angela Merkel", "start": 0, "end": 13, "score": 0.8},
        {"type": "LOC", "text": "Paris", "start": 22, "end": 27, "score": 0.8},
    ]
