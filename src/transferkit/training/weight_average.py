"""An exponential moving average (EMA) of a model's weights during training.

Late in fine-tuning the weights still jitter from batch to batch, and the dev score with
them (CoNLL-2003 dev F1 moves by ±0.002 between the last evaluations). The average of
the recent weights is a smoother point between those jitters. The loop scores it at each
dev evaluation beside the live weights and keeps whichever scored best, so on a task where
averaging does not help the live weights win and nothing is lost but evaluation time.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

# The average spans about this fraction of the run's optimiser steps.
HORIZON = 0.1


class WeightAverage:
    def __init__(self, model: torch.nn.Module, total_steps: int):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.decay = 1.0 - 1.0 / max(1.0, HORIZON * total_steps)
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights in. The decay ramps up over the first updates, so the
        average does not stay anchored to the pretrained starting point."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - decay)

    @contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block, its own after it."""
        live = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.params, live)
