"""`transferkit multitask`: read every head's data, build each head's model from the one
pretrained path with its encoder shared, train them together in the training loop, and
write one run directory, published atomically as `train` publishes its own:

    DIR/config.yaml          the run's options as run (multitask --config DIR/config.yaml repeats it)
    DIR/metrics.json         each head's primary test metric and train seconds; the run's training
    DIR/heads/NAME/          a normal run directory per head: model/ (a transformers directory: the
                             shared encoder's trained weights and this head), config.yaml, metrics.json
                             (dev and test by the task's own `score_split`), predictions/

A head's config.yaml holds the options its single-task `train` run would need to see the
same data, batches and steps, so `train --config DIR/heads/NAME/config.yaml --output NEW`
is the run to compare the head with.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transferkit import api
from transferkit.config import FewSampleOptions, TrainConfig, test_sets
from transferkit.data.bad_rows import write_skipped
from transferkit.errors import UserError
from transferkit.multitask.config import RUN_LEVEL, STRATEGY, MultiTaskConfig
from transferkit.progress import note, status
from transferkit.rundir import library_versions, staged_run_dir
from transferkit.strategies import get_strategy
from transferkit.strategies.base import FitResult
from transferkit.tasks import get_task

HEADS_DIR = "heads"
# Loop options whose recipe value differs between tasks (classify finetune lr 1.5e-4, ner
# 2e-4; qa warms up longer): left unset, one loop takes the most cautious of the heads'
# values, since a step too large for one task degrades the encoder that every head reads.
CAUTIOUS = {"lr": min, "layer_lr_decay": min, "warmup_ratio": max}
SAMPLING = ("proportional: every training item once per pass, each head's batches (its own batch size) "
            "merged in a random order, so each head trains as many steps as its single-task run at the same epochs")


def multitask(cfg: MultiTaskConfig) -> dict:
    """Train the heads of `cfg` together and write `cfg.output`; returns the top-level
    metrics (what DIR/metrics.json holds)."""
    if cfg.resume:
        cfg = resumed_config(cfg)
    cfg.validate()
    heads = resolved_heads(cfg.heads)
    output = Path(cfg.output)
    inputs = [next(iter(heads.values())).model, *(path for head in heads.values()
                                                   for path in (head.train, head.dev, *(p for _, p in test_sets(head.test))))]
    with api.resume_hint(output, "multitask"), \
            staged_run_dir(output, cfg.overwrite, inputs=inputs, resume=cfg.resume, resumable=api.resumable) as staging:
        return _train_in(staging, cfg, heads)


def resumed_config(cfg: MultiTaskConfig) -> MultiTaskConfig:
    """`multitask --resume --output OUT`: the interrupted run's options, from its staging
    folder; a --config given beside --resume must hold the same ones."""
    saved = api.interrupted_request(cfg.output, MultiTaskConfig)
    if cfg.heads and cfg.yaml_data() != saved.yaml_data():
        raise UserError("--resume", f"the interrupted run at {cfg.output} was started with other options; give only "
                                    f"--resume --output {cfg.output}, or --overwrite to start again")
    return replace(saved, output=cfg.output, resume=True, overwrite=False)


def resolved_heads(heads: dict[str, TrainConfig]) -> dict[str, TrainConfig]:
    """Each head's options with the recipe table's defaults filled in, and the loop's made
    one (`CAUTIOUS`; a value the YAML gives is every head's already)."""
    resolved = {name: head.resolved() for name, head in heads.items()}
    chosen = {option: pick(getattr(head, option) for head in resolved.values()) for option, pick in CAUTIOUS.items()}
    resolved = {name: replace(head, **chosen) for name, head in resolved.items()}
    differ = [option for option in RUN_LEVEL if len({repr(getattr(head, option)) for head in resolved.values()}) > 1]
    if differ:
        raise UserError("multitask", f"the heads' recipes differ in {', '.join(differ)}; give one value at the top level of the YAML")
    for name, head in resolved.items():
        try:
            head.validate()  # the resolved values too (a --doc-stride against the recipe's --max-length)
        except UserError as e:
            raise UserError(f"tasks.{name}", str(e)) from None
    return resolved


@dataclass
class Head:
    """One head of the run: its options, task and data (read first), then its model, its
    encoded training items and what the loop scores and trains it by (`_build`)."""

    name: str
    cfg: TrainConfig
    task: Any
    data: Any  # TaskData
    selection: str  # the dev metric it selects on (`Task.selection`)
    tokenizer: Any = None
    model: Any = None
    items: list = field(default_factory=list)
    encoding: dict = field(default_factory=dict)  # what metrics.json says of the encoding (windows)
    scorer: Any = None  # its `Task.dev_scorer`, None without dev data
    loss: Any = None  # its `Task.training_loss`, None for the model's own


def _train_in(staging: Path, cfg: MultiTaskConfig, options: dict[str, TrainConfig]) -> dict:
    from transferkit.multitask.model import MeanDevScore, MultiTaskModel, head_shares, share_encoder
    from transferkit.training.checkpoints import Checkpoints

    api.prepare_staging(staging, cfg)
    model_path = [api.checked_model(head) for head in options.values()][0]  # one model; each head's --max-length checked against it
    heads = _read(options)
    first = heads[0].cfg
    status(f"training {len(heads)} heads on one encoder ({', '.join(f'{h.name} {len(h.data.train)} examples' for h in heads)}), loading {first.model} ...")
    for number, head in enumerate(heads):
        _build(head, number, model_path)
    shared = share_encoder([head.model for head in heads])
    model = MultiTaskModel({head.name: head.model for head in heads}, {head.name: head.loss for head in heads})
    scorers = {head.name: head.scorer for head in heads if head.scorer is not None}
    score = MeanDevScore(scorers) if scorers else None
    result, sampler, settings = _train(model, heads, score, Checkpoints(staging / api.CHECKPOINT_DIR, first.checkpoint_every, resume=cfg.resume))

    shares = head_shares(sampler, [len(item["input_ids"]) for head in heads for item in head.items], result.steps,
                         settings.pad_to_multiple_of, [head.cfg.max_length for head in heads])
    dev = score.at_best(model, result.best_score) if score else {}
    tokens = sum(share["tokens"] for share in shares) or 1
    for head in heads:  # the options as run: config.yaml's (no layer redrawn, which `train` would do below 150 labels per class)
        no_redraw = {"reinit_layers": 0} if FewSampleOptions.applies(head.cfg.task, STRATEGY) else {}
        head.cfg = replace(head.cfg, epochs=settings.epochs, output=str(Path(cfg.output) / HEADS_DIR / head.name), **result.resolved_options(), **no_redraw)
    part_of = {"heads": [head.name for head in heads], "shared_modules": shared, "steps": result.steps, "best_dev_mean": result.best_score}
    summary = {}
    for head, share in zip(heads, shares):
        fit = FitResult(
            seconds=result.seconds * share["tokens"] / tokens,
            examples=share["examples"],
            best_dev=dev.get(head.name),
            learned=head.task.learned_settings(head.model, head.scorer, head.data),
            stats={
                "seconds_rule": "the run's training seconds times this head's share of the padded tokens trained on",
                "epochs": settings.epochs, "lr": settings.lr, "layer_lr_decay": settings.layer_lr_decay, "batch_size": head.cfg.batch_size,
                "steps": share["steps"], "tokens": share["tokens"], "best_step": result.best_step,
                "best_weights": result.best_weights, "mixed_precision": result.mixed_precision, **head.encoding,
            },
        )
        # with max_steps, its share of the run's steps is what its single-task run takes
        alone = replace(head.cfg, max_steps=share["steps"]) if head.cfg.max_steps else head.cfg
        summary[head.name] = _write_head(staging / HEADS_DIR / head.name, head, alone, fit, model_path, part_of)

    MultiTaskConfig({head.name: head.cfg for head in heads}).to_yaml(staging / "config.yaml")
    metrics = {
        "model": first.model,
        "heads": summary,
        "train": {
            "seconds": result.seconds, "examples": result.examples, "steps": result.steps, "epochs": settings.epochs,
            "sampling": SAMPLING, "selection": "the mean over the heads with dev data of each head's own dev score",
            "best_dev_mean": result.best_score, "best_step": result.best_step, "shared_modules": shared,
            "lr": settings.lr, "layer_lr_decay": settings.layer_lr_decay, "trainable_parameters": result.trainable_parameters,
            "best_weights": result.best_weights, "mixed_precision": result.mixed_precision,
            "dev_history": result.history, **result.speed,
        },
        "versions": library_versions(),
    }
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    shutil.rmtree(staging / api.CHECKPOINT_DIR, ignore_errors=True)
    (staging / api.REQUEST_FILE).unlink(missing_ok=True)
    return metrics


def _read(options: dict[str, TrainConfig]) -> list[Head]:
    """Every head's data, read and checked before any model loads (`Task.load_data`)."""
    heads = []
    for name, cfg in options.items():
        task = get_task(cfg.task)
        status(f"reading the data of {name} ({cfg.train}) ...")
        data = task.load_data(cfg)
        selection, why = task.selection(data)
        if why:
            note(f"{name}: {why}")
        heads.append(Head(name, cfg, task, data, selection))
    return heads


def _build(head: Head, number: int, model_path: str) -> None:
    """The head's model, built as `finetune` builds it (its initial weights those of its
    single-task run), its training items tagged with its `number`, its scorer and loss."""
    from transferkit.strategies.finetune import loop_inputs

    head.tokenizer, head.model, items, head.encoding, head.scorer, head.loss = loop_inputs(head.task, head.cfg, head.data, model_path)
    head.items = [{**item, "head": number} for item in items]


def _train(model, heads: list[Head], score, checkpoints):
    """The training loop over every head's items, one head's batch at a time; the loop's
    result, the sampler (to count each head's part) and the settings."""
    from transferkit.multitask.model import HeadBatchSampler, HeadCollator, batch_loss
    from transferkit.recipes import epochs_for
    from transferkit.training.batching import PadCollator
    from transferkit.training.loop import LoopSettings, train_loop

    first = heads[0].cfg
    epochs = first.epochs or max(epochs_for(head.cfg, len(head.items)) for head in heads)  # every head at least its recipe's
    settings = LoopSettings.from_config(first, epochs=epochs)
    lengths = [[len(item["input_ids"]) for item in head.items] for head in heads]
    sampler = HeadBatchSampler(lengths, [head.cfg.batch_size for head in heads], first.seed)
    collate = HeadCollator([PadCollator(head.tokenizer.pad_token_id, settings.pad_to_multiple_of, head.cfg.max_length) for head in heads])
    items = [item for head in heads for item in head.items]
    return train_loop(model, items, collate, settings, score, "multitask", checkpoints, batch_loss, sampler), sampler, settings


def _write_head(folder: Path, head: Head, cfg: TrainConfig, fit: FitResult, model_path: str, part_of: dict) -> dict:
    """One head's run directory, as `train` writes one: its model (the shared encoder with
    this head) saved, then scored by `api.score_model`; config.yaml (`cfg`: its single-task
    run's options) and metrics.json (with `multitask`: the run it was trained in,
    `part_of`). Returns its line of the top-level metrics."""
    (folder / "model").mkdir(parents=True)
    head.model.save_pretrained(folder / "model")
    head.tokenizer.save_pretrained(folder / "model")
    if cfg.on_bad_row == "skip":
        write_skipped(head.data.skipped, folder, Path(cfg.output))
    status(f"scoring {head.name} ...")
    metrics = api.score_model(head.task, get_strategy(STRATEGY), head.selection, cfg, head.data, fit, folder, model_path)
    metrics["data"] = head.data.report
    metrics["multitask"] = part_of
    cfg.to_yaml(folder / "config.yaml")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return _head_summary(head, metrics)


def _head_summary(head: Head, metrics: dict) -> dict:
    """A head's line of the top-level metrics.json: its primary test metric (one per named
    test set), dev score and train seconds."""
    primary = head.task.primary_metric
    test, dev, train = metrics["test"], metrics["dev"], metrics["train"]
    if test is not None:
        test = test.get(primary) if None in head.data.tests else {name: scores.get(primary) for name, scores in test.items()}
    return {
        "task": metrics["task"], "metric": primary, "test": test, "dev": None if dev is None else dev.get(primary),
        f"best_dev_{head.selection}": train.get(f"best_dev_{head.selection}"),
        "train_seconds": train["seconds"], "steps": train["steps"], "examples": train["examples"],
    }
