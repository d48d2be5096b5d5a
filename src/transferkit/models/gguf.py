"""Turn a causal LM that ships as a GGUF file into a normal transformers directory, once,
and cache it.

transformers reads GGUF (dequantising to float32, which takes about 40 s for SmolLM2-135M
on 2 cores) but refuses to save a model loaded that way, so the weights are copied into a
fresh model of the same architecture built from the loaded config (without its
quantisation settings) and that is saved (`built.publish_built`); later loads take a
fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

from transferkit.models.built import publish_built


def build_from_gguf(folder: Path, filename: str, target: Path) -> Path:
    """`target` holding the model and tokenizer read from `folder/filename`."""
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from transferkit.progress import progress_bar

    with progress_bar(total=1, desc=f"building {target.name} from {filename} (once)", unit="model") as bar:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
        config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        publish_built(model, tokenizer, target)
        bar.update(1)
    return target
