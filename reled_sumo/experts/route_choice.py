"""Route-choice mode of the LLM expert: the model picks one of a few named routes per agent.

Path mode (:mod:`reled_sumo.experts.prompt`) asks the model to write every junction of
every route, which small models cannot do (their consecutive moves are rarely adjacent).
Here the prompt lists, per agent, ``k_routes`` candidate routes named ``R1``..``Rk``: the
``k`` alternative shortest paths on the current travel times (iterative penalisation, as
the corridor of path mode), each with its length, current travel time, the streets it
follows and its congested stretches (current travel time > ``congestion_ratio`` x
free-flow), plus the agent's SED feedback. The JSON schema of the answer is an object
with one required property per agent whose value is an enum of that agent's route names::

    {"veh3": "R2", "veh7": "R1"}

The chosen route becomes the agent's ``MoveTo`` instructions (one per junction after the
origin edge) and goes through the same validation, repair and fallback as path mode;
an unknown agent or route name gives that agent no instruction, so it falls back.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import AgentFeedback, AgentTrip, ExpertRoute
from reled_sumo.experts.instructions import InvalidAnswerError, extract_json
from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
from reled_sumo.experts.paths import k_alternative_paths
from reled_sumo.experts.prompt import Prompt, sanitize_name

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

log = logging.getLogger(__name__)

MODES = ("path", "routes")

ROUTE_SYSTEM_PROMPT = """You are a traffic routing expert. Several vehicles share a road network. \
For each vehicle you get a few candidate routes with their length, current travel time and \
congested stretches. Choose one route per vehicle so that each arrives quickly and vehicles \
do not pile onto the same congested streets (spread them over alternatives when they would).
Answer ONLY with a JSON object that maps every vehicle id to the name of its chosen route, \
for example {"veh1": "R1", "veh2": "R2"}. Use only the route names listed for that vehicle."""


@dataclass(frozen=True)
class RouteChoiceConfig:
    """How many candidates, how they differ, and how much the prompt says about them."""

    k_routes: int = 3
    penalty_factor: float = 1.6
    congestion_ratio: float = 1.5
    max_streets: int = 6
    max_congested: int = 4
    max_name_len: int = 32
    max_feedback_items: int = 6

    def __post_init__(self) -> None:
        for name in ("k_routes", "max_streets", "max_congested", "max_name_len", "max_feedback_items"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"route choice: {name} must be an integer, got {value!r}")
        if not 1 <= self.k_routes <= 9:
            raise ConfigError("route choice: k_routes must be in [1, 9]")
        for name in ("penalty_factor", "congestion_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 1:
                raise ConfigError(f"route choice: {name} must be a finite number > 1, got {value!r}")
        if min(self.max_streets, self.max_congested, self.max_name_len, self.max_feedback_items) < 0:
            raise ConfigError("route choice: the max_* limits must be >= 0")


@dataclass(frozen=True)
class Candidate:
    name: str
    edges: tuple[int, ...]
    length_m: float
    time_s: float
    streets: tuple[str, ...]
    congested: tuple[tuple[str, float], ...]  # (edge id, current / free-flow time)


@dataclass(frozen=True)
class ChoicePrompt(Prompt):
    """A route-choice request: also the candidates it offered, per agent."""

    candidates: Mapping[str, tuple[Candidate, ...]] = field(default_factory=dict, repr=False)


def candidate_routes(graph: "RoadGraph", trip: AgentTrip, tt: np.ndarray,
                     config: RouteChoiceConfig) -> tuple[Candidate, ...]:
    """The agent's ``k_routes`` alternative shortest paths on ``tt``, named R1.. in order."""
    paths = k_alternative_paths(graph, trip.origin, trip.destination, tt, config.k_routes, config.penalty_factor)
    free = np.asarray(graph.freeflow_time, dtype=np.float64)
    out = []
    for i, p in enumerate(paths):
        ratio = tt[p] / np.maximum(free[p], 1e-6)
        congested = tuple((graph.edge_ids[e], float(r)) for e, r in zip(p, ratio) if r > config.congestion_ratio)
        streets: list[str] = []
        for e in p:
            name = sanitize_name(graph.names[e], config.max_name_len) if config.max_name_len else ""
            if name and (not streets or streets[-1] != name):
                streets.append(name)
        out.append(Candidate(f"R{i + 1}", tuple(int(e) for e in p), float(graph.length[p].sum()),
                             float(tt[p].sum()), tuple(streets), congested))
    return tuple(out)


def choice_schema(candidates: Mapping[str, Sequence[Candidate]]) -> dict[str, Any]:
    """One required property per agent, its value an enum of the agent's route names."""
    props = {a: {"type": "string", "enum": [c.name for c in cs]} for a, cs in candidates.items()}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _candidate_line(c: Candidate, config: RouteChoiceConfig) -> str:
    streets = list(c.streets[: config.max_streets]) + (["..."] if len(c.streets) > config.max_streets else [])
    cong = ", ".join(f"{e} ({r:.1f}x free flow)" for e, r in c.congested[: config.max_congested])
    more = len(c.congested) - config.max_congested
    if more > 0:
        cong += f" (+{more} more)"
    return (f"  {c.name}: {c.length_m:.0f} m, {c.time_s:.0f} s now, {len(c.edges)} edges"
            f"{', via ' + ' - '.join(streets) if streets else ''}; congested: {cong or 'none'}")


def _feedback_line(fb: AgentFeedback, limit: int) -> str:
    cong = " ".join(fb.congested_edges[:limit]) or "none"
    changed = " ".join(fb.changed_neighbours[:limit]) or "none"
    return (f"  last round: travel time {fb.travel_time:.0f} s, volatility {fb.volatility:.2f}, "
            f"divergence {fb.divergence:.2f}, congested on its route: {cong}, changed neighbours: {changed}")


def build_choice_prompt(graph: "RoadGraph", trips: Sequence[AgentTrip], tt: np.ndarray,
                        feedback: Mapping[str, AgentFeedback], config: RouteChoiceConfig) -> ChoicePrompt:
    """Chat messages, answer schema and candidates for one subset of agents."""
    cands = {t.agent_id: candidate_routes(graph, t, tt, config) for t in trips}
    lines = []
    for t in trips:
        lines.append(f"Vehicle {t.agent_id}: from junction {graph.to_junction[t.origin]} to junction "
                     f"{graph.to_junction[t.destination]}, departs at {t.depart:.0f} s.")
        if t.agent_id in feedback:
            lines.append(_feedback_line(feedback[t.agent_id], config.max_feedback_items))
        lines += [_candidate_line(c, config) for c in cands[t.agent_id]]
    agents = tuple(t.agent_id for t in trips)
    lines += ["", f"Choose a route for each of: {', '.join(agents)}."]
    messages = ({"role": "system", "content": ROUTE_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)})
    edges = sorted({e for cs in cands.values() for c in cs for e in c.edges})
    junctions = sorted({graph.to_junction[e] for e in edges})
    return ChoicePrompt(messages, choice_schema(cands), agents, tuple(edges), tuple(junctions), cands)


def choices_of(text: Any) -> dict[str, str]:
    """Agent -> route name in an answer (strings only); InvalidAnswerError if it is not a JSON object."""
    value = extract_json(text)
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), dict):
        value = next(iter(value.values()))  # {"choices": {...}}: a common wrapping
    if not isinstance(value, dict):
        raise InvalidAnswerError("the answer is not a JSON object of agent -> route name")
    return {str(k).strip(): v.strip() for k, v in value.items() if isinstance(v, str)}


def to_instructions(graph: "RoadGraph", choices: Mapping[str, str],
                    candidates: Mapping[str, Sequence[Candidate]]) -> tuple[list[list[str]], list[str]]:
    """MoveTo instructions for every agent whose choice names one of its candidates; the others."""
    out, missing = [], []
    for agent, cands in candidates.items():
        name = choices.get(agent, "").upper()
        chosen = next((c for c in cands if c.name == name), None)
        if chosen is None:
            missing.append(agent)
            continue
        out += [["MoveTo", graph.to_junction[e], agent] for e in chosen.edges[1:]]
    return out, missing


class RouteChoiceExpert(OllamaExpert):
    """:class:`OllamaExpert` in route-choice mode (same client, cache, repair and fallback)."""

    name = "llm"
    mode = "routes"

    def __init__(self, config: LLMExpertConfig | None = None, client=None, fallback=None, cache=None,
                 routes: RouteChoiceConfig | None = None) -> None:
        super().__init__(config, client, fallback, cache)
        self.routes_config = routes or RouteChoiceConfig()
        self._candidates: dict[str, tuple[Candidate, ...]] = {}

    def _prompt(self, graph, group, tt, feedback) -> ChoicePrompt:
        prompt = build_choice_prompt(graph, group, tt, feedback, self.routes_config)
        self._candidates.update(prompt.candidates)
        return prompt

    def _parses(self, text: str) -> bool:
        try:
            return bool(choices_of(text))
        except InvalidAnswerError:
            return False

    def _routes_for(self, graph, group, tt, text, base) -> dict[str, ExpertRoute]:
        """Turn the choice into MoveTo instructions, then validate them as path mode does."""
        if text is not None:
            text = self.instructions_text(graph, group, text)
        return super()._routes_for(graph, group, tt, text, base)

    def instructions_text(self, graph, group: Sequence[AgentTrip], text: str) -> str:
        """The path-mode answer equivalent to a choice answer (one without instructions when malformed)."""
        try:
            choices = choices_of(text)
        except InvalidAnswerError as exc:
            log.warning("invalid route-choice answer for %s: %s", [t.agent_id for t in group], exc)
            return json.dumps({"route_choice_error": str(exc)})
        cands = {t.agent_id: self._candidates.get(t.agent_id, ()) for t in group}
        instructions, missing = to_instructions(graph, choices, cands)
        if missing:
            self.stats.bump("unknown_routes", len(missing))
            log.info("route choice: no valid route name for %s", missing)
        return json.dumps({"instructions": instructions})
