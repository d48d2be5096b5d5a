"""HTTP load on a local `transferkit serve`: throughput, latency percentiles and errors of
many concurrent POST /predict requests, and the server's memory. A library for the
serving benchmark (`from load_test import ...` with bench/ on sys.path), and runnable:

    .venv/bin/python bench/load_test.py RUN --concurrency 16 --total 400 [--max-batch 1]

starts `transferkit serve RUN` on a free loopback port, loads it, prints JSON (the load's
numbers, the server's batching counters and resident memory) and stops it with SIGTERM.
Requests go only to loopback addresses, and stop at `total` or `timeout_s`, whichever
comes first.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from pathlib import Path

import httpx

from transferkit.serving.launch import ServerProcess
from transferkit.serving.server import is_loopback

SENTENCES = ["the film is wonderful", "a dreadful story from start to finish", "i found the plot tedious and far too long",
             "superb acting and charming music", "what a gripping performance by the whole cast", "dull"]


def load_test(base_url: str, payloads: list[dict], concurrency: int, total: int, timeout_s: float,
              api_key: str | None = None, path: str = "/predict") -> dict:
    """`total` POSTs of `payloads` (cycled) to `base_url + path` from `concurrency` threads,
    each with its own keep-alive connection; no request starts after `timeout_s`.
    Returns requests/s, texts/s, p50/p95/p99 latency in ms and the errors."""
    host = httpx.URL(base_url).host
    if not is_loopback(host):
        raise ValueError(f"load tests run against a local server only, not {host}")
    headers = {"X-API-Key": api_key} if api_key else {}
    lock, next_request = threading.Lock(), [0]
    latencies: list[float] = []
    texts, errors = [0], []
    start = time.perf_counter()
    deadline = start + timeout_s

    def worker() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s) as client:
            while time.perf_counter() < deadline:
                with lock:
                    n = next_request[0]
                    next_request[0] += 1
                if n >= total:
                    return
                payload = payloads[n % len(payloads)]
                sent = time.perf_counter()
                try:
                    response = client.post(path, json=payload)
                    failure = None if response.status_code == 200 else f"{response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as e:
                    failure = f"{type(e).__name__}: {e}"
                took = time.perf_counter() - sent
                with lock:
                    if failure:
                        errors.append(failure)
                    else:
                        latencies.append(took)
                        texts[0] += len(payload.get("texts") or payload.get("items") or [None])

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:5],
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(latencies) / seconds, 2),
        "texts_per_s": round(texts[0] / seconds, 2),
        **{f"p{p}_ms": round(1000 * percentile(ordered, p), 1) if ordered else None for p in (50, 95, 99)},
    }


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process in MB: now (VmRSS), or its peak so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no {field} for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="RUN, or NAME=RUN ... (then --path /models/NAME/predict)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--total", type=int, default=400, help="requests to send")
    parser.add_argument("--timeout-s", type=float, default=300, help="no request starts after this many seconds")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--texts", help="a file of texts, one per line (default: a few short review sentences)")
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--runtime", default="auto")
    args = parser.parse_args()
    lines = Path(args.texts).read_text(encoding="utf-8").splitlines() if args.texts else SENTENCES
    lines = [line for line in lines if line.strip()]
    k = args.texts_per_request
    payloads = [{"texts": [lines[(i * k + j) % len(lines)] for j in range(k)]} for i in range(max(len(lines) // k, 1))]
    flags = ["--max-batch", args.max_batch, "--max-wait-ms", args.max_wait_ms, "--runtime", args.runtime]
    with ServerProcess([*args.runs, *flags]) as server:
        idle_mb = rss_mb(server.pid)
        result = load_test(server.url, payloads, args.concurrency, args.total, args.timeout_s, path=args.path)
        metadata = httpx.get(server.url + args.path.replace("/predict", "/metadata")).json()
        result.update(rss_mb_idle=round(idle_mb, 1), rss_mb_after=round(rss_mb(server.pid), 1), batching=metadata["batching"],
                      max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, runtime=metadata.get("runtime"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
