"""The loop is built on accelerate: two processes under torchrun (gloo on a CPU) train
one model and write one run directory."""

import json
import os
import socket
import subprocess
import sys


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
