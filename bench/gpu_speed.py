"""GPU training throughput: transferkit `finetune` against the transformers `Trainer`, in one
process on whatever GPU is here (issue 19). Two workloads, each at batch 32 and 128:

(a) minilm on SST-2 (train 6,920 sentences, 1 epoch, max length 64), scored on SST-2 test;
(b) a bert-base-sized BERT built from its config (random weights) on synthetic texts with
    SST-2's token lengths, max length 128, a fixed number of steps.

Runners: the Trainer with its defaults (float32) and with bf16 (fp16 where the GPU lacks
bf16); transferkit in float32 eager (`--mixed-precision no`), with its GPU defaults (bf16,
TF32, fused AdamW, 8-token length buckets) and with `--compile` (CUDA graphs, 16-token
buckets). transferkit's steady samples/s leave out the steps that compiled (metrics.json
`train.warmup_seconds`); the ratio is to the Trainer's defaults at the same batch.
Writes bench/results/gpu_speed.{md,json} (rows merge with an earlier run's on the same GPU).

    .venv/bin/python bench/gpu_speed.py                        # one GPU; not yet timed (estimated 10-15 minutes)
    .venv/bin/python bench/gpu_speed.py --parts minilm         # one workload (--batches 32 one batch size)
    .venv/bin/python bench/gpu_speed.py --allow-cpu --steps 5  # smoke test of this script on a CPU (~2 minutes on 2
                                       # cores): batches 4 and 8, tiny subsets, a 2-layer stand-in for bert-base; writes bench/out/
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, REPO, RESULTS, machine, scratch, write_results  # noqa: E402
from trainer_speed import SEED, run_trainer, run_transferkit  # noqa: E402

from transferkit.models.zoo import resolve_model  # noqa: E402

WORKLOADS = {"minilm": 64, "bert": 128}  # max length
BERT_STEPS = 200
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
SMOKE_BERT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)  # --allow-cpu
TRAINER_DEFAULTS = "Trainer fp32 (defaults)"


def runners(gpu: bool) -> dict[str, tuple[str, dict]]:
    """name → (trainer or transferkit, its options); a CPU runs the float32 ones only."""
    import torch

    half = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if gpu else None
    chosen = {TRAINER_DEFAULTS: ("trainer", {}), f"Trainer {half}": ("trainer", {"precision": half}),
              "transferkit fp32 eager": ("transferkit", {"mixed_precision": "no"}),
              f"transferkit {half} (GPU defaults)": ("transferkit", {}),
              f"transferkit {half} --compile": ("transferkit", {"compile": True})}
    return chosen if gpu else {name: chosen[name] for name in (TRAINER_DEFAULTS, "transferkit fp32 eager")}


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "label"], *rows])


def sst2_data(source: Path, work: Path, smoke_rows: int | None) -> Path:
    """SST-2 as it is, or (smoke) the first rows of each split."""
    if smoke_rows is None:
        return source
    folder = work / "sst2"
    folder.mkdir()
    for split, n in (("train", smoke_rows), ("dev", 16), ("test", 48)):
        with (source / f"{split}.csv").open(encoding="utf-8") as f:
            rows = list(csv.reader(f))[1 : n + 1]
        write_rows(folder / f"{split}.csv", rows)
    return folder


def bert_data(sst2: Path, work: Path, examples: int, max_length: int, smoke: bool) -> tuple[Path, str]:
    """A random BERT (bert-base's shape, or a 2-layer stand-in) saved with minilm's
    tokenizer (bert-base's vocabulary), and `examples` texts of random whole words whose
    token counts follow SST-2 train's, with random labels."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from transferkit.data.classification import read_split

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    model_dir = work / "bert-model"
    torch.manual_seed(SEED)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, **(SMOKE_BERT if smoke else BERT_BASE))).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    lengths = [len(ids) for ids in tokenizer(read_split(str(sst2 / "train.csv")).texts, truncation=True, max_length=max_length)["input_ids"]]
    words = [w for w in tokenizer.vocab if w.isascii() and w.isalpha() and w.islower()]  # each one token
    rng = random.Random(SEED)
    rows = [[" ".join(rng.choices(words, k=rng.choice(lengths) - 2)), rng.choice(["negative", "positive"])] for _ in range(examples)]
    data = work / "bert-data"
    data.mkdir()
    write_rows(data / "train.csv", rows)
    return data, str(model_dir)


def run_one(kind: str, options: dict, data: Path, work: Path, name: str, batch: int, max_length: int,
            model: str, steps: int | None, peak: float | None) -> dict:
    """One runner's row: speed, MFU, peak memory, accuracy (None where the data has no test split)."""
    import torch

    from transferkit.training.throughput import mfu, peak_flops

    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    if kind == "trainer":
        out = run_trainer(data, work, batch, max_length, model, max_steps=steps, **options)
        device = torch.device("cuda" if gpu else "cpu")
        flops, _ = peak_flops(device, peak)
        return {**out, "steady_samples_per_second": out["samples_per_second"], "mfu": mfu(out["parameters"], out["tokens_per_second"], flops),
                "peak_gpu_memory_bytes": torch.cuda.max_memory_allocated() if gpu else None, "warmup_seconds": 0.0}
    if options.get("compile"):
        torch.compiler.reset()  # each compiled run compiles afresh: no graphs or recompilation counts left from another
    extra = {"max_steps": steps} if steps else {}
    extra |= {"peak_flops": peak} if peak else {}
    out = run_transferkit(data, work, batch, max_length, model, name=name, device="cuda" if gpu else "cpu", **options, **extra)
    train = out["train"]
    steady_seconds = train["seconds"] - train["warmup_seconds"]
    steady = (train["examples"] - train["warmup_steps"] * batch) / steady_seconds if steady_seconds > 0 else None
    return {**out, "steady_samples_per_second": steady, "tokens_per_second": train["tokens_per_second"], "mfu": train["mfu"],
            "peak_gpu_memory_bytes": train["peak_gpu_memory_bytes"], "warmup_seconds": train["warmup_seconds"]}


def number(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def table(rows: list[dict]) -> list[str]:
    lines = ["| workload | batch | runner | samples/s | steady samples/s | × Trainer (steady) | tokens/s | MFU | peak GPU memory (GiB) | test accuracy | train s | warm-up s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {(r["workload"], r["batch"]): r for r in rows if r["runner"] == TRAINER_DEFAULTS and "error" not in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['batch']} | {r['runner']} | failed: {r['error']} |||||||||")
            continue
        trainer = base.get((r["workload"], r["batch"]))
        ratio = r["steady_samples_per_second"] / trainer["samples_per_second"] if trainer and r["steady_samples_per_second"] else None
        memory = None if r["peak_gpu_memory_bytes"] is None else r["peak_gpu_memory_bytes"] / 2**30
        lines.append(
            f"| {r['workload']} | {r['batch']} | {r['runner']} | {number(r['samples_per_second'], ',.0f')} | "
            f"{number(r['steady_samples_per_second'], ',.0f')} | {number(ratio, '.2f')} | {number(r['tokens_per_second'], ',.0f')} | "
            f"{number(r['mfu'], '.1%')} | {number(memory, '.1f')} | {number(r['accuracy'], '.3f')} | "
            f"{r['train_seconds']:.1f} | {r['warmup_seconds']:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATASETS / "sst2"))
    parser.add_argument("--parts", default="minilm,bert", help="workloads, comma-separated: minilm, bert")
    parser.add_argument("--batches", help="batch sizes, comma-separated (default: 32,128; the CPU smoke test 4,8)")
    parser.add_argument("--steps", type=int, help=f"optimiser steps of every run (default: minilm 1 epoch, bert {BERT_STEPS})")
    parser.add_argument("--peak-flops", type=float, help="the GPU's peak dense bf16 FLOP/s, where the table does not know it")
    parser.add_argument("--allow-cpu", action="store_true", help="smoke-test this script on a CPU (with --steps; writes bench/out/)")
    args = parser.parse_args()

    import torch

    gpu = torch.cuda.is_available()
    if not gpu and not args.allow_cpu:
        print("error: no GPU here (torch.cuda.is_available() is False): this benchmark measures GPU training; "
              "--allow-cpu --steps 5 only smoke-tests the script", file=sys.stderr)
        sys.exit(2)
    smoke = not gpu
    if smoke and not args.steps:
        print("error: --allow-cpu: give --steps N (5 is enough): a CPU runs the smoke test only", file=sys.stderr)
        sys.exit(2)
    parts, batches = args.parts.split(","), [int(b) for b in (args.batches or ("4,8" if smoke else "32,128")).split(",")]
    work = scratch("gpu-speed-")
    sst2 = sst2_data(Path(args.data), work, args.steps * max(batches) if smoke else None)
    out_folder = REPO / "bench" / "out" if smoke else RESULTS
    previous = out_folder / "gpu_speed.json"
    planned = {(part, batch) for part in parts for batch in batches}
    rows = [r for r in json.loads(previous.read_text())["rows"]  # an earlier run's other rows on this machine stay
            if r["machine"] == machine() and (r["workload"], r["batch"]) not in planned] if previous.exists() else []
    started = time.perf_counter()
    if gpu:
        torch.ones(64, 64, device="cuda").matmul(torch.ones(64, 64, device="cuda")).sum().item()  # CUDA and cuBLAS start before any clock
    for part in parts:
        max_length = WORKLOADS[part]
        if part == "bert":
            steps = args.steps or BERT_STEPS
            data, model = bert_data(sst2, work, steps * max(batches), max_length, smoke)
        else:
            steps, data, model = args.steps, sst2, "minilm"
        for batch in batches:
            for index, (runner, (kind, options)) in enumerate(runners(gpu).items()):
                row = {"workload": part, "batch": batch, "runner": runner, "machine": machine(), "max_length": max_length, "steps": steps}
                try:
                    row |= run_one(kind, options, data, work, f"{part}-{batch}-{index}", batch, max_length, model, steps, args.peak_flops)
                except Exception as e:  # a runner that fails (a compiler error) is a row saying so; the others still run
                    traceback.print_exc()
                    row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                rows.append(row)
                report(rows, args, smoke, out_folder, time.perf_counter() - started)


def report(rows: list[dict], args, smoke: bool, folder: Path, seconds: float) -> None:
    """The results so far (rewritten after every run, so an interrupted benchmark keeps its rows)."""
    command = "bench/gpu_speed.py" + (f" --allow-cpu --steps {args.steps}" if smoke else "") + "".join(
        f" --{name} {value}" for name, value in (("parts", args.parts), ("batches", args.batches)) if value and value != "minilm,bert")
    lines = [
        "# GPU training throughput: transferkit against the transformers Trainer" + (" (CPU smoke test, not a measurement)" if smoke else ""),
        "",
        f"Command: `.venv/bin/python {command}` · machine: {machine()} · this run {seconds:.0f} s. minilm: SST-2 "
        f"{'subset' if smoke else 'train (6,920 sentences)'}, max length 64, {'1 epoch' if not args.steps else f'{args.steps} steps'}, "
        f"test accuracy on SST-2 test{' subset' if smoke else ''}; bert: {'a 2-layer stand-in' if smoke else 'bert-base-sized'} random "
        f"BERT, synthetic texts with SST-2's token lengths, max length 128, {args.steps or BERT_STEPS} steps. "
        "Steady samples/s leave out transferkit's warm-up (steps that compiled); the Trainer's are its train_runtime's. "
        "MFU: 6 × parameters × tokens/s over the GPU's peak dense bf16 FLOP/s (src/transferkit/training/throughput.py).",
        "",
        *table(rows),
    ]
    write_results("gpu_speed", "\n".join(lines) + "\n", {"rows": rows}, folder)


if __name__ == "__main__":
    main()
