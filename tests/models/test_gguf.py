"""SmolLM2 ships as a 4-bit GGUF file; the zoo turns it into a transformers directory once."""

import os
import stat

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from transferkit.models.zoo import list_models, resolve_model


def test_smollm2_resolves_to_the_built_directory_and_answers(smollm2_cache, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(smollm2_cache))
    path = resolve_model("smollm2-135m")
    assert path == str(smollm2_cache / "models" / "smollm2-135m")
    assert [m["installed"] for m in list_models() if m["name"] == "smollm2-135m"] == [True]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    ids = model.generate(**inputs, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert "Paris" in tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :])


def test_the_built_directory_has_the_modes_the_umask_allows(smollm2_cache):
    """Not safetensors' private 0600: whoever shares the cache (and the umask allows) can read it."""
    mask = os.umask(0)
    os.umask(mask)
    built = smollm2_cache / "models" / "smollm2-135m"
    assert stat.S_IMODE(built.stat().st_mode) == 0o777 & ~mask
    assert {stat.S_IMODE(p.stat().st_mode) for p in built.iterdir()} == {0o666 & ~mask}
