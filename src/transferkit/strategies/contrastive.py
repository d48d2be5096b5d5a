"""`contrastive`: the encoder tuned on pairs of labelled texts, then a logistic head on the
tuned embeddings (the recipe of SetFit, on transferkit's loop).

Each round pairs every training text with one text of its own class (target similarity 1)
and one of another class (target 0); the loss is the squared error between the cosine of
the two mean-pooled embeddings and the target. The work is linear in the labels: `pair_rounds`
rounds give 2 × rounds × n pairs, and at most `max_pairs` pairs are drawn however many labels
there are (fewer rounds, then a sample of the texts). The head is fitted as `features` fits
its own (regularisation on dev, else by cross-validation), on the tuned encoder's vectors.

The run's model/ holds the tuned encoder (`encoder/`, a plain transformers directory) and
the head (safetensors + JSON); prediction goes through the `features` predictor.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from transferkit.strategies.base import FitResult, Strategy


def sample_pairs(labels: list[str], rounds: int, max_pairs: int, seed: int) -> list[tuple[int, int, float]]:
    """(i, j, target) pairs: per round and text, one partner of its class and one of another."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    anchors = list(range(len(labels)))
    rounds = max(1, min(rounds, max_pairs // max(1, 2 * len(anchors))))
    if 2 * rounds * len(anchors) > max_pairs:
        anchors = sorted(rng.sample(anchors, max(1, max_pairs // 2)))
    others = {label: [i for i in range(len(labels)) if labels[i] != label] for label in by_label}
    pairs = []
    for _ in range(rounds):
        for i in anchors:
            same = by_label[labels[i]]
            if len(same) > 1:
                j = rng.choice(same)
                while j == i:
                    j = rng.choice(same)
                pairs.append((i, j, 1.0))
            pairs.append((i, rng.choice(others[labels[i]]), 0.0))
    rng.shuffle(pairs)
    return pairs


class PairCollator:
    """Pads the two texts of each pair apart, each with its own attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict]) -> dict:
        import torch

        batch = {"labels": torch.tensor([item["labels"] for item in items], dtype=torch.float32)}
        for side in ("", "_b"):
            rows = [item["input_ids" + side] for item in items]
            width = max(len(r) for r in rows)
            batch["input_ids" + side] = torch.tensor([r + [self.pad_token_id] * (width - len(r)) for r in rows])
            batch["attention_mask" + side] = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return batch


def mean_pooled(model, input_ids, attention_mask):
    hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def cosine_pair_loss(model, batch):
    import torch

    a = mean_pooled(model, batch["input_ids"], batch["attention_mask"])
    b = mean_pooled(model, batch["input_ids_b"], batch["attention_mask_b"])
    return torch.nn.functional.mse_loss(torch.cosine_similarity(a, b).float(), batch["labels"])


class Contrastive(Strategy):
    name = "contrastive"
    linear_head = True

    def fit(self, task, cfg, data, model_path: str, model_dir: Path, checkpoints=None) -> FitResult:
        import torch
        from transformers import AutoModel, AutoTokenizer, set_seed

        from transferkit.inference import Runtime
        from transferkit.recipes import epochs_for
        from transferkit.strategies.features import Encoder, head_on_encoder
        from transferkit.training.batching import encode_texts
        from transferkit.training.loop import LoopSettings, train_loop

        set_seed(cfg.seed)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModel.from_pretrained(model_path, dtype=torch.float32)
        texts = data.train.texts
        encoded = encode_texts(tokenizer, texts, None, cfg.max_length)
        pairs = sample_pairs(data.train.labels, cfg.pair_rounds, cfg.max_pairs, cfg.seed)
        items = [{"input_ids": encoded[i]["input_ids"], "input_ids_b": encoded[j]["input_ids"], "labels": target} for i, j, target in pairs]
        settings = LoopSettings.from_config(cfg, epochs=epochs_for(cfg, len(items)))
        result = train_loop(model, items, PairCollator(tokenizer.pad_token_id), settings, None, self.name, checkpoints, cosine_pair_loss)
        encoder_dir = model_dir / "encoder"
        model.save_pretrained(encoder_dir)
        tokenizer.save_pretrained(encoder_dir)

        started = time.perf_counter()
        encoder = Encoder(str(encoder_dir), "mean", cfg.max_length, Runtime.create(cfg.device))
        head = head_on_encoder(encoder, task, cfg, data, model_dir, "encoder")  # relative: the run's own encoder/
        return FitResult(
            seconds=result.seconds + time.perf_counter() - started,
            examples=len(data.train),
            resolved={"epochs": settings.epochs},
            stats={
                "pairs": len(items), "steps": result.steps, "epochs": settings.epochs, "lr": settings.lr,
                "batch_size": settings.batch_size, "pair_seconds": result.seconds, "C": head.C, "C_selection": head.selection,
                "mixed_precision": result.mixed_precision,
            },
        )

    def load_predictor(self, task, model_dir: Path, info: dict, runtime):
        from transferkit.strategies.features import FeaturesPredictor

        return FeaturesPredictor(model_dir, info["labels"], runtime)


STRATEGIES = {"contrastive": Contrastive()}
