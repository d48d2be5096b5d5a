"""The sweep executors with real processes and a real Ray instance (2 CPUs): every cell
runs once and its result comes back to the driver, a cell's exception or death fails that
cell only, an interrupt stops and reaps the workers, and Ray runs the cells as the local
executor does, with the driver's environment."""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cell_functions  # beside this file, which pytest puts on sys.path
import pytest
import torch

from transferkit.errors import Terminated, UserError
from transferkit.experiments.executors import LocalExecutor, RayExecutor, executor_for
from transferkit.tracking.registry import Registry


def run(executor, fn, specs: list[dict]) -> tuple[dict, list[tuple]]:
    """Results by x, and the calls in order: ("start" | "done", x, pid of the caller)."""
    results, calls = {}, []

    def on_start(spec):
        calls.append(("start", spec["x"], os.getpid()))

    def on_done(spec, result):
        assert spec["x"] not in results, "a cell finished twice"
        results[spec["x"]] = result
        calls.append(("done", spec["x"], os.getpid()))

    executor.map(fn, specs, on_start, on_done)
    return results, calls


def most_out_at_once(calls) -> int:
    out = most = 0
    for kind, _, _ in calls:
        out += 1 if kind == "start" else -1
        most = max(most, out)
    return most


def test_one_worker_runs_the_cells_in_this_process_one_after_another():
    threads = torch.get_num_threads()
    results, calls = run(LocalExecutor(), cell_functions.describe, [{"x": x} for x in range(4)])
    assert calls == [(kind, x, os.getpid()) for x in range(4) for kind in ("start", "done")]
    assert {x: (r["x"], r["pid"], r["threads"]) for x, r in results.items()} == {x: (x, os.getpid(), threads) for x in range(4)}


def test_workers_run_the_cells_in_worker_processes_with_their_share_of_threads():
    specs = [{"x": x} for x in range(6)]
    results, calls = run(LocalExecutor(workers=2), cell_functions.describe, specs)
    assert sorted(results) == list(range(6)) and all(r["x"] == x for x, r in results.items())
    assert {pid for _, _, pid in calls} == {os.getpid()}  # on_start and on_done in the driver
    assert len({r["pid"] for r in results.values()}) == 2 and os.getpid() not in {r["pid"] for r in results.values()}
    assert {r["threads"] for r in results.values()} == {max(1, os.cpu_count() // 2)}
    assert most_out_at_once(calls) == 2  # a cell is handed out when a worker is free
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_fails_its_cell_and_the_others_finish(workers):
    results, _ = run(LocalExecutor(workers), cell_functions.fail_on_odd, [{"x": x} for x in range(4)])
    assert results == {
        0: {"status": "finished", "x": 0}, 1: {"status": "failed", "error": "ValueError: odd x 1 second line"},
        2: {"status": "finished", "x": 2}, 3: {"status": "failed", "error": "ValueError: odd x 3 second line"},
    }


def test_a_worker_that_dies_fails_its_cell_and_is_replaced():
    results, calls = run(LocalExecutor(workers=2), cell_functions.crash_on_zero, [{"x": x} for x in range(4)])
    assert results[0] == {"status": "failed", "error": "the worker process running this cell died (killed by SIGKILL; out of memory?)"}
    assert all(results[x] == {"status": "finished", "x": x} for x in (1, 2, 3))  # the other worker's cells too
    # The other worker is busy with a 1 s cell when cell 0 dies, so a new worker takes the next:
    assert ("start", 3, os.getpid()) in calls[calls.index(("done", 0, os.getpid())):]
    assert multiprocessing.active_children() == []


def interrupt_when_running(folder, cells: int, signum) -> None:
    """Send `signum` to this process (the driver) once `cells` cells have written their pid
    (workers import torch first: on a loaded machine that takes a while)."""
    deadline = time.monotonic() + 300
    while len(list(folder.glob("*.pid"))) < cells and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(os.getpid(), signum)


def _raise_terminated(signum, frame):
    raise Terminated()  # what the CLI's SIGTERM handler does


def in_its_own_interpreter(request) -> bool:
    """Whether this is the fresh interpreter a signal test runs in. Outside it, the test is
    run there (and must pass): how a process takes Ctrl-C must not depend on what earlier
    tests of the suite left in this one, nor on how the suite was started."""
    if os.environ.get("TRANSFERKIT_TEST_ALONE") == request.node.nodeid:
        # Ctrl-C as an interactive process takes it: a process started in the background by a
        # non-interactive shell (`make test &`) inherits SIGINT ignored, and Python keeps that
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return True
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
                          cwd=request.config.rootpath, env={**os.environ, "TRANSFERKIT_TEST_ALONE": request.node.nodeid},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    return False


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_an_interrupt_in_the_driver_stops_the_running_cells_and_reaps_the_workers(request, tmp_path, signum, raised):
    """Ctrl-C or SIGTERM while two cells sleep: each cell unwinds (Terminated, as a run on
    Ctrl-C), map raises, and no worker process is left, not even a zombie."""
    if not in_its_own_interpreter(request):
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    started = time.monotonic()
    try:
        threading.Thread(target=interrupt_when_running, args=(tmp_path, 2, signum), daemon=True).start()
        with pytest.raises(raised):
            run(LocalExecutor(workers=2), cell_functions.sleep_until_stopped, [{"x": x, "folder": str(tmp_path)} for x in range(3)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - started < 400  # not the cells' 600 s
    assert sorted(p.name for p in tmp_path.glob("*.pid")) == ["0.pid", "1.pid"]  # the third was never handed out
    for x in (0, 1):
        assert (tmp_path / f"{x}.unwound").read_text() == "Terminated"
        with pytest.raises(ProcessLookupError):  # gone and reaped
            os.kill(int((tmp_path / f"{x}.pid").read_text()), 0)
    assert multiprocessing.active_children() == []


@pytest.fixture
def ray_by_value():
    """Ray workers do not get pytest's sys.path: they get the test cell functions by value;
    Ray is shut down whatever the test did."""
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(cell_functions)
    try:
        yield ray
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(cell_functions)


def test_ray_on_a_local_instance_gives_the_results_of_the_local_executor(ray_by_value):
    specs = [{"x": x} for x in range(5)]
    local, _ = run(LocalExecutor(), cell_functions.fail_on_odd, specs)
    executor = RayExecutor(cpus_per_cell=1)
    results, calls = run(executor, cell_functions.fail_on_odd, specs)
    assert results == local
    assert {pid for _, _, pid in calls} == {os.getpid()}
    assert executor.workers == os.cpu_count()  # as many cells at once as the instance has CPUs
    assert most_out_at_once(calls) == min(len(specs), executor.workers)
    assert not ray_by_value.is_initialized()  # it started Ray, so it shut it down


def test_ray_workers_get_the_drivers_environment_and_a_callers_ray_stays_up(ray_by_value, monkeypatch, tmp_path):
    ray_by_value.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    # Set after Ray started, so the workers cannot have inherited them:
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TRANSFERKIT_NOT_PASSED", "1")
    names = ["TRANSFERKIT_HOME", "HF_HOME", "TRANSFERKIT_CACHE", "HF_HUB_OFFLINE", "TRANSFERKIT_NOT_PASSED"]
    results, _ = run(RayExecutor(cpus_per_cell=2), cell_functions.describe, [{"x": x, "env": names} for x in range(2)])
    for result in results.values():
        assert result["env"] == {
            "TRANSFERKIT_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
            "TRANSFERKIT_CACHE": os.environ["TRANSFERKIT_CACHE"], "HF_HUB_OFFLINE": "1", "TRANSFERKIT_NOT_PASSED": None,
        }
        assert result["pid"] != os.getpid() and result["threads"] == 2  # the CPUs it holds
    assert ray_by_value.is_initialized()


def test_an_interrupt_in_the_driver_cancels_the_ray_cells(request, tmp_path):
    if not in_its_own_interpreter(request):
        return
    ray_by_value = pytest.importorskip("ray")
    ray_by_value.cloudpickle.register_pickle_by_value(cell_functions)
    threading.Thread(target=interrupt_when_running, args=(tmp_path, 2, signal.SIGINT), daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(RayExecutor(cpus_per_cell=1), cell_functions.sleep_until_stopped, [{"x": x, "folder": str(tmp_path)} for x in range(3)])
    assert time.monotonic() - started < 400  # not the cells' 600 s
    assert sorted(p.name for p in tmp_path.glob("*.pid")) == ["0.pid", "1.pid"]
    assert {(tmp_path / f"{x}.unwound").read_text() for x in (0, 1)} == {"KeyboardInterrupt"}  # Ray's cancel
    assert not ray_by_value.is_initialized()


def test_ray_missing_or_an_address_where_nothing_listens_is_a_user_error(monkeypatch):
    pytest.importorskip("ray")
    started = time.monotonic()
    with pytest.raises(UserError, match=r"^--ray-address: nothing answers at 127\.0\.0\.1:1 "):
        RayExecutor("127.0.0.1:1").map(cell_functions.describe, [{"x": 0}], print, print)
    assert time.monotonic() - started < 15
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r"^--executor: ray is not installed; pip install 'transferkit\[ray\]'$"):
        RayExecutor().map(cell_functions.describe, [{"x": 0}], print, print)


def test_executor_for_reads_workers_as_cells_at_once_per_node():
    local = executor_for("local", 3, None)
    assert isinstance(local, LocalExecutor) and local.workers == 3
    ray = executor_for("ray", 2, "auto")
    assert isinstance(ray, RayExecutor) and ray.address == "auto"
    assert ray.cpus_per_cell == os.cpu_count() / 2 and ray.workers == 2
    with pytest.raises(UserError, match="^--ray-address: applies to --executor ray"):
        executor_for("local", 1, "auto")
    with pytest.raises(UserError, match="^--executor: unknown executor 'dask'"):
        executor_for("dask", 1, None)
    with pytest.raises(UserError, match="^--workers: must be 1 or more"):
        executor_for("local", 0, None)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for a reaper that may never come, in a
    container whose first process reaps nothing, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


DRIVERS = {  # a sweep's driver with two cells out, in a process of its own
    "local": "LocalExecutor(workers=2)",
    # a Ray instance the driver starts: Ray's own processes share its fate (Linux's parent-death signal too)
    "ray": "RayExecutor(cpus_per_cell=os.cpu_count() / 2); import ray; ray.cloudpickle.register_pickle_by_value(cell_functions)",
}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux); the parent-death signal is Linux's")
@pytest.mark.parametrize("executor", DRIVERS)
def test_workers_die_with_a_driver_killed_with_sigkill(tmp_path, executor):
    """`kill -9` gives the driver no chance to stop its workers: the kernel's parent-death
    signal must, or they train on as orphans holding their runs' locks."""
    driver = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); import cell_functions\n"
        "from transferkit.experiments.executors import LocalExecutor, RayExecutor\n"
        f"executor = {DRIVERS[executor]}\n"
        "specs = [{'x': x, 'folder': sys.argv[2]} for x in range(2)]\n"
        "executor.map(cell_functions.sleep_until_stopped, specs, print, print)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", driver, str(Path(cell_functions.__file__).parent), str(tmp_path)])
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("*.pid"))) < 2:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
    process.kill()
    process.wait()
    deadline = time.monotonic() + 60
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers), "workers outlived their driver"


# the token the test cluster requires, and its clients send (Ray 2.60 requires one by default):
# a token of its own, so that nothing depends on what ~/.ray holds
RAY_TOKEN = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


@pytest.fixture
def ray_cluster():
    """A real Ray cluster of one node the size of this machine (a cell asks for cpu_count / workers
    CPUs) on loopback, as `ray start --head` makes one, with its
    Ray Client server; its processes (found by its own temporary folder) are ended after."""
    import shutil
    import socket
    import tempfile

    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    folder = tempfile.mkdtemp(prefix="tkray-", dir="/tmp")  # short: Ray's socket paths live under it
    gcs, client = free_port(), free_port()
    # a client's own server is a new Python process that imports Ray: on a loaded 2-core
    # machine it took longer than the 30 s Ray waits for it by default
    env = {**os.environ, **RAY_TOKEN, "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "300"}
    log = Path(folder) / "start.log"  # a file, not a pipe: the daemons it starts keep its output open for good
    with open(log, "w") as output:
        started = subprocess.run([str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
                                  "--ray-client-server-port", str(client), "--num-cpus", str(os.cpu_count()), "--include-dashboard", "false",
                                  "--disable-usage-stats", "--temp-dir", folder], env=env, stdout=output, stderr=subprocess.STDOUT, timeout=120)
    try:
        assert started.returncode == 0, log.read_text()[-2000:]
        deadline = time.monotonic() + 120  # the client server is a process of its own, up some seconds after `ray start` returns
        while True:
            try:
                socket.create_connection(("127.0.0.1", client), timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "Ray's client server never listened"
                time.sleep(0.5)
        yield f"ray://127.0.0.1:{client}"
    finally:
        for process in Path("/proc").glob("[0-9]*"):
            try:
                if folder.encode() in (process / "cmdline").read_bytes():
                    os.kill(int(process.name), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(folder, ignore_errors=True)


def test_a_ray_client_address_runs_a_sweep_on_that_cluster(ray_cluster, sentiment, tmp_path):
    """`curve --executor ray --ray-address ray://HOST:PORT`, the form the README gives for a
    remote cluster: Ray Client (ray[client], in the ray extra) on a real cluster on loopback,
    from a process of its own as a user runs it (Ray reads its authentication mode once a
    process)."""
    env = {**os.environ, **RAY_TOKEN}
    done = subprocess.run([sys.executable, "-m", "transferkit", "curve", "--executor", "ray", "--ray-address", ray_cluster,
                           "--train", str(sentiment["train"]), "--test", str(sentiment["test"]), "--strategies", "tfidf",
                           "--budgets", "3", "--seeds", "0,1", "--output", str(tmp_path / "sweep")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = Registry(tmp_path / "sweep" / "runs.sqlite").rows()
    assert sorted(r["cell"] for r in rows) == ["tfidf-b3-seed0", "tfidf-b3-seed1"] and {r["status"] for r in rows} == {"finished"}
