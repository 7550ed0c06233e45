"""The LLM expert: routes written by a model served by Ollama, validated and repaired.

Per call of :meth:`OllamaExpert.plan`:

1. the fallback (routing) expert plans every trip: these routes estimate who
   interacts with whom, and are the per-agent fallback;
2. agents are grouped into interacting subsets of at most ``max_subset``;
3. one prompt per subset; cached answers are reused, the others are requested
   concurrently (``max_workers`` threads);
4. each answer is validated and repaired; an agent whose answer cannot be
   repaired gets its fallback route (counted in ``stats.fallbacks`` and logged).

When the server is down: :class:`LLMUnavailableError`, unless
``fallback_on_unavailable`` (then every agent falls back; logged once).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from reled_sumo.errors import ConfigError, LLMUnavailableError
from reled_sumo.experts.base import (
    AgentFeedback,
    AgentTrip,
    Expert,
    ExpertRoute,
    ExpertStats,
    check_travel_times,
    check_trips,
)
from reled_sumo.experts.cache import ResponseCache, cache_key
from reled_sumo.experts.instructions import InvalidAnswerError, extract_json, parse_instructions, validate_answer
from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig, ServerInfo
from reled_sumo.experts.prompt import Prompt, PromptConfig, build_prompt
from reled_sumo.experts.routing import RoutingConfig, RoutingExpert, interaction_subsets
from reled_sumo.validation import check_field_types

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.0  # conservative: numeric OSM ids tokenise digit by digit


class ChatClient(Protocol):
    """What the expert needs from a client (OllamaClient, or a stand-in in tests)."""

    model: str

    def check(self) -> ServerInfo: ...

    def chat_text(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True)
class LLMExpertConfig:
    """Settings of :class:`OllamaExpert`.

    ``recheck_after_s``: with ``fallback_on_unavailable``, how long a failed server
    check is remembered before the server is tried again.
    ``round_timeout_s``: the most one :meth:`OllamaExpert.plan` waits for all its LLM
    answers together; then the work in flight is cancelled and the missing answers
    count as unavailable (fallback routes, or LLMUnavailableError).
    """

    ollama: OllamaConfig = field(default_factory=OllamaConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    max_subset: int = 6
    max_workers: int = 2
    subset_slack_s: float = 30.0
    cache: bool = True
    cache_dir: str | None = None
    fallback_on_unavailable: bool = False
    recheck_after_s: float = 60.0
    round_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.max_subset < 1 or self.max_workers < 1:
            raise ConfigError("llm expert: max_subset and max_workers must be >= 1")
        if self.subset_slack_s < 0 or self.recheck_after_s < 0:
            raise ConfigError("llm expert: subset_slack_s and recheck_after_s must be >= 0")
        if not self.round_timeout_s > 0:
            raise ConfigError("llm expert: round_timeout_s must be > 0")


def _parses(text: str) -> bool:
    try:
        parse_instructions(extract_json(text))
    except InvalidAnswerError:
        return False
    return True


class OllamaExpert:
    """Expert whose routes come from an LLM (one request per subset of agents)."""

    name = "llm"

    def __init__(
        self,
        config: LLMExpertConfig | None = None,
        client: ChatClient | None = None,
        fallback: Expert | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.config = config or LLMExpertConfig()
        self.client: ChatClient = client if client is not None else OllamaClient(self.config.ollama)  # type: ignore[assignment]
        self.fallback: Expert = fallback or RoutingExpert(self.config.routing, source="fallback")
        if cache is None and self.config.cache:
            cache = ResponseCache(self.config.cache_dir)
        self.cache = cache
        self.stats = ExpertStats()
        self._checked = False
        self._down_until = 0.0
        self._warned_unavailable = False
        self._warned_long = False
        self.answer_log: list[tuple[tuple[AgentTrip, ...], str | None]] | None = None  # a list: record answers

    # ------------------------------------------------------------- public
    def plan(
        self,
        graph: "RoadGraph",
        trips: Sequence[AgentTrip],
        travel_times: np.ndarray | None,
        feedback: Mapping[str, AgentFeedback] | None = None,
    ) -> dict[str, ExpertRoute]:
        t0 = time.perf_counter()
        try:
            return self._plan(graph, trips, travel_times, feedback or {})
        finally:
            self.stats.seconds += time.perf_counter() - t0

    def close(self) -> None:
        closer = getattr(self.client, "close", None)
        if callable(closer):
            closer()

    # ------------------------------------------------------------ helpers
    def _prompt(self, graph, group: list[AgentTrip], tt: np.ndarray, feedback) -> Prompt:
        """The request for one subset (path mode; the route-choice expert overrides it)."""
        return build_prompt(graph, group, tt, feedback, self.config.prompt)

    def _parses(self, text: str) -> bool:
        """Whether an answer is worth caching (path mode; the route-choice expert overrides it)."""
        return _parses(text)

    def _plan(self, graph, trips, travel_times, feedback) -> dict[str, ExpertRoute]:
        check_trips(graph, trips)
        if not trips:
            return {}
        tt = check_travel_times(graph, travel_times)
        base = self.fallback.plan(graph, trips, tt, feedback)
        subsets = interaction_subsets(
            {a: r.edges for a, r in base.items()},
            {t.agent_id: t.depart for t in trips},
            graph, self.config.max_subset, tt, self.config.subset_slack_s,
        )
        by_id = {t.agent_id: t for t in trips}
        groups = [[by_id[a] for a in s] for s in subsets]
        prompts = [self._prompt(graph, g, tt, feedback) for g in groups]
        self._warn_if_too_long(prompts)
        texts = self._answers(prompts)
        out: dict[str, ExpertRoute] = {}
        for group, text in zip(groups, texts):
            out.update(self._routes_for(graph, group, tt, text, base))
        return out

    def _answers(self, prompts: list[Prompt]) -> list[str | None]:
        """Answer text per prompt (None: no answer, fall back)."""
        results: list[str | None] = [None] * len(prompts)
        misses = []
        for i, p in enumerate(prompts):
            key = cache_key(self.client.model, p.cache_text())
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                self.stats.cache_hits += 1
                results[i] = cached
            else:
                misses.append((i, key, p))
        if misses and self._available():
            self._request(misses, results)
        return results

    def _available(self) -> bool:
        if self._checked:
            return True
        if time.monotonic() < self._down_until:
            return False
        try:
            self.client.check()
        except LLMUnavailableError as exc:
            if not self.config.fallback_on_unavailable:
                raise
            self._down_until = time.monotonic() + self.config.recheck_after_s
            self._warn_unavailable(exc)
            return False
        self._checked = True
        return True

    def _request(self, misses: list[tuple[int, str, Prompt]], results: list[str | None]) -> None:
        """Ask for the missing answers on daemon threads, within ``round_timeout_s`` in all.

        On the first unavailable answer (or the deadline) no further prompt is taken and the
        client's calls in flight are cancelled; daemon threads never hold the process at exit.
        """
        jobs: queue.SimpleQueue = queue.SimpleQueue()
        for m in misses:
            jobs.put(m)
        done: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()
        for n in range(min(self.config.max_workers, len(misses))):
            threading.Thread(target=self._worker, args=(jobs, done, stop), name=f"reled-llm-{n}", daemon=True).start()
        deadline = time.monotonic() + self.config.round_timeout_s
        try:
            for _ in misses:
                try:
                    i, key, text, exc = done.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise LLMUnavailableError(
                        f"the LLM did not answer all {len(misses)} prompt(s) of this round within "
                        f"round_timeout_s={self.config.round_timeout_s:g} s") from None
                self.stats.llm_calls += 1
                results[i] = self._collect(text, exc, key)
        except LLMUnavailableError as exc:
            self._stop(stop)
            if not self.config.fallback_on_unavailable:
                raise
            self._warn_unavailable(exc)
        except BaseException:  # Ctrl-C or a bug: cancel the work in flight as well
            self._stop(stop)
            raise
        finally:
            stop.set()

    def _worker(self, jobs: queue.SimpleQueue, done: queue.SimpleQueue, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                i, key, p = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((i, key, self.client.chat_text(list(p.messages), p.schema), None))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting thread
                done.put((i, key, None, exc))

    def _stop(self, stop: threading.Event) -> None:
        stop.set()
        cancel = getattr(self.client, "cancel", None)
        if callable(cancel):
            cancel()

    def _collect(self, text: str | None, exc: Exception | None, key: str) -> str | None:
        if exc is not None:
            raise exc
        if self.cache is not None and text is not None and self._parses(text):
            self.cache.put(key, text, self.client.model)
        return text

    def _warn_if_too_long(self, prompts: list[Prompt]) -> None:
        """Ollama silently truncates prompts beyond num_ctx; ~3 characters per token here."""
        longest = max(sum(len(m["content"]) for m in p.messages) for p in prompts)
        if longest / CHARS_PER_TOKEN > self.config.ollama.num_ctx and not self._warned_long:
            log.warning("a prompt of %d characters may exceed num_ctx=%d tokens and be truncated; "
                        "lower prompt.max_edges / max_subset or raise ollama.num_ctx",
                        longest, self.config.ollama.num_ctx)
            self._warned_long = True

    def _warn_unavailable(self, exc: Exception) -> None:
        if not self._warned_unavailable:
            log.warning("LLM unavailable, the routing expert answers instead: %s", exc)
            self._warned_unavailable = True

    def _routes_for(self, graph, group: list[AgentTrip], tt: np.ndarray, text: str | None,
                    base: Mapping[str, ExpertRoute]) -> dict[str, ExpertRoute]:
        if self.answer_log is not None:
            self.answer_log.append((tuple(group), text))
        if text is None:
            return {t.agent_id: self._fallback(t.agent_id, base, "no answer") for t in group}
        report = validate_answer(text, graph, group, tt)
        if report.malformed:
            self.stats.invalid_answers += 1
            log.warning("invalid LLM answer for %s: %s", [t.agent_id for t in group], report.problems)
        elif report.problems:
            log.info("LLM answer problems: %s", "; ".join(report.problems))
        if report.unknown_agents:
            self.stats.bump("unknown_agents", len(report.unknown_agents))
        out = {}
        for t in group:
            ans = report.routes[t.agent_id]
            if ans is None:
                out[t.agent_id] = self._fallback(t.agent_id, base, "unrepairable answer")
            elif ans.repaired:
                self.stats.repairs += 1
                log.debug("repaired route of %s: %s", t.agent_id, "; ".join(ans.notes))
                out[t.agent_id] = ExpertRoute(t.agent_id, ans.edges, "repaired")
            else:
                out[t.agent_id] = ExpertRoute(t.agent_id, ans.edges, "llm")
        return out

    def _fallback(self, agent_id: str, base: Mapping[str, ExpertRoute], why: str) -> ExpertRoute:
        self.stats.fallbacks += 1
        log.info("agent %s: %s, using the routing expert's route", agent_id, why)
        return ExpertRoute(agent_id, base[agent_id].edges, "fallback")
