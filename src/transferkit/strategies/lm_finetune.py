"""`finetune` for causal language modelling: every weight of a pretrained causal LM
trained on next-token prediction over the training corpus, the checkpoint with the
lowest dev loss kept. The directory it writes is a plain `*ForCausalLM` one that
`transformers.pipeline("text-generation", model=...)` loads."""

from __future__ import annotations

from pathlib import Path

import torch

from transferkit.strategies import finetune
from transferkit.tasks.lm import blocks, mean_loss

# A small model continued on in-domain text: a modest constant rate for every layer.
RECIPE = finetune.Recipe(lr=5e-5, layer_lr_decay=1.0, min_epochs=1)


def load_tokenizer(model_path: str):
    from transformers import AutoTokenizer

    return with_pad_token(AutoTokenizer.from_pretrained(model_path))


def with_pad_token(tokenizer):
    """Batches of a causal LM pad with its end-of-text token when it has no pad token."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def fit(cfg, data, model_path: str, model_dir: Path, from_scratch: bool = False, recipe: finetune.Recipe = RECIPE) -> dict:
    from transformers import AutoConfig, AutoModelForCausalLM, set_seed

    set_seed(cfg.seed)
    tokenizer = load_tokenizer(model_path)
    if from_scratch:
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path), dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    train_items = blocks(tokenizer, data.train, cfg.max_length)
    score_dev = None
    if data.dev is not None:
        dev_items = blocks(tokenizer, data.dev, cfg.max_length)

        def score_dev(m) -> float:  # higher is better for the loop
            return -mean_loss(m, dev_items, tokenizer.pad_token_id)

    stats = finetune.train_and_save(cfg, model, tokenizer, train_items, score_dev, model_dir, recipe)
    best = stats.pop("best_dev")
    stats["best_dev_loss"] = -best if best is not None else None
    stats["blocks"] = len(train_items)
    return stats


class CausalLMPredictor:
    """Perplexity and generation of a causal LM; `base()` is the same for the model a run
    started from (`base_model`: its `model_reference`, or the absolute path older runs
    stored, read from `info_file`)."""

    def __init__(self, tokenizer, model, max_length: int, base_model: str | None = None, info_file: Path | None = None):
        self.tokenizer, self.model, self.max_length = with_pad_token(tokenizer), model, max_length
        self.base_model, self.info_file = base_model, info_file
        self._base = None

    @classmethod
    def from_run(cls, model_dir: Path, max_length: int, base_model: str | None, info_file: Path) -> "CausalLMPredictor":
        from transformers import AutoModelForCausalLM

        from transferkit.serving.run_files import tokenizer_and_model

        return cls(*tokenizer_and_model(model_dir, AutoModelForCausalLM, on_gpu=False), max_length, base_model, info_file)

    def base(self) -> "CausalLMPredictor":
        if self._base is None:
            from transformers import AutoModelForCausalLM

            from transferkit.serving.run_files import resolve_reference

            path = resolve_reference(self.base_model, self.info_file)
            self._base = CausalLMPredictor(load_tokenizer(path), AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), self.max_length)
        return self._base

    def loss(self, texts: list[str]) -> tuple[float, int]:
        items = blocks(self.tokenizer, texts, self.max_length)
        return mean_loss(self.model, items, self.tokenizer.pad_token_id, progress="score"), sum(len(i["input_ids"]) for i in items)

    @torch.inference_mode()
    def generate(self, prompts: list[str], max_new_tokens: int = 50, greedy: bool = False, temperature: float = 0.8,
                 top_k: int = 50, top_p: float = 0.95, seed: int = 0) -> list[str]:
        from transformers import set_seed

        set_seed(seed)
        options = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature, "top_k": top_k, "top_p": top_p}
        out = []
        for prompt in prompts:
            inputs = self.tokenizer(prompt, return_tensors="pt")
            ids = self.model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **options)
            out.append(self.tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
        return out
