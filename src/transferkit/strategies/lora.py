"""`lora`: fine-tuning through low-rank adapters (peft's LoRA), for every task with a
transformers model.

The pretrained weights stay fixed; each targeted linear layer learns an update `B @ A` of
rank `--lora-rank` (scaled by `--lora-alpha / --lora-rank`), and the task's new head (a
classifier, `qa_outputs`) trains in full beside them. Everything else is `finetune`'s: the
task builds and encodes, the loop trains (checkpoints and `--resume` included).

The run directory holds both forms of the result: `model/adapter/` (peft's
`adapter_config.json` and `adapter_model.safetensors`: the adapters and the head, a few
hundred kilobytes to load onto the base model with peft) and, in `model/`, the adapters
merged into the weights, a plain transformers model that `pipeline` and every transferkit
command read as they read a finetune run's. The gain to expect is the artefact's size, not
speed: on a base-size encoder the backward pass still runs through every frozen layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transferkit.errors import UserError
from transferkit.strategies.finetune import Finetune

ADAPTER_DIR = "adapter"  # inside model/


def head_modules(model) -> list[str]:
    """The modules the task put on top of the pretrained body (a classifier, `qa_outputs`),
    which train in full. A causal LM's output layer tied to its input embeddings is left
    out: its weight is the body's embedding matrix."""
    body = {id(p) for p in getattr(model, model.base_model_prefix).parameters()}
    return [
        name for name, child in model.named_children()
        if name != model.base_model_prefix and any(id(p) not in body for p in child.parameters())
    ]


def target_modules(choice: str, model):
    """`--lora-target-modules` as peft takes it: None (auto: peft's default for the model
    type, the attention's query and value projections), "all-linear", or the names, each of
    which must end the path of one of the model's linear layers."""
    if choice in ("auto", "all-linear"):
        return None if choice == "auto" else choice
    names = [name.strip() for name in choice.split(",") if name.strip()]
    paths = linear_paths(model)
    for name in names:
        if not any(path == name or path.endswith("." + name) for path in paths):
            known = ", ".join(sorted({path.rsplit(".", 1)[-1] for path in paths}))
            raise UserError("--lora-target-modules", f"the model has no linear layer named {name} (its linear layers: {known}); name some of those, comma-separated, or give all-linear")
    return names


def linear_paths(model) -> list[str]:
    import torch

    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def directory_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@dataclass
class Lora(Finetune):
    name: str = "lora"

    def adapted(self, model, cfg) -> tuple:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules=target_modules(cfg.lora_target_modules, model), modules_to_save=head_modules(model) or None,
        )
        try:
            adapted = get_peft_model(model, config)
        except ValueError:  # auto, for a model type peft has no default for
            raise UserError(
                "--lora-target-modules",
                f"peft has no default for a {model.config.model_type} model: name its linear layers to adapt, comma-separated, or give all-linear",
            ) from None
        targets = adapted.peft_config["default"].target_modules
        chosen = targets if isinstance(targets, str) else ",".join(sorted(targets))
        return adapted, {"lora_target_modules": chosen}

    def written(self, model, model_dir: Path) -> tuple:
        adapter = model_dir / ADAPTER_DIR
        model.save_pretrained(adapter)
        merged = model.merge_and_unload()
        merged.save_pretrained(model_dir)
        return merged, {"adapter_bytes": directory_bytes(adapter), "model_bytes": directory_bytes(model_dir) - directory_bytes(adapter)}


STRATEGIES = {"lora": Lora()}
