"""`transferkit serve`: finished runs over HTTP (FastAPI on uvicorn).

Each run is loaded once (`api.open_run`, as `predict` loads it) and answers
`POST /predict` with exactly the records `transferkit predict` writes for the same texts;
concurrent requests share forward passes through a `Batcher`. Input is checked on arrival,
so a bad request gets its own 4xx (`{"error": "..."}`) and never fails the requests it
would have been batched with. Loopback is the default address; any other needs an API
key, compared in constant time and never echoed. A client that has not sent its whole
request within the read timeout is cut off, open connections are capped, and a stop waits
for the requests in flight for at most the shutdown timeout (`guarded_protocol`).
"""

from __future__ import annotations

import asyncio
import ctypes
import hmac
import ipaddress
import json
import re
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from transferkit.errors import UserError
from transferkit.serving.batcher import MAX_WAIT_MS, Batcher

MAX_BODY_BYTES = 1_000_000  # a request body larger is refused (413) before it is read whole
MAX_TEXTS = 256  # texts (qa: question + context items) in one request
MAX_TEXT_CHARS = 20_000  # characters in one text, question or context
OPEN_PATHS = ("/health",)  # answered without the API key (a load balancer's probe)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
RUNTIMES = {"Runtime": "torch", "OnnxRuntime": "onnx"}  # a predictor's runtime class -> what /metadata calls it
SURROGATE = re.compile(r"[\ud800-\udfff]")  # half of a UTF-16 pair: JSON can escape one alone ("\ud800"), and it is no character


class TextsBody(BaseModel):
    """classify, ner, lm (texts are prompts): `{"texts": [...]}` or `{"text": "..."}`."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = None
    text: str | None = None


class QAItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    context: str


class QABody(BaseModel):
    """qa: `{"items": [{"question": ..., "context": ...}, ...]}` or one `{"question", "context"}`."""

    model_config = ConfigDict(extra="forbid")
    items: list[QAItem] | None = None
    question: str | None = None
    context: str | None = None


@dataclass
class Served:
    """One run behind the server: its routes' prefix, the loaded run and its batcher."""

    name: str | None
    run: object  # api.OpenRun
    batcher: Batcher

    @property
    def prefix(self) -> str:
        return "" if self.name is None else f"/models/{self.name}"


def records_of(run, items: list) -> list[dict]:
    """A batcher's work: the merged items of its requests parsed once, predicted in one call."""
    return run.records(run.items_request(items))


def serve(runs: list[str] | str, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 64, max_wait_ms: float = 5.0,
          api_key: str | None = None, device: str = "auto", runtime: str = "auto", read_timeout: float = 10,
          max_connections: int = 512, shutdown_timeout: float = 10) -> None:
    """Serve `runs` (one RUN, or several NAME=RUN) until SIGTERM or Ctrl-C, which answer the
    requests in flight first, for at most `shutdown_timeout` seconds. Writes `serving RUN on
    http://HOST:PORT` to stderr once listening (`port` 0: a free port, named there). A client
    gets `read_timeout` seconds to send a whole request; at most `max_connections` are open."""
    runs = [runs] if isinstance(runs, str) else list(runs)
    check_bind(host, api_key)
    if max_batch < 1:
        raise UserError("--max-batch", f"must be at least 1, got {max_batch}")
    if not 0 <= max_wait_ms <= MAX_WAIT_MS:  # also false for nan
        raise UserError("--max-wait-ms", f"must be a number of milliseconds from 0 to {MAX_WAIT_MS}, got {max_wait_ms}")
    named = named_runs(runs)
    steady_memory()
    from transferkit import api  # after the checks above, which need no model

    served: list[Served] = []
    with listening_socket(host, port) as listener:
        try:
            for name, path in named:
                run = api.open_run(path, device=device, runtime=runtime)
                served.append(Served(name, run, Batcher(partial(records_of, run), max_batch, max_wait_ms)))
            address = listener.getsockname()
            url = f"http://{f'[{address[0]}]' if ':' in address[0] else address[0]}:{address[1]}"
            app = create_app(served, api_key, max_batch, max_wait_ms)
            config = {"http": guarded_protocol(read_timeout, max_connections, shutdown_timeout), "timeout_graceful_shutdown": shutdown_timeout}
            _serve_until_stopped(app, listener, f"serving {', '.join(runs)} on {url}", config)
        finally:  # uvicorn has answered every request by now: the batchers stop with empty queues
            for model in served:
                model.batcher.close()


def steady_memory() -> None:
    """A fixed mmap threshold for glibc's malloc. glibc raises the threshold as large blocks
    are freed; from then on each new batch shape's tensors come from the heap and fragment
    it, and a server's resident memory grew by 400 MB over 8,000 requests. At a fixed 128 KiB
    (glibc's starting value) such blocks go back to the system when freed: +12 MB over the
    same 8,000 (bench/results/inference.md). Other C libraries are left as they are."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def check_bind(host: str, api_key: str | None) -> None:
    """Only the loopback address is served without a key: anything else is reachable by others."""
    if not api_key and not is_loopback(host):
        raise UserError("--host", f"binding {host} makes the server reachable from other machines and needs --api-key "
                                  "(or $TRANSFERKIT_API_KEY); serve on 127.0.0.1 without one")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def named_runs(runs: list[str]) -> list[tuple[str | None, str]]:
    """One RUN is served at /predict; NAME=RUN arguments at /models/NAME/predict each. One
    argument that is a folder is a run even with a `=` in it (`runs/lr=0.1`)."""
    if len(runs) == 1 and ("=" not in runs[0] or Path(runs[0]).is_dir()):
        return [(None, runs[0])]
    named = []
    for argument in runs:
        name, _, path = argument.partition("=")
        if not path or not NAME.fullmatch(name):
            raise UserError(argument, "several runs are served as NAME=RUN (NAME of letters, digits, _ . -), one per argument")
        if name in (n for n, _ in named):
            raise UserError(argument, f"the name {name!r} is given twice")
        named.append((name, path))
    return named


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket bound before the models load, so a port in use is said at once."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as e:
        raise UserError("--port", f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return listener


def create_app(served: list[Served], api_key: str | None, max_batch: int, max_wait_ms: float) -> FastAPI:
    """The routes of every served run, the error responses, and the key and size checks
    (the batchers are the caller's to close)."""
    app = FastAPI(title="transferkit")
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(LimitBody, limit=MAX_BODY_BYTES)
    if api_key:
        app.add_middleware(RequireKey, key=api_key)  # added last: runs first, before any body is read

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    for model in served:
        _add_routes(app, model, {"max_batch": max_batch, "max_wait_ms": max_wait_ms})
    return app


def _add_routes(app: FastAPI, model: Served, batching: dict) -> None:
    run = model.run
    about = {**metadata(run), **batching}

    async def metadata_route() -> dict:
        return {**about, "batching": model.batcher.stats()}

    if run.info["task"] == "qa":
        async def predict_route(body: QABody) -> JSONResponse:
            return await _predicted(model, qa_items(body))
    else:
        async def predict_route(body: TextsBody) -> JSONResponse:
            return await _predicted(model, texts_of(body))

    suffix = f" ({model.name})" if model.name else ""
    app.add_api_route(model.prefix + "/predict", predict_route, methods=["POST"], response_model=list[dict],
                      summary=f"Predict{suffix}: one record per text, as `transferkit predict` writes them")
    app.add_api_route(model.prefix + "/metadata", metadata_route, methods=["GET"], summary=f"The run{suffix} and batching counters")


async def _predicted(model: Served, items: list) -> JSONResponse:
    """Items checked alone (a bad one is this request's 422, not its batch's), then queued."""
    model.run.items_request(items)
    return JSONResponse(await asyncio.wrap_future(model.batcher.submit(items)))


def texts_of(body: TextsBody) -> list[str]:
    if (body.texts is None) == (body.text is None):
        raise HTTPException(422, 'give either "texts": [...] or "text": "..."')
    texts = body.texts if body.texts is not None else [body.text]
    checked_texts([{"text": text} for text in texts], "text")
    return texts


def qa_items(body: QABody) -> list[dict]:
    single = body.question is not None or body.context is not None
    if (body.items is None) == (not single) or (single and (body.question is None or body.context is None)):
        raise HTTPException(422, 'give either "items": [{"question": ..., "context": ...}, ...] or one "question" and "context"')
    items = [item.model_dump() for item in body.items] if body.items is not None else [{"question": body.question, "context": body.context}]
    checked_texts(items, "item")
    return items


def checked_texts(texts_per_item: list[dict[str, str]], noun: str) -> None:
    """An empty request is a mistake (422); too many or too long texts are over a limit (413);
    a lone surrogate is no text (422): no tokenizer or JSON response could take it (a 500)."""
    if not texts_per_item:
        raise HTTPException(422, "nothing to predict: the list is empty")
    if len(texts_per_item) > MAX_TEXTS:
        raise HTTPException(413, f"{len(texts_per_item)} {noun}s in one request; the limit is {MAX_TEXTS}: send them in several requests")
    for n, texts in enumerate(texts_per_item, start=1):
        if (longest := max(len(text) for text in texts.values())) > MAX_TEXT_CHARS:
            raise HTTPException(413, f"{noun} {n} is {longest} characters long; the limit is {MAX_TEXT_CHARS}")
        for field, text in texts.items():
            if lone := SURROGATE.search(text):
                where = f"{noun} {n}" if field == noun else f"{noun} {n}, {field}"
                raise HTTPException(422, f"{where}: character {lone.start() + 1} is {ascii(lone.group())[1:-1]}, half of a UTF-16 "
                                         "surrogate pair without its other half; send valid Unicode text")


def metadata(run) -> dict:
    """What a client may want to know of a run: task, labels, model, its test scores
    (without per-class tables) and the runtime that runs it."""
    from transferkit.serving.run_files import read_json

    metrics_file = Path(run.run_dir) / "metrics.json"
    metrics = read_json(metrics_file) if metrics_file.is_file() else {}
    runtime = getattr(run.predictor, "runtime", None)
    return {
        "task": run.info["task"],
        "strategy": run.info["strategy"],
        "labels": run.info.get("labels"),
        "model": metrics.get("model"),
        "test": without_tables(metrics.get("test")),
        **({"runtime": RUNTIMES.get(type(runtime).__name__, type(runtime).__name__)} if runtime is not None else {}),
        **({"device": str(runtime.device)} if hasattr(runtime, "device") else {}),
    }


def without_tables(scores):
    """Test scores without the per-class and per-type tables (also inside named test sets)."""
    if not isinstance(scores, dict):
        return scores
    return {k: without_tables(v) for k, v in scores.items() if k not in ("per_class", "per_type")}


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(request, e: HTTPException) -> JSONResponse:
    return error(e.status_code, str(e.detail), e.headers)


async def _user_error(request, e: UserError) -> JSONResponse:
    return error(422, str(e))


async def _internal_error(request, e: Exception) -> JSONResponse:
    return error(500, "internal error; the server's log has the traceback")


async def _validation_error(request, e: RequestValidationError) -> JSONResponse:
    """Malformed JSON is 400; JSON of the wrong shape (a missing field, a number for a text)
    422; a body sent as another type than JSON (`curl -d` sends a form) 415."""
    content_type = request.headers.get("content-type")
    if content_type is not None and "json" not in content_type:
        return error(415, f"the body is sent as {content_type}; send JSON, with the header Content-Type: application/json")
    first = e.errors()[0]
    if first["type"] == "json_invalid":
        return error(400, f"malformed JSON: {first.get('ctx', {}).get('error', first['msg'])}")
    where = ".".join(str(part) for part in first["loc"][1:]) or "body"
    return error(422, f"{where}: {first['msg']}")


class RequireKey:
    """Every request but /health carries the key (`Authorization: Bearer KEY` or
    `X-API-Key: KEY`), else 401; compared in constant time."""

    def __init__(self, app, key: str):
        self.app, self.key = app, key.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self.allowed(dict(scope["headers"])):
            refused = error(401, "missing or wrong API key: send the header Authorization: Bearer KEY or X-API-Key: KEY",
                            {"WWW-Authenticate": "Bearer"})
            return await refused(scope, receive, send)
        await self.app(scope, receive, send)

    def allowed(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, bearer = headers.get(b"authorization", b"").partition(b" ")
        given = [headers.get(b"x-api-key", b""), bearer.strip() if scheme.lower() == b"bearer" else b""]
        return any(hmac.compare_digest(candidate, self.key) for candidate in given)


class LimitBody:
    """A body over `limit` bytes is refused (413): at once when its Content-Length says so,
    else as soon as the bytes read pass the limit, so a large body is never held whole."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is over {self.limit} bytes; send fewer or shorter texts per request"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await error(413, message)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            received = await receive()
            seen += len(received.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, message)  # while the endpoint reads its body: its 413 response
            return received

        await self.app(scope, counted, send)


def _serve_until_stopped(app: FastAPI, listener: socket.socket, announcement: str, config: dict) -> None:
    """Run uvicorn on `listener` (with `config`: its Config's options) until SIGTERM or
    SIGINT. uvicorn stops taking connections, answers those in flight (for at most its
    `timeout_graceful_shutdown`, then cancels them), shuts the app down, then raises the
    signal again under the handler it found: here its own, so that a stop asked for is a
    clean return (status 0) rather than the CLI's "terminated" error."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if not self.should_exit:
                print(announcement, file=sys.stderr, flush=True)

    server = Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **config))
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        server.run(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def guarded_protocol(read_timeout: float, max_connections: int, shutdown_timeout: float):
    """uvicorn's HTTP/1.1 protocol (h11) with what a server open to untrusted clients needs
    and uvicorn lacks:

    - A read timeout: a request's headers and body arrive whole within `read_timeout`
      seconds of the server waiting for it (the connection opened, or the last response
      sent), or the connection is closed. uvicorn times only idle keep-alive connections:
      40 clients sending half their headers held 40 connections for good (slowloris), the
      API key (read from the headers) no help, and one stalled mid-body kept a stopping
      server waiting. Once the server stops, a request still arriving has at most
      `shutdown_timeout` seconds left.
    - A cap: a connection beyond `max_connections` open ones is answered 503 and closed at
      once, so that no number of clients holds more sockets (file descriptors) than that.
    - Nagle's algorithm off: uvicorn writes a response's headers and body separately; with
      Nagle on, the body waits for the client's delayed ACK of the headers, and every
      request after the first on a keep-alive connection took 44 ms instead of 1 (measured
      here, /health)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    body = json.dumps({"error": f"the server holds its most connections ({max_connections}); try again shortly"}).encode()
    busy = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n" \
           b"content-length: %d\r\n\r\n%s" % (len(body), body)

    class Guarded(H11Protocol):
        read_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            connection = transport.get_extra_info("socket")
            if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(busy)
                transport.close()
            else:
                self.await_request()

        def await_request(self) -> None:
            """Time the request the connection owes, unless one is timed already (a response
            sent before its request's body was read: that body is still due)."""
            if self.read_timer is None:
                self.read_timer = self.loop.call_later(read_timeout, self.read_timed_out)

        def handle_events(self) -> None:
            super().handle_events()
            if self.read_timer is not None and self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self.read_timer.cancel()  # the request is whole (or the connection done with)
                self.read_timer = None

        def on_response_complete(self) -> None:
            self.await_request()  # before uvicorn reads the next request, if it came already
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            if self.read_timer is not None:
                self.read_timer.cancel()
            super().connection_lost(exc)

        def shutdown(self) -> None:
            """The server stops: uvicorn closes idle connections, and lets the others finish
            for at most `shutdown_timeout` seconds before it cancels their tasks. A request
            still arriving is cut off by its read timer by then instead, before uvicorn's
            cancellation would log a traceback and answer 500 for a body never read."""
            super().shutdown()
            deadline = self.loop.time() + shutdown_timeout
            if self.read_timer is not None and self.read_timer.when() > deadline and not self.transport.is_closing():
                self.read_timer.cancel()
                self.read_timer = self.loop.call_at(deadline, self.read_timed_out)

        def read_timed_out(self) -> None:
            self.transport.close()  # the app, if it reads the body, sees the client gone

    return Guarded
