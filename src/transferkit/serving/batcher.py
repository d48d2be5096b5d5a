"""Micro-batching for the server: requests that arrive together share one forward pass.

A model predicts 32 texts in little more time than one (the runtime pads and runs them as
a batch), so concurrent HTTP requests are queued and one worker thread runs them together:
it takes the first waiting request, waits up to `max_wait_ms` for more, gathers whole
requests while their texts fit in `max_batch`, predicts the merged items once, and hands
each request its own records back. One thread runs the model, so the event loop never
blocks on it and the model never runs twice at once.

Nothing here knows HTTP or tasks: `predict(items) -> records` is given (the server's parses
the merged items and calls the run), and a request is answered through a
`concurrent.futures.Future` (the server awaits it with `asyncio.wrap_future`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

_STOP = object()  # queued by `close`: the worker answers what came before it, then ends
MAX_WAIT_MS = 60_000  # a longer wait only delays answers; `inf` or 1e300 overflow the worker's queue.get and end it


@dataclass
class _Waiting:
    items: list
    future: Future = field(default_factory=Future)


class Batcher:
    """One worker thread predicting queued requests in batches of at most `max_batch` items
    (a larger request runs alone). `predict(items)` returns one record per item, in order;
    each request gets its slice, with `id`s renumbered from "0" as if it had run alone."""

    def __init__(self, predict: Callable[[list], list[dict]], max_batch: int = 64, max_wait_ms: float = 5.0):
        """Refuses settings the worker cannot follow: had it died of one, every request
        would wait for an answer forever."""
        if max_batch < 1 or not 0 <= max_wait_ms <= MAX_WAIT_MS:  # the second also for nan
            raise ValueError(f"max_batch must be 1 or more and max_wait_ms from 0 to {MAX_WAIT_MS}, got {max_batch} and {max_wait_ms}")
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait_ms / 1000
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._counts = {"requests": 0, "batches": 0, "texts": 0, "retried_batches": 0}
        self._sizes: Counter = Counter()  # texts per forward pass -> how many passes
        self._worker = threading.Thread(target=self._work, name="transferkit-batcher", daemon=True)
        self._worker.start()

    def submit(self, items: list) -> Future:
        """Queue one request's items; the future resolves to its records (or its error)."""
        waiting = _Waiting(list(items))
        with self._lock:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._counts["requests"] += 1
            self._queue.put(waiting)
        return waiting.future

    def close(self) -> None:
        """Answer every request queued so far, then stop the worker (a server's shutdown)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._worker.join()

    def stats(self) -> dict:
        """Requests received, forward passes run, texts predicted, and the passes by size."""
        with self._lock:
            sizes = {str(size): n for size, n in sorted(self._sizes.items())}
            return {**self._counts, "largest_batch": max(self._sizes, default=0), "batch_sizes": sizes}

    def _work(self) -> None:
        held = None  # a request that did not fit in the last batch: the first of the next
        while True:
            first = held if held is not None else self._queue.get()
            held = None
            if first is _STOP:
                return
            batch, size = [first], len(first.items)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    waiting = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP or size + len(waiting.items) > self.max_batch:
                    held = waiting
                    break
                batch.append(waiting)
                size += len(waiting.items)
            self._run(batch)

    def _run(self, batch: list[_Waiting]) -> None:
        """Predict the batch in one pass; if that fails, each request alone, so that one
        request's input the model cannot take (a qa question too long for its window)
        fails only that request."""
        batch = [w for w in batch if w.future.set_running_or_notify_cancel()]  # a client gone: skip it
        if not batch:
            return
        try:
            records = self._predict([item for w in batch for item in w.items])
        except Exception as error:
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            with self._lock:
                self._counts["retried_batches"] += 1
            for waiting in batch:
                try:
                    waiting.future.set_result(renumbered(self._predict(waiting.items)))
                except Exception as alone:
                    waiting.future.set_exception(alone)
            return
        start = 0
        for waiting in batch:
            waiting.future.set_result(renumbered(records[start:start + len(waiting.items)]))
            start += len(waiting.items)

    def _predict(self, items: list) -> list[dict]:
        records = self.predict(items)
        if len(records) != len(items):
            raise RuntimeError(f"predicted {len(records)} records for {len(items)} items")
        with self._lock:
            self._counts["batches"] += 1
            self._counts["texts"] += len(items)
            self._sizes[len(items)] += 1
        return records


def renumbered(records: list[dict]) -> list[dict]:
    """Records of one request with their `id`s "0", "1", ... (their places in the request)."""
    return [{**record, "id": str(n)} if "id" in record else record for n, record in enumerate(records)]
