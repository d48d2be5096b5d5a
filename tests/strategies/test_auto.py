"""`--strategy auto`: the choice follows the labels per class, narrows to the strategies the
given options apply to, and is recorded in metrics.json and said on the command line."""

import json

import pytest

from transferkit.config import TrainConfig
from transferkit.errors import UserError
from transferkit.strategies.auto import CONTRASTIVE_BELOW, choose, preference
from transferkit.tasks import get_task


def test_few_labels_per_class_choose_contrastive_and_many_finetune():
    assert preference("classify", CONTRASTIVE_BELOW - 1)[0][0] == "contrastive"
    assert preference("classify", CONTRASTIVE_BELOW)[0][0] == "finetune"
    assert preference("classify", 0)[0] == ["zeroshot"]
    assert preference("ner", None)[0] == ["finetune"]


def test_options_narrow_the_choice(sentiment):
    cfg = TrainConfig(train=str(sentiment["train"]), strategy="auto")
    assert choose(get_task("classify"), cfg, set()) == ("contrastive", f"24 labels per class < {CONTRASTIVE_BELOW}")
    strategy, because = choose(get_task("classify"), cfg, {"pooling"})
    assert strategy == "features" and "contrastive takes no --pooling" in because
    with pytest.raises(UserError, match="name a --strategy"):
        choose(get_task("classify"), cfg, {"pooling", "epochs"})


def test_the_default_strategy_is_auto_and_says_what_it_chose(cli, sentiment, tmp_path):
    status, out, err = cli("train", "--train", sentiment["train"], "--labels-per-class", 4, "--max-steps", 2, "--max-length", 32, "--output", tmp_path / "run")
    assert status == 0, err
    assert f"note: --strategy auto chose contrastive: 4 labels per class < {CONTRASTIVE_BELOW}" in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["strategy"] == "contrastive" and metrics["auto"] == {"chose": "contrastive", "because": f"4 labels per class < {CONTRASTIVE_BELOW}"}
    assert "strategy: contrastive" in (tmp_path / "run" / "config.yaml").read_text()  # the run repeats from its config
