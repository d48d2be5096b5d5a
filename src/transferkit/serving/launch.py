"""`transferkit serve` in a subprocess, with the address it listens on: what the tests, the
load benchmark and a Python user who wants a server beside their own code start it with.
The server is asked for a free port (`--port 0`) and names it on stderr once listening."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LISTENING = re.compile(r"^serving .* on (http://\S+)$", re.M)


class ServerProcess:
    """`transferkit serve ARGS --port 0`, as a context manager; `url` and `pid` once it
    listens. Its stderr goes to `log` (a temporary file when not given, removed on stop).
    `env` adds to this process's environment; a None value removes a variable."""

    def __init__(self, args: list, log: Path | None = None, env: dict[str, str | None] | None = None, timeout_s: float = 300):
        self.log, self._own_log = (Path(log), False) if log else (Path(tempfile.mkstemp(prefix="transferkit-serve-", suffix=".log")[1]), True)
        environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        for name, value in (env or {}).items():
            environment.pop(name, None) if value is None else environment.__setitem__(name, value)
        with self.log.open("w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "transferkit", "serve", *map(str, args), "--port", "0"],
                                            stdout=subprocess.DEVNULL, stderr=err, env=environment)
        deadline = time.monotonic() + timeout_s
        while not (found := LISTENING.search(self.log.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.log.read_text()
                self.stop()
                raise RuntimeError(f"the server did not start:\n{said}")
            time.sleep(0.2)
        self.url, self.pid = found.group(1), self.process.pid

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM (the requests in flight are answered first), then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout_s)
        if self._own_log:
            self.log.unlink(missing_ok=True)
        return status

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
