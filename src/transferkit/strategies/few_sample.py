"""Fine-tuning on few labels without collapse: the published fixes for fine-tuning a
pretrained encoder on tens of examples, applied to the model `finetune` builds before the
loop trains it.

- `warm_start_head`: the classifier's output layer starts as a logistic regression fitted
  on what that layer reads in the pretrained model (linear probing, then fine-tuning:
  Kumar et al., 2022), instead of random weights whose first gradients distort the
  pretrained features.
- `reinit_top_layers`: the top N transformer layers (and the pooler) start again from the
  model's initial distribution (Zhang et al., 2021: the top layers of a pretrained encoder
  are specific to its pretraining objective and transfer worst).

Which of them `finetune` applies by default was chosen on dev data at 8 and 64 labels per
class (bench/results/finetune_fixes.md): the top layer redrawn below `REINIT_BELOW` labels
per class (with every label it changed dev accuracy by +0.2 / -0.6 points, so the measured
gain is a few-label one); the warm-started head never (with MiniLM it cost 3 to 22
points, likely because the probe fits the few labels perfectly and leaves fine-tuning
almost no loss to learn from).
"""

from __future__ import annotations

import numpy as np

from transferkit.errors import UserError
from transferkit.strategies.auto import median_class_size
from transferkit.strategies.linear_head import fit_head

REINIT_BELOW = 150  # labels per class below which the top layer is redrawn by default (measured at 8 and 64; none with every label)
REINIT_BY_DEFAULT = 1


def default_reinit_layers(data) -> int:
    """`--reinit-layers` when not given: REINIT_BY_DEFAULT below REINIT_BELOW labels per
    class (the median class), else 0; and 0 for a run that continues an earlier run's head
    (`--model RUN/model`: its top layers are what that run learned)."""
    if data.continues_head:
        return 0
    return REINIT_BY_DEFAULT if median_class_size(data.train) < REINIT_BELOW else 0


def output_layer(model):
    """The classifier's last linear layer, whose outputs are the logits (BERT's
    `classifier`, RoBERTa's `classifier.out_proj`): the last linear layer outside the
    encoder with one output per label."""
    import torch

    encoder = {id(m) for m in model.base_model.modules()}
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels and id(m) not in encoder]
    if not layers:
        raise UserError("--head-init", f"found no output layer with {model.config.num_labels} outputs in {type(model).__name__}; use --head-init random")
    return layers[-1]


def warm_start_head(model, items: list[dict], pad_token_id: int, seed: int, class_weight: str | None, metric: str) -> dict:
    """Set the output layer to a logistic regression fitted (its C cross-validated on the
    training items, `metric` choosing) on that layer's inputs in the model as built; returns
    what was fitted, for metrics.json. Two classes: the binary model's weights, halved
    into the two logits (the same softmax); multi-label (multi-hot `labels`): one-vs-rest,
    each logit its label's."""
    import torch

    from transferkit.inference import Runtime

    layer = output_layer(model)
    captured = []
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].float().cpu().numpy()))
    try:
        rows = Runtime.of(model).rows(model, items, pad_token_id, lambda out, batch: captured.pop(), batch_size=64)
    finally:
        hook.remove()
    X, y = np.stack(rows), np.stack([np.asarray(item["labels"]) for item in items])
    head = fit_head(X, y, seed=seed, class_weight=class_weight, metric=metric)
    weight = head.coef / head.scale  # the standardisation folded into the weights
    bias = head.intercept - (head.coef * head.mean / head.scale).sum(axis=1)
    if weight.shape[0] == 1 and layer.out_features == 2:
        weight, bias = np.concatenate([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
    return {"head_init": "linear-probe", "head_init_C": head.C, "head_init_selection": head.selection}


def encoder_layers(model):
    """The encoder's stack of transformer layers: its longest `ModuleList`."""
    import torch

    stacks = [m for m in model.base_model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not stacks:
        raise UserError("--reinit-layers", f"found no stack of layers in {type(model).__name__}; use --reinit-layers 0")
    return max(stacks, key=len)


def reinit_top_layers(model, count: int) -> None:
    """Draw the top `count` layers (and the pooler, where the model has one) afresh: linear
    weights from N(0, initializer_range), biases 0, layer norms at identity."""
    import torch

    if not count:
        return
    layers = encoder_layers(model)
    if count > len(layers):
        raise UserError("--reinit-layers", f"{count} is more than the model's {len(layers)} layers")
    std = getattr(model.config, "initializer_range", 0.02)
    pooler = getattr(model.base_model, "pooler", None)
    with torch.no_grad():
        for block in [*list(layers)[len(layers) - count:], *([pooler] if pooler is not None else [])]:
            for module in block.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.normal_(0.0, std)
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, torch.nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()
