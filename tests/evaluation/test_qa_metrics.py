"""QA scores equal the official SQuAD v1.1 / v2.0 scripts and MLQA's evaluation on the
same predictions. The references below are the scripts' own logic, written out again
here independently of transferkit's implementation."""

import json
import re
import string
import sys
import unicodedata
from collections import Counter

import pytest

from transferkit.evaluation.qa_metrics import answer_tokens, detect_language, qa_metrics


# --- SQuAD v1.1 official evaluate-v1.1.py ---------------------------------------------
def squad_normalize(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1(prediction, ground_truth):
    prediction_tokens = squad_normalize(prediction).split()
    ground_truth_tokens = squad_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_evaluate(predictions, golds):
    f1 = exact_match = 0
    for prediction, ground_truths in zip(predictions, golds):
        exact_match += max(float(squad_normalize(prediction) == squad_normalize(g)) for g in ground_truths)
        f1 += max(squad_f1(prediction, g) for g in ground_truths)
    return {"exact_match": 100.0 * exact_match / len(golds), "f1": 100.0 * f1 / len(golds)}


# --- SQuAD v2.0 official evaluate-v2.0.py (compute_exact / compute_f1) ---------------
def v2_f1(a_gold, a_pred):
    gold_toks, pred_toks = squad_normalize(a_gold).split(), squad_normalize(a_pred).split()
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision, recall = 1.0 * num_same / len(pred_toks), 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


# --- MLQA mlqa_evaluation_v1.py (Chinese) ----------------------------------------------
PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}.union(string.punctuation)


def mlqa_mixed_segmentation(text):
    segs_out, temp_str = [], ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in PUNCT:
            if temp_str != "":
                segs_out.extend(temp_str.split())
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(temp_str.split())
    return segs_out


def mlqa_normalize_zh(s):
    text = "".join(ch for ch in s.lower() if ch not in PUNCT)
    return " ".join(t for t in mlqa_mixed_segmentation(text) if t.strip() != "")


def mlqa_f1_zh(prediction, ground_truth):
    p, g = mlqa_normalize_zh(prediction).split(), mlqa_normalize_zh(ground_truth).split()
    num_same = sum((Counter(p) & Counter(g)).values())
    if num_same == 0:
        return 0
    precision, recall = num_same / len(p), num_same / len(g)
    return 2 * precision * recall / (precision + recall)


PAIRS = [
    ("the Denver Broncos", ["Denver Broncos", "The Denver Broncos!"]),
    ("Broncos", ["Denver Broncos"]),
    ("in 1279, after the war", ["after 1279"]),
    ("an apple a day", ["apple"]),
    ("The", ["the"]),  # normalises to nothing: v1.1 scores it 0
    ("U.S. Army's", ["US army's", "U.S. Army"]),
    ("café — “quoted”", ["café quoted"]),
    ("", ["something"]),
]


def test_english_scores_equal_the_official_v1_1_script():
    predictions, golds = [p for p, _ in PAIRS], [g for _, g in PAIRS]
    ours, theirs = qa_metrics(predictions, golds), squad_evaluate(predictions, golds)
    assert ours["exact_match"] * 100 == pytest.approx(theirs["exact_match"], abs=1e-9)
    assert ours["f1"] * 100 == pytest.approx(theirs["f1"], abs=1e-9)


def test_scores_equal_the_official_script_on_a_trained_models_predictions(qa_run):
    records = [json.loads(line) for line in (qa_run / "predictions" / "test.jsonl").read_text().splitlines()]
    predictions, golds = [r["prediction"] for r in records], [r["gold"] for r in records]
    assert len({p for p in predictions}) > 3  # real, varied answers
    theirs = squad_evaluate(predictions, golds)
    metrics = json.loads((qa_run / "metrics.json").read_text())["test"]
    assert metrics["exact_match"] * 100 == pytest.approx(theirs["exact_match"], abs=1e-9)
    assert metrics["f1"] * 100 == pytest.approx(theirs["f1"], abs=1e-9)


def test_v2_breakdown_follows_the_official_v2_rules():
    predictions = ["Paris", "", "", "Rome", "the"]
    golds = [["Paris"], [], ["Berlin"], [], ["The"]]
    ours = qa_metrics(predictions, golds, v2=True)
    expected_f1 = [max(v2_f1(g, p) for g in gold or [""]) for p, gold in zip(predictions, golds)]
    assert ours["f1"] == pytest.approx(sum(expected_f1) / 5)
    assert ours["has_answer_f1"] == pytest.approx((1 + 0 + 1) / 3) and ours["has_answer_questions"] == 3
    assert ours["no_answer_f1"] == pytest.approx((1 + 0) / 2) and ours["no_answer_exact_match"] == 0.5


def test_chinese_is_scored_per_character_as_mlqa_does():
    pairs = [("北京大学", ["在北京大学。"]), ("2008年奥运会", ["2008 年"]), ("自 1279 年", ["1279年以后"]), ("（孔子）", ["孔子"])]
    for prediction, gold in pairs:
        ours = qa_metrics([prediction], [gold], language="zh")
        assert ours["f1"] == pytest.approx(mlqa_f1_zh(prediction, gold[0]))
        assert ours["exact_match"] == float(mlqa_normalize_zh(prediction) == mlqa_normalize_zh(gold[0]))
    assert answer_tokens("北京大学。", "zh") == ["北", "京", "大", "学"]
    assert qa_metrics(["北京大学"], [["在北京大学。"]], language="zh")["f1"] == pytest.approx(2 * 1 * 0.8 / 1.8)


def test_language_is_detected_from_the_contexts():
    assert detect_language(["忽必烈王朝何时耗尽了钱财？在 1279 年之后。"]) == "zh"
    assert detect_language(["When was Kublai's administration running out of money?"]) == "en"
