"""`--strategy contrastive`: class-balanced batches, the supervised contrastive loss checked
against a direct computation, bounded work however many labels, label anchors decided on
the run's labels; the run predicts and evaluates as every run does."""

import json
import math
from collections import Counter

import torch

from transferkit import api
from transferkit.strategies.contrastive import MAX_STEPS, BalancedBatchSampler, contrastive_steps, supervised_contrastive_loss


def test_batches_hold_every_class_equally_and_repeat_for_a_seed():
    labels = [0] * 10 + [1] * 10 + [2] * 4
    sampler = BalancedBatchSampler(labels, batch_size=12, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2
    for batch in batches:
        assert Counter(labels[i] for i in batch) == {0: 4, 1: 4, 2: 4}
    seen = Counter(i for batch in batches for i in batch)
    assert max(seen[i] for i in range(20)) == 1  # a large class yields distinct texts within a pass
    assert all(seen[i] == 2 for i in range(20, 24))  # the small class is cycled: in every batch
    sampler.epoch = 0
    assert list(sampler) == batches  # the same pass again (a resumed run)
    assert list(BalancedBatchSampler(labels, 12, seed=1)) != batches


def test_with_more_classes_than_a_batch_holds_each_batch_takes_pairs_of_some():
    labels = [c for c in range(50) for _ in range(3)]
    batches = list(BalancedBatchSampler(labels, batch_size=16, seed=0))
    for batch in batches:
        counts = Counter(labels[i] for i in batch)
        assert len(batch) == 16 and len(counts) == 8 and set(counts.values()) == {2}


def test_anchors_join_the_batches_of_their_class():
    labels = [0] * 4 + [1] * 4
    batches = list(BalancedBatchSampler(labels, batch_size=4, seed=0, anchors={0: 8, 1: 9}))
    assert all(8 in batch and 9 in batch for batch in batches)


def test_the_loss_matches_its_definition():
    torch.manual_seed(0)
    z, y = torch.randn(6, 5), torch.tensor([0, 0, 1, 1, 1, 2])  # class 2 has no mate: it is not an anchor
    unit = torch.nn.functional.normalize(z, dim=-1)
    terms = []
    for i in range(6):
        mates = [p for p in range(6) if p != i and y[p] == y[i]]
        if not mates:
            continue
        denominator = sum(math.exp(float(unit[i] @ unit[a]) / 0.1) for a in range(6) if a != i)
        terms.append(-sum(math.log(math.exp(float(unit[i] @ unit[p]) / 0.1) / denominator) for p in mates) / len(mates))
    assert math.isclose(float(supervised_contrastive_loss(z, y, 0.1)), sum(terms) / len(terms), rel_tol=1e-5)


def test_the_steps_are_passes_over_the_labels_between_a_floor_and_a_cap():
    steps = [contrastive_steps(n, 32) for n in (16, 128, 384, 2048, 10_000, 1_000_000)]
    assert steps == sorted(steps) and steps[0] == steps[1] == 40 and steps[-1] == MAX_STEPS
    assert steps[2] == 120  # ten passes over 384 texts in batches of 32
    assert steps[3] == steps[4] == MAX_STEPS  # so the work stays bounded however many labels


def test_a_contrastive_run_tunes_its_encoder_and_predicts(cli, sentiment, tmp_path):
    status, out, err = cli(
        "train", "--strategy", "contrastive", "--train", sentiment["train"], "--test", sentiment["test"],
        "--max-steps", 6, "--batch-size", 8, "--max-length", 32, "--output", tmp_path / "run",
    )
    assert status == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 6 and metrics["train"]["label_anchors"].startswith(("on:", "off:"))
    assert "label anchors" in err
    assert metrics["test"]["accuracy"] >= 0.8  # the adjectives carry the label
    assert (tmp_path / "run" / "model" / "encoder" / "config.json").is_file()
    assert json.loads((tmp_path / "run" / "model" / "encoder.json").read_text())["normalize"] is True
    status, out, err = cli("predict", tmp_path / "run", "a wonderful and moving film")
    assert status == 0 and json.loads(out)["prediction"] == "positive", err
    again = api.evaluate(str(tmp_path / "run"), str(sentiment["test"]))
    assert again["accuracy"] == metrics["test"]["accuracy"]


def test_label_anchors_on_and_off_are_the_users_choice(cli, sentiment, tmp_path):
    for setting in ("on", "off"):
        status, out, err = cli(
            "train", "--strategy", "contrastive", "--train", sentiment["train"], "--label-anchors", setting,
            "--max-steps", 2, "--batch-size", 8, "--max-length", 32, "--output", tmp_path / setting,
        )
        assert status == 0, err
        assert json.loads((tmp_path / setting / "metrics.json").read_text())["train"]["label_anchors"] == f"--label-anchors {setting}"
