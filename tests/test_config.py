"""Task-dependent defaults: options left unset take the task's value, given ones are kept."""

import pytest

from transferkit.config import TrainConfig
from transferkit.errors import UserError


def test_unset_options_take_the_tasks_defaults():
    classify = TrainConfig(task="classify").with_task_defaults()
    assert (classify.max_length, classify.warmup_ratio) == (128, 0.06)
    ner = TrainConfig(task="ner").with_task_defaults()
    assert (ner.max_length, ner.doc_stride, ner.inference_settings()["stride"]) == (128, None, 32)
    qa = TrainConfig(task="qa", train="x").with_task_defaults()
    assert (qa.max_length, qa.doc_stride, qa.warmup_ratio) == (384, 128, 0.1)
    assert qa.inference_settings() == {"stride": 128, "max_answer_length": 30}
    given = TrainConfig(task="qa", max_length=256, doc_stride=64).with_task_defaults()
    assert (given.max_length, given.doc_stride) == (256, 64)


def test_the_qa_stride_follows_a_short_window_unless_given():
    assert TrainConfig(task="qa", max_length=48).with_task_defaults().doc_stride == 16
    with pytest.raises(UserError, match="--doc-stride: must be at least 0 and less than half of --max-length"):
        TrainConfig(task="qa", train="x", max_length=48, doc_stride=24).with_task_defaults().validate()
