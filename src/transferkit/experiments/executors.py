"""Where a learning-curve sweep runs its cells: one after another in this process, in N
worker processes on this machine, or as tasks on a Ray cluster. A cell is a plain
picklable dict and the cell function a module-level `fn(spec) -> dict`, so a cell runs the
same anywhere; an executor only hands cells out and brings their results back to the
driver (the process that called `map`), which alone records them.

Every executor keeps one contract (`Executor.map`):
- `on_start(spec)` when a cell is handed to a free place to run, so a cell recorded as
  running is running (no more cells are out than there are places), and `on_done(spec,
  result)` as each finishes, in completion order; both in the driver;
- a cell whose function raises, or whose process dies (killed for memory), ends as
  `{"status": "failed", "error": one line}` and the sweep goes on;
- Ctrl-C or SIGTERM in the driver stops the cells out and is raised again: each cell is
  interrupted (SIGTERM to a local worker, Ray's cancel) and unwinds as a run does on
  Ctrl-C; one still busy after `STOP_SECONDS` (inside a long C call) is killed, which a
  sweep's next start also survives (the cell resumes from its last checkpoint); every
  worker process is reaped.

Threads: a cell run in this process keeps torch's own setting; N local workers each get
cpu_count // N threads, and a Ray cell as many as the CPUs it holds, so cells running side
by side do not oversubscribe the cores.

A real Ray cluster (`--executor ray --ray-address auto | HOST:6379 | ray://HOST:10001`) runs
the cells on other machines, so:
- every node must see the sweep folder and the data files at the same absolute paths as
  the driver: a shared filesystem (NFS, a cloud file share) mounted at the same place;
- transferkit (the same version) and its model cache (`TRANSFERKIT_CACHE`, `HF_HOME`) must
  be installed on every node; the variables in `PASSED_ENV` go with each task;
- the sweep's registry `DIR/runs.sqlite` (and its report) is written by the driver only,
  from the finished run directories: no worker writes SQLite over a network filesystem.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import math
import multiprocessing
import os
import pickle
import signal
import socket
import time
from collections import deque
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Callable, Iterator

from transferkit.errors import Terminated, UserError

# What a cell needs from the driver's environment, sent to Ray workers with each task (a
# local worker inherits the whole environment): where the model cache and the home
# registry are, offline mode, the MLflow server.
PASSED_ENV = ("TRANSFERKIT_HOME", "TRANSFERKIT_CACHE", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MLFLOW_TRACKING_URI")
STOP_SECONDS = 30.0  # how long a stopped cell may take to unwind before it is killed
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies

CellFunction = Callable[[dict], dict]


def failed(error: str) -> dict:
    return {"status": "failed", "error": " ".join(error.split())}


def run_guarded(fn: CellFunction, spec: dict) -> dict:
    """`fn(spec)`, or a failed result naming the exception: a bug or bad input in one cell
    ends that cell, not the sweep. Interrupts (not `Exception`s) pass through."""
    try:
        return fn(spec)
    except Exception as e:
        return failed(f"{type(e).__name__}: {e}")


def limit_threads(threads: int) -> None:
    """Torch, and the OpenMP and BLAS libraries loaded after this, use `threads` threads."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch  # here: the driver imports this module before it needs torch

    torch.set_num_threads(threads)


class Executor:
    """Runs a sweep's cells. `workers`: how many cells run at once (what the sweep's
    time-left estimate divides by)."""

    workers: int = 1

    @contextmanager
    def opened(self) -> Iterator[None]:
        """Whatever the executor needs started (a Ray cluster joined), around a sweep: the
        sweep writes nothing before this has succeeded, so an executor that cannot start
        leaves no files behind."""
        yield

    def map(self, fn: CellFunction, specs: list[dict], on_start: Callable[[dict], None],
            on_done: Callable[[dict, dict], None]) -> None:
        """Run fn(spec) for every spec; in the calling (driver) process call on_start(spec)
        when a cell is handed out and on_done(spec, result) as each finishes, in completion
        order. An unexpected exception inside fn becomes result {"status": "failed",
        "error": "TypeName: message"} for that cell (the sweep goes on);
        KeyboardInterrupt/SIGTERM in the driver stops the sweep (workers stopped, no zombie
        processes)."""
        raise NotImplementedError


class LocalExecutor(Executor):
    """`workers` 1: the cells one after another in this process. N > 1: N spawned worker
    processes (spawn, not fork: the driver may hold threads and torch state that a fork
    would copy half-made), started as cells are handed out; one that dies fails its cell
    only and is replaced."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise UserError("--workers", f"must be 1 or more, not {workers}")
        self.workers = workers

    def map(self, fn, specs, on_start, on_done) -> None:
        if self.workers == 1:
            for spec in specs:
                on_start(spec)
                on_done(spec, run_guarded(fn, spec))
            return
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        todo = deque(specs)
        alive: list[_Worker] = []
        idle: list[_Worker] = []
        busy: dict[_Worker, dict] = {}
        try:
            while todo or busy:
                while todo and len(busy) < self.workers:
                    if not idle:
                        alive.append(_Worker(context, threads))
                        idle.append(alive[-1])
                    worker, spec = idle.pop(), todo.popleft()
                    on_start(spec)
                    worker.send(fn, spec)
                    busy[worker] = spec
                ready = wait([worker.conn for worker in busy])
                for worker in [w for w in busy if w.conn in ready]:
                    spec = busy.pop(worker)
                    result = worker.result()
                    if result is None:
                        result = failed(worker.death())
                        alive.remove(worker)
                    else:
                        idle.append(worker)
                    on_done(spec, result)
        except BaseException:
            _stop(alive, terminate=True)
            raise
        _stop(alive, terminate=False)


class _Worker:
    """A spawned process that runs the cells it is sent, one at a time, and the pipe to it."""

    def __init__(self, context, threads: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, threads, os.getpid()), name="transferkit-cell")
        self.process.start()
        child.close()  # so that the worker's death reads as the end of the pipe here

    def send(self, fn: CellFunction, spec: dict) -> None:
        try:
            self.conn.send_bytes(pickle.dumps((fn, spec)))
        except BrokenPipeError:  # it died before taking the cell; `result` says so
            pass

    def stop(self) -> None:
        try:
            self.conn.send_bytes(b"")
        except BrokenPipeError:
            pass

    def result(self) -> dict | None:
        """The cell's result; None when the process died instead."""
        try:
            return self.conn.recv()
        except (EOFError, ConnectionResetError):
            return None

    def death(self) -> str:
        """Why the process ended, once it has (it is reaped here)."""
        self.process.join()
        self.conn.close()
        code = self.process.exitcode
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}" + ("; out of memory?" if -code == signal.SIGKILL else "")
        else:
            how = f"exit status {code}"
        return f"the worker process running this cell died ({how})"


def _serve(conn, threads: int, driver: int) -> None:
    """A worker process: set its threads, then run each cell it is sent until an empty
    message, the end of the pipe (the driver is gone) or SIGTERM (a running cell unwinds
    from it as from Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the terminal's every process: the driver decides
    signal.signal(signal.SIGTERM, _terminate)
    die_with(driver)
    try:
        limit_threads(threads)
        while job := conn.recv_bytes():
            conn.send(_run_job(job))
    except (Terminated, EOFError, BrokenPipeError):
        pass


def die_with(driver: int) -> None:
    """Have the kernel kill this worker when its driver dies, however it dies (`kill -9`
    too): a cell training on as an orphan would hold its run's lock, and the sweep started
    again would record that cell as failed. SIGKILL, as a `kill -9` of the cell would be:
    its last checkpoint stays, and the next start resumes from it. Linux's parent-death
    signal; elsewhere the pipe's end stops the worker after its current cell."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != driver:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGKILL)


def _run_job(job: bytes) -> dict:
    try:
        fn, spec = pickle.loads(job)
    except Exception as e:  # the cell function's module does not import here
        return failed(f"{type(e).__name__}: {e}")
    return run_guarded(fn, spec)


def _terminate(signum, frame):
    raise Terminated()


def _stop(workers: list[_Worker], terminate: bool) -> None:
    """End every worker and reap it: idle ones are told to stop; with `terminate`, busy
    ones get SIGTERM and `STOP_SECONDS` to unwind, then SIGKILL."""
    for worker in workers:
        if terminate:
            worker.process.terminate()
        else:
            worker.stop()
    deadline = time.monotonic() + STOP_SECONDS
    try:
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
    finally:  # also on a second Ctrl-C while waiting
        for worker in workers:
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join()
            worker.conn.close()


class RayExecutor(Executor):
    """The cells as Ray tasks of `cpus_per_cell` CPUs each (fractions allowed), on the
    cluster at `address` ("auto", "HOST:6379", "ray://HOST:10001"; else `RAY_ADDRESS`),
    or on a local Ray instance of this machine's cores started for the sweep and shut
    down after it. A Ray the caller already initialised is used as it is and left running.
    Cells are handed out as the cluster has CPUs for them (its size is read again at
    each hand-out, so an autoscaling cluster that grows gets more); a cell whose worker or
    node dies past Ray's retries fails with Ray's error."""

    def __init__(self, address: str | None = None, cpus_per_cell: float = 1):
        if cpus_per_cell <= 0:
            raise UserError("--workers", f"a cell needs a positive number of CPUs, not {cpus_per_cell}")
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.workers = self._fitting(os.cpu_count() or 1)  # a local instance's; a cluster's once connected

    @contextmanager
    def opened(self) -> Iterator[None]:
        """Ray joined (or a local instance started) for as long as the block runs; ended
        after it if this executor started it."""
        ray = _import_ray()
        owned = self._connect(ray)
        try:
            yield
        finally:
            if owned:
                ray.shutdown()

    def map(self, fn, specs, on_start, on_done) -> None:
        if not specs:
            return
        with self.opened():  # already open inside a sweep: then nothing is started or ended here
            self._run(_import_ray(), fn, specs, on_start, on_done)

    def _connect(self, ray) -> bool:
        """Start or join Ray; True when this executor did (and so ends it)."""
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            _check_reachable(address)
            if address.startswith("ray://") and importlib.util.find_spec("grpc") is None:
                raise UserError("--ray-address", f"{address} is a Ray Client address, which needs ray[client]; pip install 'transferkit[ray]'")
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            except ConnectionError as e:
                # Ray 2.60 clusters require a token by default, and a client sends none unless told
                hint = "" if os.environ.get("RAY_AUTH_MODE") == "token" else (
                    "; if the cluster uses token authentication (Ray's default), set RAY_AUTH_MODE=token and its token "
                    "in RAY_AUTH_TOKEN or ~/.ray/auth_token")
                raise UserError("--ray-address", f"{e}{hint}") from None
        else:
            # Ray 2.60 warns on every local start that it turned token authentication on;
            # an instance that lives as long as the sweep is no business of the user's.
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        return True

    def _fitting(self, cpus: float) -> int:
        return max(1, math.floor(cpus / self.cpus_per_cell + 1e-9))

    def _run(self, ray, fn, specs, on_start, on_done) -> None:
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        task = ray.remote(_run_on_ray).options(num_cpus=self.cpus_per_cell, runtime_env={"env_vars": env})
        threads = max(1, math.floor(self.cpus_per_cell))
        todo = deque(specs)
        running: dict = {}  # object ref -> spec
        try:
            while todo or running:
                self.workers = self._fitting(ray.cluster_resources().get("CPU", 0))
                while todo and len(running) < self.workers:
                    spec = todo.popleft()
                    on_start(spec)
                    running[task.remote(fn, spec, threads)] = spec
                [ref], _ = ray.wait(list(running))
                spec = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # its worker or node died (out of memory, a lost node)
                    lines = str(e).strip().splitlines()
                    result = failed(f"{type(e).__name__}: {lines[0] if lines else ''}")
                on_done(spec, result)
        except BaseException:
            _cancel(ray, list(running))
            raise


def _run_on_ray(fn: CellFunction, spec: dict, threads: int) -> dict:
    """A cell as a Ray task, its threads set to the CPUs it holds."""
    limit_threads(threads)
    return run_guarded(fn, spec)


def _cancel(ray, refs: list) -> None:
    """Stop the cells still out: each gets KeyboardInterrupt and unwinds; any not done
    within `STOP_SECONDS` is killed."""
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref)
    _, left = ray.wait(refs, num_returns=len(refs), timeout=STOP_SECONDS)
    for ref in left:
        ray.cancel(ref, force=True)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor", "ray is not installed; pip install 'transferkit[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail at once on an address where nothing listens: Ray itself retries a dead
    HOST:PORT for minutes."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError("--ray-address", f"{address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise UserError("--ray-address", f"nothing answers at {address} ({e.strerror or e}); start the cluster (ray start --head) or fix the address") from None


def executor_for(name: str, workers: int, ray_address: str | None) -> Executor:
    """The executor `curve --executor NAME --workers N [--ray-address A]` asks for.
    `--workers N` means N cells at once on this machine, and with Ray N cells at once on
    each node the size of this one: a cell holds cpu_count / N CPUs (and as many threads),
    so a local Ray instance runs the cells as `--executor local` does, and a cluster of
    bigger nodes runs more of them at once."""
    if workers < 1:
        raise UserError("--workers", f"must be 1 or more, not {workers}")
    if name == "local":
        if ray_address:
            raise UserError("--ray-address", "applies to --executor ray, not local")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, cpus_per_cell=(os.cpu_count() or 1) / workers)
    raise UserError("--executor", f"unknown executor {name!r}; use local or ray")
