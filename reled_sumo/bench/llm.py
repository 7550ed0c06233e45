"""`reled bench llm`: what a model actually answers, and what its demonstrations are worth.

For a scenario, LLM expert modes (``path``, ``routes``) and models, on the same seeds:

* per answer: valid JSON, real ids (junction/edge and agent ids that exist), adjacent
  steps (consecutive ``MoveTo`` junctions joined by an edge, starting from the end of the
  origin edge), destinations reached (the agent's moves include its destination junction),
  latency, prompt and completion tokens (as the server reports them), cache hits;
* per run: repairs, fallbacks, who wrote the kept demonstrations (llm / repaired /
  fallback), and the demonstrations' mean travel time, arrival rate and SED bound next to
  the routing expert's on the same seed.

In route-choice mode the answer is turned into the ``MoveTo`` instructions of the chosen
routes before it is scored, so its ids are real and its steps adjacent whenever it names
a listed route: the rates say how often the model named one.

Each run uses a fresh answer cache (a temporary folder) unless ``cache_dir`` is given, so
cache hits only count prompts repeated within the run.
"""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import AgentTrip
from reled_sumo.experts.instructions import InvalidAnswerError, extract_json, parse_instructions
from reled_sumo.experts.prompt import PromptConfig
from reled_sumo.experts.routing import RoutingExpert

if TYPE_CHECKING:  # the ollama package is imported only when an LLM bench runs
    from reled_sumo.experts.ollama_client import OllamaClient, ServerInfo

log = logging.getLogger(__name__)

MODES = ("path", "routes")


@dataclass(frozen=True)
class LLMBenchConfig:
    scenario: str
    models: tuple[str, ...] = ("smollm2:135m",)
    modes: tuple[str, ...] = MODES
    seeds: tuple[int, ...] = (0,)
    agents: int | None = 20
    rounds: int = 1
    host: str | None = None
    timeout_s: float = 600.0
    cache_dir: str | None = None
    max_edges: int = 200  # path mode: corridor size (PromptConfig.max_edges); small models have small contexts
    max_subset: int = 6  # agents per prompt (LLMExpertConfig.max_subset)

    def __post_init__(self) -> None:
        if not self.models or not all(isinstance(m, str) and m for m in self.models):
            raise ConfigError("bench llm: give at least one model name")
        bad = [m for m in self.modes if m not in MODES]
        if not self.modes or bad:
            raise ConfigError(f"bench llm: modes must be among {', '.join(MODES)}, got {list(self.modes)}")
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ConfigError("bench llm: seeds must be integers >= 0")
        if self.agents is not None and (isinstance(self.agents, bool) or not isinstance(self.agents, int)
                                        or self.agents < 1):
            raise ConfigError("bench llm: agents must be an integer >= 1")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ConfigError("bench llm: rounds must be an integer >= 1")
        for name in ("max_edges", "max_subset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"bench llm: {name} must be an integer >= 1")
        if not np.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise ConfigError("bench llm: timeout_s must be a finite number > 0")


# ------------------------------------------------------------------ answer quality
@dataclass
class AnswerQuality:
    """Counts over answers; the rates are ratios of these."""

    answers: int = 0
    valid_json: int = 0
    ids: int = 0
    real_ids: int = 0
    steps: int = 0
    adjacent_steps: int = 0
    agents: int = 0
    reached: int = 0

    def add(self, other: "AnswerQuality") -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)

    def rates(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else float("nan")

        return {"valid_json_rate": ratio(self.valid_json, self.answers),
                "real_id_rate": ratio(self.real_ids, self.ids),
                "adjacent_rate": ratio(self.adjacent_steps, self.steps),
                "reached_rate": ratio(self.reached, self.agents)}


def _junction_arcs(graph) -> set[tuple[str, str]]:
    return set(zip(graph.from_junction, graph.to_junction))


def answer_quality(graph, group: Sequence[AgentTrip], text: str | None,
                   arcs: set[tuple[str, str]] | None = None) -> AnswerQuality:
    """Score one path-mode answer (or the instructions a route choice became) for ``group``."""
    q = AnswerQuality(answers=1, agents=len(group))
    if text is None:
        return q
    try:
        instructions, _ = parse_instructions(extract_json(text))
    except InvalidAnswerError:
        return q
    q.valid_json = 1
    arcs = arcs if arcs is not None else _junction_arcs(graph)
    wanted = {t.agent_id for t in group}
    moves: dict[str, list[str]] = {a: [] for a in wanted}
    for ins in instructions:
        real_param = ins.parameter in graph.junctions if ins.command == "MoveTo" else ins.parameter in graph.index
        q.ids += 2
        q.real_ids += int(real_param) + int(ins.agent_id in wanted)
        if ins.command == "MoveTo" and ins.agent_id in wanted:
            moves[ins.agent_id].append(ins.parameter)
    for t in group:
        seq = [graph.to_junction[t.origin], *moves[t.agent_id]]
        pairs = [(a, b) for a, b in zip(seq, seq[1:]) if a != b]
        q.steps += len(pairs)
        q.adjacent_steps += sum(p in arcs for p in pairs)
        q.reached += int(graph.to_junction[t.destination] in moves[t.agent_id])
    return q


# ------------------------------------------------------------------ metered client
class TimedClient:
    """Wraps an OllamaClient: seconds and token counts of every chat answer (ChatClient protocol)."""

    def __init__(self, inner: OllamaClient) -> None:
        self.inner = inner
        self.calls: list[dict[str, float]] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.inner.model

    def check(self) -> ServerInfo:
        return self.inner.check()

    def close(self) -> None:
        self.inner.close()

    def chat_text(self, messages, schema) -> str:
        with self._lock:  # one answer at a time, so the token deltas belong to it
            before = dict(self.inner.usage)
            t0 = time.perf_counter()
            text = self.inner.chat_text(messages, schema)
            seconds = time.perf_counter() - t0
            after = self.inner.usage
            self.calls.append({"seconds": seconds,
                               "prompt_tokens": after["prompt_tokens"] - before["prompt_tokens"],
                               "completion_tokens": after["completion_tokens"] - before["completion_tokens"]})
        return text


# ------------------------------------------------------------------ runs
def _demo_row(demos, history) -> dict[str, Any]:
    last = history[-1]
    sources: dict[str, int] = {}
    for s in demos.meta.get("sources", {}).values():
        sources[s] = sources.get(s, 0) + 1
    return {"travel_time": last.mean_travel_time, "arrival_rate": last.arrival_rate,
            "sed_bound": last.mean_bound, "sources": sources}


def _routing_run(cfg: LLMBenchConfig, seed: int) -> dict[str, Any]:
    from reled_sumo.env import make_env  # lazy: sumo
    from reled_sumo.experts.sed import SEDConfig, refine  # lazy: sumo

    env = make_env(cfg.scenario, seed=seed, max_agents=cfg.agents)
    t0 = time.perf_counter()
    try:
        demos, history = refine(env, RoutingExpert(), SEDConfig(rounds=cfg.rounds, seed=seed))
    finally:
        env.close()
    return {"expert": "routing", "mode": "-", "model": "-", "seed": seed, "agents": len(demos),
            "wall_s": time.perf_counter() - t0, **_demo_row(demos, history)}


def _llm_expert(cfg: LLMBenchConfig, model: str, mode: str, cache_dir: str):
    from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert  # lazy: ollama
    from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig  # lazy: ollama
    from reled_sumo.experts.route_choice import RouteChoiceExpert  # lazy: ollama

    ocfg = OllamaConfig(host=cfg.host, model=model, timeout_s=cfg.timeout_s, retries=0)
    # the server is checked up front (a missing server or model stops the bench); after that a
    # rejected request (e.g. a prompt longer than the context) is an unanswered subset that falls back
    lcfg = LLMExpertConfig(ollama=ocfg, cache_dir=cache_dir, max_workers=1, fallback_on_unavailable=True,
                           prompt=PromptConfig(max_edges=cfg.max_edges), max_subset=cfg.max_subset)
    client = TimedClient(OllamaClient(ocfg))
    client.check()
    cls = RouteChoiceExpert if mode == "routes" else OllamaExpert
    expert = cls(lcfg, client=client)  # type: ignore[arg-type]  # TimedClient is a ChatClient
    expert.answer_log = []
    return expert, client


def _llm_run(cfg: LLMBenchConfig, model: str, mode: str, seed: int, cache_dir: str) -> dict[str, Any]:
    from reled_sumo.env import make_env  # lazy: sumo
    from reled_sumo.experts.sed import SEDConfig, refine  # lazy: sumo

    expert, client = _llm_expert(cfg, model, mode, cache_dir)
    env = make_env(cfg.scenario, seed=seed, max_agents=cfg.agents)
    t0 = time.perf_counter()
    try:
        demos, history = refine(env, expert, SEDConfig(rounds=cfg.rounds, seed=seed))
        graph = env.scenario.graph
    finally:
        env.close()
        expert.close()
    arcs = _junction_arcs(graph)
    quality = AnswerQuality()
    for group, text in expert.answer_log:
        quality.add(answer_quality(graph, group, text, arcs))
    secs = np.array([c["seconds"] for c in client.calls]) if client.calls else np.array([np.nan])
    stats = expert.stats
    return {"expert": "llm", "mode": mode, "model": model, "seed": seed, "agents": len(demos),
            "wall_s": time.perf_counter() - t0, "answers": quality.answers, "llm_calls": stats.llm_calls,
            "unanswered": sum(text is None for _, text in expert.answer_log),
            "cache_hits": stats.cache_hits, **quality.rates(), "repairs": stats.repairs,
            "fallbacks": stats.fallbacks, "invalid_answers": stats.invalid_answers,
            "s_per_answer": float(np.mean(secs)), "s_per_answer_max": float(np.max(secs)),
            "prompt_tokens": float(np.mean([c["prompt_tokens"] for c in client.calls])) if client.calls else np.nan,
            "completion_tokens": (float(np.mean([c["completion_tokens"] for c in client.calls]))
                                  if client.calls else np.nan),
            **_demo_row(demos, history)}


def run_llm_bench(cfg: LLMBenchConfig, on_row: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:
    """Routing expert, then every (model, mode), on each seed; one row per run."""
    rows = []

    def emit(row: dict) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    for seed in cfg.seeds:
        routing = _routing_run(cfg, seed)
        emit(routing)
        for model in cfg.models:
            for mode in cfg.modes:
                with tempfile.TemporaryDirectory(prefix="reled-bench-llm-") as tmp:
                    row = _llm_run(cfg, model, mode, seed, cfg.cache_dir or tmp)
                row["routing_travel_time"] = routing["travel_time"]
                row["routing_sed_bound"] = routing["sed_bound"]
                emit(row)
    return rows


def summary_columns() -> tuple[str, ...]:
    return ("model", "mode", "seed", "answers", "valid_json_rate", "real_id_rate", "adjacent_rate", "reached_rate",
            "unanswered", "repairs", "fallbacks", "cache_hits", "s_per_answer", "prompt_tokens", "completion_tokens",
            "travel_time", "routing_travel_time", "sed_bound", "routing_sed_bound")


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    """NaN -> None so that every line is strict JSON."""
    def fix(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v

    return {k: fix(v) for k, v in row.items()}


__all__ = ["AnswerQuality", "LLMBenchConfig", "TimedClient", "answer_quality", "run_llm_bench", "jsonable",
           "summary_columns"]
