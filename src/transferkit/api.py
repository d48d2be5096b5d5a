"""train / evaluate / predict / pretrain as plain functions: what the CLI calls, and what a Python
user calls instead of the CLI.

`train` is the same for every task and strategy: it resolves the options against the
recipe table, lets the task read the data, the strategy fit, and the task score, and
writes the run directory. What differs between tasks is in `transferkit.tasks` (the
`Task` interface), between strategies in `transferkit.strategies` (the `Strategy` one).
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from transferkit.config import GROUP_OF, TrainConfig, language_of, test_sets
from transferkit.data.bad_rows import write_skipped
from transferkit.errors import Terminated, UserError
from transferkit.progress import note, status
from transferkit.recipes import AUTO
from transferkit.rundir import MARKER_FILE, library_versions, partial_dir, staged_run_dir
from transferkit.serving.predictor import load_predictor, read_info, write_info
from transferkit.strategies import get_strategy
from transferkit.tasks import get_task
from transferkit.tracking import track_pretrain, track_train

REQUEST_FILE = "request.yaml"  # in a staging folder: the options the run was started with, for --resume
CHECKPOINT_DIR = "checkpoint"


def is_main_process() -> bool:
    """Under torchrun / `accelerate launch` every process trains; only the first writes."""
    import torch
    from accelerate import PartialState

    # cpu=True lets accelerate see a torchrun launch on a machine without a GPU (gloo)
    return PartialState(cpu=not torch.cuda.is_available()).is_main_process


def default_output(cfg: TrainConfig) -> str:
    return str(Path("runs") / f"{cfg.task}-{cfg.strategy}-{time.strftime('%Y%m%d-%H%M%S')}")


def resumable(staging: Path) -> bool:
    return (staging / CHECKPOINT_DIR).is_dir() and any((staging / CHECKPOINT_DIR).iterdir())


def interrupted_request(output: str | None, config_class):
    """The options the interrupted run at `output` was started with (its staging folder's
    request.yaml), read as `config_class`: `train --resume`'s and `multitask --resume`'s."""
    if not output:
        raise UserError("--resume", "give the --output of the interrupted run")
    request = partial_dir(Path(output)) / REQUEST_FILE
    if not request.is_file():
        raise UserError(output, f"nothing to resume: no interrupted run here ({request.parent.name}); drop --resume")
    return config_class.from_yaml(str(request))


@contextmanager
def resume_hint(output: Path, command: str):
    """An interrupted run that kept a checkpoint: the CLI's last line says where it is and
    how to continue it (`transferkit COMMAND --resume --output OUT`)."""
    try:
        yield
    except (KeyboardInterrupt, Terminated) as interrupt:
        if resumable(partial_dir(output)):
            interrupt.kept = f"the checkpoint is in {partial_dir(output) / CHECKPOINT_DIR}; continue with: transferkit {command} --resume --output {output}"
        raise


def resumed_config(cfg: TrainConfig) -> TrainConfig:
    """`train --resume --output OUT`: the interrupted run's options (from its staging
    folder). Options given beside --resume must be the ones it was started with."""
    saved = interrupted_request(cfg.output, TrainConfig)
    if cfg.train is not None:
        if cfg.strategy == AUTO:  # the strategy auto chose when the run started
            cfg = replace(cfg, strategy=saved.strategy)
        given, started = cfg.yaml_data(), replace(saved, output=cfg.output).yaml_data()
        differ = sorted(k for k in set(given) | set(started) if k != "output" and given.get(k) != started.get(k))
        if differ:
            raise UserError("--resume", f"the interrupted run at {cfg.output} was started with other options ({', '.join(differ)}); give only --resume --output {cfg.output}, or --overwrite to start again")
    return replace(saved, output=cfg.output, resume=True, overwrite=False, track=cfg.track)  # config.yaml leaves --track out


def train(cfg: TrainConfig, given: frozenset[str] = frozenset(), tracking: dict | None = None) -> dict:
    """Train one run and write its directory; returns the metrics written to metrics.json.
    `given` names the options the user set explicitly (the CLI's flags): one of them that
    does not apply to the task and strategy is an error even at its default value.
    `tracking`: more fields of the run's registry row (a sweep's cell: `sweep`, `cell`)."""
    if cfg.resume:
        cfg = resumed_config(cfg)
    cfg.validate()
    cfg.check_applicable(given)  # with auto: options of another task
    chosen = None
    if cfg.strategy == AUTO:
        cfg, chosen = _auto(cfg, given)
        cfg.check_applicable(given)
    cfg = replace(cfg.resolved(), output=cfg.output or default_output(cfg))
    cfg.validate()  # the resolved values too (a --doc-stride against the recipe's --max-length)
    output = Path(cfg.output)
    task, strategy = get_task(cfg.task), get_strategy(cfg.strategy)
    inputs = [cfg.train, cfg.dev, *(path for _, path in test_sets(cfg.test)), cfg.vectors, cfg.unlabeled, cfg.model if strategy.uses_pretrained_model else None]
    publish = is_main_process()
    with resume_hint(output, "train"), track_train(cfg, tracking, auto=chosen is not None, enabled=publish) as run, \
            staged_run_dir(output, cfg.overwrite, publish=publish, inputs=inputs, resume=cfg.resume, resumable=resumable) as staging:
        run.start()  # the output checked and locked: the registry's row at this path is this run's now
        return _train_in(staging, task, strategy, cfg, publish, chosen, run)


def _auto(cfg: TrainConfig, given: frozenset[str]) -> tuple[TrainConfig, dict]:
    """`cfg` with the strategy `--strategy auto` chooses for its data, and the record of why."""
    from transferkit.strategies.auto import choose

    defaults = TrainConfig()
    options = set(given) | {name for name in GROUP_OF if getattr(cfg, name) != getattr(defaults, name)}
    strategy, because = choose(get_task(cfg.task), cfg, options)
    return replace(cfg, strategy=strategy), {"chose": strategy, "because": because}


def _train_in(staging: Path, task, strategy, cfg: TrainConfig, publish: bool, chosen: dict | None, run) -> dict:
    from transferkit.training.checkpoints import Checkpoints

    prepare_staging(staging, cfg)
    (staging / "model").mkdir()
    model_path = checked_model(cfg) if strategy.uses_pretrained_model else None
    status(f"reading the data ({cfg.train}) ...")
    data = task.load_data(cfg)
    if publish and cfg.on_bad_row == "skip":
        write_skipped(data.skipped, staging, Path(cfg.output))
    if chosen is not None and cfg.task == "classify":  # the one task with a choice; said once its data read without error
        note(f"--strategy auto chose {chosen['chose']}: {chosen['because']}")
    metric, why = task.selection(data)
    if why:
        note(why)
    pool = unlabeled_pool(cfg, data) if cfg.unlabeled else None
    status(f"training {cfg.task} {cfg.strategy} on {len(data.train)} examples" + (f", loading {cfg.model} ..." if model_path else " ..."))
    # every process resumes from the first one's checkpoint (its staging folder), which only it writes
    checkpoints = Checkpoints(partial_dir(Path(cfg.output)) / CHECKPOINT_DIR, cfg.checkpoint_every, resume=cfg.resume)
    if pool is None:
        result = strategy.fit(task, cfg, data, model_path, staging / "model", checkpoints)
    else:
        from transferkit.self_training import fit_self_trained

        predictor_of = lambda fitted: fitted_predictor(task, replace(cfg, **fitted.resolved), data.labels, fitted, staging / "model")[0]  # noqa: E731
        result, self_trained = fit_self_trained(task, strategy, cfg, data, pool.texts, model_path, staging / "model", checkpoints, predictor_of)
    if not publish:  # another process of a multi-process run: the first one scores and writes
        return {}
    cfg = replace(cfg, **result.resolved)
    metrics = score_model(task, strategy, metric, cfg, data, result, staging, model_path)
    metrics["data"] = data.report
    if pool is not None:
        metrics["train"]["unlabeled"] = {"pool": pool.report, **self_trained}
        metrics["data"]["overlap_with_pool"] = pool.overlap
    if chosen is not None:
        metrics["auto"] = chosen
    metrics["run"] = run.stamp()  # the registry row's id and times
    cfg.to_yaml(staging / "config.yaml")
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    shutil.rmtree(staging / CHECKPOINT_DIR, ignore_errors=True)
    (staging / REQUEST_FILE).unlink(missing_ok=True)
    return metrics


def prepare_staging(staging: Path, cfg) -> None:
    """A new run records its options (`cfg.to_yaml`: a `TrainConfig`, or `multitask`'s
    config) for --resume; a resumed one starts again from its checkpoint, with everything
    else it had written cleared."""
    for entry in staging.iterdir():
        if entry.name not in (MARKER_FILE, CHECKPOINT_DIR, REQUEST_FILE):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    if not cfg.resume:
        replace(cfg, resume=False, overwrite=False).to_yaml(staging / REQUEST_FILE)


def unlabeled_pool(cfg: TrainConfig, data):
    """`--unlabeled`'s texts, read and checked before any model loads (`tasks/unlabeled.py`)."""
    from transferkit.data.bad_rows import BadRows
    from transferkit.tasks.unlabeled import read_pool, usable_pool

    texts = read_pool(cfg.unlabeled, cfg.text_column, BadRows.of(cfg))
    return usable_pool(texts, data, {"dev": cfg.dev, **{name: path for name, path in test_sets(cfg.test)}})


def checked_model(cfg: TrainConfig) -> str:
    from transferkit.models.zoo import check_max_length, resolve_model

    model_path = resolve_model(cfg.model)
    pair = bool(cfg.text_pair_column) and cfg.task == "classify"
    check_max_length(cfg.max_length, model_path, pair=pair, room=2 if cfg.task == "ner" or pair else 1)
    return model_path


def fitted_predictor(task, cfg: TrainConfig, labels, result, model_dir: Path) -> tuple:
    """The predictor of the model `fit` wrote into `model_dir`, loaded as `predict` loads
    it (what prediction needs written into its transferkit.json first), and those settings."""
    settings = {**task.inference_settings(cfg), **result.learned}
    write_info(model_dir, cfg.task, cfg.strategy, labels, cfg.max_length, **settings)
    return load_predictor(model_dir, device=cfg.device), settings


def score_model(task, strategy, metric: str, cfg: TrainConfig, data, result, staging: Path, model_path: str | None) -> dict:
    """Write what prediction needs, load the model as `predict` would, calibrate it on dev
    (`Task.calibrate`: then written and loaded again), and score dev and test; `metric` is
    the one that selected on dev (`Task.selection`)."""
    from transferkit.models.zoo import weights_note

    model_dir = staging / "model"
    predictor, settings = fitted_predictor(task, cfg, data.labels, result, model_dir)
    calibrated, calibration = task.calibrate(predictor, data, cfg)
    if calibrated:
        write_info(model_dir, cfg.task, cfg.strategy, data.labels, cfg.max_length, **settings, **calibrated)
        predictor = load_predictor(model_dir, device=cfg.device)
    metrics = {
        "task": cfg.task,
        "strategy": cfg.strategy,
        "model": cfg.model if model_path else None,
        **({"model_weights": note} if model_path and (note := weights_note(cfg.model)) else {}),
        "labels": data.labels,
        **({"calibration": calibration} if calibration else {}),
        "dev": task.score_split(predictor, data.dev, data.labels) if data.dev else None,
        "test": None,
    }
    if None in data.tests:
        metrics["test"] = task.score_split(predictor, data.tests[None], data.labels, staging / "predictions" / "test.jsonl")
    elif data.tests:  # named test sets: one entry each, with the language its name gives
        metrics["test"] = {
            name: {**({"language": language} if (language := language_of(name)) else {}),
                   **task.score_split(predictor, split, data.labels, staging / "predictions" / f"test-{name}.jsonl")}
            for name, split in data.tests.items()
        }
    train = {
        "seconds": result.seconds,
        "examples": result.examples,
        "samples_per_second": result.examples / result.seconds if result.seconds > 0 else None,
        "labelled_examples": len(data.train),
        **result.stats,
    }
    if metric != task.dev_metric:
        train["selection_metric"] = metric
    if strategy.selects_on_dev:
        best = result.best_dev
        train[f"best_dev_{metric}"] = None if best is None else task.dev_sign * best
    metrics["train"] = train
    metrics["versions"] = library_versions()
    return metrics


def run_config(run_dir: str) -> TrainConfig:
    """The run's options (its data columns, ...), from the `config.yaml` it wrote."""
    from transferkit.serving.run_files import require_file

    return TrainConfig.from_yaml(str(require_file(Path(run_dir) / "config.yaml")))


@dataclass
class OpenRun:
    """A finished run (or an export of one), opened for prediction: what `predict`,
    `evaluate` and `serve` share. Its files are read and checked when opened; the model
    loads on the first use of `predictor` (after the input is checked, so bad input fails
    at once), on `runtime`: `auto` (ONNX for an export, else torch), `torch` or `onnx`."""

    run_dir: str
    info: dict  # model/transferkit.json
    cfg: TrainConfig  # the run's options (data columns, ...)
    task: object
    load: dict  # runtime, device, bf16, batch_size

    @cached_property
    def predictor(self):
        status(f"loading the {self.info['task']} model of {self.run_dir} ...")
        return load_predictor(Path(self.run_dir) / "model", **self.load)

    def request(self, texts: list[str] | None = None, input_path: str | None = None, context: str | None = None,
                questions: list[str] | None = None):
        """The task's parsed request (checked: a bad input is a one-line error)."""
        for option, given in (("--question", questions), ("--context", context is not None)):
            if given and self.info["task"] != "qa":
                raise UserError(option, f"applies to qa runs; {self.run_dir} is a {self.info['task']} run")
        passage = {} if context is None else {"context": context}
        return self.task.read_request(self.cfg, list(questions or []) + list(texts or []), input_path, **passage)

    def items_request(self, items: list):
        """The task's parsed request from the items of an HTTP request (`serve`), checked."""
        return self.task.read_items(self.cfg, items)

    def records(self, request) -> list[dict]:
        return self.task.records(self.predictor, request)


def open_run(run_dir: str, device: str = "auto", bf16: bool = False, runtime: str = "auto", batch_size: int | None = None) -> OpenRun:
    info = read_info(run_dir)
    load = {"runtime": runtime, "device": device, "bf16": bf16, "batch_size": batch_size}
    return OpenRun(str(run_dir), info, run_config(run_dir), get_task(info["task"]), load)


def evaluate(run_dir: str, data: str, device: str = "auto", bf16: bool = False, language: str | None = None,
             runtime: str = "auto", batch_size: int | None = None, slice_column: str | None = None) -> dict:
    """Score a finished run on a labelled file, read with the run's data options; `language`
    (a code such as de or zh) is recorded, and qa scores its answers by that language's rules.
    `slice_column` (classify) names a column of `data` whose values group the rows, for
    metrics per group."""
    code = None if language is None else language_of(language)
    if language is not None and code != language.lower():
        raise UserError("--language", f"expected a language code such as en, de or zh, got {language!r}")
    run = open_run(run_dir, device, bf16, runtime, batch_size)
    if slice_column is not None:
        if run.info["task"] != "classify":
            raise UserError("--slice-column", f"applies to classify runs; {run_dir} is a {run.info['task']} run")
        run.cfg = replace(run.cfg, slice_column=slice_column, train=None)  # train=None: `data` is a scored split, whatever its path
    split = run.task.read_test(data, run.cfg, code)
    run.task.check_known(split, run.info["labels"])
    given = {"language": code} if code else {}
    return {"task": run.info["task"], "strategy": run.info["strategy"], "data": data, **given,
            **run.task.score_split(run.predictor, split, run.info["labels"])}


def predict(run_dir: str, texts: list[str] | None = None, input_path: str | None = None, context: str | None = None,
            questions: list[str] | None = None, device: str = "auto", bf16: bool = False, runtime: str = "auto",
            batch_size: int | None = None, abstain_below: float | None = None, explain: bool = False) -> list[dict]:
    """Predictions for texts given directly or read from a file, one record per text in
    input order (the fields depend on the task: see the task's `records`).
    For qa the texts are questions about `context`; `questions` come before them (and,
    like `context`, are refused by a run of another task). classify: `abstain_below` writes
    no prediction below that probability; `explain` adds each token's attribution."""
    run = open_run(run_dir, device, bf16, runtime, batch_size)
    for option, given in (("--abstain-below", abstain_below is not None), ("--explain", explain)):
        if given and run.info["task"] != "classify":
            raise UserError(option, f"applies to classify runs; {run_dir} is a {run.info['task']} run")
    request = run.request(texts, input_path, context, questions)
    request.extra.update(abstain_below=abstain_below, explain=explain)
    return run.records(request)


def generate(run_dir: str, prompts: list[str], device: str = "auto", **options) -> list[dict]:
    """Continuations of each prompt by a `--task lm` run (options: `max_new_tokens`,
    `greedy`, `temperature`, `top_k`, `top_p`, `seed`). The prompts are checked as
    `predict` checks an lm run's (an empty one is an error) before the model loads."""
    info = read_info(run_dir)
    if info["task"] != "lm":
        raise UserError(str(run_dir), f"a {info['task']} run cannot generate text; give a --task lm run")
    run = open_run(run_dir, device)
    prompts = run.request(prompts).items
    return [{"prompt": p, "generated": g} for p, g in zip(prompts, run.predictor.generate(prompts, **options))]


def pretrain_word2vec(cfg) -> dict:
    """Train word2vec vectors on a corpus and write `cfg.output`; returns its metrics."""
    from transferkit.pretraining import word2vec

    with track_pretrain("pretrain word2vec", cfg) as run:
        return {**word2vec.train(cfg, run), "output": cfg.output}


def pretrain_masked_lm(cfg) -> dict:
    """Continue masked-LM pretraining of an encoder on a corpus and write `cfg.output`."""
    from transferkit.pretraining import masked_lm

    with track_pretrain("pretrain mlm", cfg, model=cfg.model) as run:
        return {**masked_lm.train(cfg, run), "output": cfg.output}


def evaluate_vectors(source: str) -> dict:
    """Analogy, WordSim-353 and SimLex-999 scores of word vectors (a directory or glove-50d)."""
    from transferkit.evaluation.word_vectors import evaluate
    from transferkit.models.word_vectors import load_vectors

    vectors, _ = load_vectors(source)
    return {"vectors": source, "vocabulary": len(vectors), **evaluate(vectors)}


def multitask(cfg) -> dict:
    """Several task heads on one shared pretrained encoder, trained together (`transferkit
    multitask`): `cfg` is a `multitask.config.MultiTaskConfig` (`from_yaml`, or built from
    one `TrainConfig` per head); writes `cfg.output`, with a run directory per head under
    `heads/`, and returns its top-level metrics (each head's test metric and train seconds)."""
    from transferkit.multitask.run import multitask as run_multitask

    return run_multitask(cfg)


def curve(cfg, given: frozenset[str] = frozenset()) -> list[dict]:
    """A learning-curve sweep (`transferkit curve`): every strategy × budget × seed of a
    `CurveConfig` trained as a run directory under `cfg.output/runs/`, with the sweep's
    registry and report; returns the registry rows of its cells."""
    from transferkit.experiments.curve import curve as run_curve

    return run_curve(cfg, given)


def distill(cfg) -> dict:
    """A small student taught by a finished classify run (`transferkit distill`): `cfg` is a
    `distill.config.DistillConfig`; the teacher labels the unlabelled texts and its own
    labelled ones, the student learns its probabilities; writes `cfg.output`, an ordinary
    classify run of the student, and returns its metrics (`distill`: the teacher, ...)."""
    from transferkit.distill.run import distill as run_distill

    return run_distill(cfg)
