"""Parse, validate and repair LLM answers into routes. The answer is DATA: never evaluated.

Answer format: ``{"instructions": [[Command, Parameter, AgentID], ...]}`` where
Command is ``MoveTo`` (Parameter: a junction id) or ``Avoid`` (Parameter: an edge id).
A bare list of instructions is accepted too, and so is text around the JSON.

Per agent, MoveTo junctions are waypoints starting from the end of its origin edge:

* unknown junction -> skipped (repaired); unknown agent or command -> ignored;
* a junction not adjacent to the current position -> joined with a shortest path (repaired);
  unreachable -> skipped (repaired);
* the route passes the destination -> cut there (repaired);
* the destination is not reached -> completed with a shortest path (repaired), except
  that entering the destination edge from the junction where it starts is not a repair;
* loops -> removed (repaired).

An agent with no usable waypoint (no instruction, all unknown/unreachable), or whose
destination cannot be reached, gets ``None``: the caller falls back.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from reled_sumo.errors import ExpertError
from reled_sumo.experts.base import AgentTrip, is_valid_trip_route
from reled_sumo.experts.paths import incoming_edges, path_to_any, remove_cycles, shortest_path

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

MAX_ANSWER_CHARS = 200_000
MAX_JSON_CANDIDATES = 64
AVOID_FACTOR = 1000.0
_COMMANDS = {"moveto": "MoveTo", "move_to": "MoveTo", "move": "MoveTo", "avoid": "Avoid"}


class InvalidAnswerError(ExpertError):
    """An LLM answer that holds no usable instruction list (malformed, empty, wrong shape)."""


@dataclass(frozen=True)
class Instruction:
    command: str
    parameter: str
    agent_id: str


@dataclass(frozen=True)
class AgentAnswer:
    """A valid route derived from the answer; ``notes`` says what was repaired."""

    edges: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def repaired(self) -> bool:
        return bool(self.notes)


@dataclass(frozen=True)
class AnswerReport:
    """Outcome of validating one answer for one subset of agents."""

    routes: dict[str, AgentAnswer | None]
    malformed: bool = False
    unknown_agents: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def unrepairable(self) -> tuple[str, ...]:
        return tuple(a for a, r in self.routes.items() if r is None)


# ------------------------------------------------------------------ JSON
def _looks_like_answer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(str(k).lower() == "instructions" for k in value)
    return isinstance(value, list) and bool(value) and isinstance(value[0], (list, dict))


def extract_json(text: Any) -> Any:
    """The JSON value in ``text``: the whole text, else the first object/array that
    looks like an answer, else the first object/array found. Raises InvalidAnswerError."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidAnswerError("empty answer")
    text = text[:MAX_ANSWER_CHARS]
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    decoder, first = json.JSONDecoder(), None
    for n, match in enumerate(re.finditer(r"[\[{]", text)):
        if n >= MAX_JSON_CANDIDATES:
            break
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        if _looks_like_answer(value):
            return value
        first = value if first is None else first
    if first is None:
        raise InvalidAnswerError("no JSON object or array in the answer")
    return first


def _scalar(x: Any) -> str | None:
    if isinstance(x, str):
        return x.strip()
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    return None


def _fields(item: Any) -> tuple[Any, Any, Any] | None:
    if isinstance(item, (list, tuple)) and len(item) >= 3:
        return item[0], item[1], item[2]
    if isinstance(item, dict):
        low = {str(k).lower(): v for k, v in item.items()}
        agent = low.get("agentid", low.get("agent_id", low.get("agent")))
        return low.get("command"), low.get("parameter"), agent
    return None


def parse_instructions(value: Any) -> tuple[list[Instruction], int]:
    """Instructions in a decoded answer, and how many items were unusable."""
    if isinstance(value, dict):
        key = next((k for k in value if str(k).lower() == "instructions"), None)
        if key is None:
            raise InvalidAnswerError("the answer has no 'instructions' field")
        value = value[key]
    if not isinstance(value, list):
        raise InvalidAnswerError("'instructions' is not a list")
    out, bad = [], 0
    for item in value:
        f = _fields(item)
        parts = [_scalar(x) for x in f] if f else [None]
        cmd = _COMMANDS.get((parts[0] or "").lower()) if f else None
        if cmd is None or None in parts:
            bad += 1
            continue
        out.append(Instruction(cmd, str(parts[1]), str(parts[2])))  # not None: checked above
    return out, bad


# ----------------------------------------------------------------- routes
def _direct_step(graph: "RoadGraph", cur: int, junction: str, dest: int, w: np.ndarray) -> int | None:
    options = [int(f) for f in graph.successors(cur) if graph.to_junction[f] == junction]
    if not options:
        return None
    return dest if dest in options else min(options, key=lambda f: w[f])


def _follow_waypoints(
    graph: "RoadGraph", trip: AgentTrip, waypoints: Sequence[str], w: np.ndarray
) -> tuple[list[int], list[str], int]:
    route, notes, used = [trip.origin], [], 0
    incoming = incoming_edges(graph)
    for j in waypoints:
        cur = route[-1]
        if j not in graph.junctions:
            notes.append(f"unknown junction {j!r} skipped")
        elif graph.to_junction[cur] == j:
            continue
        elif (step := _direct_step(graph, cur, j, trip.destination, w)) is not None:
            route.append(step)
            used += 1
        elif (seg := path_to_any(graph, cur, incoming.get(j, ()), w)) is not None:
            route.extend(seg)
            used += 1
            notes.append(f"non-adjacent move to {j!r} joined")
        else:
            notes.append(f"junction {j!r} unreachable, skipped")
    return route, notes, used


def _finish(graph: "RoadGraph", trip: AgentTrip, route: list[int], w: np.ndarray, notes: list[str]) -> list[int] | None:
    dest = trip.destination
    if dest in route:
        cut = route.index(dest) + 1
        if cut < len(route):
            notes.append("moves past the destination cut")
        route = route[:cut]
    elif dest in graph.successors(route[-1]):
        route.append(dest)
    else:
        tail = shortest_path(graph, route[-1], dest, w)
        if tail is None:
            return None
        route.extend(tail[1:])
        notes.append("missing destination completed")
    clean = remove_cycles(route)
    if len(clean) != len(route):
        notes.append("loop removed")
    return clean


def build_route(
    graph: "RoadGraph",
    trip: AgentTrip,
    waypoints: Sequence[str],
    travel_times: np.ndarray,
    avoid: Iterable[int] = (),
) -> AgentAnswer | None:
    """Turn MoveTo waypoints into a valid route, repairing what can be repaired."""
    if trip.origin == trip.destination:
        return AgentAnswer((trip.origin,))
    w = np.array(travel_times, dtype=np.float64)
    avoid = list(avoid)
    if avoid:
        w[avoid] *= AVOID_FACTOR
    route, notes, used = _follow_waypoints(graph, trip, waypoints, w)
    if used == 0:
        return None
    final = _finish(graph, trip, route, w, notes)
    if final is None or not is_valid_trip_route(graph, final, trip):
        return None
    return AgentAnswer(tuple(final), tuple(notes))


def validate_answer(
    text: str, graph: "RoadGraph", trips: Sequence[AgentTrip], travel_times: np.ndarray
) -> AnswerReport:
    """Validate/repair one answer for a subset of trips; never raises on bad content."""
    try:
        instructions, bad = parse_instructions(extract_json(text))
    except InvalidAnswerError as exc:
        return AnswerReport({t.agent_id: None for t in trips}, malformed=True, problems=(str(exc),))
    wanted = {t.agent_id for t in trips}
    waypoints: dict[str, list[str]] = {a: [] for a in wanted}
    avoid: dict[str, list[int]] = {a: [] for a in wanted}
    unknown: list[str] = []
    for ins in instructions:
        if ins.agent_id not in wanted:
            unknown.append(ins.agent_id)
        elif ins.command == "MoveTo":
            waypoints[ins.agent_id].append(ins.parameter)
        elif ins.parameter in graph.index:
            avoid[ins.agent_id].append(graph.index[ins.parameter])
    problems = [f"{bad} unusable instruction item(s)"] if bad else []
    if unknown:
        problems.append(f"unknown agent ids ignored: {sorted(set(unknown))[:10]}")
    routes = {
        t.agent_id: build_route(graph, t, waypoints[t.agent_id], travel_times, avoid[t.agent_id])
        for t in trips
    }
    return AnswerReport(routes, False, tuple(dict.fromkeys(unknown)), tuple(problems))
