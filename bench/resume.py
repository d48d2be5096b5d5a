"""Exact resume on SST-2: a finetune run at 200 labels per class with a checkpoint every 20
steps, killed with SIGKILL about half way (right after its third checkpoint) and continued
with `train --resume`, against the same run never interrupted. Writes
bench/results/resume.{md,json}: test metrics, steps, and whether every weight is identical.

    .venv/bin/python bench/resume.py        # about 10 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine, scratch, shown, write_results  # noqa: E402

TIMINGS = ("seconds", "samples_per_second")


def command(data: Path, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "transferkit", "-q", "train", "--strategy", "finetune", "--labels-per-class", "200",
        "--checkpoint-every", "20", "--train", str(data / "train.csv"), "--dev", str(data / "dev.csv"),
        "--test", str(data / "test.csv"), "--output", str(output), *extra,
    ]


def kill_after_checkpoints(cmd: list[str], checkpoint: Path, count: int) -> int:
    """Start `cmd`, SIGKILL it once its checkpoint file has been written `count` times; the step it held."""
    import torch

    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    saves, last = 0, None
    while saves < count:
        if process.poll() is not None:
            raise SystemExit("the run ended before it was killed")
        if checkpoint.exists() and (stat := checkpoint.stat()) and (stat.st_ino, stat.st_mtime_ns) != last:
            saves, last = saves + 1, (stat.st_ino, stat.st_mtime_ns)  # each save is a new file renamed into place
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return torch.load(checkpoint, weights_only=True)["loop"]["steps"]


def main() -> None:
    from safetensors.torch import load_file

    data = DATASETS / "sst2"
    work = scratch("resume-bench-")
    started = time.perf_counter()
    subprocess.run(command(data, work / "whole"), check=True, stdout=subprocess.DEVNULL)
    killed_at = kill_after_checkpoints(command(data, work / "killed"), work / ".killed.partial" / "checkpoint" / "state.pt", 3)
    subprocess.run([sys.executable, "-m", "transferkit", "-q", "train", "--resume", "--output", str(work / "killed")], check=True, stdout=subprocess.DEVNULL)
    runs = {name: json.loads((work / name / "metrics.json").read_text()) for name in ("whole", "killed")}
    weights = {name: load_file(str(work / name / "model" / "model.safetensors")) for name in runs}
    identical = weights["whole"].keys() == weights["killed"].keys() and all(weights["whole"][k].equal(weights["killed"][k]) for k in weights["whole"])
    same_metrics = all(
        {**m, "train": {k: v for k, v in m["train"].items() if k not in TIMINGS}} == {**runs["whole"], "train": {k: v for k, v in runs["whole"]["train"].items() if k not in TIMINGS}}
        for m in runs.values()
    )
    planned = runs["whole"]["train"]["epochs"] * math.ceil(runs["whole"]["train"]["labelled_examples"] / runs["whole"]["train"]["batch_size"])
    rows = [(name, m["test"]["accuracy"], m["test"]["macro_f1"], m["train"]["steps"], m["train"]["best_step"]) for name, m in runs.items()]
    lines = [
        "# Exact resume (SST-2)",
        "",
        f"Command: `.venv/bin/python bench/resume.py` · data: `{shown(data)}`, 200 labels per class drawn with seed 0 · "
        f"`train --strategy finetune --labels-per-class 200 --checkpoint-every 20` (minilm, the recipe's defaults) · "
        f"machine: {machine()} · wall time {time.perf_counter() - started:.0f} s.",
        "",
        f"The second run was killed with SIGKILL right after its third checkpoint (step {killed_at}; {planned} steps planned, "
        f"early stopping ends both runs at step {runs['whole']['train']['steps']}) and continued with `train --resume --output DIR`.",
        "",
        "| run | test accuracy | macro-F1 | train.steps | best step |",
        "|---|---|---|---|---|",
        *[f"| {name} | {acc:.4f} | {f1:.4f} | {steps} | {best} |" for name, acc, f1, steps, best in rows],
        "",
        f"metrics.json identical apart from timings: **{same_metrics}** · every weight of model.safetensors identical: **{identical}**.",
    ]
    write_results("resume", "\n".join(lines) + "\n", {"machine": machine(), "killed_at_step": killed_at, "runs": runs,
                                                      "identical_weights": identical, "identical_metrics": same_metrics})
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
