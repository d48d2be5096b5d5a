"""Loop callbacks: what the training loop does besides its algorithm, each in one class.

A callback sees the loop's `LoopState` at fixed points (`on_train_begin`;
`on_optimizer_step` right after each optimiser step, before that step's dev evaluation;
`on_step_end` after it; `on_train_end`), may offer other weights to score at each dev
evaluation (`candidates`), and keeps its own state in `state_dict` so that a resumed run
continues it exactly. The loop (`loop.py`) calls them in order; a new behaviour (gradual
unfreezing, a new kind of logging) is a new class here, not an `if` in the loop.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, ContextManager

import torch

from transferkit.errors import UserError
from transferkit.training.loop import layer_depth


class Callback:
    def on_train_begin(self, state) -> None:
        pass

    def on_optimizer_step(self, state) -> None:
        pass

    def on_step_end(self, state) -> None:
        pass

    def on_train_end(self, state) -> None:
        pass

    def candidates(self) -> dict[str, Callable[[], ContextManager]]:
        """Other weights to score beside the live ones at each dev evaluation: name → a
        context manager factory that holds them in the model inside its block."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


# The average spans about this fraction of the run's optimiser steps.
HORIZON = 0.1


class WeightAverage(Callback):
    """An exponential moving average (EMA) of the weights, scored as the candidate "average".

    Late in fine-tuning the weights still jitter from batch to batch, and the dev score with
    them (CoNLL-2003 dev F1 moves by ±0.002 between the last evaluations). The average of
    the recent weights is a smoother point between those jitters. The loop scores it at each
    dev evaluation beside the live weights and keeps whichever scored best, so on a task where
    averaging does not help the live weights win and nothing is lost but evaluation time.
    """

    def __init__(self, model: torch.nn.Module, total_steps: int):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.decay = 1.0 - 1.0 / max(1.0, HORIZON * total_steps)
        self.updates = 0

    @torch.no_grad()
    def on_optimizer_step(self, state=None) -> None:
        """Fold the current weights in. The decay ramps up over the first updates, so the
        average does not stay anchored to the pretrained starting point."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - decay)

    def candidates(self):
        return {"average": self.swapped_in}

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

    def state_dict(self) -> dict:
        return {"average": self.average, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.average, state["average"])
        self.updates = state["updates"]


class GradualUnfreezing(Callback):
    """ULMFiT's gradual unfreezing: the head trains alone at first, then the layers below it
    join one at a time, top first, the embeddings last, evenly over the first `over` of the
    optimiser steps. The new head learns before its first (random) gradients reach the
    pretrained layers; with `--layer-lr-decay` the layers that join also train at smaller
    rates the lower they sit (discriminative learning rates).

    A frozen layer is one whose parameters do not require gradients: it gets none, so AdamW
    leaves it as it is (no update, no weight decay, no optimiser state yet). Parameters
    frozen for good (`--freeze-layers`, `--freeze-embeddings`) stay frozen. What is frozen
    follows from the step alone, so a resumed run freezes exactly as the interrupted one.
    """

    def __init__(self, loop, over: float):
        if loop.accelerator.num_processes > 1:  # DDP reduces the gradients of the parameters it wrapped, every step
            raise UserError("--gradual-unfreezing", "trains in one process only; run it without accelerate launch / torchrun")
        self.loop = loop
        model = loop.accelerator.unwrap_model(loop.model)
        layers = getattr(model.config, "num_hidden_layers", 0)
        self.groups: dict[int, list[torch.nn.Parameter]] = {}
        for name, param in model.named_parameters():
            if param.requires_grad:
                self.groups.setdefault(layer_depth(name, layers), []).append(param)
        self.every = over * loop.state.total / (layers + 1)  # steps between one layer joining and the next

    def trains(self, depth: int, steps: int) -> bool:
        return depth == 0 or steps >= depth * self.every

    def freeze_for(self, steps: int) -> None:
        for depth, params in self.groups.items():
            for param in params:
                param.requires_grad_(self.trains(depth, steps))

    def on_train_begin(self, state) -> None:
        self.freeze_for(self.loop.state.steps)  # a resumed run's state, loaded by the Checkpointer before

    def on_step_end(self, state) -> None:
        self.freeze_for(state.steps)

    def on_train_end(self, state) -> None:
        self.freeze_for(state.total)
