"""Cell functions for test_executors.py, in a module of their own: a spawned worker
imports them by name (pytest puts this folder on sys.path, and spawn hands the driver's
sys.path to its children); Ray workers get them pickled by value."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def describe(spec: dict) -> dict:
    """Where the cell ran: its process, torch's threads there, the environment asked for."""
    import torch

    return {
        "status": "finished", "x": spec["x"], "pid": os.getpid(), "threads": torch.get_num_threads(),
        "env": {name: os.environ.get(name) for name in spec.get("env", ())},
    }


def fail_on_odd(spec: dict) -> dict:
    if spec["x"] % 2:
        raise ValueError(f"odd x {spec['x']}\nsecond line")
    return {"status": "finished", "x": spec["x"]}


def crash_on_zero(spec: dict) -> dict:
    """Cell 0 dies as the kernel's out-of-memory killer would end it; the others take 1 s."""
    if spec["x"] == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(1)
    return {"status": "finished", "x": spec["x"]}


def sleep_until_stopped(spec: dict) -> dict:
    """Writes its pid and works for 10 minutes in short steps, as a training loop does;
    records the exception it unwinds from when stopped."""
    folder = Path(spec["folder"])
    (folder / f"{spec['x']}.pid").write_text(str(os.getpid()))
    end = time.monotonic() + 600
    try:
        while time.monotonic() < end:
            time.sleep(0.05)
    except BaseException as e:
        (folder / f"{spec['x']}.unwound").write_text(type(e).__name__)
        raise
    return {"status": "finished", "x": spec["x"]}
