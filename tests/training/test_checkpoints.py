"""Exact resume: a run killed with SIGKILL at a random step after a checkpoint, then resumed
with --resume, writes the same metrics.json (timings aside) and the same weights as a run
that was never interrupted; a partial run at an output is an error that says how to go on."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

TIMINGS = ("seconds", "samples_per_second", "tokens_per_second", "mfu", "warmup_steps", "warmup_seconds")


def train_command(sentiment, output, *extra, strategy=("--strategy", "finetune")):
    return [
        sys.executable, "-m", "transferkit", "train", *strategy, "--max-length", "16",
        "--batch-size", "4", "--epochs", "2", "--evaluations", "4", "--checkpoint-every", "3",
        "--weight-average", "ema", "--train", str(sentiment["train"]), "--dev", str(sentiment["dev"]),
        "--test", str(sentiment["test"]), "--output", str(output), *extra,
    ]


def without_timings(metrics: dict) -> dict:
    """The metrics without what differs between two runs of the same options: the timings,
    and the run's registry id and times."""
    return {**metrics, "run": None, "train": {k: v for k, v in metrics["train"].items() if k not in TIMINGS}}


# finetune; finetune with a callback whose state is the step alone (what is frozen); lora (a peft model's state)
@pytest.mark.parametrize("strategy", [
    ("--strategy", "finetune"), ("--strategy", "finetune", "--gradual-unfreezing", "0.5"), ("--strategy", "lora"),
], ids=["finetune", "gradual-unfreezing", "lora"])
def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(sentiment, tmp_path, strategy):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    (tmp_path / "data").mkdir()  # a copy of its own: the training file goes missing for a while below
    sentiment = {name: shutil.copy(sentiment[name], tmp_path / "data") for name in ("train", "dev", "test")}
    whole = tmp_path / "whole"
    done = subprocess.run(train_command(sentiment, whole, strategy=strategy), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    checkpoint = tmp_path / ".killed.partial" / "checkpoint" / "state.pt"
    process = subprocess.Popen(train_command(sentiment, killed, strategy=strategy), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rng = random.Random()  # a different step each time the suite runs: any step after a checkpoint must do
    wanted, saves, last = rng.randint(1, 4), 0, None  # checkpoints at steps 3, 6, 9, 12 of 24
    deadline = time.monotonic() + 300
    while saves < wanted and process.poll() is None and time.monotonic() < deadline:
        if checkpoint.exists() and (stat := checkpoint.stat()) and (stat.st_ino, stat.st_mtime_ns) != last:
            saves, last = saves + 1, (stat.st_ino, stat.st_mtime_ns)  # each save is a new file renamed into place
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it was killed"
    time.sleep(rng.uniform(0.0, 0.3))  # somewhere in the steps after that checkpoint
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not killed.exists() and checkpoint.exists()

    again = subprocess.run(train_command(sentiment, killed, strategy=strategy), env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "pass --resume to continue it, or --overwrite" in again.stderr, again.stderr

    # a resume that fails on bad input (the training file missing for now) keeps the checkpoint it was asked to continue
    os.rename(sentiment["train"], tmp_path / "away.csv")
    missing = subprocess.run([sys.executable, "-m", "transferkit", "train", "--resume", "--output", str(killed)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "train.csv" in missing.stderr and missing.stderr.startswith("error: "), missing.stderr
    assert checkpoint.exists(), "a failed resume deleted the checkpoint"
    os.rename(tmp_path / "away.csv", sentiment["train"])

    resumed = subprocess.run(
        [sys.executable, "-m", "transferkit", "train", "--resume", "--output", str(killed)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint at step " in resumed.stderr
    first, second = (json.loads((run / "metrics.json").read_text()) for run in (whole, killed))
    assert without_timings(second) == without_timings(first)
    assert second["train"]["steps"] == 24 and len(second["train"]["dev_history"]) == 4
    weights, resumed_weights = (load_file(str(run / "model" / "model.safetensors")) for run in (whole, killed))
    assert weights.keys() == resumed_weights.keys()
    assert all(weights[k].equal(resumed_weights[k]) for k in weights)
    assert (whole / "config.yaml").read_text() == (killed / "config.yaml").read_text().replace(str(killed), str(whole))
    assert not (killed / "checkpoint").exists() and not (tmp_path / ".killed.partial").exists()


def test_sigterm_after_a_checkpoint_says_where_it_is_and_how_to_resume(sentiment, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    checkpoint = tmp_path / ".run.partial" / "checkpoint" / "state.pt"
    process = subprocess.Popen(train_command(sentiment, tmp_path / "run"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143 and checkpoint.exists()
    assert err.strip().splitlines()[-1] == (
        f"error: terminated; the checkpoint is in {checkpoint.parent}; continue with: transferkit train --resume --output {tmp_path / 'run'}"
    )


def test_resume_without_an_interrupted_run_is_an_error(cli, tmp_path):
    status, _, err = cli("train", "--resume", "--output", str(tmp_path / "none"))
    assert status == 2 and "nothing to resume" in err and err.count("\n") == 1


def test_resume_with_other_options_than_the_interrupted_runs_is_an_error(cli, sentiment, tmp_path):
    from transferkit.config import TrainConfig

    partial = tmp_path / ".run.partial"
    partial.mkdir()
    TrainConfig(train=str(sentiment["train"]), output=str(tmp_path / "run"), epochs=2).to_yaml(partial / "request.yaml")
    status, _, err = cli("train", "--resume", "--output", str(tmp_path / "run"), "--train", str(sentiment["train"]), "--epochs", "3")
    assert status == 2 and "was started with other options (epochs)" in err, err


@pytest.mark.parametrize("every, saved", [(0, False), (5, True)])
def test_checkpoint_every_decides_when_the_loop_saves(sentiment, tmp_path, monkeypatch, every, saved):
    """Saved every N steps (not at the last one), never with 0; a finished run keeps none."""
    from transferkit import api
    from transferkit.config import TrainConfig
    from transferkit.training.checkpoints import Checkpoints

    written, save = [], Checkpoints.save
    monkeypatch.setattr(Checkpoints, "save", lambda self, state: written.append(state["loop"]["steps"]) or save(self, state))
    api.train(TrainConfig(train=str(sentiment["train"]), output=str(tmp_path / "run"), max_length=16, batch_size=8,
                          max_steps=12, checkpoint_every=every))
    assert written == ([5, 10] if saved else [])
    assert not (tmp_path / "run" / "checkpoint").exists()
