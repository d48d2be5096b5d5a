"""Causal language modelling (`--task lm`): text corpora in, held-out perplexity out,
and generation for `predict` / `generate`.

`--train/--dev/--test` are corpora read like `pretrain`'s (plain text one document per
line, or a column of CSV/TSV/JSONL/Parquet). Texts are joined with the end-of-text token
and cut into blocks of `--max-length` tokens, so nothing is padded or thrown away, and
perplexity is exp of the mean next-token cross-entropy over every token of the split.
Each split is scored by the trained model and by the model it started from
(`perplexity_before`), so a run shows what fine-tuning changed on the same text.
"""

from __future__ import annotations

import math
from pathlib import Path

from transferkit.data.bad_rows import BadRows
from transferkit.data.sampling import pick, sample_indices
from transferkit.errors import UserError
from transferkit.pretraining.corpus import Corpus
from transferkit.tasks.base import Request, Task, TaskData


class LanguageModelling(Task):
    name = "lm"
    primary_metric, higher_is_better = "perplexity", False
    dev_metric, dev_sign = "loss", -1.0  # the loop keeps the highest score: minus the dev loss
    auto_class = "AutoModelForCausalLM"

    def read_labelled(self, path: str, cfg, bad_rows=None) -> list[str]:
        return list(Corpus((path,), cfg.text_column, bad_rows or BadRows()).texts())

    def example_keys(self, split: list[str]) -> list[str]:
        return split  # a document is its text

    def labels_of(self, train) -> list[str]:
        return []  # none: the run writes it like a classifier's

    def draw_budget(self, train: list[str], cfg, labels) -> list[str]:
        """--train-examples N: N documents."""
        if not cfg.train_examples:
            return train
        return pick(train, sample_indices(len(train), cfg.train_examples, cfg.seed, cfg.train, "documents"))

    def load_tokenizer(self, model_path: str):
        return with_pad_token(super().load_tokenizer(model_path))

    def build_model(self, model_path: str, labels, from_scratch: bool):
        return super().build_model(model_path, None, from_scratch)

    def prepare(self, model, tokenizer):
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        return model

    def inference_settings(self, cfg) -> dict:
        """perplexity_before is measured on the model the run started from."""
        from transferkit.serving.run_files import model_reference

        return {"base_model": model_reference(cfg.model)}

    def training_items(self, tokenizer, data: TaskData, cfg) -> tuple[list[dict], dict]:
        items = blocks(tokenizer, data.train, cfg.max_length)
        return items, {"blocks": len(items)}

    def dev_scorer(self, tokenizer, data: TaskData, cfg):
        from transferkit.inference import Runtime

        items = blocks(tokenizer, data.dev, cfg.max_length)
        return lambda model: -mean_loss(Runtime.of(model), model, items, tokenizer.pad_token_id)

    def load_predictor(self, model_dir: Path, info: dict, runtime):
        return CausalLMPredictor.from_run(model_dir, info["max_length"], info.get("base_model"), model_dir / "transferkit.json", runtime)

    def score_split(self, predictor, texts: list[str], labels, predictions_file=None) -> dict:
        """`perplexity`, `loss` and the same for the starting model (`..._before`)."""
        after, tokens = predictor.loss(texts)
        before, _ = predictor.base().loss(texts)
        return {"perplexity": math.exp(after), "loss": after, "perplexity_before": math.exp(before), "loss_before": before, "tokens": tokens}

    def read_request(self, cfg, texts: list[str], input_path: str | None, **passage) -> Request:
        """Prompts given directly or read from a file (which drops blank lines); a blank
        prompt is an error rather than a continuation of nothing."""
        prompts = self.read_labelled(input_path, cfg) if input_path else list(texts)
        if not prompts:
            raise UserError("predict", "no input: give prompts, --input FILE, or lines on standard input")
        for n, prompt in enumerate(prompts, start=1):
            if not prompt.strip():
                raise UserError(f"prompt {n}", "empty prompt; give text for the model to continue")
        return Request([str(i) for i in range(len(prompts))], prompts, {})

    def records(self, predictor, request: Request) -> list[dict]:
        """A continuation of each prompt, sampled with the generation defaults."""
        return [{"id": i, "text": p, "generated": g} for i, p, g in zip(request.ids, request.items, predictor.generate(request.items))]


TASK = LanguageModelling()


def with_pad_token(tokenizer):
    """Batches of a causal LM pad with its end-of-text token when it has no pad token."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def blocks(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    """The texts as consecutive blocks of `max_length` tokens (the last may be shorter),
    each text followed by the end-of-text token; labels are the inputs (the model shifts them)."""
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids += encoded + [tokenizer.eos_token_id]
    return [{"input_ids": ids[i : i + max_length], "labels": ids[i : i + max_length]} for i in range(0, len(ids), max_length)]


def mean_loss(runtime, model, items: list[dict], pad_token_id: int, progress: str | None = None) -> float:
    """Mean next-token cross-entropy over all predicted tokens of `items`."""

    def read(out, batch) -> tuple[float, int]:
        predicted = int((batch["labels"][:, 1:] != -100).sum())
        return (float(out.loss) * predicted if predicted else 0.0), predicted

    sums = runtime.batches(model, items, pad_token_id, read, batch_size=8, progress=progress, keys=("input_ids", "labels"), sort=False)
    return sum(total for _, (total, _) in sums) / max(1.0, sum(count for _, (_, count) in sums))


class CausalLMPredictor:
    """Perplexity and generation of a causal LM; `base()` is the same for the model a run
    started from (`base_model`: its `model_reference`, or the absolute path older runs
    stored, read from `info_file`)."""

    def __init__(self, tokenizer, model, max_length: int, runtime, base_model: str | None = None, info_file: Path | None = None):
        self.tokenizer, self.model, self.max_length, self.runtime = with_pad_token(tokenizer), model, max_length, runtime
        self.base_model, self.info_file = base_model, info_file
        self._base = None

    @classmethod
    def from_run(cls, model_dir: Path, max_length: int, base_model: str | None, info_file: Path, runtime) -> "CausalLMPredictor":
        return cls(*runtime.load(model_dir, "AutoModelForCausalLM"), max_length, runtime, base_model, info_file)

    def base(self) -> "CausalLMPredictor":
        if self._base is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from transferkit.serving.run_files import resolve_reference

            path = resolve_reference(self.base_model, self.info_file)
            model = self.runtime.place(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32))
            self._base = CausalLMPredictor(AutoTokenizer.from_pretrained(path), model, self.max_length, self.runtime)
        return self._base

    def loss(self, texts: list[str]) -> tuple[float, int]:
        items = blocks(self.tokenizer, texts, self.max_length)
        return mean_loss(self.runtime, self.model, items, self.tokenizer.pad_token_id, progress="score"), sum(len(i["input_ids"]) for i in items)

    def generate(self, prompts: list[str], max_new_tokens: int = 50, greedy: bool = False, temperature: float = 0.8,
                 top_k: int = 50, top_p: float = 0.95, seed: int = 0) -> list[str]:
        import torch
        from transformers import set_seed

        encoded = [self.tokenizer(prompt, return_tensors="pt") for prompt in prompts]
        self.check_positions(encoded, max_new_tokens)
        set_seed(seed)
        options = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature, "top_k": top_k, "top_p": top_p}
        out = []
        with torch.inference_mode():
            for prompt in encoded:
                inputs = {k: v.to(self.runtime.device) for k, v in prompt.items()}
                ids = self.model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **options)
                out.append(self.tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
        return out

    def check_positions(self, encoded: list, max_new_tokens: int) -> None:
        """Each prompt and its new tokens must fit the model's token positions: past them a
        model gives garbage or fails, and a huge --max-new-tokens would run for hours."""
        positions = getattr(self.model.config, "max_position_embeddings", None)
        for n, prompt in enumerate(encoded, start=1):
            length = prompt["input_ids"].shape[1]
            if positions and length + max_new_tokens > positions:
                raise UserError("--max-new-tokens", f"{max_new_tokens:,} new tokens after the {length} of prompt {n} exceed the model's {positions:,} token positions; give at most {positions:,} together (fewer new tokens, or a shorter prompt)")
