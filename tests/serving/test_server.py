"""`transferkit serve`, run for real: a server subprocess on a free loopback port, called
over HTTP. Its answers must be `api.predict`'s for the same texts, alone or batched with
concurrent requests; bad requests get their 4xx without harming the server; a key guards
it; SIGTERM answers what is in flight, then exits 0; clients that stall are closed after
the read timeout, the connections are capped, and a stop takes at most the shutdown
timeout. Raw sockets talk to 127.0.0.1 only."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from transferkit import api
from transferkit.config import TrainConfig
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
    "a lone high surrogate": (b'{"texts": ["fine", "good \\ud800"]}', 422, "text 2: character 6 is \\ud800, half of a UTF-16 surrogate pair"),
    "a lone low surrogate": (b'{"text": "\\udc80 bad"}', 422, "text 1: character 1 is \\udc80, half of a UTF-16 surrogate pair"),
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
        lone = client.post("/models/qa/predict", content=b'{"items": [{"question": "Who?", "context": "Tom \\udfff"}]}',
                           headers={"content-type": "application/json"})
        assert lone.status_code == 422 and lone.json()["error"].startswith("item 1, context: character 5 is \\udfff, half of")
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


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "Invalid value for '--port': 70000 is not in the range 0<=x<=65535"),
    (["--max-batch", "0"], "--max-batch: must be at least 1, got 0"),
    (["--max-wait-ms", "inf"], "--max-wait-ms: must be a number of milliseconds from 0 to 60000, got inf"),
    (["--max-wait-ms", "nan"], "--max-wait-ms: must be a number of milliseconds from 0 to 60000, got nan"),
    (["--max-wait-ms", "-1"], "--max-wait-ms: must be a number of milliseconds from 0 to 60000, got -1.0"),
    (["--read-timeout", "0"], "Invalid value for '--read-timeout': 0 is not in the range 1<=x<=3600"),
    (["--max-connections", "0"], "Invalid value for '--max-connections': 0 is not in the range x>=1"),
    (["--shutdown-timeout", "-1"], "Invalid value for '--shutdown-timeout': -1 is not in the range 0<=x<=3600"),
])
def test_bad_serve_options_are_refused_before_anything_starts(cli, tmp_path, args, message):
    """Port 70000 was served as 4464, and --max-wait-ms inf killed the batching thread (every
    request hung). The run does not exist: an option let through fails on it instead."""
    status, out, err = cli("serve", tmp_path / "no-run", *args)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


READ_TIMEOUT = 2  # seconds: the guarded server's --read-timeout
MAX_CONNECTIONS = 48


@pytest.fixture(scope="module")
def tfidf_run(sentiment, tmp_path_factory) -> Path:
    """A tfidf run (quick to train and load) in a folder whose name holds `=`, as a sweep names its runs."""
    run = tmp_path_factory.mktemp("runs") / "lr=0.1"
    api.train(TrainConfig(task="classify", strategy="tfidf", train=str(sentiment["train"]), output=str(run)).only_applicable())
    return run


@pytest.fixture(scope="module")
def guarded(tfidf_run, tmp_path_factory):
    """The tfidf run behind an API key, with a short read timeout and few connections."""
    log = tmp_path_factory.mktemp("serve-guarded") / "stderr.txt"
    started = Server([tfidf_run, "--api-key", KEY, "--read-timeout", READ_TIMEOUT, "--max-connections", MAX_CONNECTIONS], log,
                     tmp_path_factory.getbasetemp() / "cache")
    yield started
    assert started.stop() == 0
    assert "Traceback" not in log.read_text()


def connected(url: str) -> socket.socket:
    address = httpx.URL(url)
    return socket.create_connection((address.host, address.port), timeout=30)


def read_until_closed(connection: socket.socket, deadline: float) -> bytes:
    """All the server sends until it closes the connection; fails (socket timeout) if it is
    still open at `deadline` (time.monotonic)."""
    received = b""
    while True:
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = connection.recv(65536)
        if not chunk:
            connection.close()
            return received
        received += chunk


def test_a_run_whose_folder_holds_an_equals_sign_is_one_run(guarded, tfidf_run):
    """`serve runs/lr=0.1` was refused as a NAME=RUN argument."""
    answered = httpx.post(guarded.url + "/predict", json={"texts": TEXTS[:2]}, headers={"X-API-Key": KEY}, timeout=60)
    assert answered.status_code == 200 and same(answered.json(), api.predict(str(tfidf_run), texts=TEXTS[:2]))


def test_lone_surrogates_are_refused_on_a_tfidf_run_and_pairs_predicted(guarded):
    headers = {"X-API-Key": KEY, "content-type": "application/json"}
    for escaped in (b"\\ud800", b"\\udc80"):
        refused = httpx.post(guarded.url + "/predict", content=b'{"texts": ["good", "good %s film"]}' % escaped, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["error"].startswith(f"text 2: character 6 is {escaped.decode()}, half of a UTF-16 surrogate pair")
    paired = httpx.post(guarded.url + "/predict", content=b'{"texts": ["good \\ud83d\\ude00 film"]}', headers=headers, timeout=60)
    assert paired.status_code == 200 and paired.json()[0]["text"] == "good \U0001f600 film"


def test_clients_stalled_in_their_headers_are_closed_after_the_read_timeout(guarded):
    """Slowloris: 40 clients send half their headers (the API key among the missing half).
    Each connection is closed, with no response, within a few read timeouts, and the server
    answers others meanwhile."""
    clients = [connected(guarded.url) for _ in range(40)]
    for client in clients:
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
    deadline = time.monotonic() + 4 * READ_TIMEOUT
    assert httpx.get(guarded.url + "/health").status_code == 200
    assert [read_until_closed(client, deadline) for client in clients] == [b""] * 40


def test_a_client_stalled_mid_body_is_closed_after_the_read_timeout(guarded):
    """Its headers (and key) are in and the app waits for its body (the server said
    100 Continue), which never comes whole."""
    client = connected(guarded.url)
    client.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY.encode() + b"\r\n"
                   b"Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
    deadline = time.monotonic() + 4 * READ_TIMEOUT
    assert client.recv(1024).startswith(b"HTTP/1.1 100 ")
    client.sendall(b'{"texts": ["a stalled')
    assert read_until_closed(client, deadline) == b""
    assert httpx.get(guarded.url + "/health").status_code == 200


def test_a_connection_over_the_cap_is_answered_503_and_closed(guarded):
    """MAX_CONNECTIONS + 1 idle connections: those the cap holds stay open until the read
    timeout closes them; the one over it is answered 503 at once. Then others are served."""
    clients = [connected(guarded.url) for _ in range(MAX_CONNECTIONS + 1)]
    deadline = time.monotonic() + 4 * READ_TIMEOUT
    answers = [read_until_closed(client, deadline) for client in clients]
    refused = [answer for answer in answers if answer]
    assert refused and len(answers) - len(refused) <= MAX_CONNECTIONS
    for answer in refused:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and b"connection: close" in head
        assert json.loads(body) == {"error": f"the server holds its most connections ({MAX_CONNECTIONS}); try again shortly"}
    assert httpx.get(guarded.url + "/health").status_code == 200


def test_sigterm_exits_within_the_shutdown_timeout_with_a_client_stalled_mid_body(tfidf_run, tmp_path_factory):
    """A client stalled mid-body kept a stopping server alive (no read timeout here: 600 s).
    It is cut off after --shutdown-timeout, and the server exits 0 without a traceback."""
    shutdown_timeout = 2
    log = tmp_path_factory.mktemp("serve-stalled") / "stderr.txt"
    server = Server([tfidf_run, "--read-timeout", 600, "--shutdown-timeout", shutdown_timeout], log, tmp_path_factory.getbasetemp() / "cache")
    try:
        client = connected(server.url)
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 100 ")  # the app waits for the body
        client.sendall(b'{"texts": ["a stalled')
        stopped = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        assert time.monotonic() - stopped < shutdown_timeout + 10
        assert read_until_closed(client, time.monotonic() + 10) == b""
    finally:
        server.stop()
    assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module")
def lm_run(tiny_llama, review_corpus, tmp_path_factory) -> Path:
    """A causal LM run of two steps: enough to serve."""
    run = tmp_path_factory.mktemp("lm_run") / "run"
    api.train(TrainConfig(task="lm", model=str(tiny_llama), train=str(review_corpus), output=str(run), max_length=32, batch_size=8,
                          max_steps=2).only_applicable())
    return run


def test_an_lm_run_refuses_an_empty_prompt(lm_run, tmp_path_factory):
    """Generation from an empty prompt failed: a 500. The lm task refuses a blank prompt,
    so it is the request's 422."""
    log = tmp_path_factory.mktemp("serve-lm") / "stderr.txt"
    server = Server([lm_run], log, tmp_path_factory.getbasetemp() / "cache")
    try:
        for blank in ("", "  "):
            empty = httpx.post(server.url + "/predict", json={"texts": ["the film is", blank]}, timeout=60)
            assert empty.status_code == 422 and empty.json()["error"].startswith("prompt 2: empty prompt")
        answered = httpx.post(server.url + "/predict", json={"text": "the film is"}, timeout=120)
        assert answered.status_code == 200 and answered.json()[0]["text"] == "the film is" and "generated" in answered.json()[0]
    finally:
        assert server.stop() == 0
