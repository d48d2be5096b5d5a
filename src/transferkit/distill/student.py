"""The student: a pretrained encoder with a new classification head, trained in the
training loop (`training/loop.py`, as finetune trains) on the teacher's probabilities.

The loss (Hinton et al. 2015): the KL divergence from the teacher's distribution softened
at temperature T to the student's softened the same way, times T² (so that its gradients
keep their size whatever T), on every text; plus `labels_weight` times the cross-entropy
on the gold label for the teacher's labelled texts, which corrects what the teacher got
wrong there. The soft labels carry more than the gold ones: how sure the teacher is, and
which classes it finds alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from transferkit.strategies.base import FitResult
from transferkit.training.batching import IGNORE


def soft_targets(probabilities: np.ndarray, temperature: float) -> torch.Tensor:
    """The teacher's distributions softened at `temperature`: softmax(log p / T). For a
    teacher whose probabilities are the softmax of logits z this is softmax(z / T),
    Hinton's softened targets; a teacher without logits (tfidf's logistic regression, a
    run's temperature-scaled probabilities) is softened alike."""
    logp = torch.log(torch.as_tensor(probabilities, dtype=torch.float32).clamp_min(1e-8))
    return torch.softmax(logp / temperature, dim=-1)


def distillation_loss(targets: torch.Tensor, temperature: float, labels_weight: float):
    """`loss(model, batch)` for the loop: `targets` holds each item's softened teacher
    distribution (the batch names its rows, `index`), `labels` the gold class or `IGNORE`
    for a pool text. The cross-entropy is summed over the batch's labelled items and
    divided by the batch size, so that each labelled text weighs the same in every batch."""
    import torch.nn.functional as F

    def loss(model, batch):
        logits = model(**{k: v for k, v in batch.items() if k not in ("labels", "index")}).logits.float()
        teacher = targets[batch["index"].cpu()].to(logits.device)
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=-1), teacher, reduction="batchmean") * temperature**2
        if not labels_weight:
            return soft
        return soft + labels_weight * F.cross_entropy(logits, batch["labels"], ignore_index=IGNORE, reduction="sum") / len(logits)

    return loss


def train_student(task, cfg, data, model_path: str, texts: list[str], gold: list[int], probabilities: np.ndarray,
                  temperature: float, labels_weight: float, model_dir: Path) -> FitResult:
    """Train the student on `texts` (the teacher's labelled texts, then the pool's) with
    the teacher's `probabilities` for each and the `gold` class (or `IGNORE`), selecting
    on dev accuracy as finetune does; saves it into `model_dir` as a plain transformers
    directory. `cfg`: the student's resolved `TrainConfig`."""
    from transformers import set_seed

    from transferkit.recipes import epochs_for
    from transferkit.training.batching import PadCollator, encode_texts
    from transferkit.training.loop import LoopSettings, train_loop

    set_seed(cfg.seed)
    tokenizer = task.load_tokenizer(model_path)
    model = task.build_model(model_path, data.labels, from_scratch=False)
    items = encode_texts(tokenizer, texts, None, cfg.max_length)
    for index, (item, label) in enumerate(zip(items, gold)):
        item.update(index=index, labels=label)
    scorer = task.dev_scorer(tokenizer, data, cfg) if data.dev is not None else None
    settings = LoopSettings.from_config(cfg, epochs=epochs_for(cfg, len(items)))
    collate = PadCollator(tokenizer.pad_token_id, settings.pad_to_multiple_of, cfg.max_length)
    loss = distillation_loss(soft_targets(probabilities, temperature), temperature, labels_weight)
    result = train_loop(model, items, collate, settings, scorer, "distill", loss=loss)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return FitResult.of_loop(result, settings, task.learned_settings(model, scorer, data))
