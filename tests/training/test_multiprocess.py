"""The loop is built on accelerate: two processes under torchrun (gloo on a CPU) train
one model and write one run directory."""

import json
import os
import socket
import subprocess
import sys
import time

import psutil
import torch


def free_port() -> int:
    """A port no one listens on now (the OS picks it), so parallel or repeated runs do not collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_under_torchrun_write_one_run(sentiment, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        "-m", "transferkit", "train", "--strategy", "finetune", "--epochs", "1", "--max-length", "32",
        "--train", str(sentiment["train"]), "--dev", str(sentiment["dev"]), "--test", str(sentiment["test"]),
        "--output", str(run),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 1  # 48 examples, batch 32 per process: one step each
    assert metrics["train"]["examples"] == 48  # counted over both processes
    assert len((run / "predictions" / "test.jsonl").read_text().splitlines()) == 20
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert done.stdout.count('"strategy": "finetune"') == 1  # one summary, from the first process


def test_a_killed_two_process_run_resumes_every_process_from_the_first_ones_checkpoint(sentiment, tmp_path):
    run, checkpoint = tmp_path / "run", tmp_path / ".run.partial" / "checkpoint" / "state.pt"

    def launch(*options):
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
                "-m", "transferkit", "train", *options, "--output", str(run)]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(launch(
        "--strategy", "finetune", "--max-steps", "60", "--batch-size", "4", "--max-length", "16", "--checkpoint-every", "3", "--patience", "100",
        "--train", str(sentiment["train"]), "--dev", str(sentiment["dev"]),
    ), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    for each in [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]:
        each.kill()  # both processes and the launcher, as a crash would
    process.wait()
    psutil.wait_procs(psutil.Process().children(recursive=True), timeout=30)
    assert not run.exists() and checkpoint.exists()
    step = torch.load(checkpoint, weights_only=True)["loop"]["steps"]

    resumed = subprocess.run(launch("--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.count(f"resuming from the checkpoint at step {step} of 60") == 2  # both processes, the same step
    assert json.loads((run / "metrics.json").read_text())["train"]["steps"] == 60


SCORED_ONCE = """
import json, os, sys
import torch
from transformers import BertConfig, BertForSequenceClassification
from transferkit.training.batching import PadCollator
from transferkit.training.loop import LoopSettings, train_loop

rank = int(os.environ["RANK"])
torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(
    vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2))
items = [{"input_ids": [1, 4 + i % 2, 6 + i % 7], "labels": i % 2} for i in range(64)]
calls = []

def score(m):
    calls.append(rank)
    return [0.1, 0.5, 0.3, 0.2][len(calls) - 1]  # the best is the second evaluation, not the last

settings = LoopSettings(epochs=2, lr=1e-2, batch_size=4, seed=0, warmup_ratio=0.0, weight_decay=0.0, evaluations=4,
                        patience=10, mixed_precision="no", layer_lr_decay=1.0)
result = train_loop(model, items, PadCollator(0), settings, score_dev=score)
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
    json.dump({"calls": len(calls), "history": result.history, "best_step": result.best_step,
               "weights": [p.sum().item() for p in model.parameters()]}, f)
torch.distributed.destroy_process_group()  # as transferkit's CLI does: gloo's threads stopped before the interpreter exits
"""


def test_dev_is_scored_once_and_every_process_keeps_the_same_best_weights(tmp_path):
    script = tmp_path / "scored_once.py"
    script.write_text(SCORED_ONCE)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()), str(script), str(tmp_path)]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert first["calls"] == 4 and second["calls"] == 0  # dev scored by the first process only
    evaluations = [[(h["step"], h["dev"]) for h in rank["history"]] for rank in (first, second)]  # (each its own batches' loss)
    assert evaluations[0] == evaluations[1] and [dev for _, dev in evaluations[0]] == [0.1, 0.5, 0.3, 0.2]
    assert first["best_step"] == second["best_step"] == first["history"][1]["step"]
    assert first["weights"] == second["weights"]  # both hold the second evaluation's weights
