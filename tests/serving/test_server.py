"""`transferkit serve`, run for real: a server subprocess on a free loopback port, called
over HTTP. Its answers must be `api.predict`'s for the same texts, alone or batched with
concurrent requests; bad requests get their 4xx without harming the server; a key guards
it; SIGTERM answers what is in flight, then exits 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from transferkit import api
from transferkit.serving.launch import ServerProcess
from transferkit.serving.server import MAX_BODY_BYTES, MAX_TEXT_CHARS, MAX_TEXTS

TEXTS = ["the film is wonderful", "a dreadful story from start to finish", "i found the plot tedious",
         "superb acting and charming music", "what a gripping performance by the cast", "dull"]
KEY = "s3cret-test-key-1234"


def Server(args: list, log: Path, cache: Path) -> ServerProcess:
    """`transferkit serve ARGS` with this session's cache and no key from the environment."""
    return ServerProcess(args, log=log, env={"TRANSFERKIT_CACHE": str(cache), "TRANSFERKIT_API_KEY": None}, timeout_s=240)


def same(got, want) -> bool:
    """Records equal but for scores in their last bits: a text batched with others is padded
    otherwise, and the server may use other kernels than this process."""
    if isinstance(want, float):
        return isinstance(got, float) and got == pytest.approx(want, abs=1e-5)
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(same, got, want))
    return got == want


@pytest.fixture(scope="module")
def server(classify_run, tmp_path_factory):
    """The classify run at /predict; requests wait up to 100 ms for others to batch with."""
    base = tmp_path_factory.getbasetemp()
    started = Server([classify_run, "--max-wait-ms", 100], tmp_path_factory.mktemp("serve") / "stderr.txt", base / "cache")
    yield started
    assert started.stop() == 0


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def expected(classify_run) -> dict[str, dict]:
    """`api.predict`'s record of each text, by text."""
    return {record["text"]: record for record in api.predict(str(classify_run), texts=TEXTS)}


def expected_for(expected: dict, texts: list[str]) -> list[dict]:
    return [{**expected[text], "id": str(n)} for n, text in enumerate(texts)]


def test_predict_answers_as_api_predict(client, classify_run, expected):
    response = client.post("/predict", json={"texts": TEXTS})
    assert response.status_code == 200
    assert same(response.json(), api.predict(str(classify_run), texts=TEXTS))
    one = client.post("/predict", json={"text": TEXTS[2]})
    assert same(one.json(), expected_for(expected, [TEXTS[2]]))


def test_health_metadata_and_docs(client, classify_run):
    assert client.get("/health").json() == {"status": "ok"}
    meta = client.get("/metadata").json()
    assert meta["task"] == "classify" and meta["strategy"] == "finetune"
    assert meta["labels"] == ["negative", "positive"] and meta["model"] == "minilm"
    assert meta["test"]["accuracy"] >= 0 and "per_class" not in meta["test"]
    assert meta["runtime"] == "torch" and meta["max_batch"] == 64 and meta["max_wait_ms"] == 100
    assert {"requests", "batches", "texts", "largest_batch", "batch_sizes"} <= set(meta["batching"])
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]


BAD_REQUESTS = {
    "malformed JSON": (b'{"texts": ["a",', 400, "malformed JSON"),
    "empty list": ({"texts": []}, 422, "empty"),
    "a number for a text": ({"texts": ["fine", 3]}, 422, "texts.1: Input should be a valid string"),
    "missing field": ({}, 422, 'give either "texts"'),
    "unknown field": ({"sentences": ["a"]}, 422, "sentences: Extra inputs are not permitted"),
    "not an object": (["a"], 422, "body"),
    "empty text": ({"texts": ["fine", "  "]}, 422, "text 2: empty text"),
    "too many texts": ({"texts": ["a"] * (MAX_TEXTS + 1)}, 413, f"the limit is {MAX_TEXTS}"),
    "text too long": ({"texts": ["a" * (MAX_TEXT_CHARS + 1)]}, 413, f"the limit is {MAX_TEXT_CHARS}"),
    "body too large": ({"texts": ["word " * 3000] * (MAX_BODY_BYTES // 15000 + 1)}, 413, "request body is over"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_its_error_and_the_server_goes_on(client, expected, case):
    body, status, message = BAD_REQUESTS[case]
    sent = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else {"json": body}
    response = client.post("/predict", **sent)
    assert response.status_code == status
    assert message in response.json()["error"] and "\n" not in response.json()["error"]
    after = client.post("/predict", json={"texts": TEXTS[:2]})
    assert after.status_code == 200 and same(after.json(), expected_for(expected, TEXTS[:2]))


def test_a_streamed_body_over_the_limit_is_refused(client):
    """Without a Content-Length the limit holds too, counted as the body arrives."""
    chunks = (b'{"texts": [' + b'"word word word",' * 1000 for _ in range(MAX_BODY_BYTES // 17000 + 1))
    response = client.post("/predict", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "request body is over" in response.json()["error"]
    assert client.get("/health").status_code == 200


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(client, server, expected):
    """16 clients at once (and 4 bad requests among them): each good one gets the records
    of its own texts, numbered from 0, and fewer forward passes ran than requests."""
    wanted = [[TEXTS[(i + k) % len(TEXTS)] for k in range(1 + i % 3)] for i in range(16)]
    before = client.get("/metadata").json()["batching"]
    answers: dict[int, httpx.Response] = {}
    start = threading.Barrier(20)

    def call(i: int) -> None:
        body = {"texts": wanted[i]} if i < 16 else {"texts": ["fine", ""]}
        with httpx.Client(base_url=server.url, timeout=60) as own:
            start.wait()
            answers[i] = own.post("/predict", json=body)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for i in range(16):
        assert answers[i].status_code == 200
        assert same(answers[i].json(), expected_for(expected, wanted[i]))
    assert all(answers[i].status_code == 422 for i in range(16, 20))
    after = client.get("/metadata").json()["batching"]
    assert after["requests"] - before["requests"] == 16  # the bad ones never reached the batcher
    assert after["texts"] - before["texts"] == sum(map(len, wanted))
    assert after["batches"] - before["batches"] < 16


def test_a_public_address_needs_a_key(cli, classify_run, monkeypatch):
    monkeypatch.delenv("TRANSFERKIT_API_KEY", raising=False)
    status, out, err = cli("serve", classify_run, "--host", "0.0.0.0")
    assert status == 2 and out == ""
    assert err.startswith("error: --host: binding 0.0.0.0") and "--api-key" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def named_server(ner_run, qa_run, tmp_path_factory):
    """The ner and qa runs under /models/NAME/, behind an API key."""
    base = tmp_path_factory.getbasetemp()
    log = tmp_path_factory.mktemp("serve-named") / "stderr.txt"
    started = Server([f"ner={ner_run}", f"qa={qa_run}", "--api-key", KEY], log, base / "cache")
    yield started
    assert started.stop() == 0
    assert KEY not in log.read_text()


def test_named_runs_answer_as_api_predict(named_server, ner_run, qa_run):
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=named_server.url, timeout=60, headers=headers) as client:
        texts = ["Mary Jones works for Siemens in Berlin .", "yesterday Tom visited Rome"]
        assert same(client.post("/models/ner/predict", json={"texts": texts}).json(), api.predict(str(ner_run), texts=texts))
        context = "The pet of Anna is cat. Trains ran late on most mornings. The city of Tom is Paris."
        questions = ["What is the pet of Anna?", "What is the city of Tom?"]
        items = [{"question": q, "context": context} for q in questions]
        answered = client.post("/models/qa/predict", json={"items": items}).json()
        assert same(answered, api.predict(str(qa_run), questions=questions, context=context))
        one = client.post("/models/qa/predict", json={"question": questions[1], "context": context}).json()
        assert same(one, [{**answered[1], "id": "0"}])
        no_context = client.post("/models/qa/predict", json={"items": [items[0], {"question": "Who?", "context": " "}]})
        assert no_context.status_code == 422 and no_context.json() == {"error": "item 2: needs a non-empty 'context' (text)"}
        assert client.get("/models/qa/metadata").json()["task"] == "qa"
        assert client.post("/predict", json={"texts": texts}).status_code == 404  # several runs: each under its name


def test_the_key_is_required_and_never_echoed(named_server):
    url = named_server.url + "/models/ner/predict"
    body = {"texts": ["Anna lives in Paris ."]}
    missing = httpx.post(url, json=body)
    wrong = httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}x"})
    wrong_header = httpx.post(url, json=body, headers={"X-API-Key": KEY[:-1]})
    for refused in (missing, wrong, wrong_header):
        assert refused.status_code == 401 and "API key" in refused.json()["error"] and KEY not in refused.text
    assert httpx.get(named_server.url + "/models/ner/metadata").status_code == 401
    assert httpx.get(named_server.url + "/health").status_code == 200  # a probe needs no key
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        answered = httpx.post(url, json=body, headers=headers, timeout=60)
        assert answered.status_code == 200 and KEY not in answered.text
    assert KEY not in httpx.get(named_server.url + "/models/ner/metadata", headers={"X-API-Key": KEY}).text


def test_sigterm_answers_the_requests_in_flight_then_exits_0(classify_run, expected, tmp_path_factory):
    """Requests held in the batcher's 2 s wait when SIGTERM comes are answered; then the
    server exits with status 0 and no error line."""
    log = tmp_path_factory.mktemp("serve-term") / "stderr.txt"
    server = Server([classify_run, "--max-wait-ms", 2000], log, tmp_path_factory.getbasetemp() / "cache")
    answers: dict[int, httpx.Response] = {}

    def call(i: int) -> None:
        answers[i] = httpx.post(server.url + "/predict", json={"texts": [TEXTS[i]]}, timeout=60)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    try:
        for thread in threads:
            thread.start()
        while httpx.get(server.url + "/metadata").json()["batching"]["requests"] < 3:
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert server.process.wait(60) == 0
    finally:
        server.stop()
    assert all(same(answers[i].json(), expected_for(expected, [TEXTS[i]])) for i in range(3))
    assert "error" not in log.read_text().lower() and "Traceback" not in log.read_text()
