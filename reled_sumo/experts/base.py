"""Data types shared by every expert, and the :class:`Expert` protocol.

An *expert* turns a set of trips (origin edge, destination edge, departure time)
into one complete, valid route per trip. Edges are indices into a
:class:`~reled_sumo.scenario.graph.RoadGraph`. A route is *valid* when it starts
at the trip's origin, ends at its destination and every consecutive pair of
edges is connected in the graph.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from reled_sumo.errors import ExpertError

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

ROUTE_SOURCES = frozenset({"llm", "repaired", "fallback", "routing", "equilibrium"})


@dataclass(frozen=True)
class AgentTrip:
    """One agent's trip: origin and destination are edge indices into the RoadGraph."""

    agent_id: str
    origin: int
    destination: int
    depart: float


def agent_trips(env) -> list[AgentTrip]:
    """Trips of the agents ``env`` controls (its ``possible_agents``), in scenario order."""
    graph, controlled = env.scenario.graph, set(env.possible_agents)
    return [AgentTrip(a.id, graph.index[a.origin], graph.index[a.destination], a.depart)
            for a in env.scenario.agents if a.id in controlled]


@dataclass(frozen=True)
class AgentFeedback:
    """What happened to an agent in the previous round (fed back into the next prompt).

    ``congested_edges``, ``changed_neighbours`` and ``previous_route`` hold SUMO
    ids (edge ids / agent ids), not indices, because they come from the simulator.
    """

    agent_id: str
    volatility: float = 0.0
    divergence: float = 0.0
    congested_edges: tuple[str, ...] = ()
    changed_neighbours: tuple[str, ...] = ()
    previous_route: tuple[str, ...] = ()
    travel_time: float = 0.0


@dataclass(frozen=True)
class ExpertRoute:
    """A complete route for one agent and where it came from.

    ``source``: ``"llm"`` (the model's answer as given), ``"repaired"`` (the model's
    answer after repair), ``"fallback"`` (the model failed, the routing expert
    answered), ``"routing"`` (the routing expert was asked directly) or ``"equilibrium"``
    (the agents-only equilibrium or its best response, :mod:`reled_sumo.experts.equilibrium`).
    """

    agent_id: str
    edges: tuple[int, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.edges:
            raise ExpertError(f"empty route for agent {self.agent_id!r}")
        if self.source not in ROUTE_SOURCES:
            raise ExpertError(
                f"unknown route source {self.source!r} for agent {self.agent_id!r}; "
                f"expected one of {sorted(ROUTE_SOURCES)}"
            )


@dataclass
class ExpertStats:
    """Counters an expert accumulates over its lifetime (mutable on purpose)."""

    llm_calls: int = 0
    cache_hits: int = 0
    repairs: int = 0
    fallbacks: int = 0
    invalid_answers: int = 0
    seconds: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, n: int = 1) -> None:
        """Increment a free-form counter (e.g. ``unknown_agents``)."""
        self.extra[key] = self.extra.get(key, 0) + n

    def as_dict(self) -> dict[str, float]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out


@runtime_checkable
class Expert(Protocol):
    """Anything that produces one valid route per trip."""

    name: str
    stats: ExpertStats

    def plan(
        self,
        graph: "RoadGraph",
        trips: Sequence[AgentTrip],
        travel_times: np.ndarray,
        feedback: Mapping[str, AgentFeedback],
    ) -> dict[str, ExpertRoute]:
        """Return a valid :class:`ExpertRoute` for every trip, keyed by agent id."""
        ...


def is_valid_trip_route(graph: "RoadGraph", edges: Sequence[int], trip: AgentTrip) -> bool:
    """True when ``edges`` goes from the trip's origin to its destination along graph arcs."""
    if not edges or edges[0] != trip.origin or edges[-1] != trip.destination:
        return False
    n = graph.num_edges
    if any(not (0 <= int(e) < n) for e in edges):
        return False
    return graph.is_valid_route(list(edges))


def check_trips(graph: "RoadGraph", trips: Sequence[AgentTrip]) -> None:
    """Raise ExpertError for duplicate agent ids or edge indices outside the graph."""
    seen: set[str] = set()
    n = graph.num_edges
    for t in trips:
        if t.agent_id in seen:
            raise ExpertError(f"duplicate agent id {t.agent_id!r} in trips")
        seen.add(t.agent_id)
        if not (0 <= t.origin < n and 0 <= t.destination < n):
            raise ExpertError(
                f"agent {t.agent_id!r}: origin/destination ({t.origin}, {t.destination}) "
                f"outside the graph's {n} edges"
            )


def check_travel_times(graph: "RoadGraph", travel_times: np.ndarray | None) -> np.ndarray:
    """Return per-edge travel times as a float array; free-flow times when None."""
    if travel_times is None:
        return np.asarray(graph.freeflow_time, dtype=np.float64)
    tt = np.asarray(travel_times, dtype=np.float64)
    if tt.shape != (graph.num_edges,):
        raise ExpertError(f"travel_times has shape {tt.shape}, expected ({graph.num_edges},)")
    bad = ~np.isfinite(tt) | (tt < 0)
    if bad.any():
        tt = np.where(bad, graph.freeflow_time, tt)
    return tt
