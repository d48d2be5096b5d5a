"""Shared by the benchmarks: where the data is, the machine, and writing results."""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
RESULTS = REPO / "bench" / "results"


def machine() -> str:
    import torch

    cores = os.cpu_count()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {cores} cores, torch {torch.__version__} ({device}), {torch.get_num_threads()} threads"


def shown(path: Path) -> str:
    """A data path as the README shows it: relative to the repo when it can be."""
    try:
        return os.path.relpath(path, REPO)
    except ValueError:
        return str(path)


def scratch(prefix: str) -> Path:
    """A folder for a benchmark's run directories, deleted when the benchmark exits (they
    take a few GB a run, and what is kept goes to bench/results)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def saved(name: str, field: str, empty):
    """Field `field` of bench/results/NAME.json as earlier runs left it (`empty` before the
    first): benchmarks measured in parts add to it, replacing what they measure again."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()).get(field, empty) if path.is_file() else empty


def write_results(name: str, markdown: str, data: dict, folder: Path = RESULTS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(markdown)
    (folder / f"{name}.json").write_text(json.dumps(data, indent=2))
    print(markdown)


def write_runs(name: str, lines: list[str], rows: list[dict]) -> None:
    """A benchmark of several runs: its table `lines`, then each row's command, and the
    runs as JSON (merged into by later partial runs)."""
    lines = lines + ["", "Commands (one per row):", ""] + [f"- `{r['command']}`" for r in rows]
    write_results(name, "\n".join(lines) + "\n", {"machine": machine(), "runs": rows})


def option_flags(options: dict) -> str:
    """A run's non-default options as the command-line flags that give them (a true switch
    as the bare flag, a false one left out)."""
    flags = {k.replace("_", "-"): v for k, v in options.items() if v is not False}
    return "".join(f" --{k}" if v is True else f" --{k} {v}" for k, v in flags.items())


def timing(metrics: dict, wall: float) -> dict:
    """The speed fields every benchmark row carries: loop seconds, whole-call wall
    seconds, and the training statistics (without the per-evaluation history)."""
    train = metrics["train"]
    return {"train_seconds": train["seconds"], "wall_seconds": wall, "details": {k: v for k, v in train.items() if k != "dev_history"}}
