"""A real loopback HTTP server that speaks enough of Ollama's API for tests.

It listens on 127.0.0.1 on a free port, in a background thread, and answers

* ``GET /api/version`` -> ``{"version": ...}``
* ``GET /api/tags`` -> ``{"models": [{"name", "model", "modified_at", "size", "digest", "details"}]}``
* ``POST /api/chat`` and ``POST /api/generate``, streaming (NDJSON chunks, chunked
  transfer, the last one with ``"done": true`` and the timing fields) or not,
  with the same field names as Ollama (``model``, ``created_at``, ``message``
  {``role``, ``content``} or ``response``, ``done``, ``done_reason``,
  ``total_duration``, ``load_duration``, ``prompt_eval_count``,
  ``prompt_eval_duration``, ``eval_count``, ``eval_duration``), so that the
  official ``ollama`` client parses them.

``drip_s`` > 0 (per server or per :class:`Reply`) makes a dripping server: it sends its headers
at once, then the body one byte every ``drip_s`` seconds (a whole-request deadline test: every
single read is quick, the request never completes in time).

Replies are scripted per test: a queue (:meth:`FakeOllamaServer.script`) or a
callable ``(request_json) -> str | Reply``. An unknown model gets Ollama's 404
``{"error": "model \\"x\\" not found, try pulling it first"}``.

    with FakeOllamaServer() as server:
        server.script('{"instructions": []}')
        client = ollama.Client(host=server.url)
"""
from __future__ import annotations

import collections
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Union

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("qwen2.5:7b-instruct",)


@dataclass(frozen=True)
class Reply:
    """One scripted reply: answer text, or an HTTP error, optionally late."""

    text: str = ""
    status: int = 200
    error: str | None = None
    delay_s: float = 0.0
    raw_body: str | None = None  # sent verbatim with ``status`` (protocol-breaking tests)
    drip_s: float = 0.0  # > 0: headers at once, then one byte of the body every drip_s seconds


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any] = field(default_factory=dict)


Responder = Callable[[dict], Union[str, Reply]]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stats(text: str) -> dict[str, Any]:
    n = max(1, len(text) // 4)
    return {
        "total_duration": 5_000_000 + 1000 * n, "load_duration": 1_000_000,
        "prompt_eval_count": 42, "prompt_eval_duration": 2_000_000,
        "eval_count": n, "eval_duration": 1000 * n,
    }


def _model_known(model: str, models: Iterable[str]) -> bool:
    names = set(models)
    return model in names or (":" not in model and f"{model}:latest" in names)


class FakeOllamaServer:
    """Loopback Ollama stand-in; usable as a context manager."""

    def __init__(
        self,
        models: Iterable[str] = DEFAULT_MODELS,
        responder: Responder | None = None,
        delay_s: float = 0.0,
        chunk_chars: int = 7,
        version: str = "0.6.5",
        drip_s: float = 0.0,
    ) -> None:
        self.models = tuple(models)
        self.responder = responder
        self.delay_s = delay_s
        self.chunk_chars = max(1, chunk_chars)
        self.version = version
        self.drip_s = drip_s  # every answer (GET too) drips, unless a Reply sets its own
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[str | Reply] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- control
    def start(self) -> "FakeOllamaServer":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ollama", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOllamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOllamaServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -------------------------------------------------------------- script
    def script(self, *replies: str | Reply) -> None:
        """Queue replies for the next generation requests (used before ``responder``)."""
        with self._lock:
            self._queue.extend(replies)

    def generation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in ("/api/chat", "/api/generate")]

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None and self.responder is not None:
            try:
                item = self.responder(body)
            except Exception as exc:  # noqa: BLE001 - a test bug becomes a 500 answer
                log.exception("fake Ollama responder failed")
                return Reply(status=500, error=f"responder failed: {exc}")
        if item is None:
            return Reply(status=500, error="FakeOllamaServer: no scripted reply")
        return item if isinstance(item, Reply) else Reply(text=str(item))

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOllamaServer  # set on the subclass made by FakeOllamaServer.start

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("fake-ollama: " + fmt, *args)

    # ------------------------------------------------------------- writing
    def _send(self, status: int, body: str, ctype: str = "application/json; charset=utf-8",
              drip_s: float | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        drip = self.fake.drip_s if drip_s is None else drip_s
        if drip <= 0:
            self.wfile.write(data)
            return
        self.wfile.flush()
        for i in range(len(data)):  # one byte at a time: each read is quick, the whole never is
            if self.fake._stopping.wait(drip):
                return
            try:
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                return

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj))

    def _send_stream(self, lines: list[dict]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for obj in lines:
            data = (json.dumps(obj) + "\n").encode("utf-8")
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    # ------------------------------------------------------------- routing
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.fake._record(RecordedRequest("GET", self.path))
        if self.path == "/api/version":
            self._send_json(200, {"version": self.fake.version})
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [_tag(m) for m in self.fake.models]})
        else:
            self._send(404, "404 page not found", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": "invalid JSON request body"})
            return
        self.fake._record(RecordedRequest("POST", self.path, body))
        if self.path not in ("/api/chat", "/api/generate"):
            self._send(404, "404 page not found", "text/plain; charset=utf-8")
            return
        model = str(body.get("model", ""))
        if not _model_known(model, self.fake.models):
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        try:
            self._answer(body, model)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            log.debug("fake-ollama: client went away")

    def _answer(self, body: dict, model: str) -> None:
        reply = self.fake._next_reply(body)
        self.fake._wait(self.fake.delay_s + reply.delay_s)
        drip = reply.drip_s or self.fake.drip_s
        if drip > 0:  # the whole answer as one JSON body, dripped
            self._send(200, json.dumps(_final(self.path, model, reply.text)), drip_s=drip)
        elif reply.raw_body is not None:
            self._send(reply.status, reply.raw_body)
        elif reply.status != 200 or reply.error is not None:
            self._send_json(reply.status if reply.status != 200 else 500, {"error": reply.error or "error"})
        elif body.get("stream", True):  # Ollama streams unless told not to
            self._send_stream(_stream_lines(self.path, model, reply.text, self.fake.chunk_chars))
        else:
            self._send_json(200, _final(self.path, model, reply.text))


def _tag(model: str) -> dict[str, Any]:
    return {
        "name": model, "model": model, "modified_at": "2025-01-01T00:00:00.000000000Z",
        "size": 4_683_087_332, "digest": "0" * 64,
        "details": {"parent_model": "", "format": "gguf", "family": "qwen2", "families": ["qwen2"],
                    "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
    }


def _piece(path: str, model: str, text: str, done: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "created_at": _now()}
    if path == "/api/chat":
        out["message"] = {"role": "assistant", "content": text}
    else:
        out["response"] = text
    out["done"] = done
    return out


def _final(path: str, model: str, text: str) -> dict[str, Any]:
    out = _piece(path, model, text, True)
    out["done_reason"] = "stop"
    out.update(_stats(text))
    if path == "/api/generate":
        out["context"] = [1, 2, 3]
    return out


def _stream_lines(path: str, model: str, text: str, size: int) -> list[dict[str, Any]]:
    lines = [_piece(path, model, text[i : i + size], False) for i in range(0, len(text), size)]
    last = _final(path, model, "")
    last.update(_stats(text))
    return lines + [last]
