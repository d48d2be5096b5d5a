"""`--strategy auto`, the default: the strategy a run uses, chosen from its training data
before anything is written, and recorded with the reason (metrics.json `auto`, the CLI's
`note:` line); config.yaml holds the strategy chosen, so the run repeats exactly.

For classify the rule is on the labels per class (`--labels-per-class`, else the median
class of the training split, so that one rare class does not decide for the rest; with
`--multi-label`, the median label's count of texts that carry it):
contrastive tuning below `FEW_LABELS` per class, plain fine-tuning from there on,
`zeroshot` with none. The rule was fixed in advance (the published few-shot record:
contrastive tuning well ahead of plain fine-tuning at 8 to 64 per class; SetFit's
maintainers: plain fine-tuning past a few hundred examples per class) and SST-2's *dev*
learning curves agree with it (bench/results/auto_rule_sst2.md, 3 seeds): contrastive leads
by 9 and 4.5 points at 8 and 32 per class, the two tie at 128 and 512 (within 0.003)
where finetune trains 4-7 times faster, and finetune leads by 2 points with every label.
TREC's (6 classes, questions of about ten words; bench/results/auto_rule_trec.md,
dev = 500 held-out questions) show the same shape: contrastive +2.7 points at 32 per
class, +0.5 at 77 (its smallest class's size), finetune +1.9 with every label (median
class 935). So neither the number of classes nor the text length moved the switch
between these two data sets, and the rule reads only the labels per class. The other
tasks have one trained recipe, `finetune`.

Options the user gave narrow the choice to the strategies they apply to (`--epochs`
rules out `features`), so `auto` never picks a strategy that would refuse them.
"""

from __future__ import annotations

import statistics
from collections import Counter

from transferkit.data.bad_rows import BadRows
from transferkit.errors import UserError

FEW_LABELS = 150  # labels per class below which contrastive is chosen (a rule fixed in advance, see above)


def median_class_size(split) -> int:
    """The labels per class of a classify split: its median class's count of texts (one rare
    class does not decide for the rest; multi-label, the texts that carry the median label)."""
    return int(statistics.median(Counter(label for row in split.label_rows() for label in row).values()))


def preference(task: str, per_class: int | None) -> tuple[list[str], str]:
    """The strategies in order of preference for a run, and why the first leads."""
    if task != "classify":
        return ["finetune"], f"finetune is the trained recipe for {task}"
    if per_class == 0:
        return ["zeroshot"], "no training labels (--labels-per-class 0)"
    if per_class < FEW_LABELS:
        return ["contrastive", "finetune", "features"], f"{per_class} labels per class < {FEW_LABELS}"
    return ["finetune", "contrastive", "features"], f"{per_class} labels per class >= {FEW_LABELS}"


def choose(task, cfg, given: set[str]) -> tuple[str, str]:
    """(strategy, because) for `cfg`, whose strategy is `auto`; reads the training split."""
    from transferkit.config import GROUP_OF, RunOptions

    per_class = None
    if task.name == "classify":
        if cfg.labels_per_class is not None:
            per_class = cfg.labels_per_class
        else:
            per_class = median_class_size(task.read_labelled(cfg.train, cfg, BadRows.of(cfg)))
    ranked, because = preference(task.name, per_class)
    options = {name for name in given if name in GROUP_OF and GROUP_OF[name] is not RunOptions}
    for strategy in ranked:
        if all(GROUP_OF[name].applies(task.name, strategy) for name in options):
            return strategy, because if strategy == ranked[0] else f"{because}, but {ranked[0]} takes no {_flags(options, task.name, ranked[0])}"
    raise UserError("--strategy", f"auto would choose {ranked[0]} ({because}), which takes no {_flags(options, task.name, ranked[0])}; name a --strategy")


def _flags(options: set[str], task: str, strategy: str) -> str:
    from transferkit.config import GROUP_OF, flag

    return ", ".join(flag(name) for name in sorted(options) if not GROUP_OF[name].applies(task, strategy))
