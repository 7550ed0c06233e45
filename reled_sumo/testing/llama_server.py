"""A loopback server speaking Ollama's HTTP API, answered by a real model through llama.cpp.

It serves the part of the API the official ``ollama`` Python client uses:

* ``GET /`` -> ``Ollama is running``; ``GET /api/version`` -> ``{"version": ...}``
* ``GET /api/tags`` -> the served models; ``POST /api/show`` -> details of one
* ``POST /api/chat``, streaming (NDJSON, the last line with ``"done": true`` and the
  token counts and durations) or not (``"stream": false``), with ``format`` ``""``
  (free text), ``"json"`` (any JSON value) or a JSON schema, which is enforced as a
  llama.cpp grammar built with ``LlamaGrammar.from_json_schema`` (never the silent
  ``response_format`` fallback); ``options`` as Ollama reads them (temperature 0.8,
  top_k 40, top_p 0.9, min_p 0, repeat_penalty 1.1, seed, num_predict, stop; Ollama's
  defaults when absent)
* errors as HTTP >= 400 with an ``{"error": ...}`` body (the client raises ``ResponseError``):
  404 for an unknown model, 400 for a bad request or schema, 500 when generation fails.

One model is loaded at a time and generation is serialised on one lock with
``n_threads`` (default 1) generation threads: a second thread collapses when SUMO
runs beside it. Differences from Ollama: ``num_ctx`` is fixed at load (``n_ctx``;
a longer prompt is an HTTP 400, not a silent truncation), and ``num_predict``
defaults to ``max_predict`` (2048) instead of "until the context is full".

Start it with ``python -m reled_sumo.testing.llama_server`` (see ``--help``) or use
it in-process::

    with LlamaOllamaServer() as server:        # serves smollm2:135m if installed
        client = ollama.Client(host=server.url)
"""
from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, Mapping

from reled_sumo.testing.gguf_models import (
    DEFAULT_LOCAL_MODEL, PACKAGED_MODELS, LocalModelError, canonical_name, check_gguf, find_model, installed_models,
)

log = logging.getLogger(__name__)

VERSION = "0.0.0-reled-llama"
OLLAMA_DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.9, "min_p": 0.0, "repeat_penalty": 1.1}
MAX_BODY = 16 * 1024 * 1024


class RequestError(Exception):
    """A request the server answers with an HTTP error status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def import_llama_cpp():
    """The llama_cpp module, or LocalModelError saying how to install it."""
    try:
        import llama_cpp  # lazy: llama_cpp
    except ImportError as exc:
        raise LocalModelError(
            "llama-cpp-python is not installed: run `pip install -e \".[llm-local]\"` (it builds llama.cpp "
            "from source, ~6 min on 2 cores; see README; it also installs the SmolLM2 model)"
        ) from exc
    return llama_cpp


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _messages(body: Mapping[str, Any]) -> list[dict[str, str]]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise RequestError(400, "messages must be a non-empty list")
    out = []
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise RequestError(400, "each message needs a role system, user or assistant")
        content = m.get("content", "")
        if not isinstance(content, str):
            raise RequestError(400, "message content must be a string")
        out.append({"role": m["role"], "content": content})
    return out


def _options(body: Mapping[str, Any], max_predict: int) -> dict[str, Any]:
    opts = body.get("options") or {}
    if not isinstance(opts, dict):
        raise RequestError(400, "options must be an object")
    out: dict[str, Any] = {}
    for key, default in OLLAMA_DEFAULTS.items():
        value = opts.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(400, f"option {key} must be a number")
        out[key] = float(value) if key != "top_k" else int(value)
    predict = opts.get("num_predict", -1)
    if isinstance(predict, bool) or not isinstance(predict, int):
        raise RequestError(400, "option num_predict must be an integer")
    out["max_tokens"] = max_predict if predict < 0 else min(predict, max_predict)
    seed = opts.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise RequestError(400, "option seed must be an integer")
        out["seed"] = seed & 0xFFFFFFFF
    stop = opts.get("stop")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise RequestError(400, "option stop must be a list of strings")
        out["stop"] = stop
    return out


class LlamaModel:
    """One loaded GGUF model and its grammars; generation under one lock."""

    def __init__(self, name: str, path: Path, n_ctx: int = 8192, n_threads: int = 1, max_predict: int = 2048):
        self.name, self.path, self.max_predict = name, Path(path), max_predict
        llama_cpp = import_llama_cpp()
        self._grammar_cls = llama_cpp.LlamaGrammar
        self._json_gbnf = llama_cpp.llama_grammar.JSON_GBNF
        t0 = time.perf_counter()
        self.llama = llama_cpp.Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads,
                                     n_threads_batch=n_threads, verbose=False)
        self.load_seconds = time.perf_counter() - t0
        self.metadata = dict(getattr(self.llama, "metadata", {}) or {})
        self.lock = threading.Lock()
        self._grammars: dict[str, Any] = {}

    def grammar(self, fmt: Any):
        """None for free text, a JSON grammar for "json", a schema grammar for a dict."""
        if fmt in (None, ""):
            return None
        if fmt == "json":
            key, build = "json", lambda: self._grammar_cls.from_string(self._json_gbnf, verbose=False)
        elif isinstance(fmt, dict):
            text = json.dumps(fmt, sort_keys=True)
            key, build = text, lambda: self._grammar_cls.from_json_schema(text, verbose=False)
        else:
            raise RequestError(400, "format must be \"\", \"json\" or a JSON schema object")
        if key not in self._grammars:
            try:
                self._grammars[key] = build()
            except Exception as exc:  # noqa: BLE001 - llama.cpp raises many kinds on bad schemas
                raise RequestError(400, f"format: cannot turn the JSON schema into a grammar: {exc}") from exc
            if len(self._grammars) > 64:
                self._grammars.pop(next(iter(self._grammars)))
        return self._grammars[key]

    def generate(self, messages: list[dict[str, str]], fmt: Any, options: dict[str, Any]) -> Iterator[dict]:
        """Yield ``{"content": piece}`` chunks, then ``{"done": stats}``. Holds the lock while running."""
        grammar = self.grammar(fmt)
        with self.lock:
            t0 = time.perf_counter()
            n_before = self.llama.n_tokens
            stream = self.llama.create_chat_completion(messages=messages, grammar=grammar, stream=True, **options)
            pieces, reason, first = 0, "stop", None
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content") or ""
                    if choice.get("finish_reason"):
                        reason = choice["finish_reason"]
                    if text:
                        first = first or time.perf_counter()
                        pieces += 1
                        yield {"content": text}
            except ValueError as exc:  # llama-cpp-python: "Requested tokens (...) exceed context window"
                raise RequestError(400, str(exc)) from exc
            end = time.perf_counter()
            total = self.llama.n_tokens
            completion = max(pieces, 0)
            prompt = max(total - completion, 0) if total >= n_before else total
            yield {"done": {
                "done_reason": "length" if reason == "length" else "stop",
                "total_duration": _ns(end - t0), "load_duration": 0,
                "prompt_eval_count": prompt, "prompt_eval_duration": _ns((first or end) - t0),
                "eval_count": completion, "eval_duration": _ns(end - (first or end)),
            }}


class LlamaOllamaServer:
    """Loopback HTTP server with Ollama's API over llama.cpp; usable as a context manager.

    ``models``: name -> GGUF path; by default every installed packaged model
    (:func:`~reled_sumo.testing.gguf_models.installed_models`), at least the default one.
    """

    def __init__(self, models: Mapping[str, str | Path] | None = None, host: str = "127.0.0.1", port: int = 0,
                 n_ctx: int = 8192, n_threads: int = 1, max_predict: int = 2048) -> None:
        if models is None:
            models = installed_models() or {DEFAULT_LOCAL_MODEL: find_model(DEFAULT_LOCAL_MODEL)}
        if not models:
            raise LocalModelError("no model to serve")
        self.paths = {canonical_name(n): check_gguf(p) for n, p in models.items()}
        if n_ctx < 256 or n_threads < 1 or max_predict < 1:
            raise LocalModelError("n_ctx must be >= 256, n_threads and max_predict >= 1")
        import_llama_cpp()  # fail now, not at the first request
        self.host, self.requested_port = host, port
        self.n_ctx, self.n_threads, self.max_predict = n_ctx, n_threads, max_predict
        self._loaded: LlamaModel | None = None
        self._load_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- control
    def start(self) -> "LlamaOllamaServer":
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="llama-ollama", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LlamaOllamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("LlamaOllamaServer is not running")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    # -------------------------------------------------------------- models
    def resolve(self, name: Any) -> str:
        key = canonical_name(str(name or ""))
        if key not in self.paths and ":" not in key and f"{key}:latest" in self.paths:
            key = f"{key}:latest"
        if key not in self.paths:
            raise RequestError(404, f'model "{name}" not found, try pulling it first')
        return key

    def model(self, name: str) -> LlamaModel:
        with self._load_lock:
            if self._loaded is None or self._loaded.name != name:
                self._loaded = None  # free the previous model before loading the next one
                self._loaded = LlamaModel(name, self.paths[name], self.n_ctx, self.n_threads, self.max_predict)
                log.info("loaded %s from %s in %.2f s", name, self.paths[name], self._loaded.load_seconds)
            return self._loaded

    def tag(self, name: str) -> dict[str, Any]:
        path = self.paths[name]
        st = path.stat()
        return {"name": name, "model": name, "size": st.st_size, "digest": f"{st.st_size:064x}",
                "modified_at": datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(),
                "details": {"format": "gguf", "family": name.split(":")[0], "families": [name.split(":")[0]],
                            "parameter_size": name.split(":")[-1], "quantization_level": path.stem.split(".")[-1]}}

    def show(self, name: str) -> dict[str, Any]:
        packaged = PACKAGED_MODELS.get(name)
        tag = self.tag(name)
        return {"license": packaged.licence if packaged else "", "modelfile": f"FROM {self.paths[name]}",
                "parameters": "", "template": "", "details": tag["details"], "modified_at": tag["modified_at"],
                "model_info": {"general.file": str(self.paths[name])}, "capabilities": ["completion"]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: LlamaOllamaServer

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("llama-ollama: " + fmt, *args)

    def _send(self, status: int, body: str, ctype: str = "application/json; charset=utf-8") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj))

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise RequestError(413, "request body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise RequestError(400, "invalid JSON request body") from exc
        if not isinstance(body, dict):
            raise RequestError(400, "the request body must be a JSON object")
        return body

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server_ref
        if self.path == "/":
            self._send(200, "Ollama is running", "text/plain; charset=utf-8")
        elif self.path == "/api/version":
            self._json(200, {"version": VERSION})
        elif self.path == "/api/tags":
            self._json(200, {"models": [srv.tag(n) for n in srv.paths]})
        else:
            self._send(404, "404 page not found", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = self._body()
            if self.path == "/api/show":
                self._json(200, self.server_ref.show(self.server_ref.resolve(body.get("model") or body.get("name"))))
            elif self.path == "/api/chat":
                self._chat(body)
            else:
                self._send(404, "404 page not found", "text/plain; charset=utf-8")
        except RequestError as exc:
            self._json(exc.status, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            log.debug("llama-ollama: the client went away")
        except Exception as exc:  # noqa: BLE001 - a server error, reported as Ollama does
            log.exception("llama-ollama: generation failed")
            self._json(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _chat(self, body: dict) -> None:
        srv = self.server_ref
        name = srv.resolve(body.get("model"))
        messages = _messages(body)
        options = _options(body, srv.max_predict)
        model = srv.model(name)
        gen = model.generate(messages, body.get("format"), options)
        if body.get("stream", True):
            self._stream(name, gen)
        else:
            parts, stats = [], {}
            for item in gen:
                if "content" in item:
                    parts.append(item["content"])
                else:
                    stats = item["done"]
            self._json(200, {"model": name, "created_at": _now(),
                             "message": {"role": "assistant", "content": "".join(parts)},
                             "done": True, **stats})

    def _stream(self, name: str, gen: Iterator[dict]) -> None:
        first = next(gen)  # errors before the first piece still become a plain HTTP error
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        item: dict | None = first
        try:
            while item is not None:
                if "content" in item:
                    line = {"model": name, "created_at": _now(),
                            "message": {"role": "assistant", "content": item["content"]}, "done": False}
                else:
                    line = {"model": name, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                            "done": True, **item["done"]}
                self._chunk((json.dumps(line) + "\n").encode("utf-8"))
                item = next(gen, None)
        except RequestError as exc:  # mid-stream: Ollama sends an error line
            self._chunk((json.dumps({"error": str(exc)}) + "\n").encode("utf-8"))
        finally:
            gen.close()  # type: ignore[attr-defined]  # a generator: releases the generation lock when the client went away
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _parse_gguf(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise LocalModelError(f"--gguf expects NAME=PATH, got {item!r}")
        out[name] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reled_sumo.testing.llama_server",
                                     description="Serve small GGUF models through Ollama's API (llama.cpp).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=[],
                        help=f"packaged model to serve (default: every installed one; known: {', '.join(PACKAGED_MODELS)})")
    parser.add_argument("--gguf", action="append", default=[], help="serve a GGUF file as NAME=PATH")
    parser.add_argument("--ctx", type=int, default=8192, help="context size in tokens (num_ctx)")
    parser.add_argument("--threads", type=int, default=1, help="generation threads (1 beside SUMO)")
    parser.add_argument("--max-predict", type=int, default=2048, help="cap on generated tokens per answer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        models: dict[str, Path] = {canonical_name(m): find_model(m) for m in args.model}
        models.update(_parse_gguf(args.gguf))
        server = LlamaOllamaServer(models or None, args.host, args.port, args.ctx, args.threads, args.max_predict)
        server.start()
    except (LocalModelError, OSError) as exc:
        print(f"error: {exc}")
        return 3
    print(f"serving {', '.join(server.paths)} at {server.url} (Ollama API); "
          f"use --host {server.url} or OLLAMA_HOST={server.url}; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
