"""`contrastive`: the encoder tuned by supervised contrastive learning on the labelled texts,
then a logistic head on its unit-length embeddings.

Each step encodes one class-balanced batch and pulls every text towards the other texts of
its class and away from the rest (the supervised contrastive loss of Khosla et al. 2020,
over cosine similarities at temperature `TEMPERATURE`). One pass over B texts gives
B(B-1) comparisons, where SetFit's pairs give one per two texts encoded, so the same
tuning costs a fraction of the encoder passes (bench/results/contrastive_recipe.md). The
work is a number of steps (`contrastive_steps`): ten passes over the labels, and a cap, so
10,000 labels train in bounded time; memory is one batch.

Where the label texts (the names, or `--label-descriptions`) carry signal, they join every
batch as members of their classes (anchors); `label_anchors` decides (`anchors_decision`).
The head is fitted as `features` fits its own, with C chosen on dev; without dev data it is
`HEAD_C`, because cross-validation on texts the encoder was just tuned on scores every C
near 100 % and its tie goes to the most regularised head, which underfits (measured on
dev: TREC +1.3 points at 8 per class, +0.7 at 64; SST-2 level). The run's model/ holds the tuned encoder (`encoder/`, a plain
transformers directory) and the head; prediction goes through the `features` predictor.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np

from transferkit.errors import UserError
from transferkit.strategies.base import FitResult
from transferkit.strategies.features import Encoder, HeadOnEncoder, head_on_encoder, pool

TEMPERATURE = 0.1
PASSES = 10  # over the labelled texts,
MIN_STEPS, MAX_STEPS = 40, 200  # within these bounds
HEAD_C = 1.0  # the head's regularisation where no dev data chooses it


def contrastive_steps(texts: int, batch_size: int) -> int:
    """Optimiser steps for `texts` labelled texts: `PASSES` passes, at least `MIN_STEPS`
    (few labels still need some tuning), at most `MAX_STEPS` (bounded time at any size).
    Chosen on dev: at 64 per class, 40 and 80 steps tie on SST-2 (128 texts) and 160 beat 70
    on TREC (384 texts) by a point (bench/results/contrastive_recipe.md)."""
    return min(MAX_STEPS, max(MIN_STEPS, math.ceil(PASSES * texts / batch_size)))


class BalancedBatchSampler:
    """Batches of item indices with (nearly) as many texts of every class, each class cycled
    in a fresh random order so that every text is seen about equally often; with more
    classes than half a batch, each batch takes two texts of a random half-batch of classes.
    `anchors` (class -> item index) join every batch whose class is in it. A pass has as
    many batches as the texts fill; passes differ, and repeat for a seed (resume)."""

    def __init__(self, labels: list[int], batch_size: int, seed: int, anchors: dict[int, int] | None = None):
        self.by_class: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            self.by_class.setdefault(label, []).append(i)
        self.classes = sorted(self.by_class)
        self.per_class = max(2, batch_size // len(self.classes))
        self.classes_per_batch = min(len(self.classes), max(1, batch_size // self.per_class))
        self.batches = math.ceil(len(labels) / batch_size)
        self.anchors, self.seed, self.epoch = anchors or {}, seed, 0

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        rng = random.Random(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        queues: dict[int, list[int]] = {c: [] for c in self.classes}
        batches = []
        for _ in range(self.batches):
            chosen = self.classes if self.classes_per_batch == len(self.classes) else sorted(rng.sample(self.classes, self.classes_per_batch))
            batch = []
            for c in chosen:
                members = self.by_class[c]
                for _ in range(min(self.per_class, len(members))):
                    if not queues[c]:
                        queues[c] = rng.sample(members, len(members))
                    batch.append(queues[c].pop())
                if c in self.anchors:
                    batch.append(self.anchors[c])
            batches.append(batch)
        return iter(batches)


def mean_pooled(model, batch):
    """Mean of the token vectors under the attention mask; every model input of the batch
    is passed (token types too, for text pairs), as the `features` encoder passes them."""
    return pool(model(**{k: v for k, v in batch.items() if k != "labels"}).last_hidden_state, batch["attention_mask"], "mean")


def supervised_contrastive_loss(embeddings, labels, temperature: float = TEMPERATURE):
    """For each text with another of its class in the batch: minus the mean log-probability
    of its class-mates under a softmax over its cosine similarities to every other text."""
    import torch

    z = torch.nn.functional.normalize(embeddings.float(), dim=-1)
    itself = torch.eye(len(labels), dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(itself, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    mates = (labels[:, None] == labels[None, :]) & ~itself
    has_mates = mates.any(1)
    return -(log_prob.masked_fill(~mates, 0.0).sum(1)[has_mates] / mates.sum(1)[has_mates]).mean()


def contrastive_loss(model, batch):
    return supervised_contrastive_loss(mean_pooled(model, batch), batch["labels"])


def text_classes(targets: np.ndarray) -> np.ndarray:
    """Each text's class in the contrastive loss: its label, or multi-label its whole label
    set, so class-mates share every label (texts with no label are a class too: those the
    head must learn to leave unlabelled). Pulling texts that share one label of several
    together would also pull them towards their other labels."""
    return np.unique(targets, axis=0, return_inverse=True)[1].reshape(-1) if targets.ndim == 2 else targets


def anchors_decision(setting: str, encoder, label_texts: list[str], data) -> tuple[bool, str]:
    """Whether the label texts anchor their classes, and why. `auto` asks the run's own
    labels: the label texts alone (nearest by cosine, before any tuning) must classify the
    training texts better than chance by a clear margin (a fifth of the way from chance to
    perfect: 60 % for two classes). On dev data, anchors helped SST-2 (`negative`,
    `positive`) and hurt TREC (`ABBR`, `DESC`, ...), whose names classify near chance
    (bench/results/contrastive_recipe.md). Multi-label, never: a label text stands for one
    label, and a text's class is its label set."""
    if data.train.multi_label:
        if setting == "on":
            raise UserError("--label-anchors", "on needs one label per text; with --multi-label a text's class is its label set, which no label text stands for: use auto or off")
        return False, "off: with --multi-label a text's class is its label set, which no label text stands for"
    if setting != "auto":
        return setting == "on", f"--label-anchors {setting}"
    texts = encoder.embed(data.train.texts, data.train.pairs)
    names = encoder.embed(label_texts)
    gold = np.array([data.labels.index(label) for label in data.train.labels])
    accuracy = float(((texts @ names.T).argmax(1) == gold).mean())
    chance = 1 / len(data.labels)
    bar = chance + (1 - chance) / 5
    verdict = "on" if accuracy >= bar else "off"
    return accuracy >= bar, f"{verdict}: the label texts alone classify {accuracy:.0%} of the training texts (chance {chance:.0%}, needed {bar:.0%})"


class Contrastive(HeadOnEncoder):
    name = "contrastive"

    def fit(self, task, cfg, data, model_path: str, model_dir: Path, checkpoints=None) -> FitResult:
        import torch
        from transformers import AutoModel, AutoTokenizer, set_seed

        from transferkit.data.label_texts import label_texts
        from transferkit.inference import Runtime
        from transferkit.progress import note
        from transferkit.training.text_chunks import chunk_overlap, encode_documents
        from transferkit.training.batching import PadCollator, encode_texts
        from transferkit.training.loop import LoopSettings, train_loop

        set_seed(cfg.seed)
        runtime = Runtime.create(cfg.device)
        overlap = chunk_overlap(cfg)  # --long-text chunks: every window of a text is a member of its class
        described = label_texts(cfg.label_descriptions, data.labels)
        anchored, why = anchors_decision(cfg.label_anchors, Encoder(model_path, "mean", cfg.max_length, runtime, normalize=True, chunk_overlap=overlap), described, data)
        note(f"label anchors {why}")
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModel.from_pretrained(model_path, dtype=torch.float32)
        windows = encode_documents(tokenizer, data.train.texts, data.train.pairs, cfg.max_length, overlap)
        items = windows.items
        classes = text_classes(task.targets(data.train, data.labels))
        labels = [int(classes[document]) for document in windows.document]
        anchors = {}
        if anchored:
            anchors = {c: len(items) + c for c in range(len(described))}
            items += encode_texts(tokenizer, described, None, cfg.max_length)
        for item, label in zip(items, labels + list(range(len(described)))):
            item["labels"] = label
        sampler = BalancedBatchSampler(labels, cfg.batch_size, cfg.seed, anchors)
        steps = cfg.max_steps or (cfg.epochs * len(sampler) if cfg.epochs else contrastive_steps(len(labels), cfg.batch_size))
        settings = LoopSettings.from_config(cfg, epochs=1)
        settings.max_steps = steps
        collate = PadCollator(tokenizer.pad_token_id, settings.pad_to_multiple_of, cfg.max_length)
        result = train_loop(model, items, collate, settings, None, self.name, checkpoints, contrastive_loss, sampler)
        encoder_dir = model_dir / "encoder"
        model.save_pretrained(encoder_dir)
        tokenizer.save_pretrained(encoder_dir)

        started = time.perf_counter()
        encoder = Encoder(str(encoder_dir), "mean", cfg.max_length, runtime, normalize=True, chunk_overlap=overlap)
        head = head_on_encoder(encoder, task, cfg, data, model_dir, "encoder", without_dev_C=HEAD_C)  # "encoder": the run's own, relative
        return FitResult(
            seconds=result.seconds + time.perf_counter() - started,
            examples=result.examples,
            resolved={"max_steps": steps, **result.resolved_options()},
            stats={
                "steps": result.steps, "lr": settings.lr, "batch_size": settings.batch_size, "temperature": TEMPERATURE,
                "label_anchors": why, "tuning_seconds": result.seconds, "C": head.C, "C_selection": head.selection,
                "mixed_precision": result.mixed_precision, **result.speed,
            },
        )


STRATEGIES = {"contrastive": Contrastive()}
