"""Checkpoints for exact resume, as a loop callback.

Every `every` optimiser steps (by default about every ten minutes of training) the
`Checkpointer` saves everything the rest of the run depends on: the model, the optimiser
and the schedule, the random states, the position in the data order, the best weights so
far, the loop's counters and history, and each callback's state. The file goes into the
run's staging folder (`.NAME.partial/checkpoint/`, named after the output), which a killed
run leaves behind. `train --resume` loads it and continues: on a CPU the finished run's
weights and metrics are those of a run that was never interrupted.

The checkpoint is written to a temporary file and renamed, so a kill while saving leaves
the previous checkpoint whole. It is read with `torch.load(weights_only=True)`, which
unpickles tensors and plain containers only, never code.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from transferkit.errors import UserError
from transferkit.training.callbacks import Callback

CHECKPOINT_FILE = "state.pt"
DEFAULT_SECONDS = 600  # without --checkpoint-every: a checkpoint about every ten minutes of training


def random_states() -> dict:
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_random_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])


class Checkpoints:
    """Where a run's checkpoint lives, how often to write it, and whether to start from it."""

    def __init__(self, folder: Path, every: int | None, resume: bool):
        self.folder, self.every, self.resume = Path(folder), every, resume

    @property
    def file(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    def exists(self) -> bool:
        return self.file.is_file()

    def save(self, state: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{CHECKPOINT_FILE}.partial"
        torch.save(state, partial)
        os.replace(partial, self.file)

    def load(self) -> dict:
        try:
            return torch.load(self.file, weights_only=True, map_location="cpu")
        except Exception as e:  # a truncated or foreign file
            raise UserError(str(self.file), f"cannot be read as a transferkit checkpoint ({e.__class__.__name__}); pass --overwrite to start again") from None


class Checkpointer(Callback):
    """Saves the loop's state every `every` steps (or every DEFAULT_SECONDS of training when
    `every` is None; never when it is 0) and, resuming, loads it at the start."""

    def __init__(self, checkpoints: Checkpoints, loop):
        self.checkpoints, self.loop = checkpoints, loop
        self.last_saved = time.perf_counter()

    def on_train_begin(self, state) -> None:
        from transferkit.progress import note

        if self.checkpoints.resume and self.checkpoints.exists():
            self.loop.load_state_dict(self.checkpoints.load())
            note(f"resuming from the checkpoint at step {self.loop.state.steps} of {self.loop.state.total} ({self.checkpoints.file})")
        self.last_saved = time.perf_counter()

    def due(self, state) -> bool:
        every = self.checkpoints.every
        if every is None:
            return time.perf_counter() - self.last_saved >= DEFAULT_SECONDS
        return every > 0 and state.steps % every == 0

    def on_step_end(self, state) -> None:
        if not self.loop.accelerator.is_main_process:  # several processes: the first saves, all load (`api._train_in`)
            return
        if state.steps < state.total and self.due(state):
            self.checkpoints.save(self.loop.state_dict())
            self.last_saved = time.perf_counter()
