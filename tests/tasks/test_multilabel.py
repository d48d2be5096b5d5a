"""Multi-label classification (`--multi-label`): its metrics against scikit-learn and hand
counts, the thresholds chosen on dev, and whole runs of finetune, features, tfidf and
contrastive on a small CSV whose label column holds sets ("sports|politics", "", "tech")."""

import json
import random

import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import write_csv
from transferkit import api
from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.tasks.multilabel import choose_thresholds, metrics, multi_hot, pos_weights

LABELS = ["politics", "sports", "tech"]


def test_metrics_match_hand_counts():
    gold = multi_hot([("politics", "sports"), (), ("tech",), ("sports",)], LABELS)
    predicted = multi_hot([("politics",), ("tech",), ("tech",), ("sports",)], LABELS)
    scores = metrics(gold, predicted, LABELS)
    # true positives 3 (politics, tech, sports), false positives 1 (tech), false negatives 1 (sports)
    assert scores["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    # politics 1, sports 2 * 1 / (2 * 1 + 0 + 1), tech 2 * 1 / (2 * 1 + 1 + 0)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert scores["subset_accuracy"] == 0.5 and scores["examples"] == 4
    assert scores["per_class"]["sports"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert scores["per_class"]["tech"]["precision"] == 0.5


def test_pos_weights_weigh_each_labels_positives_by_its_negatives():
    assert pos_weights([("politics",), ("politics", "tech"), (), ()], LABELS) == [1.0, 1.0, 3.0]  # sports: none, so 1


def test_thresholds_maximise_each_labels_dev_f1_and_ties_keep_the_nearest_to_half():
    gold = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]])
    probs = np.array([[0.30, 0.9, 0.62], [0.25, 0.8, 0.20], [0.10, 0.1, 0.61], [0.05, 0.2, 0.70]])
    chosen = choose_thresholds(probs, gold)
    # politics: every cut in (0.10, 0.25] separates, and 0.25 is nearest 0.5; sports: no
    # positive on dev, F1 0 at every threshold, so 0.5; tech: 0.25 to 0.60 tie at F1 0.8
    assert chosen == [0.25, 0.5, 0.5]
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    for j in (0, 2):  # no grid threshold does better, by scikit-learn's F1
        assert f1_score(gold[:, j], probs[:, j] >= chosen[j]) == max(f1_score(gold[:, j], probs[:, j] >= t) for t in grid)


WORDS = {
    "sports": ["football", "goal", "coach", "match", "league", "tennis"],
    "politics": ["election", "senate", "minister", "vote", "parliament", "policy"],
    "tech": ["software", "laptop", "chip", "startup", "code", "robot"],
}
FILLER = ["the weather was mild today", "we had soup for lunch", "the garden needs water", "my cousin visited us"]
SETS = [("sports",), ("politics",), ("tech",), ("politics", "sports"), ("politics", "tech"), ()]


def rows(n: int, seed: int, rare_tech: bool = False) -> list[tuple[str, str]]:
    """Short texts whose words say their label set; the label column as 'a|b', '' for none.
    The sets take turns; `rare_tech` keeps the texts about tech of every third turn only."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        labels = SETS[i % len(SETS)]
        if rare_tech and "tech" in labels and (i // len(SETS)) % 3:
            continue
        words = [w for label in labels for w in rng.sample(WORDS[label], 2)]
        text = "news: " + " and ".join(words) if words else rng.choice(FILLER)
        out.append((text, "|".join(labels)))
    rng.shuffle(out)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multilabel")
    return {
        "train": write_csv(folder / "train.csv", rows(48, seed=1, rare_tech=True)),  # 38 texts: politics 19, sports 16, tech 6
        "dev": write_csv(folder / "dev.csv", rows(24, seed=2)),
        "test": write_csv(folder / "test.csv", rows(24, seed=3)),
    }


def train(files, folder, strategy, **options):
    cfg = TrainConfig(train=str(files["train"]), dev=str(files["dev"]), test=str(files["test"]), output=str(folder / strategy),
                      strategy=strategy, multi_label=True, **({} if strategy == "tfidf" else {"max_length": 32}), **options)
    return folder / strategy, api.train(cfg)


def check_run(run, scores, files):
    """What every multi-label run must hold: its model marked multi-label with a threshold
    per label; test metrics that scikit-learn recomputes from its predictions file;
    predictions that apply those thresholds; `predict` and `evaluate` agreeing with both."""
    info = json.loads((run / "model" / "transferkit.json").read_text())
    assert info["multi_label"] is True and info["labels"] == LABELS and set(info["thresholds"]) == set(LABELS)
    assert scores["calibration"]["thresholds"] == info["thresholds"]
    lines = [json.loads(line) for line in (run / "predictions" / "test.jsonl").read_text().splitlines()]
    assert set(lines[0]) == {"id", "prediction", "gold", "scores"} and set(lines[0]["scores"]) == set(LABELS)
    for line in lines:
        assert line["prediction"] == [l for l in LABELS if line["scores"][l] >= info["thresholds"][l]]
    gold, predicted = multi_hot([l["gold"] for l in lines], LABELS), multi_hot([l["prediction"] for l in lines], LABELS)
    test = scores["test"]
    assert test["micro_f1"] == pytest.approx(f1_score(gold, predicted, average="micro", zero_division=0))
    assert test["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro", zero_division=0))
    assert test["subset_accuracy"] == pytest.approx(float((gold == predicted).all(1).mean()))
    at_half = np.array([[l["scores"][label] >= 0.5 for label in LABELS] for l in lines])
    assert test["at_0.5"]["macro_f1"] == pytest.approx(f1_score(gold, at_half, average="macro", zero_division=0))
    assert scores["train"]["selection_metric"] == "micro_f1"
    texts = [text for text, _ in rows(4, seed=4)]
    records = api.predict(str(run), texts)
    assert [set(r) for r in records] == [{"id", "text", "prediction", "scores"}] * 4
    for record in records:
        assert record["prediction"] == [l for l in LABELS if record["scores"][l] >= info["thresholds"][l]]
    evaluated = api.evaluate(str(run), str(files["test"]))
    assert evaluated["micro_f1"] == pytest.approx(test["micro_f1"]) and evaluated["per_class"] == test["per_class"]
    return info


def test_tfidf_learns_label_sets_with_thresholds_chosen_on_dev(files, tmp_path):
    run, scores = train(files, tmp_path, "tfidf")
    info = check_run(run, scores, files)
    assert json.loads((run / "model" / "head.json").read_text())["one_vs_rest"] is True
    assert scores["test"]["micro_f1"] > 0.8
    # tech, rare in training, gets low probabilities: dev lowers its threshold, and on test
    # that beats 0.5; the other labels are separated at 0.5 already, which ties keep
    assert info["thresholds"]["tech"] < 0.5 and info["thresholds"]["sports"] == 0.5
    assert scores["test"]["macro_f1"] > scores["test"]["at_0.5"]["macro_f1"]
    # slices: each group's metrics, scored as the whole split is
    sliced = write_csv(tmp_path / "sliced.csv", [(text, labels, "ab"[i % 2]) for i, (text, labels) in enumerate(rows(24, seed=3))], ("text", "label", "source"))
    groups = api.evaluate(str(run), str(sliced), slice_column="source")["slices"]["groups"]
    assert sum(g["examples"] for g in groups.values()) == 24 and {"micro_f1", "subset_accuracy"} <= set(groups["a"])
    with pytest.raises(UserError, match="--abstain-below: applies to single-label runs"):
        api.predict(str(run), ["news: vote and chip"], abstain_below=0.5)
    info["thresholds"]["tech"] = 1.5
    (run / "model" / "transferkit.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="the threshold of 'tech' is 1.5"):
        api.predict(str(run), ["news: vote and chip"])


def test_features_and_contrastive_heads_are_one_vs_rest(files, tmp_path):
    run, scores = train(files, tmp_path, "features")
    check_run(run, scores, files)
    assert scores["test"]["micro_f1"] > 0.8
    run, scores = train(files, tmp_path, "contrastive", max_steps=2, batch_size=12)
    check_run(run, scores, files)
    assert scores["train"]["label_anchors"].startswith("off: with --multi-label")


def test_finetune_trains_sigmoid_outputs_that_the_transformers_pipeline_reads_alike(files, tmp_path):
    from transformers import pipeline

    run, scores = train(files, tmp_path, "finetune", max_steps=4, batch_size=12, evaluations=2, class_weight="balanced")
    check_run(run, scores, files)
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert "best_dev_micro_f1" in scores["train"]
    texts = [text for text, _ in rows(6, 5)]
    ours = api.predict(str(run), texts)
    theirs = pipeline("text-classification", model=str(run / "model"), top_k=None)(texts)
    for record, outputs in zip(ours, theirs):
        assert {o["label"]: o["score"] for o in outputs} == pytest.approx(record["scores"], abs=1e-5)


def test_zeroshot_refuses_multi_label_and_auto_reads_positives_per_label(files, tmp_path):
    from transferkit.strategies.auto import CONTRASTIVE_BELOW, choose
    from transferkit.tasks import get_task

    with pytest.raises(UserError, match="--multi-label: zeroshot picks one label per text"):
        train(files, tmp_path, "zeroshot")
    cfg = TrainConfig(train=str(files["train"]), multi_label=True)
    # politics 19, sports 16, tech 6: the median label has 16 texts
    assert choose(get_task("classify"), cfg, set()) == ("contrastive", f"16 labels per class < {CONTRASTIVE_BELOW}")
