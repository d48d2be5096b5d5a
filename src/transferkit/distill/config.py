"""`distill`'s options, a typed dataclass like every command's (flags, `--config`, and the
run's `distill.yaml` from one definition). Imports no torch: the CLI reads it."""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config import (
    DEVICES, EXECUTORS, INPUT, INPUT_OR_NAME, NON_NEGATIVE, POSITIVE, SEED, Bounds, TrainConfig, YamlConfig, _opt, test_sets,
)
from transferkit.errors import UserError

DISTILL_FILE = "distill.yaml"  # in the student's run directory: `distill --config RUN/distill.yaml` repeats it


@dataclass
class DistillConfig(YamlConfig):
    """What `transferkit distill` is asked. The student's model and loop options left unset
    take classify finetune's recipe values (`student_config`)."""

    teacher: str | None = _opt(None, "The teacher: a finished classify run directory, any strategy (single-label, one text per example).", path=INPUT)
    student: str = _opt("minilm", "The student's pretrained encoder: an offline model name (see `transferkit models list`), a local transformers directory, or a hub id.", path=INPUT_OR_NAME)
    unlabeled: str | None = _opt(None, "Unlabelled in-domain texts for the teacher to label: plain text (one text per line), or CSV/TSV/JSONL/Parquet with --text-column.", path=INPUT)
    text_column: str | None = _opt(None, "Column of --unlabeled holding the text (default: the teacher's --text-column).")
    dev: str | None = _opt(None, "Labelled development data (read with the teacher's columns): picks the student's checkpoint and fits its temperature.", path=INPUT)
    test: list[str] = _opt([], "Labelled test data, scored once at the end: one file, or several named NAME=PATH, repeated (as train's --test).", path=INPUT, named=True)
    output: str | None = _opt(None, "Run directory of the student to write: an ordinary classify run that predict, evaluate, serve and export read.", short="-o")
    temperature: float = _opt(2.0, "Softening temperature T of the soft-label loss: KL divergence between the teacher's and the student's distributions at T, times T squared (Hinton et al.).", bounds=POSITIVE)
    labels_weight: float = _opt(0.5, "Weight of the cross-entropy on the gold label, added for the teacher's labelled training texts (0: the teacher's distribution alone).", bounds=NON_NEGATIVE)
    epochs: int | None = _opt(None, "Passes over the teacher's labelled texts and the pool (default: finetune's rule: at least 4 and at least 100 optimiser steps, at most 30).")
    max_steps: int | None = _opt(None, "Train exactly this many optimiser steps (overrides --epochs): for a large pool, where a few passes are plenty.")
    lr: float | None = _opt(None, "The student's peak learning rate (default: classify finetune's, 1.5e-4).", bounds=POSITIVE)
    batch_size: int | None = _opt(None, "The student's training batch size (default: classify finetune's, 32).")
    max_length: int | None = _opt(None, "Tokens of each text the student reads (default: classify's 128); the teacher reads texts as its run does.")
    seed: int = _opt(0, "Random seed of the student's head and batches (the teacher's labelled texts are drawn with the teacher's seed).", bounds=SEED)
    device: str = _opt("auto", "Where the teacher labels and the student trains: auto (a GPU when there is one), cpu or cuda.", choices=DEVICES)
    executor: str = _opt("local", "Where the teacher labels the texts, in shards: local (this process, or --workers processes) or ray (a Ray cluster: --ray-address, else a local Ray instance).", choices=EXECUTORS)
    workers: int = _opt(1, "Shards labelled at once: local, processes sharing this machine's cores; ray, per machine's worth of CPUs.", bounds=Bounds(1, 1_000))
    ray_address: str | None = _opt(None, "An existing Ray cluster (auto, HOST:6379 or ray://HOST:10001); every node must see the teacher run at the same path.")
    overwrite: bool = _opt(False, "Replace an existing run directory.")

    def validate(self) -> None:
        for name, where, what in (("teacher", "TEACHER_RUN", "the teacher's run directory"), ("unlabeled", "--unlabeled", "the file of unlabelled texts"),
                                  ("output", "--output", "the student's run directory to write")):
            if not getattr(self, name):
                raise UserError(where, f"missing; give {what}")
        self.check_fields()
        test_sets(self.test)
        if self.ray_address and self.executor != "ray":
            raise UserError("--ray-address", f"applies to --executor ray, not {self.executor}")

    def yaml_data(self) -> dict:
        data = super().yaml_data()
        del data["overwrite"]
        return data

    def student_config(self, teacher: TrainConfig) -> TrainConfig:
        """The student as an ordinary classify finetune run, resolved by the recipe table:
        its config.yaml, so that predict, evaluate, serve and export read it as any run. It
        reads files with the teacher's data options (columns, `--on-bad-row`); it has no
        training file, since it learned from the teacher's outputs (`distill.yaml` holds
        how); no layer was redrawn."""
        return TrainConfig(
            task="classify", strategy="finetune", model=self.student, train=None, dev=self.dev, test=list(self.test),
            output=self.output, seed=self.seed, device=self.device, max_length=self.max_length, epochs=self.epochs,
            max_steps=self.max_steps, lr=self.lr, batch_size=self.batch_size, text_column=teacher.text_column,
            label_column=teacher.label_column, on_bad_row=teacher.on_bad_row, max_bad_rows=teacher.max_bad_rows, reinit_layers=0,
        ).resolved()
