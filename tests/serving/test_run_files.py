"""The checks of a run's files, and how a run refers to models outside it."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from transferkit.config import TrainConfig
from transferkit.tasks import get_task
from transferkit.errors import UserError
from transferkit.serving.run_files import model_reference, resolve_reference, safetensors_shapes


def test_safetensors_shapes_come_from_the_header_of_a_whole_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"coef": np.zeros((3, 5), dtype=np.float32), "bias": np.zeros(3, dtype=np.float32)}, str(path))
    assert safetensors_shapes(path) == {"coef": [3, 5], "bias": [3]}
    path.write_bytes(path.read_bytes()[:-4])  # the last tensor's bytes cut short
    with pytest.raises(UserError, match="w.safetensors: truncated or not a safetensors file"):
        safetensors_shapes(path)
    path.write_bytes(b"\xff" * 16)  # a header length past the end
    with pytest.raises(UserError, match="truncated or not a safetensors file"):
        safetensors_shapes(path)


def test_offline_models_are_referred_to_by_name_local_ones_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "encoder").mkdir()
    assert model_reference("minilm") == "minilm"
    assert model_reference("encoder") == str(tmp_path / "encoder")
    assert model_reference("someone/some-model") == "someone/some-model"
    # the lm task's base model, which perplexity_before is measured on, is stored the same way
    assert get_task("lm").inference_settings(TrainConfig(task="lm", model="smollm2-135m")) == {"base_model": "smollm2-135m"}


def test_a_reference_to_a_missing_directory_names_the_run_file(tmp_path):
    with pytest.raises(UserError, match="encoder.json: refers to the model /nowhere/model, which is not on this machine"):
        resolve_reference("/nowhere/model", tmp_path / "encoder.json")
