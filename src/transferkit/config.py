"""One typed configuration per command. Each field's `help` becomes the CLI option's
help text, and `config.yaml` in a run directory is this dataclass written out, so a
flag, a YAML key and a metrics field always carry the same name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from transferkit.errors import UserError
from transferkit.pretraining.corpus import DEFAULT_TOKEN_PATTERN

TASKS = ("classify", "ner", "qa", "lm")
STRATEGIES = {
    "classify": ("features", "finetune", "scratch", "tfidf", "wordvec"),
    "ner": ("features", "finetune", "scratch"),
    "qa": ("finetune", "scratch"),
    "lm": ("finetune", "scratch"),
}
TAG_SCHEMES = ("auto", "iob1", "iob2", "iobes", "io")
QA_LANGUAGES = ("auto", "en", "es", "de", "vi", "ar", "hi", "zh")
# Options whose default depends on the task, filled in in this order by `with_task_defaults`
# (a value, or a function of the configuration filled so far). QA windows hold a question
# and a passage, so they are longer: 384 tokens overlapping by 128, the SQuAD reference settings.
TASK_DEFAULTS = {
    "classify": {"max_length": 128, "warmup_ratio": 0.06},
    "ner": {"max_length": 128, "warmup_ratio": 0.06},
    "qa": {"max_length": 384, "doc_stride": lambda cfg: min(128, cfg.max_length // 3), "warmup_ratio": 0.1},
    "lm": {"max_length": 128, "warmup_ratio": 0.06},
}
CONTEXTS = ("document", "sentence")


def _opt(default, help: str, **extra):
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, "multiple": True, **extra})
    return field(default=default, metadata={"help": help, **extra})


class YamlConfig:
    """YAML in and out for a command's config dataclass: `config.yaml` in an output
    directory is the dataclass written out, and `--config` reads it back."""

    def to_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(dataclasses.asdict(self), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str):
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise UserError(path, "config file not found") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            raise UserError(where, f"not valid YAML: {getattr(e, 'problem', None) or e}") from None
        if not isinstance(data, dict):
            raise UserError(path, "expected a mapping of option names to values")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(path, f"unknown option(s) {', '.join(unknown)}")
        return cls(**data)


@dataclass
class TrainConfig(YamlConfig):
    task: str = _opt("classify", "Task: " + ", ".join(TASKS) + ".", choices=TASKS)
    train: str | None = _opt(None, "Training data: classify CSV, TSV, JSONL or Parquet; ner CoNLL columns or JSONL tokens/tags; qa SQuAD JSON, or JSONL/CSV with question, context, answers.")
    dev: str | None = _opt(None, "Development data: picks the checkpoint (early stopping) and the head's regularisation.")
    test: str | None = _opt(None, "Test data: scored once at the end and written to predictions/test.jsonl.")
    model: str = _opt("minilm", "Offline model name (see `transferkit models list`), local transformers directory, or hub id.")
    strategy: str = _opt("finetune", "How to adapt the model: features, finetune, scratch, or (classify only) tfidf.")
    output: str | None = _opt(None, "Run directory to write (default: runs/<task>-<strategy>-<time>).", short="-o")
    text_column: str = _opt("text", "Column holding the text.")
    text_pair_column: str | None = _opt(None, "Column holding the second text of a sentence pair.")
    label_column: str = _opt("label", "Column holding the label.")
    max_steps: int | None = _opt(None, "Train exactly this many optimiser steps, passing over the data as often as that takes (overrides --epochs).")
    epochs: int | None = _opt(None, "Training epochs (default: at least 100 optimiser steps and at least 4 epochs, 8 for ner, 10 for qa; at most 30).")
    lr: float | None = _opt(None, "Peak learning rate (default: classify 1.5e-4 finetune, 1e-4 scratch; ner 2e-4 finetune, 5e-4 scratch; qa 3e-4 finetune, 5e-4 scratch).")
    batch_size: int | None = _opt(None, "Training batch size (default: 32; ner finetune 8).")
    max_length: int | None = _opt(None, "Maximum tokens per example (default: 128; qa 384); longer texts are truncated (ner, qa: cut into windows).")
    seed: int = _opt(0, "Random seed: the same seed repeats a CPU run exactly.")
    tag_column: int | None = _opt(None, "ner: the column holding the tags, counting from 1 (default: the last).")
    tag_scheme: str = _opt("auto", "ner: the files' tag scheme: auto (detect), iob1, iob2, iobes or io.", choices=TAG_SCHEMES)
    doc_stride: int | None = _opt(None, "ner, qa: sub-words shared by consecutive windows of a sentence (context) longer than --max-length (default: ner a quarter of it; qa a third, at most 128).")
    max_answer_length: int = _opt(30, "qa: the longest answer to predict, in sub-word tokens.")
    language: str = _opt("auto", "qa: language of the answers, for scoring (zh: per character, as MLQA); auto detects it from the contexts.", choices=QA_LANGUAGES)
    context: str | None = _opt(
        None,
        "ner: what a word sees: document (the sentences around it, up to --max-length; -DOCSTART- lines split "
        "documents, a file without them is one) or sentence (its own sentence only, for files of unrelated "
        "sentences). Default: document for finetune; sentence for scratch and features, which scored lower on CoNLL dev with long windows.",
        choices=CONTEXTS,
    )
    labels_per_class: int | None = _opt(None, "Train on K examples per class drawn from --train with --seed (few-shot budgets).")
    pooling: str = _opt("mean", "features: how token vectors become one text vector: mean or cls.", choices=("mean", "cls"))
    vectors: str | None = _opt(None, "wordvec: word vectors, a `pretrain word2vec` output directory or glove-50d.")
    weighting: str = _opt("mean", "wordvec: how word vectors become one text vector: mean, or tfidf (weighted by the words' TF-IDF).", choices=("mean", "tfidf"))
    layer_lr_decay: float | None = _opt(None, "Layer-wise learning-rate decay: each layer below the head trains at this fraction of the rate above it (default: 0.8 finetune, 1.0 scratch).")
    warmup_ratio: float | None = _opt(None, "Fraction of optimiser steps spent warming the learning rate up (default: 0.06; qa 0.1).")
    weight_decay: float = _opt(0.01, "AdamW weight decay.")
    evaluations: int = _opt(10, "How many times training scores the dev set (spread evenly over the steps).")
    patience: int = _opt(5, "Stop after this many dev evaluations without improvement (counted once the dev score has first improved).")
    mixed_precision: str = _opt("auto", "no, fp16, bf16 or auto (bf16/fp16 on a GPU, none on a CPU).", choices=("auto", "no", "fp16", "bf16"))
    weight_average: str = _opt(
        "none",
        "finetune, scratch: ema also scores a moving average of the weights at each dev evaluation and keeps it where it "
        "scores best (costs a second dev pass; on CoNLL-2003 dev it led 8 of 10 evaluations but not the best one, "
        "bench/results/ner_weight_average.md); none does not.",
        choices=("ema", "none"),
    )
    overwrite: bool = _opt(False, "Replace an existing run directory.")

    def with_task_defaults(self) -> "TrainConfig":
        """This configuration with the task's defaults in the options left unset."""
        cfg = self
        for name, default in TASK_DEFAULTS.get(self.task, {}).items():
            if getattr(cfg, name) is None:
                cfg = dataclasses.replace(cfg, **{name: default(cfg) if callable(default) else default})
        return cfg

    def validate(self) -> None:
        """Check a configuration that `with_task_defaults` has completed."""
        if not self.train:
            raise UserError("--train", "missing; give the training data file")
        if self.task not in TASKS:
            raise UserError("--task", f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.strategy not in STRATEGIES[self.task]:
            raise UserError(
                "--strategy",
                f"unknown strategy {self.strategy!r} for {self.task}; choose one of {', '.join(STRATEGIES[self.task])}",
            )
        if self.strategy == "wordvec" and not self.vectors:
            raise UserError("--vectors", "missing; --strategy wordvec needs word vectors: a `pretrain word2vec` output directory or glove-50d")
        if self.labels_per_class and self.task != "classify":
            raise UserError("--labels-per-class", f"applies to classify only, not {self.task}")
        if self.doc_stride is not None and not 0 <= self.doc_stride < self.max_length // 2:
            raise UserError("--doc-stride", "must be at least 0 and less than half of --max-length")
        for name in ("batch_size", "max_length", "evaluations", "patience", "max_answer_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')}", "must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError("--max-steps", "must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise UserError("--epochs", "must be at least 1")
        if self.layer_lr_decay is not None and not 0 < self.layer_lr_decay <= 1:
            raise UserError("--layer-lr-decay", "must be in (0, 1]")
        if self.lr is not None and self.lr <= 0:
            raise UserError("--lr", "must be positive")

    def inference_settings(self) -> dict:
        """What a saved model needs besides `max_length` to predict as it was scored (with
        the task's defaults where this configuration leaves options unset)."""
        cfg = self.with_task_defaults()
        if cfg.task == "ner":
            from transferkit.tasks.token_tagger import default_stride

            stride = cfg.doc_stride if cfg.doc_stride is not None else default_stride(cfg.max_length)
            context = cfg.context or ("document" if cfg.strategy == "finetune" else "sentence")
            return {"stride": stride, "context": context}
        if cfg.task == "qa":
            return {"stride": cfg.doc_stride, "max_answer_length": cfg.max_answer_length}
        if cfg.task == "lm":  # perplexity_before is measured on the model the run started from
            from transferkit.serving.run_files import model_reference

            return {"base_model": model_reference(cfg.model)}
        return {}


ALGORITHMS = ("cbow", "skipgram")


@dataclass
class Word2VecConfig(YamlConfig):
    """`pretrain word2vec`: gensim's parameters under their own meaning, defaults as gensim's
    except the seed (0, as everywhere in transferkit)."""

    corpus: list[str] = _opt([], "Corpus file; repeat for several. Plain text (one document per line), or CSV/TSV/JSONL/Parquet with --text-column.")
    text_column: str = _opt("text", "Column holding the text in CSV/TSV/JSONL/Parquet corpus files.")
    output: str | None = _opt(None, "Directory to write (vectors.kv, vectors.txt, config.yaml, metrics.json).", short="-o")
    algorithm: str = _opt("cbow", "cbow (predict a word from its context) or skipgram (the context from the word).", choices=ALGORITHMS)
    dimension: int = _opt(100, "Vector size.")
    window: int = _opt(5, "Largest distance between a word and a context word.")
    min_count: int = _opt(5, "Ignore words seen fewer times than this.")
    negative: int = _opt(5, "Negative samples per positive one.")
    epochs: int = _opt(5, "Passes over the corpus.")
    workers: int = _opt(2, "Training threads; 1 makes a run repeat exactly with the same seed.")
    seed: int = _opt(0, "Random seed of the initial vectors and the sampling.")
    keep_case: bool = _opt(False, "Keep upper case (by default text is lower-cased).")
    token_pattern: str = _opt(DEFAULT_TOKEN_PATTERN, "Regular expression of a word; every match is one token (after HTML tags are dropped).")
    overwrite: bool = _opt(False, "Replace an existing output directory.")

    def validate(self) -> None:
        if not self.output:
            raise UserError("--output", "missing; give the directory to write the vectors to")
        for name in ("dimension", "window", "min_count", "negative", "epochs", "workers"):
            if getattr(self, name) < (0 if name == "negative" else 1):
                raise UserError(f"--{name.replace('_', '-')}", f"must be at least {0 if name == 'negative' else 1}")


@dataclass
class MaskedLMConfig(YamlConfig):
    """`pretrain mlm`: continued masked-LM pretraining of an encoder on in-domain text."""

    model: str = _opt("minilm", "Encoder to continue: offline name, local transformers directory, or hub id.")
    corpus: list[str] = _opt([], "Corpus file; repeat for several. Plain text (one document per line), or CSV/TSV/JSONL/Parquet with --text-column.")
    text_column: str = _opt("text", "Column holding the text in CSV/TSV/JSONL/Parquet corpus files.")
    eval_corpus: str | None = _opt(None, "Held-out text for the masked-LM loss before and after (default: --eval-fraction of the corpus documents).")
    eval_fraction: float = _opt(0.05, "Fraction of the corpus documents held out when there is no --eval-corpus (at most 2,000 documents).")
    output: str | None = _opt(None, "Directory to write: a transformers encoder directory (with its masked-LM head) that `train --model DIR` accepts.", short="-o")
    max_length: int = _opt(128, "Tokens per training sequence; longer documents are cut into several sequences.")
    batch_size: int = _opt(32, "Sequences per optimiser step.")
    lr: float = _opt(1e-4, "Peak learning rate (warm-up, then linear decay).")
    epochs: int = _opt(1, "Passes over the corpus (unless --max-steps is given).")
    max_steps: int | None = _opt(None, "Train exactly this many optimiser steps, passing over the data as often as that takes (overrides --epochs).")
    mlm_probability: float = _opt(0.15, "Fraction of tokens (of words, with --whole-word-mask) to mask.")
    whole_word_mask: bool = _opt(False, "Mask all sub-words of a chosen word together.")
    warmup_ratio: float = _opt(0.06, "Fraction of optimiser steps spent warming the learning rate up.")
    weight_decay: float = _opt(0.01, "AdamW weight decay.")
    seed: int = _opt(0, "Random seed (masking, order, new head weights).")
    mixed_precision: str = _opt("auto", "no, fp16, bf16 or auto (bf16/fp16 on a GPU, none on a CPU).", choices=("auto", "no", "fp16", "bf16"))
    overwrite: bool = _opt(False, "Replace an existing output directory.")

    def validate(self) -> None:
        if not self.output:
            raise UserError("--output", "missing; give the directory to write the model to")
        for name in ("max_length", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')}", "must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError("--max-steps", "must be at least 1")
        if not 0 < self.mlm_probability < 1:
            raise UserError("--mlm-probability", "must be between 0 and 1")
        if not 0 < self.eval_fraction < 1:
            raise UserError("--eval-fraction", "must be between 0 and 1")
