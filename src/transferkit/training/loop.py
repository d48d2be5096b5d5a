"""The fine-tuning loop: AdamW, warm-up then linear decay, periodic dev evaluation,
early stopping, and the best checkpoint kept (optionally of a running weight average).

Built on accelerate so the same loop runs on a CPU, on a GPU with mixed precision, or
in several processes under `accelerate launch` / torchrun; how it uses a GPU (TF32, bf16,
fused AdamW, `--compile`) is `inference.TrainingPolicy`'s. Written by hand rather than
on transformers' `Trainer` because the Trainer re-pads unsorted batches and evaluates
through a generic path; this loop trains faster on a CPU (see bench/) and stays small
enough to read. Task modules supply the model, the encoded examples and a dev scorer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.utils.data import DataLoader

from transferkit.errors import UserError
from transferkit.progress import progress_bar


@dataclass
class LoopSettings:
    """What one training run needs, resolved (the defaults live in the recipe table)."""

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
    weight_average: bool = False  # also score a moving average of the weights (callbacks.WeightAverage)
    device: str = "auto"
    freeze_embeddings: str = "no"  # yes: the embedding layer stays as pretrained; auto: `embeddings_stay` decides
    freeze_layers: int = 0  # and so do the lowest N transformer layers
    compile: bool = False  # train the model torch.compile'd
    pad_to_multiple_of: int = 1  # what the strategy's collator pads batch lengths to a multiple of (reported here)
    peak_flops: float | None = None  # the device's peak FLOP/s, for MFU (None: the table's, where it knows the GPU)
    gradual_unfreezing: float = 0.0  # unfreeze layer by layer over this fraction of the steps (callbacks.GradualUnfreezing)

    @classmethod
    def from_config(cls, cfg, epochs: int) -> "LoopSettings":
        """The settings of a `train` run whose options the recipe table has resolved
        (`--pad-to-multiple-of` too: its default depends on the device and `--compile`)."""
        from transferkit.inference import pad_multiple, resolve_device

        return cls(
            epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, warmup_ratio=cfg.warmup_ratio,
            weight_decay=cfg.weight_decay, evaluations=cfg.evaluations, patience=cfg.patience,
            mixed_precision=cfg.mixed_precision, layer_lr_decay=cfg.layer_lr_decay, max_steps=cfg.max_steps,
            weight_average=cfg.weight_average == "ema", device=cfg.device,
            freeze_embeddings=cfg.freeze_embeddings, freeze_layers=cfg.freeze_layers, compile=cfg.compile,
            pad_to_multiple_of=pad_multiple(cfg.pad_to_multiple_of, resolve_device(cfg.device), cfg.compile),
            peak_flops=cfg.peak_flops, gradual_unfreezing=cfg.gradual_unfreezing,
        )


@dataclass
class LoopResult:
    seconds: float  # training steps only, evaluation excluded
    examples: int  # examples processed over all steps
    steps: int
    best_score: float | None
    best_step: int | None
    best_weights: str | None = None  # "live", or the name of a callback's candidate that scored best ("average")
    mixed_precision: str = "no"  # the precision trained in (`auto` and what the device lacks resolved)
    history: list[dict] = field(default_factory=list)
    trainable_parameters: int = 0
    frozen_embeddings: bool = False  # `--freeze-embeddings` as resolved for the model
    speed: dict = field(default_factory=dict)  # tokens/s, MFU, peak memory, how it ran (metrics.json `train`)

    def resolved_options(self) -> dict:
        """The loop's options whose `auto` this model decided, as config.yaml records them."""
        return {"freeze_embeddings": "yes" if self.frozen_embeddings else "no"}

    def stats(self, settings: "LoopSettings") -> dict:
        """What metrics.json's `train` reports of a loop run with `settings`."""
        return {
            "epochs": settings.epochs, "lr": settings.lr, "layer_lr_decay": settings.layer_lr_decay,
            "batch_size": settings.batch_size, "steps": self.steps, "best_step": self.best_step,
            "trainable_parameters": self.trainable_parameters, "best_weights": self.best_weights,
            "mixed_precision": self.mixed_precision, "dev_history": self.history, **self.speed,
        }


@dataclass
class LoopState:
    """The loop's counters and results so far: what callbacks read, and what a checkpoint
    saves besides the model, optimiser, schedule and random states."""

    total: int  # optimiser steps planned
    steps: int = 0
    epoch: int = 0  # passes over the data begun
    batches: int = 0  # batches done in the current pass
    examples: int = 0
    tokens: int = 0  # in the padded batches, this process's
    seconds: float = 0.0
    best_score: float | None = None
    best_step: int | None = None
    best_weights: str | None = None
    since_best: int = 0
    history: list[dict] = field(default_factory=list)


NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def layer_depth(name: str, layers: int) -> int:
    """How far below the output a parameter sits: 0 for the task head, 1 for the top
    transformer layer, ..., `layers + 1` for the embeddings."""
    if "embeddings" in name:
        return layers + 1
    match = re.search(r"\.layers?\.(\d+)\.", name)
    return layers - int(match.group(1)) if match else 0


# Multilingual vocabularies (mBERT 119k words, XLM-R and multilingual-e5 250k) are this big;
# English ones (BERT, MiniLM 30k, GPT-2 50k) are not.
MULTILINGUAL_VOCABULARY = 100_000


def embeddings_stay(model: torch.nn.Module, choice: str) -> bool:
    """`--freeze-embeddings` resolved for this model: auto keeps a multilingual vocabulary's
    embedding matrix as pretrained (trained on one language, the other languages' words
    would drift from where the encoder aligned them; on WikiANN German dev, English NER
    with it frozen scored 0.712 against 0.708, 3.8 times faster), except where that matrix
    is also the output layer (a causal LM's tied head must learn)."""
    if choice != "auto":
        return choice == "yes"
    embeddings, output = model.get_input_embeddings(), model.get_output_embeddings()
    tied = output is not None and output.weight is embeddings.weight
    return embeddings.num_embeddings >= MULTILINGUAL_VOCABULARY and not tied


def freeze(model: torch.nn.Module, embeddings: bool, lowest_layers: int) -> int:
    """Fix the embeddings and/or the lowest `lowest_layers` layers (a frozen embedding
    matrix needs no optimiser state); returns the parameters left to train."""
    layers = getattr(model.config, "num_hidden_layers", 0)
    if lowest_layers > layers:
        raise UserError("--freeze-layers", f"{lowest_layers} is more than the model's {layers} layers")
    for name, param in model.named_parameters():
        depth = layer_depth(name, layers)
        if (depth == layers + 1 and embeddings) or layers - lowest_layers < depth <= layers:
            param.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_groups(model: torch.nn.Module, settings: LoopSettings) -> list[dict]:
    """AdamW groups of the parameters that train: no weight decay on biases and norms, and
    layer-wise learning-rate decay (each layer down from the head gets `layer_lr_decay` times
    the rate above it), which keeps the pretrained lower layers close to where they started."""
    layers = getattr(model.config, "num_hidden_layers", 0)
    groups: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        groups.setdefault((layer_depth(name, layers), name.endswith(NO_DECAY)), []).append(param)
    return [
        {"params": params, "lr": settings.lr * settings.layer_lr_decay**depth, "weight_decay": 0.0 if no_decay else settings.weight_decay}
        for (depth, no_decay), params in sorted(groups.items())
    ]


def non_finite_loss(loss: float, step: int, lr: float) -> UserError:
    """What stops a run whose loss has overflowed, before it publishes a broken model."""
    return UserError("training", f"the loss became {loss} at step {step}; the learning rate (--lr {lr:g}) is probably too high: lower it")


def state_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class TrainingLoop:
    """One run of the loop over `train_items`. Its whole state is `state_dict()`, which the
    `Checkpointer` callback saves and, resuming, loads back before the first step."""

    def __init__(self, model, train_items: list[dict], collate: Callable, settings: LoopSettings,
                 score_dev: Callable[[torch.nn.Module], float] | None = None, description: str = "train",
                 checkpoints=None, loss: Callable | None = None, sampler=None):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        from transferkit.inference import TrainingPolicy
        from transferkit.training.batching import LengthGroupedBatchSampler
        from transferkit.training.callbacks import GradualUnfreezing, WeightAverage
        from transferkit.training.checkpoints import Checkpointer
        from transferkit.training.throughput import Speed

        set_seed(settings.seed)
        self.settings, self.score_dev, self.description = settings, score_dev, description
        self.loss = loss or (lambda model, batch: model(**batch).loss)  # `loss(model, batch)`: the model's own by default
        self.policy = TrainingPolicy.resolve(settings.device, settings.mixed_precision, settings.compile)
        self.precision = self.policy.precision
        self.accelerator = Accelerator(cpu=self.policy.device.type == "cpu", mixed_precision=self.precision)
        # `sampler`: batches of item indices, with an `epoch` the loop sets at each pass
        # (length-grouped random batches unless the strategy draws its own)
        lengths = [len(item["input_ids"]) for item in train_items]
        self.sampler = sampler or LengthGroupedBatchSampler(lengths, settings.batch_size, settings.seed)
        loader = DataLoader(train_items, batch_sampler=self.sampler, collate_fn=collate)
        self.frozen_embeddings = embeddings_stay(model, settings.freeze_embeddings)
        self.trainable = freeze(model, self.frozen_embeddings, settings.freeze_layers)
        self.attention = getattr(model.config, "_attn_implementation", None)  # sdpa where the model has it (TrainingPolicy)
        self.speed = Speed.of(model, self.accelerator.device, settings.peak_flops, self.accelerator.num_processes)
        fused = {"fused": True} if self.policy.fused_adamw else {}  # on a CPU, torch's default, as before
        optimizer = torch.optim.AdamW(parameter_groups(model, settings), lr=settings.lr, **fused)
        self.model, self.optimizer, self.loader = self.accelerator.prepare(model, optimizer, loader)
        # the steps run the compiled module; everything else (modes, weights, dev scoring, checkpoints) the plain one
        mode = self.policy.compile_mode
        self.forward_model = self.model if mode is None else torch.compile(self.model, mode=mode)
        self.epochs, total = settings.epochs, settings.epochs * len(self.loader)
        if settings.max_steps:  # exactly this many steps, over as many passes as that takes
            self.epochs, total = math.ceil(settings.max_steps / len(self.loader)), settings.max_steps
        warmup = int(settings.warmup_ratio * total)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
        )
        self.eval_every = max(1, math.ceil(total / settings.evaluations))
        self.state = LoopState(total=total)
        self.best_state: dict | None = None
        self.started = time.perf_counter()  # when the current stretch of timed steps began (`run` sets it)
        self.pending_random: dict | None = None  # random states to restore at the resumed step
        self.callbacks = []
        if settings.weight_average and score_dev is not None:
            self.callbacks.append(WeightAverage(self.model, total))
        if checkpoints is not None:
            self.callbacks.append(Checkpointer(checkpoints, self))
        if settings.gradual_unfreezing:  # after the Checkpointer: it freezes for the step a resumed run starts at
            self.callbacks.append(GradualUnfreezing(self, settings.gradual_unfreezing))

    # --- state, for checkpoints ------------------------------------------------------------
    def state_dict(self) -> dict:
        from transferkit.training.checkpoints import random_states

        return {
            "model": self.accelerator.unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "random": random_states(),
            "loop": dataclasses.asdict(self.state),
            "best_state": self.best_state,
            "callbacks": [c.state_dict() for c in self.callbacks],
        }

    def load_state_dict(self, saved: dict) -> None:
        self.accelerator.unwrap_model(self.model).load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        self.state = LoopState(**saved["loop"])
        if self.state.batches == len(self.loader):  # saved at the end of a pass: the next one is due
            self.state.epoch, self.state.batches = self.state.epoch + 1, 0
        self.best_state = saved["best_state"]
        for callback, state in zip(self.callbacks, saved["callbacks"]):
            callback.load_state_dict(state)
        self.pending_random = saved["random"]

    def _restore_random(self) -> None:
        from transferkit.training.checkpoints import restore_random_states

        if self.pending_random is not None:
            restore_random_states(self.pending_random)
            self.pending_random = None

    # --- the algorithm ---------------------------------------------------------------------
    def run(self) -> LoopResult:
        """Train the model in place; with `score_dev` (higher is better) it ends holding the
        weights of its best dev evaluation (live or a callback's candidate), else those of
        the last step."""
        state, accelerator = self.state, self.accelerator
        for callback in self.callbacks:
            callback.on_train_begin(state)
        state = self.state  # a resumed run's
        gpu = accelerator.device.type == "cuda"
        if gpu:
            torch.cuda.reset_peak_memory_stats(accelerator.device)
        bar = progress_bar(total=state.total, desc=self.description, unit="step", enabled=accelerator.is_local_main_process)
        try:  # closed however the loop ends, so that an error's line comes after the bar's last one
            bar.update(state.steps)
            self.model.train()
            stop = state.steps >= state.total
            with self.policy.fast_matmuls():
                while not stop and state.epoch < self.epochs:
                    self.sampler.epoch = state.epoch
                    skip = state.batches
                    if skip == 0:  # a pass's start draws from the random state (the loader's seed)
                        self._restore_random()
                    self.started = time.perf_counter()  # the clock covers batching too, not only the steps
                    for index, batch in enumerate(self.loader):
                        if index < skip:
                            continue
                        self._restore_random()  # resumed mid-pass: where the interrupted run stood after its last step
                        loss_value = self._step(batch, bar)
                        state.batches = index + 1
                        if self.score_dev is not None and (state.steps % self.eval_every == 0 or state.steps == state.total):
                            state.seconds += time.perf_counter() - self.started
                            stop = self._evaluate(loss_value, bar)
                            self.started = time.perf_counter()
                        stop = stop or state.steps == state.total
                        if not stop:
                            for callback in self.callbacks:
                                callback.on_step_end(state)
                        if stop:
                            break
                    state.seconds += time.perf_counter() - self.started
                    if not stop:
                        state.epoch, state.batches = state.epoch + 1, 0
        finally:
            bar.close()
        for callback in self.callbacks:
            callback.on_train_end(state)
        examples, tokens = state.examples, state.tokens
        if accelerator.num_processes > 1:
            summed = accelerator.reduce(torch.tensor([examples, tokens], device=accelerator.device), "sum")
            examples, tokens = (int(n) for n in summed.tolist())
        model = accelerator.unwrap_model(self.model)
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        model.eval()
        speed = {
            **self.speed.report(tokens, state.seconds, torch.cuda.max_memory_allocated(accelerator.device) if gpu else None),
            "pad_to_multiple_of": self.settings.pad_to_multiple_of, "compiled": self.policy.compile_mode is not None,
            "attention": self.attention,
        }
        return LoopResult(state.seconds, examples, state.steps, state.best_score, state.best_step, state.best_weights,
                          self.precision, state.history, self.trainable, self.frozen_embeddings, speed)

    def _step(self, batch, bar) -> float:
        state, accelerator = self.state, self.accelerator
        began = time.perf_counter()
        if self.forward_model is not self.model:
            torch.compiler.cudagraph_mark_step_begin()  # a new step: CUDA graphs may reuse the last one's outputs
        with accelerator.autocast():
            loss = self.loss(self.forward_model, batch)
        accelerator.backward(loss)
        if self.settings.max_grad_norm:
            accelerator.clip_grad_norm_(self.model.parameters(), self.settings.max_grad_norm)
        self.optimizer.step()
        for callback in self.callbacks:
            callback.on_optimizer_step(state)
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.examples += batch["input_ids"].shape[0]  # this process's; summed over processes at the end
        state.tokens += batch["input_ids"].numel()
        state.steps += 1
        bar.update(1)
        loss_value = loss.item()  # the one synchronisation a step costs
        self.speed.record(time.perf_counter() - began, batch["input_ids"].numel())
        if not math.isfinite(loss_value):
            raise non_finite_loss(loss_value, state.steps, self.settings.lr)
        so_far = state.seconds + time.perf_counter() - self.started  # tok/s and MFU so far, as nanoGPT prints them
        bar.set_postfix(loss=f"{loss_value:.4f}", **self.speed.postfix(state.tokens, so_far), refresh=False)
        return loss_value

    def _evaluate(self, loss_value: float, bar) -> bool:
        """Score the live weights and each callback's candidates on dev, keep the best;
        whether patience has run out."""
        state = self.state
        self.model.eval()
        unwrapped = self.accelerator.unwrap_model(self.model)
        candidates = {"live": contextlib.nullcontext}
        for callback in self.callbacks:
            candidates.update(callback.candidates())
        scores = {}
        if self.accelerator.is_main_process:  # scored once; the other processes wait for its scores
            for name, holding in candidates.items():
                with holding():
                    scores[name] = self.score_dev(unwrapped)
        if self.accelerator.num_processes > 1:  # so that every process keeps the same weights and stops at the same step
            from accelerate.utils import broadcast_object_list

            scores = broadcast_object_list([scores])[0]
        weights, score = max(scores.items(), key=lambda pair: pair[1])  # live on a tie
        self.model.train()
        entry = {"step": state.steps, "dev": score, "loss": loss_value}
        state.history.append(entry if len(scores) == 1 else {**entry, **{f"dev_{k}": v for k, v in scores.items()}})
        bar.set_postfix(loss=f"{loss_value:.4f}", dev=f"{score:.4f}", **self.speed.postfix(state.tokens, state.seconds))
        if state.best_score is None or score > state.best_score:
            state.best_score, state.best_step, state.best_weights, state.since_best = score, state.steps, weights, 0
            with candidates[weights]():
                self.best_state = state_copy(unwrapped)
        elif state.best_score > state.history[0]["dev"]:
            # Patience runs only once the dev score has moved off its first value: a
            # model trained from random weights can score a flat 0 (no entity found)
            # for many evaluations before it starts to learn.
            state.since_best += 1
            return state.since_best >= self.settings.patience
        return False


def train_loop(model, train_items: list[dict], collate: Callable, settings: LoopSettings,
               score_dev: Callable[[torch.nn.Module], float] | None = None, description: str = "train",
               checkpoints=None, loss: Callable | None = None, sampler=None) -> LoopResult:
    """Train `model` in place (see `TrainingLoop.run`); with `checkpoints`, save its state
    for `--resume` and, resuming, start from the saved one; `loss(model, batch)` replaces
    the model's own loss (a class-weighted one); `sampler` draws the batches (a
    contrastive strategy's class-balanced ones)."""
    return TrainingLoop(model, train_items, collate, settings, score_dev, description, checkpoints, loss, sampler).run()
