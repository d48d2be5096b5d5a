"""`pretrain mlm`: domain-adaptive pretraining, i.e. masked-LM training continued on
unlabelled in-domain text, before fine-tuning on the task.

Each document is tokenised once and cut into sequences of `max_length` tokens (a long
document gives several, so no text is thrown away); transformers' masked-LM collator
masks 15% of the tokens (or of the words) afresh in every batch, and the training loop is
the one `finetune` uses. Where the checkpoint has no masked-LM head (MiniLM was saved as
a bare encoder), `AutoModelForMaskedLM` adds one whose output layer is the input
embedding matrix (tied), so only the small transform layer starts from random weights.

The held-out loss is measured before and after training with the same masks (a fixed
seed), so the two numbers compare. The output directory is the masked-LM model, plus the
checkpoint's weights that the masked-LM architecture has no place for (BERT's pooler), so
`train --model DIR` starts a classifier from the same pooler as it would from the
original checkpoint.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch

from transferkit.config import MaskedLMConfig
from transferkit.errors import UserError
from transferkit.models.zoo import check_max_length, resolve_model
from transferkit.pretraining.corpus import Corpus
from transferkit.rundir import library_versions, staged_run_dir
from transferkit.training.loop import LoopSettings, train_loop

MAX_HELD_OUT = 2000


def split_documents(cfg: MaskedLMConfig) -> tuple[list[str], list[str]]:
    """(training documents, held-out documents)."""
    documents = list(Corpus(tuple(cfg.corpus), cfg.text_column).texts())
    if cfg.eval_corpus:
        return documents, list(Corpus((cfg.eval_corpus,), cfg.text_column).texts())
    held = min(MAX_HELD_OUT, max(1, round(cfg.eval_fraction * len(documents))))
    if len(documents) < 2:
        raise UserError(cfg.corpus[0], "the corpus has one document; give more, or a held-out --eval-corpus")
    order = list(range(len(documents)))
    random.Random(cfg.seed).shuffle(order)
    return [documents[i] for i in order[held:]], [documents[i] for i in order[:held]]


def sequences(tokenizer, documents: list[str], max_length: int, whole_word_mask: bool) -> list[dict]:
    """Every document as one or more sequences of at most `max_length` tokens."""
    encoded = tokenizer(
        documents, truncation=True, max_length=max_length, return_overflowing_tokens=True,
        return_special_tokens_mask=True, return_offsets_mapping=whole_word_mask,
    )
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping") if k in encoded]
    return [{k: encoded[k][i] for k in keys} for i in range(len(encoded["input_ids"]))]


def require_tokens(items: list[dict], where: str) -> None:
    """Documents in which the tokenizer finds nothing (only control or zero-width
    characters) are sequences of special tokens alone: nothing to mask, so a nan loss
    that the training loop would blame on the learning rate."""
    if not any(0 in item["special_tokens_mask"] for item in items):
        raise UserError(where, "the corpus holds no tokens: the model's tokenizer finds nothing in its documents (only characters it drops, such as control or zero-width ones); give a corpus of text")


class MaskingCollator:
    """transformers' masked-LM collator, with the word offsets that whole-word masking
    reads padded here (the tokenizer's `pad` does not pad them)."""

    def __init__(self, tokenizer, probability: float, whole_word_mask: bool, seed: int | None = None):
        from transformers import DataCollatorForLanguageModeling

        self.collate = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=probability, whole_word_mask=whole_word_mask, seed=seed
        )

    def __call__(self, items: list[dict]) -> dict:
        if "offset_mapping" in items[0]:
            longest = max(len(item["input_ids"]) for item in items)
            items = [{**item, "offset_mapping": item["offset_mapping"] + [(0, 0)] * (longest - len(item["input_ids"]))} for item in items]
        return dict(self.collate(items))


def held_out_loss(model, tokenizer, items: list[dict], cfg: MaskedLMConfig, batch_size: int = 64) -> float:
    """Mean masked-token cross-entropy, with masks drawn from `cfg.seed` (the same every call)."""
    from transferkit.inference import Runtime

    def read(out, batch) -> tuple[float, int]:
        masked = int((batch["labels"] != -100).sum())
        return (float(out.loss) * masked if masked else 0.0), masked

    collate = MaskingCollator(tokenizer, cfg.mlm_probability, cfg.whole_word_mask, seed=cfg.seed)
    sums = Runtime.of(model).batches(model, items, tokenizer.pad_token_id, read, batch_size, keys=None, sort=False, collate=collate)
    return sum(total for _, (total, _) in sums) / max(1, sum(count for _, (_, count) in sums))


def load_masked_lm(model_path: str):
    """(model, head note, the checkpoint's weights the masked-LM model lacks)."""
    from transformers import AutoModel, AutoModelForMaskedLM

    model, info = AutoModelForMaskedLM.from_pretrained(model_path, dtype=torch.float32, output_loading_info=True)
    added = any(key.startswith(("cls.", "lm_head", "generator_lm_head")) or "predictions" in key for key in info["missing_keys"])
    if added and model.get_output_embeddings().weight is not model.get_input_embeddings().weight:
        raise UserError("--model", "the checkpoint has no masked-LM head and its architecture does not tie one to the input embeddings")
    extras = {}
    if info["unexpected_keys"]:
        prefix = model.base_model_prefix
        base = AutoModel.from_pretrained(model_path, dtype=torch.float32).state_dict()
        extras = {f"{prefix}.{k}": v for k, v in base.items() if k in info["unexpected_keys"] or f"{prefix}.{k}" in info["unexpected_keys"]}
    head = "added, tied to the input embeddings" if added else "from the checkpoint"
    return model, head, extras


def train(cfg: MaskedLMConfig, run=None) -> dict:
    """Train, write `cfg.output`, and return its metrics; `run` (a `tracking.RunTracking`)
    is started once the output is checked and locked."""
    from transformers import AutoTokenizer, set_seed

    cfg.validate()
    with staged_run_dir(Path(cfg.output), cfg.overwrite, inputs=[*cfg.corpus, cfg.eval_corpus, cfg.model]) as staging:
        if run is not None:
            run.start()  # the output checked and locked: recorded as running
        model_path = resolve_model(cfg.model)
        check_max_length(cfg.max_length, model_path)
        train_documents, eval_documents = split_documents(cfg)
        set_seed(cfg.seed)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        if tokenizer.mask_token is None:
            raise UserError("--model", f"{cfg.model!r} has no mask token: it is not a masked-LM encoder")
        train_items = sequences(tokenizer, train_documents, cfg.max_length, cfg.whole_word_mask)
        eval_items = sequences(tokenizer, eval_documents, cfg.max_length, cfg.whole_word_mask)
        require_tokens(train_items, ", ".join(cfg.corpus))
        if cfg.eval_corpus:
            require_tokens(eval_items, cfg.eval_corpus)
        model, head, extras = load_masked_lm(model_path)

        before = held_out_loss(model, tokenizer, eval_items, cfg)
        settings = LoopSettings(
            epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, warmup_ratio=cfg.warmup_ratio,
            weight_decay=cfg.weight_decay, evaluations=1, patience=1, mixed_precision=cfg.mixed_precision,
            layer_lr_decay=1.0, max_steps=cfg.max_steps,
        )
        collate = MaskingCollator(tokenizer, cfg.mlm_probability, cfg.whole_word_mask)
        result = train_loop(model, train_items, collate, settings, description="pretrain mlm")
        after = held_out_loss(model, tokenizer, eval_items, cfg)

        model.save_pretrained(staging, state_dict={**model.state_dict(), **extras})
        tokenizer.save_pretrained(staging)
        cfg.to_yaml(staging / "config.yaml")
        metrics = {
            "model": cfg.model,
            "mlm_head": head,
            "eval_loss_before": before,
            "eval_loss_after": after,
            "eval_perplexity_before": math.exp(before),
            "eval_perplexity_after": math.exp(after),
            "documents": {"train": len(train_documents), "eval": len(eval_documents)},
            "sequences": {"train": len(train_items), "eval": len(eval_items)},
            "train": {"seconds": result.seconds, "examples": result.examples, "steps": result.steps,
                      "mixed_precision": result.mixed_precision, **result.speed,
                      "samples_per_second": result.examples / result.seconds if result.seconds > 0 else None},
            "versions": library_versions(),
        }
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
