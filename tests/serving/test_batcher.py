"""The micro-batcher alone, with a fake `predict` recording the batches it was given (the
server tests run it on real models)."""

from __future__ import annotations

import math
import threading

import pytest

from transferkit.errors import UserError
from transferkit.serving.batcher import MAX_WAIT_MS, Batcher


class FakeModel:
    """Records each merged batch; answers one record per item, numbered across the batch as
    a task's `records` numbers them. While `gate` is closed a call waits in it (`entered`
    says one has begun), so that requests queue up behind it."""

    def __init__(self, fail_on: str | None = None, fail_always: bool = False):
        self.batches: list[list[str]] = []
        self.fail_on, self.fail_always = fail_on, fail_always
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()

    def __call__(self, items: list) -> list[dict]:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(list(items))
        if self.fail_always:
            raise RuntimeError("the model broke")
        if self.fail_on in items:
            raise UserError(self.fail_on, "this model cannot take it")
        return [{"id": str(n), "text": item, "prediction": item.upper()} for n, item in enumerate(items)]


def queued_behind_first(model: FakeModel, batcher: Batcher, requests: list[list[str]], cancel: int | None = None):
    """Submit a first request and hold the worker in its prediction, then `requests`, so
    that they are all queued when the worker comes back (request number `cancel` cancelled
    meanwhile, as when its client goes away); returns their futures."""
    model.gate.clear()
    first = batcher.submit(["first"])
    assert model.entered.wait(10)
    futures = [batcher.submit(items) for items in requests]
    if cancel is not None:
        assert futures[cancel].cancel()
    model.gate.set()
    assert first.result(10)[0]["text"] == "first"
    return futures


def test_requests_queued_together_are_merged_in_order_and_split_back():
    model = FakeModel()
    batcher = Batcher(model, max_batch=64, max_wait_ms=50)
    try:
        futures = queued_behind_first(model, batcher, [["a", "b"], ["c"], ["d", "e", "f"]])
        results = [f.result(10) for f in futures]
    finally:
        batcher.close()
    assert model.batches[-1] == ["a", "b", "c", "d", "e", "f"]  # one pass, in arrival order
    assert [[r["text"] for r in records] for records in results] == [["a", "b"], ["c"], ["d", "e", "f"]]
    assert [[r["id"] for r in records] for records in results] == [["0", "1"], ["0"], ["0", "1", "2"]]  # renumbered per request
    assert results[1][0] == {"id": "0", "text": "c", "prediction": "C"}


def test_max_batch_is_respected_and_a_larger_request_runs_alone():
    model = FakeModel()
    batcher = Batcher(model, max_batch=4, max_wait_ms=50)
    try:
        futures = queued_behind_first(model, batcher, [["a", "b"], ["c", "d"], ["e"], list("ghijklm"), ["n"]])
        results = [f.result(10) for f in futures]
    finally:
        batcher.close()
    assert model.batches[1:] == [["a", "b", "c", "d"], ["e"], list("ghijklm"), ["n"]]
    assert [len(r) for r in results] == [2, 2, 1, 7, 1]
    stats = batcher.stats()
    assert stats["requests"] == 6 and stats["texts"] == 14 and stats["largest_batch"] == 7
    assert stats["batch_sizes"] == {"1": 3, "4": 1, "7": 1}


def test_max_batch_one_runs_each_request_alone():
    model = FakeModel()
    batcher = Batcher(model, max_batch=1, max_wait_ms=50)
    try:
        futures = queued_behind_first(model, batcher, [["a"], ["b"], ["c"]])
        assert [f.result(10)[0]["text"] for f in futures] == ["a", "b", "c"]
    finally:
        batcher.close()
    assert model.batches == [["first"], ["a"], ["b"], ["c"]]


def test_one_bad_request_fails_alone():
    """An input the model refuses only at prediction fails its own request; the batch's
    others are predicted again without it."""
    model = FakeModel(fail_on="bad")
    batcher = Batcher(model, max_batch=64, max_wait_ms=50)
    try:
        good, bad, other = queued_behind_first(model, batcher, [["a"], ["x", "bad"], ["b"]])
        assert good.result(10)[0]["text"] == "a" and other.result(10)[0]["text"] == "b"
        with pytest.raises(UserError, match="bad: this model cannot take it"):
            bad.result(10)
    finally:
        batcher.close()
    assert model.batches[1] == ["a", "x", "bad", "b"]
    assert batcher.stats()["retried_batches"] == 1


def test_an_error_of_the_model_reaches_every_request_of_its_batch():
    model = FakeModel(fail_always=True)
    batcher = Batcher(model, max_batch=64, max_wait_ms=50)
    model.gate.clear()
    futures = [batcher.submit([text]) for text in ("a", "b", "c")]
    model.gate.set()
    try:
        for future in futures:
            with pytest.raises(RuntimeError, match="the model broke"):
                future.result(10)
    finally:
        batcher.close()


def test_close_answers_what_is_queued_then_refuses_more():
    model = FakeModel()
    batcher = Batcher(model, max_batch=2, max_wait_ms=1000)
    futures = [batcher.submit([text]) for text in "abcde"]
    batcher.close()  # does not wait out max_wait_ms for requests that cannot come
    assert [f.result(0)[0]["text"] for f in futures] == list("abcde")
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(["f"])


def test_a_cancelled_request_is_skipped():
    model = FakeModel()
    batcher = Batcher(model, max_batch=64, max_wait_ms=50)
    try:
        _, kept = queued_behind_first(model, batcher, [["gone"], ["kept"]], cancel=0)
        assert kept.result(10) == [{"id": "0", "text": "kept", "prediction": "KEPT"}]
    finally:
        batcher.close()
    assert model.batches == [["first"], ["kept"]]


@pytest.mark.parametrize("max_batch, max_wait_ms", [(0, 5), (4, -1), (4, math.inf), (4, math.nan), (4, 1e300), (4, MAX_WAIT_MS + 1)])
def test_settings_the_worker_cannot_follow_are_refused(max_batch, max_wait_ms):
    """inf (or 1e300) ms overflowed the worker's queue.get: it died, and every request
    waited forever. Such settings are refused before any worker starts."""
    before = threading.active_count()
    with pytest.raises(ValueError, match=f"max_batch must be 1 or more and max_wait_ms from 0 to {MAX_WAIT_MS}"):
        Batcher(FakeModel(), max_batch, max_wait_ms)
    assert threading.active_count() == before


def test_the_longest_wait_allowed_still_answers():
    batcher = Batcher(FakeModel(), max_batch=2, max_wait_ms=MAX_WAIT_MS)
    try:
        futures = [batcher.submit([text]) for text in "ab"]  # a full batch runs without waiting out the minute
        assert [f.result(10)[0]["text"] for f in futures] == ["a", "b"]
    finally:
        batcher.close()
