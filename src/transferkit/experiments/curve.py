"""`transferkit curve`: a learning-curve sweep. Every (strategy, budget, seed) cell is a
normal run directory under `DIR/runs/`, trained by `api.train`; the sweep keeps its own
registry copy (`DIR/runs.sqlite`) and rewrites `DIR/report.{html,md}` after each cell, so
the report is useful while the sweep runs.

The sweep is resumable by construction: a cell whose run directory is published is done
and skipped (its options are checked against the sweep's); a cell killed mid-training left
`.NAME.partial` with a checkpoint and continues from it (`train --resume`: bit for bit on a
CPU); a cell killed before its first checkpoint starts again. So a sweep killed with
`kill -9` and started again ends with the same runs, rows and report as one that never
stopped. Only the driver (this process) writes the sweep's registry and report; the cells
run where the executor puts them (`experiments/executors.py`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from transferkit.config import GROUP_OF, SWEPT, CurveConfig, TrainConfig, flag
from transferkit.errors import Terminated, UserError
from transferkit.progress import note
from transferkit.recipes import AUTO, strategies_for
from transferkit.rundir import MARKER_FILE, os_error, output_lock, partial_dir

DEFAULT_BUDGETS = {"classify": "8,32,128,512,all", "ner": "100,500,2000,all", "qa": "100,500,2000,all", "lm": "100,1000,all"}
DEFAULT_STRATEGIES = {"classify": "tfidf,features,finetune,scratch", "ner": "finetune,scratch", "qa": "finetune,scratch", "lm": "finetune,scratch"}
BUDGET_UNITS = {"classify": "labels per class", "ner": "sentences", "qa": "questions", "lm": "documents"}
SWEEP_FILE = "sweep.yaml"  # the sweep's options, in its folder
REGISTRY_FILE = "runs.sqlite"
SWEEP_NAMES = {SWEEP_FILE, REGISTRY_FILE, "runs", "data", "report.html", "report.md", "curve.png", "time.png", MARKER_FILE,
               *(REGISTRY_FILE + side for side in ("-wal", "-shm", "-journal"))}  # what a sweep writes (the demo: data)


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its name (its folder under `runs/`) and its full `train` options."""

    name: str
    config: TrainConfig

    @property
    def strategy(self) -> str:
        return self.config.strategy

    @property
    def budget(self) -> int | None:
        return self.config.labels_per_class if self.config.task == "classify" else self.config.train_examples


def _listed(option: str, text: str, parse) -> list:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise UserError(flag(option), "give at least one value, comma-separated")
    try:
        values = [parse(item) for item in items]
    except ValueError:
        raise UserError(flag(option), f"expected comma-separated values such as {_example(option)}, got {text!r}") from None
    if len(set(values)) < len(values):
        raise UserError(flag(option), f"a value is given twice in {text!r}")
    return values


def _example(option: str) -> str:
    return {"budgets": "8,32,128,all", "seeds": "0,1,2", "strategies": "tfidf,finetune"}[option]


def _budget(item: str) -> int | None:
    if item.lower() == "all":
        return None
    value = int(item)
    if value < 1:
        raise ValueError(item)
    return value


def budget_name(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def plan(cfg: CurveConfig, given: frozenset[str] = frozenset()) -> list[Cell]:
    """The sweep's cells, budgets outermost (small cells first, so the report fills in
    early), each with the shared options that apply to its strategy; checked before any
    work: every cell's options valid, every option given used by some cell."""
    defaults = CurveConfig()
    for name, instead in SWEPT.items():  # in a --config file: `curve` has no flag for them
        if getattr(cfg, name) != getattr(defaults, name):
            raise UserError(flag(name), f"a sweep sets this per cell; give {flag(instead)}" if instead else "a sweep resumes by itself: run the same curve command again")
    if not cfg.train:
        raise UserError("--train", "missing; give the training data file")
    if not cfg.output:
        raise UserError("--output", "missing; give the sweep's folder")
    strategies = _listed("strategies", cfg.strategies or DEFAULT_STRATEGIES[cfg.task], str)
    budgets = _listed("budgets", cfg.budgets or DEFAULT_BUDGETS[cfg.task], _budget)
    seeds = _listed("seeds", cfg.seeds, int)
    for strategy in strategies:
        if strategy not in (AUTO, *strategies_for(cfg.task)):
            raise UserError("--strategies", f"unknown strategy {strategy!r} for {cfg.task}; choose from auto, {', '.join(strategies_for(cfg.task))}")
    shared = cfg.train_config().absolute_paths()  # as config.yaml stores them: a finished cell's options compare equal
    runs = Path(cfg.output) / "runs"
    cells = []
    for budget in budgets:
        for strategy in strategies:
            for seed in seeds:
                axis = {"labels_per_class": budget} if cfg.task == "classify" else {"train_examples": budget}
                config = replace(shared, strategy=strategy, seed=seed, **axis, output=str(runs / f"{strategy}-b{budget_name(budget)}-seed{seed}")).only_applicable()
                config.validate()
                cells.append(Cell(Path(config.output).name, config))
    chosen = set(given) | {name for name in GROUP_OF if getattr(cfg, name) != getattr(defaults, name)}
    for name in sorted(chosen & GROUP_OF.keys()):  # an option no cell takes is a mistake, as for `train`
        if not any(name in cell.config.applicable_fields() for cell in cells):
            cells[0].config.check_applicable({name})
    return cells


def finished(output: Path) -> bool:
    return (output / MARKER_FILE).is_file() and (output / "metrics.json").is_file()


def check_finished(cell: Cell) -> None:
    """A finished cell is reused only if it was trained with the options the sweep asks for
    now (an option changed since, say `--epochs`, would mix two sweeps in one report)."""
    recorded = yaml.safe_load((Path(cell.config.output) / "config.yaml").read_text()) or {}
    defaults = TrainConfig().absolute_paths()  # the options left at their defaults were resolved by the run: not compared
    differ = sorted(name for name, value in cell.config.yaml_data().items()
                    if value != getattr(defaults, name) and name not in ("output", "strategy") and recorded.get(name) != value)
    if cell.config.strategy != AUTO and recorded.get("strategy") != cell.config.strategy:
        differ.insert(0, "strategy")
    if differ:
        raise UserError(cell.config.output, f"this sweep's cell was trained with other options ({', '.join(differ)}); give another --output, or --overwrite to train every cell again")


def run_cell(spec: dict) -> dict:
    """Train one cell where the executor runs it (this process, a worker, a Ray node):
    resume it from its checkpoint if a killed sweep left one, else train it from the start
    (replacing a leftover staging folder). Returns what the driver records."""
    from transferkit import api

    cfg = TrainConfig(**spec["config"])
    output = Path(cfg.output)
    resume = api.resumable(partial_dir(output))
    # resumed: with the options it started with (its staging folder holds them, resolved); else from the start
    cfg = TrainConfig(output=cfg.output, track=cfg.track, resume=True) if resume else replace(cfg, overwrite=True)
    try:
        api.train(cfg, tracking={"sweep": spec["sweep"], "cell": spec["name"]})
    except UserError as e:
        return {"status": "failed", "error": str(e), "resumed": resume}
    return {"status": "finished", "resumed": resume}


class TimeLeft:
    """How long the cells not yet done will take, from the ones done (in this sweep, or
    before it was restarted): a cell is estimated by the cells of its strategy at its
    budget (other seeds); else from its strategy's two nearest budgets, on the power law
    through them (time grows more slowly than the labels where a strategy has a floor of
    steps, as finetune has); else from its one known budget, in proportion; else by the
    mean of all."""

    def __init__(self, executor):
        self.executor = executor  # its `workers` (cells at once) is known once it has started: read when estimating
        self.seconds: dict[tuple[str, int | None], list[float]] = {}

    def add(self, cell: Cell, seconds: float | None) -> None:
        if seconds is not None:
            self.seconds.setdefault((cell.strategy, cell.budget), []).append(seconds)

    def estimate(self, cell: Cell) -> float | None:
        if not self.seconds:
            return None
        own = self.seconds.get((cell.strategy, cell.budget))
        if own:
            return statistics.mean(own)
        sized = sorted((b, statistics.mean(s)) for (strategy, b), s in self.seconds.items() if strategy == cell.strategy and b is not None)
        if sized and cell.budget is not None:
            nearest = sorted(sized, key=lambda bs: abs(math.log(bs[0] / cell.budget)))[:2]
            if len(nearest) == 1:
                (b, seconds), = nearest
                return seconds * cell.budget / b
            (b1, s1), (b2, s2) = sorted(nearest)
            slope = min(max(math.log(s2 / s1) / math.log(b2 / b1), 0.0), 1.5)
            return s1 * (cell.budget / b1) ** slope
        return statistics.mean(s for ss in self.seconds.values() for s in ss)

    def left(self, pending: list[Cell]) -> str:
        estimates = [self.estimate(cell) for cell in pending]
        if not pending:
            return "done"
        if any(e is None for e in estimates):
            return "time left unknown until a cell finishes"
        seconds = sum(estimates) / self.executor.workers
        return f"about {seconds / 60:.0f} min left" if seconds >= 90 else f"about {seconds:.0f} s left"


@dataclass
class Sweep:
    """What the driver needs to record and report a sweep's cells."""

    output: Path
    cells: list[Cell]
    title: str
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def task(self) -> str:
        return self.cells[0].config.task

    @property
    def folder(self) -> str:
        """The sweep's folder as its registry rows name it."""
        return str(self.output.resolve())


@dataclass
class SweepOutcome:
    rows: list[dict]  # the registry rows of the sweep's cells
    summary: dict  # what the last report shows (`evaluation.sweep_report.write_report`)


def run_sweep(sweep: Sweep, executor, overwrite: bool = False, description: str = "", prepare=None) -> SweepOutcome:
    """Train the sweep's cells that are not done yet and write its registry and report.
    Nothing is written before every check has passed: the executor is started (a Ray
    cluster that does not answer is refused here), the folder's lock is taken (a second
    driver fails at once, before touching anything), the folder is checked to be new or a
    sweep's, and its finished cells to match the options asked now. Only then is the folder
    marked as transferkit's, `description` written to its sweep.yaml and `prepare()` (the
    demo's data files) called. A folder this call created is removed again if it refuses."""
    from transferkit.tracking.registry import Registry

    output = sweep.output
    _check_sweep_folder(output)  # before starting Ray: a refusal costs nothing
    try:
        output.parent.mkdir(parents=True, exist_ok=True)  # where the lock file goes, beside the folder
    except OSError as e:
        raise os_error(output.parent, e, "cannot create the sweep's parent folder") from None
    with executor.opened(), output_lock(output):
        _check_sweep_folder(output)
        created = not output.exists()
        kept = {cell.name for cell in sweep.cells if finished(Path(cell.config.output)) and not overwrite}
        done = [cell for cell in sweep.cells if cell.name in kept]
        todo = [cell for cell in sweep.cells if cell.name not in kept]
        for cell in done:
            check_finished(cell)
        try:
            output.mkdir(parents=True, exist_ok=True)
            (output / MARKER_FILE).write_text("written by transferkit: a learning-curve sweep's folder\n")
            (output / SWEEP_FILE).write_text(description)
            if prepare:
                prepare()
        except BaseException:
            if created:
                shutil.rmtree(output, ignore_errors=True)
            raise
        registry = Registry(output / REGISTRY_FILE)
        clock = TimeLeft(executor)
        for cell in done:
            row = _record_finished(registry, sweep, cell)
            clock.add(cell, row["seconds"] or row["train_seconds"])  # an older run knows only its training time
        if done:
            note(f"{len(done)} of {len(sweep.cells)} cells already finished in {output / 'runs'}; training the other {len(todo)}")
        summary = _write_report(sweep, registry)
        summary = _run_cells(sweep, todo, executor, registry, clock) or summary
        return SweepOutcome(registry.rows(sweep=sweep.folder), summary)


def is_sweep_folder(output: Path) -> bool:
    """Whether a sweep wrote `output`: transferkit's marker beside its sweep.yaml. A folder
    of an older transferkit (no marker) counts only when it holds nothing but what a sweep
    writes, its registry included; a file named sweep.yaml alone is no proof (W&B sweeps
    use that name)."""
    if (output / MARKER_FILE).is_file():
        return (output / SWEEP_FILE).is_file()
    names = {entry.name for entry in output.iterdir()}
    return {SWEEP_FILE, REGISTRY_FILE} <= names and names <= SWEEP_NAMES


def _check_sweep_folder(output: Path) -> None:
    """A sweep writes into a new or empty folder, or one a sweep wrote, never into a
    user's folder of other files (or another transferkit output)."""
    if os.path.lexists(output) and (output.is_symlink() or not output.is_dir()):
        raise UserError(str(output), "is a file or a link; give a folder for the sweep")
    if output.is_dir() and any(output.iterdir()) and not is_sweep_folder(output):
        raise UserError(str(output), "holds files that no transferkit sweep wrote; give a new or empty folder for the sweep")


def _run_cells(sweep: Sweep, todo: list[Cell], executor, registry, clock: TimeLeft) -> dict | None:
    """Run the cells on the executor, recording and reporting each as it ends; returns the
    last report's summary (None when there was nothing to run)."""
    from transferkit.tracking.registry import new_record, train_fields, train_inputs

    by_name = {cell.name: cell for cell in todo}
    started: dict[str, float] = {}
    pending = list(todo)
    counts = {"finished": 0, "failed": 0}
    reported: list[dict] = []

    def on_start(spec: dict) -> None:
        cell = by_name[spec["name"]]
        started[cell.name] = time.perf_counter()
        config = cell.config.yaml_data()
        registry.start(new_record("train", config, cell.config.output, train_inputs(config), **train_fields(config, auto=False),
                                  sweep=sweep.folder, cell=cell.name))

    def on_done(spec: dict, result: dict) -> None:
        cell = by_name[spec["name"]]
        pending.remove(cell)
        seconds = time.perf_counter() - started.get(cell.name, time.perf_counter())
        if result["status"] == "finished":
            _record_finished(registry, sweep, cell)
            clock.add(cell, seconds)
        else:
            registry.fail(str(Path(cell.config.output).resolve()), result["error"])
        counts[result["status"]] += 1
        what = "resumed and finished" if result.get("resumed") and result["status"] == "finished" else result["status"]
        why = f" ({result['error']})" if result["status"] == "failed" else ""
        note(f"[{len(todo) - len(pending)}/{len(todo)}] {cell.name} {what} in {seconds:.0f} s{why}; {clock.left(pending)}")
        reported[:] = [_write_report(sweep, registry)]

    specs = [{"name": cell.name, "config": dataclasses.asdict(cell.config), "sweep": sweep.folder} for cell in todo]
    try:
        executor.map(run_cell, specs, on_start, on_done)
    except (KeyboardInterrupt, Terminated) as interrupt:
        interrupt.kept = f"finished cells are kept in {sweep.output / 'runs'}; run the same curve command again to continue"
        raise
    if counts["failed"]:
        note(f"{counts['failed']} of {len(todo)} cells failed; their errors are in the report and `transferkit runs list --registry {sweep.output}`")
    return reported[0] if reported else None


def _record_finished(registry, sweep: Sweep, cell: Cell) -> dict:
    """The sweep's row of a finished cell, rebuilt from its run directory (the one source
    of truth), so a driver killed before recording it records it on the next start."""
    from transferkit.tracking.registry import record_of_run

    row = {**record_of_run(Path(cell.config.output)), "sweep": sweep.folder, "cell": cell.name}
    registry.put(row)
    return row


def _write_report(sweep: Sweep, registry) -> dict:
    """Rewrite DIR/report.{html,md} and its plots from the sweep's rows; returns the summary."""
    from transferkit.evaluation.sweep_report import write_report
    from transferkit.tasks import get_task

    task = get_task(sweep.task)
    return write_report(registry.rows(sweep=sweep.folder), sweep.output, sweep.title, metric=task.primary_metric, higher_is_better=task.higher_is_better,
                        budget_unit=BUDGET_UNITS[sweep.task], notes=sweep.notes)


def curve(cfg: CurveConfig, given: frozenset[str] = frozenset()) -> list[dict]:
    """`transferkit curve`: plan the cells, run the ones not yet done on the chosen executor
    (the sweep's options recorded in DIR/sweep.yaml), and print the report's table."""
    from transferkit.evaluation.sweep_report import terminal_table
    from transferkit.experiments.executors import executor_for
    from transferkit.tasks import get_task

    cells = plan(cfg, given)
    executor = executor_for(cfg.executor, cfg.workers, cfg.ray_address)
    title = f"{cfg.task}, {Path(cfg.train).parent.name}/{Path(cfg.train).name}: test {get_task(cfg.task).primary_metric} by strategy and label budget"
    description = yaml.safe_dump(cfg.absolute_paths().yaml_data(), sort_keys=False)
    outcome = run_sweep(Sweep(Path(cfg.output), cells, title), executor, overwrite=cfg.overwrite, description=description)
    terminal_table(outcome.summary, title)
    return outcome.rows
