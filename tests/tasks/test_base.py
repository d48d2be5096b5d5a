"""Building the model a transformer strategy trains (`Task.build_model`)."""

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification

from transferkit.models.zoo import resolve_model
from transferkit.tasks import get_task


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
