"""The multi-task model and what the training loop needs to train it: the heads' models
made to share one encoder, wrapped as one module; the batch sampler that draws one head's
batch at a time; the collator; and the dev score the loop selects on.

Nothing here is a second loop: `training.loop.train_loop` trains the wrapper as it trains
any model, so checkpoints, `--resume`, the schedule and the selection on dev are its own.
"""

from __future__ import annotations

import random
from typing import Callable

import torch

from transferkit.training.batching import LengthGroupedBatchSampler, padded_width


def share_encoder(models: list) -> list[str]:
    """Make the models' base models (BERT's `bert`, each built by its task's `build_model`
    from the same pretrained path) hold the first one's modules, so that one encoder is
    trained by every head and saved with each. Shared are the base model's parts that every
    head's has (BERT's embeddings and layers); a part only some have stays theirs (BERT's
    pooler, which only the sequence classifier builds and reads). Returns the shared names."""
    bases = [model.base_model for model in models]
    shared = [name for name, _ in bases[0].named_children()
              if all(isinstance(getattr(base, name, None), torch.nn.Module) for base in bases)]
    for base in bases[1:]:
        for name in shared:
            setattr(base, name, getattr(bases[0], name))
    return shared


class MultiTaskModel(torch.nn.Module):
    """The heads' models (sharing their encoder: `share_encoder`) as the one module the
    loop trains. `forward(head, **batch)` is the loss of a batch of head number `head`, by
    that head's task's loss (`Task.training_loss`) or its model's own. It shows the loop
    what it reads of a model (`config`: the layers, for layer-wise rates and freezing; the
    input embeddings) from the shared encoder, and its parameters hold each shared weight
    once, so the optimiser steps it once per batch."""

    def __init__(self, heads: dict, losses: dict[str, Callable | None]):
        super().__init__()
        self.heads = torch.nn.ModuleDict(heads)
        self.names = list(heads)
        self.losses = losses
        self.config = self.heads[self.names[0]].config

    def get_input_embeddings(self):
        return self.heads[self.names[0]].get_input_embeddings()

    def get_output_embeddings(self):
        return None  # no head's output layer is the embedding matrix (no lm heads)

    def forward(self, head, **batch):
        name = self.names[int(head[0])]
        loss = self.losses[name]
        return loss(self.heads[name], batch) if loss is not None else self.heads[name](**batch).loss


def batch_loss(model, batch):
    """The loop's `loss(model, batch)`: through the wrapper's `forward`, which picks the
    batch's head (so that a wrapped, distributed model sees a forward call)."""
    return model(**batch)


class HeadBatchSampler:
    """Batches of one head at a time, every training item once per pass.

    Each head's batches are its own `LengthGroupedBatchSampler`'s (its batch size, the
    run's seed: the same batches, in the same order, as its single-task run), and a pass
    merges the heads' sequences in a random order. So the heads are drawn in proportion to
    their batches (proportional sampling): a pass is every head's epoch, the heads' step
    counts are those of their single-task runs at the same epochs, and a comparison with
    them differs in the shared encoder alone. (Temperature sampling, which draws small
    tasks more often, would make small heads repeat their data within a pass and break
    that equality.) `epoch`: the pass to draw, set by the loop."""

    def __init__(self, lengths: list[list[int]], batch_sizes: list[int], seed: int):
        self.samplers = [LengthGroupedBatchSampler(head, size, seed) for head, size in zip(lengths, batch_sizes)]
        self.offsets = [sum(len(head) for head in lengths[:h]) for h in range(len(lengths))]  # items are in head order
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return sum(len(sampler) for sampler in self.samplers)

    def __iter__(self):
        rng = random.Random(f"heads-{self.seed}-{self.epoch}")
        passes = []
        for sampler, offset in zip(self.samplers, self.offsets):
            sampler.epoch = self.epoch
            passes.append(iter([[offset + i for i in batch] for batch in sampler]))
        order = [h for h, sampler in enumerate(self.samplers) for _ in range(len(sampler))]
        rng.shuffle(order)
        self.epoch += 1
        return iter([next(passes[h]) for h in order])

    def head_of(self, index: int) -> int:
        return max(h for h, offset in enumerate(self.offsets) if index >= offset)


def head_shares(sampler: HeadBatchSampler, lengths: list[int], steps: int, pad_to_multiple_of: int,
                max_lengths: list[int]) -> list[dict]:
    """Each head's part of the first `steps` batches of `sampler` (the steps a run took):
    its steps, examples and padded tokens, as the collator pads them. Replayed from the
    sampler, which is fixed by its seed, so a resumed run counts the same."""
    shares = [{"steps": 0, "examples": 0, "tokens": 0} for _ in sampler.samplers]
    epoch, done = 0, 0
    while done < steps:
        sampler.epoch = epoch
        for batch in sampler:
            if done == steps:
                break
            head = sampler.head_of(batch[0])
            width = padded_width(max(lengths[i] for i in batch), pad_to_multiple_of, max_lengths[head])
            shares[head]["steps"] += 1
            shares[head]["examples"] += len(batch)
            shares[head]["tokens"] += width * len(batch)
            done += 1
        epoch += 1
    return shares


class HeadCollator:
    """Pads a batch with its head's collator (each head its own `--max-length`); the
    items' `head` becomes the batch's `head`, which the wrapper's `forward` reads."""

    def __init__(self, collators: list[Callable]):
        self.collators = collators

    def __call__(self, items: list[dict]) -> dict:
        return self.collators[items[0]["head"]](items)


class MeanDevScore:
    """The dev score the loop selects on: the mean over the heads that have dev data of
    each head's own dev score (its `Task.dev_scorer`, of the metric `Task.selection`
    chose), so that every task weighs the same whatever its data size. It remembers the
    heads' scores at the best mean so far, which are those of the weights the loop keeps
    (its first best evaluation, live or a callback's candidate, as here the first best call)."""

    def __init__(self, scorers: dict[str, Callable]):
        self.scorers = scorers
        self.best: tuple[float, dict[str, float]] | None = None

    def heads(self, model) -> dict[str, float]:
        return {name: scorer(model.heads[name]) for name, scorer in self.scorers.items()}

    def __call__(self, model) -> float:
        scores = self.heads(model)
        mean = sum(scores.values()) / len(scores)
        if self.best is None or mean > self.best[0]:
            self.best = (mean, scores)
        return mean

    def at_best(self, model, best: float | None) -> dict[str, float]:
        """Each head's dev score of the weights the loop kept (its best mean `best`):
        remembered, or scored again where a resumed run chose them before it stopped."""
        if self.best is not None and self.best[0] == best:
            return self.best[1]
        return self.heads(model)
