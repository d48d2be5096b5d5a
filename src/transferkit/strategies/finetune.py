"""`finetune` and `scratch`, for every task with a transformers model: the task builds the
model (a pretrained encoder with a new head, or for `scratch` the same architecture with
random weights and the pretrained tokenizer: the no-transfer baseline that shows what
pretraining bought) and encodes the examples; the loop trains it (AdamW, warm-up, linear
decay, early stopping on the task's dev score); the directory written is a plain
transformers one that `transformers.pipeline` reads without transferkit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transferkit.config import FewSampleOptions
from transferkit.strategies.base import FitResult, Strategy


def loop_inputs(task, cfg, data, model_path: str, from_scratch: bool = False) -> tuple:
    """What the training loop needs for one task's model, built as finetune builds it (also
    each head of `multitask`): the tokenizer, the model (its new head's, for scratch every
    layer's, initial weights from the seed), the encoded training items and what the task
    says of them, the dev scorer (None without dev data) and the task's training loss."""
    from transformers import set_seed

    set_seed(cfg.seed)
    tokenizer = task.load_tokenizer(model_path)
    model = task.prepare(task.build_model(model_path, data.labels, from_scratch), tokenizer)
    model.config.update(task.model_config(data))  # saved with it (classify multi-label: its problem_type)
    items, encoding = task.training_items(tokenizer, data, cfg)
    scorer = task.dev_scorer(tokenizer, data, cfg) if data.dev is not None else None
    return tokenizer, model, items, encoding, scorer, task.training_loss(data, cfg)


def few_sample_start(task, cfg, data, model, items: list[dict], pad_token_id: int) -> dict:
    """Apply the few-sample fixes of a classify finetune run to its model as built:
    `--reinit-layers` (its default from the labels per class), then `--head-init
    linear-probe` on the model as it will train. Returns what the fixes did (for
    metrics.json); its `reinit_layers` is also the option's resolved value (for config.yaml)."""
    from transferkit.strategies import few_sample
    from transferkit.strategies.linear_head import head_options

    layers = cfg.reinit_layers if cfg.reinit_layers is not None else few_sample.default_reinit_layers(data)
    few_sample.reinit_top_layers(model, layers)
    fitted = few_sample.warm_start_head(model, items, pad_token_id, cfg.seed, **head_options(task, cfg, data)) if cfg.head_init == "linear-probe" else {}
    return {"reinit_layers": layers, **fitted}


@dataclass
class Finetune(Strategy):
    name: str = "finetune"
    from_scratch: bool = False
    selects_on_dev = True

    def fit(self, task, cfg, data, model_path: str, model_dir: Path, checkpoints=None) -> FitResult:
        from transferkit.recipes import epochs_for
        from transferkit.training.batching import PadCollator
        from transferkit.training.loop import LoopSettings, train_loop

        tokenizer, model, items, encoding, scorer, loss = loop_inputs(task, cfg, data, model_path, self.from_scratch)
        few_sample = few_sample_start(task, cfg, data, model, items, tokenizer.pad_token_id) if FewSampleOptions.applies(task.name, self.name) else {}
        resolved_few_sample = {"reinit_layers": few_sample["reinit_layers"]} if few_sample else {}
        model, adapted = self.adapted(model, cfg)
        settings = LoopSettings.from_config(cfg, epochs=epochs_for(cfg, len(items)))
        collate = PadCollator(tokenizer.pad_token_id, settings.pad_to_multiple_of, cfg.max_length)
        result = train_loop(model, items, collate, settings, scorer, self.name, checkpoints, loss)
        model, artefact = self.written(model, model_dir)
        tokenizer.save_pretrained(model_dir)
        return FitResult.of_loop(result, settings, task.learned_settings(model, scorer, data),
                                 resolved={**adapted, **resolved_few_sample}, stats={**few_sample, **encoding, **artefact})

    def adapted(self, model, cfg) -> tuple:
        """The model the loop trains, and the option values that choosing it resolved (for
        config.yaml): finetune and scratch train every weight of the model as built."""
        return model, {}

    def written(self, model, model_dir: Path) -> tuple:
        """Save the trained model into `model_dir` as a plain transformers directory; returns
        the model prediction uses and what metrics.json reports about the artefact."""
        model.save_pretrained(model_dir)
        return model, {}


STRATEGIES = {"finetune": Finetune(), "scratch": Finetune("scratch", from_scratch=True)}
