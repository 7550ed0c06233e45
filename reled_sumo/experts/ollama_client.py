"""Thin wrapper around the official ``ollama`` client: the only module importing it.

Why ``qwen2.5:7b-instruct`` by default: it is a small (about 4.7 GB at Q4) instruct
model that follows JSON schemas well, which matters because every answer must be
parseable routing instructions, and it runs on a laptop CPU/GPU. Any model that
Ollama serves works; set ``OllamaConfig.model``.

Every failure to reach a usable model (server down, timeout, model not pulled,
server error) becomes :class:`LLMUnavailableError` with a message that says how
to fix it.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

import httpx
import ollama

from reled_sumo.errors import ConfigError, LLMUnavailableError, first_line
from reled_sumo.experts.instructions import extract_json
from reled_sumo.validation import check_field_types

log = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "qwen2.5:7b-instruct"
T = TypeVar("T")


@dataclass(frozen=True)
class OllamaConfig:
    """Connection and sampling settings.

    ``host`` None means ``$OLLAMA_HOST`` if set, else ``http://127.0.0.1:11434``.
    ``retries`` extra attempts after a connection error, timeout or 5xx, waiting
    ``backoff_s * 2**attempt`` in between. ``num_ctx`` is raised from Ollama's
    small default so that corridor prompts are not silently truncated.
    The health check (:meth:`OllamaClient.check`) has its own short timeout
    ``check_timeout_s`` and ``check_retries``: a hung server fails it in about
    ``(check_retries + 1) * check_timeout_s + backoff_s`` seconds, not minutes.
    ``timeout_s`` and ``check_timeout_s`` are whole-request deadlines (headers and the
    whole body), not per-read timeouts: a server that drips one byte at a time hits them too.
    """

    host: str | None = None
    model: str = DEFAULT_MODEL
    timeout_s: float = 120.0
    retries: int = 2
    backoff_s: float = 1.0
    temperature: float = 0.0
    seed: int | None = 0
    num_ctx: int = 16384
    stream: bool = False
    check_timeout_s: float = 5.0
    check_retries: int = 1

    def __post_init__(self) -> None:
        check_field_types(self)
        if not self.model:
            raise ConfigError("ollama: model must not be empty")
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0:
            raise ConfigError("ollama: timeout_s must be > 0, retries and backoff_s >= 0")
        if self.check_timeout_s <= 0 or self.check_retries < 0:
            raise ConfigError("ollama: check_timeout_s must be > 0 and check_retries >= 0")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError("ollama: temperature must be in [0, 2]")

    def resolved_host(self) -> str:
        return self.host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST


@dataclass(frozen=True)
class ServerInfo:
    host: str
    version: str
    model: str
    models: tuple[str, ...]


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying."""


class _DeadlinePassed(Exception):
    """Internal: a request was not complete by its whole-request deadline."""


def _hint(model: str) -> str:
    return (
        f"Start the server with `ollama serve` (or set OLLAMA_HOST), pull the model with "
        f"`ollama pull {model}`, or run without an LLM using `--expert routing`."
    )


def _model_present(model: str, names: Sequence[str]) -> bool:
    wanted = {model} if ":" in model else {model, f"{model}:latest"}
    return any(n in wanted for n in names)


class OllamaClient:
    """Ask an Ollama server for JSON answers, with timeout, retries and clear errors."""

    def __init__(self, config: OllamaConfig | None = None) -> None:
        self.config = config or OllamaConfig()
        self.host = self.config.resolved_host()
        self._client: ollama.Client | None = None
        self._check_client: ollama.Client | None = None
        self._lock = threading.Lock()
        self._generation = 0  # bumped by cancel(): calls of an older generation stop retrying
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}  # summed over every chat answer

    @property
    def model(self) -> str:
        return self.config.model

    def _ollama(self, check: bool = False) -> ollama.Client:
        with self._lock:  # one shared httpx pool, also when called from worker threads
            if check:
                if self._check_client is None:
                    self._check_client = ollama.Client(host=self.host, timeout=self.config.check_timeout_s)
                return self._check_client
            if self._client is None:
                self._client = ollama.Client(host=self.host, timeout=self.config.timeout_s)
            return self._client

    def close(self) -> None:
        with self._lock:
            for c in (self._client, self._check_client):
                if c is not None:
                    c.close()
            self._client = self._check_client = None

    def cancel(self) -> None:
        """Stop the calls in flight: no further attempts or retries, and their connections are closed."""
        with self._lock:
            self._generation += 1
        self.close()

    # ------------------------------------------------------------- public
    def check(self) -> ServerInfo:
        """Confirm the server answers and has the model; raise LLMUnavailableError otherwise."""
        listing = self._call(lambda c: c.list(), what="list models", check=True)
        names = tuple(m.model or "" for m in listing.models)
        version = self._version()
        if not _model_present(self.model, names):
            raise LLMUnavailableError(
                f"Ollama at {self.host} (version {version}) does not have model {self.model!r} "
                f"(it has: {', '.join(names) or 'none'}). Run `ollama pull {self.model}`, "
                f"choose another model, or use `--expert routing`."
            )
        log.info("Ollama %s at %s has model %s", version, self.host, self.model)
        return ServerInfo(self.host, version, self.model, names)

    def chat_text(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> str:
        """Send a chat request constrained by a JSON schema; return the raw answer text."""
        return self._call(lambda c: self._chat_once(c, messages, schema), what="chat")

    def chat_json(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> Any:
        """Like :meth:`chat_text`, then extract the JSON value (raises InvalidAnswerError)."""
        return extract_json(self.chat_text(messages, schema))

    # ------------------------------------------------------------ helpers
    def _options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"temperature": self.config.temperature, "num_ctx": self.config.num_ctx}
        if self.config.seed is not None:
            opts["seed"] = self.config.seed
        return opts

    def _chat_once(self, client: ollama.Client, messages, schema) -> str:
        kwargs: dict[str, Any] = dict(model=self.model, messages=list(messages), format=dict(schema),
                                      options=self._options())
        if not self.config.stream:
            resp = client.chat(**kwargs)
            self._count(resp)
            return resp.message.content or ""
        parts = []
        for chunk in client.chat(stream=True, **kwargs):
            parts.append(chunk.message.content or "")
            self._count(chunk)  # only the last chunk carries the counts
        return "".join(parts)

    def _count(self, resp) -> None:
        with self._lock:
            self.usage["prompt_tokens"] += int(getattr(resp, "prompt_eval_count", None) or 0)
            self.usage["completion_tokens"] += int(getattr(resp, "eval_count", None) or 0)

    def _within(self, seconds: float, fn: Callable[[], T], what: str) -> T:
        """``fn()`` with a whole-request deadline of ``seconds``.

        httpx's timeouts bound each read, so a server that drips one byte at a time would never
        trip them. The request runs on a daemon thread; past the deadline (or on :meth:`cancel`)
        it is abandoned (``_DeadlinePassed``): the caller goes on at once, and the thread never
        keeps the process alive (it ends when the server closes or a read times out)."""
        box: dict[str, Any] = {}
        done = threading.Event()
        generation = self._generation

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name=f"ollama-{what}", daemon=True).start()
        end = time.monotonic() + seconds
        while not done.wait(min(0.05, max(0.0, end - time.monotonic()))):
            if time.monotonic() >= end or self._generation != generation:
                raise _DeadlinePassed(f"{what} not complete within {seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _version(self) -> str:
        try:  # the official client has no version() call; /api/version is a plain GET
            resp = self._within(self.config.check_timeout_s,
                                lambda: self._ollama(check=True)._request_raw("GET", "/api/version"), "version")
            return str(resp.json().get("version", "unknown"))
        except Exception as exc:  # noqa: BLE001 - the version is informative only
            log.debug("could not read Ollama version: %s", exc)
            return "unknown"

    def _call(self, fn: Callable[[ollama.Client], T], what: str, check: bool = False) -> T:
        attempts = (self.config.check_retries if check else self.config.retries) + 1
        generation = self._generation
        last: Exception | None = None
        for attempt in range(attempts):
            if self._generation != generation:
                raise LLMUnavailableError(f"Ollama {what} at {self.host} was cancelled")
            try:
                return self._attempt(fn, what, check)
            except _Retryable as exc:
                last = exc
                if attempt + 1 < attempts and self._generation == generation:
                    delay = self.config.backoff_s * 2**attempt
                    log.warning("Ollama %s failed (%s); retry %d/%d in %.1fs",
                                what, exc, attempt + 1, attempts - 1, delay)
                    time.sleep(delay)
        raise LLMUnavailableError(
            f"Ollama at {self.host} failed to {what} after {attempts} attempt(s): {last}. "
            + _hint(self.model)
        ) from last

    def _attempt(self, fn: Callable[[ollama.Client], T], what: str, check: bool = False) -> T:
        timeout = self.config.check_timeout_s if check else self.config.timeout_s
        try:
            return self._within(timeout, lambda: fn(self._ollama(check)), what)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                reason = str(exc.error or "").strip()
                if what != "chat" or not reason:  # a 404 that is not Ollama's "model not found"
                    raise LLMUnavailableError(
                        f"Ollama at {self.host} answered the {what} request with HTTP 404"
                        f"{f' ({reason})' if reason else ' and no reason'}; is it an Ollama server? "
                        "Check --host / OLLAMA_HOST, or use `--expert routing`."
                    ) from exc
                raise LLMUnavailableError(
                    f"Ollama at {self.host}: {reason}. Run `ollama pull {self.model}`, "
                    f"choose another model, or use `--expert routing`."
                ) from exc
            if exc.status_code >= 500 or exc.status_code == -1:
                raise _Retryable(f"server error: {exc}") from exc
            raise LLMUnavailableError(f"Ollama at {self.host} rejected the {what} request: {exc}") from exc
        except ConnectionError as exc:  # the official client's "cannot connect"
            raise _Retryable(f"cannot connect to {self.host}") from exc
        except (httpx.TimeoutException, _DeadlinePassed) as exc:
            raise _Retryable(f"no answer within {timeout:g} s (whole request)") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}: {first_line(exc)}") from exc
        except (ValueError, TypeError, AttributeError) as exc:  # undecodable body, a JSON array, missing fields
            raise LLMUnavailableError(
                f"Ollama at {self.host} sent an unexpected {what} response ({exc}); is it an Ollama server?"
            ) from exc
