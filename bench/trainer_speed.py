"""Training throughput: transferkit `finetune` against the transformers `Trainer`, same
model (minilm), data (SST-2 train), batch size 32, max length 64 and 1 epoch, measured in
one process on this machine. Both models are then scored on SST-2 test.
Writes bench/results/trainer_speed.{md,json}.

    .venv/bin/python bench/trainer_speed.py    # about 8 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, scratch, write_results  # noqa: E402

from transferkit import api  # noqa: E402
from transferkit.config import TrainConfig  # noqa: E402
from transferkit.data.classification import read_split  # noqa: E402
from transferkit.models.zoo import resolve_model  # noqa: E402

BATCH, MAX_LENGTH, EPOCHS, SEED = 32, 64, 1, 0


class TokenCounter:
    """A collator that counts the tokens of the padded batches it makes (for tokens/s and MFU)."""

    def __init__(self, collate):
        self.collate, self.tokens = collate, 0

    def __call__(self, features):
        batch = self.collate(features)
        self.tokens += batch["input_ids"].numel()
        return batch


def run_trainer(data: Path, work: Path, batch: int = BATCH, max_length: int = MAX_LENGTH, model: str = "minilm",
                max_steps: int | None = None, precision: str = "no") -> dict:
    """The Trainer with its defaults (lr 5e-5, linear decay, unsorted dynamic padding, float32;
    `precision` bf16 or fp16 its switches for mixed precision), for `EPOCHS` or `max_steps`;
    scored on `data`'s test split where it has one."""
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    path = resolve_model(model)
    train = read_split(str(data / "train.csv"))
    labels = sorted(set(train.labels))
    tokenizer = AutoTokenizer.from_pretrained(path)

    def encode(split):
        enc = tokenizer(split.texts, truncation=True, max_length=max_length)
        return [
            {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": labels.index(y)}
            for i, y in enumerate(split.labels)
        ]

    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels), dtype=torch.float32)
    args = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=batch, per_device_eval_batch_size=128,
        num_train_epochs=EPOCHS, max_steps=max_steps or -1, bf16=precision == "bf16", fp16=precision == "fp16", seed=SEED, eval_strategy="no", save_strategy="no",
        report_to=[], logging_steps=50,
    )
    collate = TokenCounter(DataCollatorWithPadding(tokenizer))
    trainer = Trainer(model=model, args=args, train_dataset=encode(train), data_collator=collate, processing_class=tokenizer)
    out = trainer.train()
    runtime, tokens = out.metrics["train_runtime"], collate.tokens
    samples = len(train) * EPOCHS if max_steps is None else max_steps * batch
    result = {"train_seconds": runtime, "samples_per_second": samples / runtime, "tokens_per_second": tokens / runtime,
              "parameters": sum(p.numel() for p in model.parameters()), "accuracy": None}
    if (data / "test.csv").exists():
        test = read_split(str(data / "test.csv"))
        logits = trainer.predict(encode(test)).predictions
        gold = np.array([labels.index(y) for y in test.labels])
        result["accuracy"] = float((logits.argmax(-1) == gold).mean())
    return result


def run_transferkit(data: Path, work: Path, batch: int = BATCH, max_length: int = MAX_LENGTH, model: str = "minilm",
                    name: str = "transferkit", **options) -> dict:
    """transferkit `finetune` (its defaults, and `options`: any `train` option) on `data`'s
    splits; its metrics.json `train` fields beside the speed and test accuracy."""
    splits = {split: str(data / f"{split}.csv") for split in ("dev", "test") if (data / f"{split}.csv").exists()}
    cfg = TrainConfig(
        strategy="finetune", model=model, train=str(data / "train.csv"), dev=splits.get("dev"), test=splits.get("test"),
        batch_size=batch, max_length=max_length, epochs=EPOCHS, seed=SEED, output=str(work / name), **options,
    )
    m = api.train(cfg)
    train = m["train"]
    return {"train_seconds": train["seconds"], "samples_per_second": train["samples_per_second"],
            "accuracy": (m.get("test") or {}).get("accuracy"), "train": {k: v for k, v in train.items() if k != "dev_history"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATASETS / "sst2"))
    data = Path(parser.parse_args().data)
    work = scratch("trainer-speed-")
    started = time.perf_counter()
    ours = run_transferkit(data, work)
    theirs = run_trainer(data, work)
    ratio = ours["samples_per_second"] / theirs["samples_per_second"]
    md = "\n".join(
        [
            "# Fine-tuning throughput: transferkit against the transformers Trainer",
            "",
            f"Command: `.venv/bin/python bench/trainer_speed.py` · SST-2 train (6,920 sentences), minilm, batch {BATCH}, "
            f"max length {MAX_LENGTH}, {EPOCHS} epoch, seed {SEED}, both in one process · machine: {machine()} · "
            f"total {time.perf_counter() - started:.0f} s.",
            "",
            "| trainer | train seconds | samples/s | SST-2 test accuracy |",
            "|---|---|---|---|",
            f"| transferkit finetune | {ours['train_seconds']:.0f} | {ours['samples_per_second']:.1f} | {ours['accuracy']:.3f} |",
            f"| transformers Trainer (defaults) | {theirs['train_seconds']:.0f} | {theirs['samples_per_second']:.1f} | {theirs['accuracy']:.3f} |",
            "",
            f"Throughput ratio: **{ratio:.2f}×**. transferkit's seconds cover its training loop with batching "
            "(dev evaluation for early stopping excluded); the Trainer's are its `train_runtime`.",
        ]
    )
    write_results("trainer_speed", md + "\n", {"machine": machine(), "transferkit": ours, "trainer": theirs, "ratio": ratio})


if __name__ == "__main__":
    main()
