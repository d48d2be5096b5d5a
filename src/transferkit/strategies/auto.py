"""`--strategy auto`, the default: the strategy a run uses, chosen from its training data
before anything is written, and recorded with the reason (metrics.json `auto`, the CLI's
`note:` line); config.yaml holds the strategy chosen, so the run repeats exactly.

For classify the rule is on the labels per class (`--labels-per-class`, else the median
class of the training split, so that one rare class does not decide for the rest; with
`--multi-label`, the median label's count of texts that carry it):
contrastive tuning below `CONTRASTIVE_BELOW` per class, plain fine-tuning from there on,
`zeroshot` with none. The rule was read off *dev* learning curves of two data sets
(bench/results/auto_rule_{sst2,trec}.md, 3 seeds, never a test split), in the shape the
published few-shot record gives (contrastive tuning well ahead of plain fine-tuning at 8 to
64 per class; SetFit's maintainers: plain fine-tuning past a few hundred per class).
Contrastive - finetune in dev accuracy: SST-2 (2 classes, sentences) +7.0 / +4.3 / -0.3 /
+0.3 / -2.1 points at 8 / 32 / 128 / 512 / every label (median class 3,310); TREC
(6 classes, questions of about ten words) +2.2 / +0.9 / +2.1 / -1.9 at 32 / 77 / 256 /
every label (median class 935). So contrastive leads or ties up to 512 per class and
finetune leads with every label on both; at 512 on SST-2 the two tie (within the seeds'
spread) and finetune trains in a third of the time, so the switch sits there. Neither the
number of classes nor the text length moved the switch between these two data sets, and
the rule reads only the labels per class. (Earlier sessions switched at 150, before TREC's
curve could be drawn at 256 per class.) The other
tasks have one trained recipe, `finetune`.

Options the user gave narrow the choice to the strategies they apply to (`--epochs`
rules out `features`), so `auto` never picks a strategy that would refuse them.
"""

from __future__ import annotations

import statistics
from collections import Counter

from transferkit.data.bad_rows import BadRows
from transferkit.errors import UserError

CONTRASTIVE_BELOW = 512  # labels per class below which contrastive is chosen (read off dev learning curves, see above)


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
    if per_class < CONTRASTIVE_BELOW:
        return ["contrastive", "finetune", "features"], f"{per_class} labels per class < {CONTRASTIVE_BELOW}"
    return ["finetune", "contrastive", "features"], f"{per_class} labels per class >= {CONTRASTIVE_BELOW}"


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
