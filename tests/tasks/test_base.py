"""Building the model a transformer strategy trains (`Task.build_model`)."""

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification

from transferkit.models.zoo import resolve_model
from transferkit.tasks import get_task
from transferkit.tasks.base import trained_labels


@pytest.mark.parametrize("from_scratch", [False, True])
def test_a_half_precision_directory_still_trains_in_float32(tmp_path, from_scratch):
    # A directory saved in fp16 records that dtype in its config; scratch used to build
    # its random model in fp16, where most AdamW updates round to nothing.
    AutoModel.from_pretrained(resolve_model("minilm"), dtype=torch.float16).save_pretrained(tmp_path)
    for task, auto_class in (("classify", AutoModelForSequenceClassification), ("ner", AutoModelForTokenClassification)):
        model = get_task(task).build_model(str(tmp_path), ["O", "B-PER", "I-PER"], from_scratch)
        assert isinstance(model, auto_class._model_mapping[type(model.config)])
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        assert model.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}


def test_a_run_continued_on_other_data_keeps_its_labels_and_head(ner_run, tmp_path):
    # English NER continued on a few sentences of another language: the sentences need not
    # carry every type; the run keeps the model's tags, in its order, and its trained head.
    from transferkit import api
    from transferkit.config import TrainConfig

    from conftest import ner_sentences, write_conll

    people_only = [(tokens, [t if t.endswith("PER") else "O" for t in tags]) for tokens, tags in ner_sentences(8, seed=7)]
    before = AutoModelForTokenClassification.from_pretrained(ner_run / "model")
    cfg = TrainConfig(task="ner", train=str(write_conll(tmp_path / "few.txt", people_only)), output=str(tmp_path / "run"),
                      model=str(ner_run / "model"), max_steps=1, lr=1e-12, batch_size=8, max_length=32)
    api.train(cfg)
    after = AutoModelForTokenClassification.from_pretrained(tmp_path / "run" / "model")
    assert after.config.id2label == before.config.id2label
    assert torch.allclose(after.classifier.weight, before.classifier.weight, atol=1e-6)


def test_a_trained_model_given_other_labels_gets_a_new_head(ner_run):
    model = get_task("ner").build_model(str(ner_run / "model"), ["O", "B-DATE", "I-DATE"], from_scratch=False)
    assert model.classifier.out_features == 3 and model.config.id2label == {0: "O", 1: "B-DATE", 2: "I-DATE"}


def test_only_a_trained_directory_has_trained_labels(ner_run, tmp_path):
    assert trained_labels(str(ner_run / "model"))[0] == "O"
    assert trained_labels(resolve_model("minilm")) is None  # an encoder: LABEL_0, LABEL_1 or none
    assert trained_labels("minilm") is None and trained_labels(str(tmp_path)) is None
