"""The fine-tuning loop: AdamW, warm-up then linear decay, periodic dev evaluation,
early stopping, and the best checkpoint kept (optionally of a running weight average).

Built on accelerate so the same loop runs on a CPU, on a GPU with mixed precision, or
in several processes under `accelerate launch` / torchrun. Written by hand rather than
on transformers' `Trainer` because the Trainer re-pads unsorted batches and evaluates
through a generic path; this loop trains faster on a CPU (see bench/) and stays small
enough to read. Task modules supply the model, the encoded examples and a dev scorer.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.utils.data import DataLoader

from transferkit.errors import UserError, warn
from transferkit.progress import progress_bar


@dataclass
class LoopSettings:
    """What one training run needs; the defaults live in TrainConfig, not here."""

    epochs: int
    lr: float
    batch_size: int
    seed: int
    warmup_ratio: float
    weight_decay: float
    evaluations: int
    patience: int
    mixed_precision: str
    layer_lr_decay: float
    max_grad_norm: float = 1.0
    max_steps: int | None = None  # exactly this many optimiser steps, overriding `epochs`
    weight_average: bool = False  # also score a moving average of the weights (weight_average.py)


@dataclass
class LoopResult:
    seconds: float  # training steps only, evaluation excluded
    examples: int  # examples processed over all steps
    steps: int
    best_score: float | None
    best_step: int | None
    best_weights: str | None = None  # "live", or "average" when the weight average scored best
    mixed_precision: str = "no"  # the precision trained in (`auto` and what the device lacks resolved)
    history: list[dict] = field(default_factory=list)


def default_epochs(examples: int, batch_size: int, min_epochs: int = 4) -> int:
    """At least `min_epochs` epochs and at least 100 optimiser steps (few-shot sets need
    many passes), at most 30 epochs."""
    steps_per_epoch = math.ceil(examples / batch_size)
    return min(30, max(min_epochs, math.ceil(100 / steps_per_epoch)))


NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def layer_depth(name: str, layers: int) -> int:
    """How far below the output a parameter sits: 0 for the task head, 1 for the top
    transformer layer, ..., `layers + 1` for the embeddings."""
    if "embeddings" in name:
        return layers + 1
    match = re.search(r"\.layers?\.(\d+)\.", name)
    return layers - int(match.group(1)) if match else 0


def parameter_groups(model: torch.nn.Module, settings: LoopSettings) -> list[dict]:
    """AdamW groups: no weight decay on biases and norms, and layer-wise learning-rate
    decay (each layer down from the head gets `layer_lr_decay` times the rate above it),
    which keeps the pretrained lower layers close to where they started."""
    layers = getattr(model.config, "num_hidden_layers", 0)
    groups: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        groups.setdefault((layer_depth(name, layers), name.endswith(NO_DECAY)), []).append(param)
    return [
        {"params": params, "lr": settings.lr * settings.layer_lr_decay**depth, "weight_decay": 0.0 if no_decay else settings.weight_decay}
        for (depth, no_decay), params in sorted(groups.items())
    ]


def resolve_mixed_precision(choice: str) -> str:
    """The precision to train in: `auto` is bf16 or fp16 on a GPU and float32 on a CPU; a
    precision the device lacks falls back, with a warning, rather than failing or being
    ignored silently."""
    gpu = torch.cuda.is_available()
    if choice == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if gpu else "no"
    if choice in ("fp16", "bf16") and not gpu:
        warn(f"--mixed-precision {choice}", "no GPU here; training in float32")
        return "no"
    if choice == "bf16" and not torch.cuda.is_bf16_supported():
        warn("--mixed-precision bf16", "this GPU has no bfloat16; training in fp16")
        return "fp16"
    return choice


def non_finite_loss(loss: float, step: int, lr: float) -> UserError:
    """What stops a run whose loss has overflowed, before it publishes a broken model."""
    return UserError("training", f"the loss became {loss} at step {step}; the learning rate (--lr {lr:g}) is probably too high: lower it")


def state_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_loop(
    model: torch.nn.Module,
    train_items: list[dict],
    collate: Callable[[list[dict]], dict],
    settings: LoopSettings,
    score_dev: Callable[[torch.nn.Module], float] | None = None,
    description: str = "train",
) -> LoopResult:
    """Train `model` in place; with `score_dev` (higher is better) it ends holding the
    weights of its best dev evaluation (live or, with `weight_average`, averaged), else
    those of the last step."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from transferkit.training.batching import LengthGroupedBatchSampler
    from transferkit.training.weight_average import WeightAverage

    set_seed(settings.seed)
    precision = resolve_mixed_precision(settings.mixed_precision)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=precision)
    lengths = [len(item["input_ids"]) for item in train_items]
    sampler = LengthGroupedBatchSampler(lengths, settings.batch_size, settings.seed)
    loader = DataLoader(train_items, batch_sampler=sampler, collate_fn=collate)

    optimizer = torch.optim.AdamW(parameter_groups(model, settings), lr=settings.lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    epochs, total = settings.epochs, settings.epochs * len(loader)
    if settings.max_steps:  # exactly this many steps, over as many passes as that takes
        epochs, total = math.ceil(settings.max_steps / len(loader)), settings.max_steps
    warmup = int(settings.warmup_ratio * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    eval_every = max(1, math.ceil(total / settings.evaluations))
    average = WeightAverage(model, total) if settings.weight_average and score_dev is not None else None

    result = LoopResult(seconds=0.0, examples=0, steps=0, best_score=None, best_step=None, mixed_precision=precision)
    best_state = None
    since_best = 0
    bar = progress_bar(total=total, desc=description, unit="step", enabled=accelerator.is_local_main_process)
    model.train()
    stop = False
    for _ in range(epochs):
        started = time.perf_counter()  # the clock covers batching too, not only the steps
        for batch in loader:
            with accelerator.autocast():
                loss = model(**batch).loss
            accelerator.backward(loss)
            if settings.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            if average is not None:
                average.update()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            result.examples += batch["input_ids"].shape[0]  # this process's; summed over processes below
            result.steps += 1
            bar.update(1)
            loss_value = loss.item()  # the one synchronisation a step costs
            if not math.isfinite(loss_value):
                bar.close()  # the bar's last line before the error's
                raise non_finite_loss(loss_value, result.steps, settings.lr)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)

            if score_dev is not None and (result.steps % eval_every == 0 or result.steps == total):
                result.seconds += time.perf_counter() - started
                model.eval()
                unwrapped = accelerator.unwrap_model(model)
                scores = {"live": score_dev(unwrapped)}
                if average is not None:
                    with average.swapped_in():
                        scores["average"] = score_dev(unwrapped)
                weights, score = max(scores.items(), key=lambda pair: pair[1])  # live on a tie
                model.train()
                entry = {"step": result.steps, "dev": score, "loss": loss_value}
                result.history.append(entry if average is None else {**entry, **{f"dev_{k}": v for k, v in scores.items()}})
                bar.set_postfix(loss=f"{loss_value:.4f}", dev=f"{score:.4f}")
                if result.best_score is None or score > result.best_score:
                    result.best_score, result.best_step, result.best_weights, since_best = score, result.steps, weights, 0
                    with average.swapped_in() if weights == "average" else contextlib.nullcontext():
                        best_state = state_copy(unwrapped)
                elif result.best_score > result.history[0]["dev"]:
                    # Patience runs only once the dev score has moved off its first value: a
                    # model trained from random weights can score a flat 0 (no entity found)
                    # for many evaluations before it starts to learn.
                    since_best += 1
                    stop = since_best >= settings.patience
                started = time.perf_counter()
                if stop:
                    break
            if result.steps == total:
                stop = True
                break
        result.seconds += time.perf_counter() - started
        if stop:
            break
    bar.close()
    if accelerator.num_processes > 1:
        result.examples = int(accelerator.reduce(torch.tensor(result.examples, device=accelerator.device), "sum").item())
    model = accelerator.unwrap_model(model)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
