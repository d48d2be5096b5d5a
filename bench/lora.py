"""Adapting cheaply (issue #19): `lora` and finetune with `--gradual-unfreezing` against
plain `finetune`, on SST-2 (64 labels per class over 3 seeds, and every label) and
CoNLL-2003 (2,000 training sentences): the test metric, training seconds, the peak memory
of the training process, the artefact's size and the weights trained. Writes
bench/results/lora.{md,json}.

    .venv/bin/python bench/lora.py [--parts recipe,sst2-64,sst2-all,conll] [--threads N]

- `recipe` chooses on SST-2 *dev* (64 per class, seed 0) the LoRA learning rate and the
  unfreezing fraction the other parts use (the recipe table's lora rows come from it).
- Each run is `transferkit train` in its own process, so its peak resident memory
  (`getrusage` of that child: weights, activations, optimiser state, the data) is its own.
- Runs are kept in bench/out/lora/NAME and not trained again: rerun to continue.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, machine, shown, write_results  # noqa: E402

from transferkit.strategies.lora import directory_bytes  # noqa: E402

WORK = REPO / "bench" / "out" / "lora"
SST2, CONLL = DATASETS / "sst2", DATASETS / "conll2003"
UNFREEZE = "0.25"  # the fraction `recipe` chose on dev (0.768 against 0.742 for 0.5)


def unfreezing(fraction: str) -> list[str]:
    return ["--strategy", "finetune", "--gradual-unfreezing", fraction]


STRATEGIES = {"finetune": ["--strategy", "finetune"], "lora": ["--strategy", "lora"], f"unfreezing-{UNFREEZE}": unfreezing(UNFREEZE)}


def data_flags(name: str) -> list[str]:
    if name == "sst2":
        return ["--train", str(SST2 / "train.csv"), "--dev", str(SST2 / "dev.csv"), "--test", str(SST2 / "test.csv")]
    return ["--task", "ner", "--train", str(CONLL / "train.txt"), "--dev", str(CONLL / "dev.txt"), "--test", str(CONLL / "test.txt")]


# part -> [(run name, data, flags)]
PARTS = {
    "recipe": [(f"recipe-lora-lr{lr}", "sst2", ["--strategy", "lora", "--lr", lr, "--labels-per-class", "64", "--seed", "0"])
               for lr in ("3e-4", "1e-3", "3e-3")]
    + [(f"recipe-unfreezing-{f}", "sst2", ["--strategy", "finetune", "--gradual-unfreezing", f, "--labels-per-class", "64", "--seed", "0"])
       for f in ("0.25", "0.5")],
    "sst2-64": [(f"sst2-64-{s}-seed{seed}", "sst2", [*flags, "--labels-per-class", "64", "--seed", str(seed)])
                for seed in (0, 1, 2) for s, flags in {**STRATEGIES, "unfreezing-0.5": unfreezing("0.5")}.items()],
    "sst2-all": [(f"sst2-all-{s}", "sst2", [*flags, "--seed", "0"]) for s, flags in STRATEGIES.items()],
    "conll": [(f"conll-2000-{s}", "conll", [*flags, "--train-examples", "2000", "--seed", "0"]) for s, flags in STRATEGIES.items()],
}


def run(name: str, data: str, flags: list[str], threads: int) -> dict:
    """One training run in its own process (or the kept result of an earlier one)."""
    output, measured = WORK / name, WORK / f"{name}.process.json"
    command = [sys.executable, "-m", "transferkit", "train", *data_flags(data), *flags, "--output", str(output)]
    if not (output / "metrics.json").exists() or not measured.exists():
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        print(f"{name}: {' '.join(command[3:])}", flush=True)
        started = time.perf_counter()
        child = subprocess.Popen([*command, "--overwrite"], env=env)
        _, status, usage = os.wait4(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{name} failed")
        measured.write_text(json.dumps({"peak_rss_bytes": usage.ru_maxrss * 1024, "wall_seconds": time.perf_counter() - started}))
    metrics = json.loads((output / "metrics.json").read_text())
    train = metrics["train"]
    metric = "accuracy" if data == "sst2" else "f1"
    return {
        "name": name, "data": data, "command": "transferkit " + " ".join(c.replace(str(REPO) + "/", "").replace(str(REPO.parent) + "/", "../") for c in command[3:]),
        "test": metrics["test"][metric], "dev": train[f"best_dev_{metric}"],
        "train_seconds": train["seconds"], "trainable_parameters": train["trainable_parameters"],
        "parameters": train.get("parameters"), "model_bytes": train.get("model_bytes") or directory_bytes(output / "model"),
        "adapter_bytes": train.get("adapter_bytes"), **json.loads(measured.read_text()),
    }


def mb(n: int | None) -> str:
    return "" if n is None else f"{n / 1e6:,.1f}"


def table(rows: list[dict], metric: str) -> list[str]:
    """One line per strategy: mean (± population sd over seeds) of each measure."""
    lines = [
        f"| strategy | seeds | test {metric} | train s | peak memory MB | saved model MB | adapter MB | trained weights |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for strategy in dict.fromkeys(r["name"].split("-seed")[0].split("-", 2)[2] for r in rows):
        mine = [r for r in rows if r["name"].split("-seed")[0].endswith(strategy)]
        if not mine:
            continue
        scores = [r["test"] for r in mine]
        spread = f" ± {statistics.pstdev(scores):.3f}" if len(scores) > 1 else ""
        mean = lambda key: statistics.mean(r[key] for r in mine)  # noqa: E731
        lines.append(
            f"| {strategy} | {len(mine)} | {statistics.mean(scores):.3f}{spread} | {mean('train_seconds'):.0f} | {mb(mean('peak_rss_bytes'))} "
            f"| {mb(mine[0]['model_bytes'])} | {mb(mine[0]['adapter_bytes'])} | {mine[0]['trainable_parameters']:,} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="recipe,sst2-64,sst2-all,conll")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results = WORK / "rows.json"
    rows = json.loads(results.read_text()) if results.exists() else {}
    for part in args.parts.split(","):
        rows[part] = [run(name, data, flags, args.threads) for name, data, flags in PARTS[part]]
        results.write_text(json.dumps(rows, indent=2))

    lines = [
        "# Adapting cheaply: LoRA and gradual unfreezing against finetune",
        "",
        f"Machine: {machine()}. Model minilm (all-MiniLM-L6-v2, 22.7M weights). Data: {shown(SST2)}, {shown(CONLL)}. "
        "Options: each strategy's defaults (lora: rank 8, alpha 16, query and value; unfreezing-F: finetune --gradual-unfreezing F).",
        "Peak memory: the training process's peak resident set (`getrusage`), data and Python included. Saved model: "
        "`model/` as predict reads it (lora: the merged model); adapter: `model/adapter/` alone (peft's files).",
        "Command: `.venv/bin/python bench/lora.py " + " ".join(sys.argv[1:]) + "`",
    ]
    if "recipe" in rows:
        lines += ["", "## Recipe, on SST-2 dev (64 labels per class, seed 0)", "", "| run | dev accuracy | train s |", "|---|---:|---:|"]
        lines += [f"| {r['name'].removeprefix('recipe-')} | {r['dev']:.3f} | {r['train_seconds']:.0f} |" for r in rows["recipe"]]
    titles = {"sst2-64": "SST-2, 64 labels per class (test accuracy)", "sst2-all": "SST-2, every label (6,920; test accuracy, seed 0)",
              "conll": "CoNLL-2003, 2,000 training sentences (test entity F1, seed 0)"}
    for part, title in titles.items():
        if part in rows:
            lines += ["", f"## {title}", "", *table(rows[part], "accuracy" if part.startswith("sst2") else "F1")]
    every = [r for part in rows.values() for r in part]
    lines += ["", "Commands (one per run):", ""] + [f"- `{r['command']}`" for r in every]
    write_results("lora", "\n".join(lines) + "\n", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
