"""The routing expert (no LLM) and the grouping of agents into interacting subsets.

:class:`RoutingExpert` answers with dynamic shortest paths on the current travel
times. Its congestion-aware variant (default) processes agents in departure order
and, after each assignment, makes the used edges costlier for later agents with a
BPR-like load penalty ``tt * (1 + alpha * (load / capacity) ** beta)``, where
``load`` counts earlier agents on the edge that departed less than
``load_window_s`` ago and ``capacity = capacity_per_lane * lanes``. Agents of the
same subset therefore spread over alternatives instead of all piling onto one path.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError, ExpertError
from reled_sumo.validation import check_field_types
from reled_sumo.experts.base import (
    AgentFeedback,
    AgentTrip,
    ExpertRoute,
    ExpertStats,
    check_travel_times,
    check_trips,
)
from reled_sumo.experts.paths import path_from_costs

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutingConfig:
    """Settings of :class:`RoutingExpert`.

    ``batch_size`` agents (in departure order) share one snapshot of the penalised
    weights, so one Dijkstra per distinct destination serves the whole batch; 1 is
    exact sequential assignment.
    """

    congestion_aware: bool = True
    bpr_alpha: float = 1.0
    bpr_beta: float = 2.0
    capacity_per_lane: float = 4.0
    load_window_s: float = 600.0
    batch_size: int = 1

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.bpr_alpha < 0 or self.bpr_beta <= 0:
            raise ConfigError("routing: bpr_alpha must be >= 0 and bpr_beta > 0")
        if self.capacity_per_lane <= 0 or self.load_window_s <= 0:
            raise ConfigError("routing: capacity_per_lane and load_window_s must be > 0")
        if self.batch_size < 1:
            raise ConfigError("routing: batch_size must be >= 1")


class RoutingExpert:
    """Shortest paths on current travel times, optionally spreading agents by load."""

    name = "routing"

    def __init__(self, config: RoutingConfig | None = None, source: str = "routing") -> None:
        self.config = config or RoutingConfig()
        self.source = source
        self.stats = ExpertStats()

    def plan(
        self,
        graph: "RoadGraph",
        trips: Sequence[AgentTrip],
        travel_times: np.ndarray | None,
        feedback: Mapping[str, AgentFeedback] | None = None,
    ) -> dict[str, ExpertRoute]:
        t0 = time.perf_counter()
        check_trips(graph, trips)
        tt = check_travel_times(graph, travel_times)
        if self.config.congestion_aware:
            paths = self._spread(graph, trips, tt)
        else:
            paths = shortest_paths_by_destination(graph, trips, tt)
        self.stats.seconds += time.perf_counter() - t0
        return {
            t.agent_id: ExpertRoute(t.agent_id, tuple(paths[t.agent_id]), self.source) for t in trips
        }

    def _spread(self, graph: "RoadGraph", trips: Sequence[AgentTrip], tt: np.ndarray) -> dict[str, list[int]]:
        cfg = self.config
        order = sorted(trips, key=lambda t: (t.depart, t.agent_id))
        capacity = cfg.capacity_per_lane * np.maximum(graph.lanes, 1).astype(np.float64)
        load = np.zeros(graph.num_edges, dtype=np.float64)
        active: deque[tuple[float, np.ndarray]] = deque()
        out: dict[str, list[int]] = {}
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            _expire(active, load, batch[0].depart - cfg.load_window_s)
            weights = tt * (1.0 + cfg.bpr_alpha * (load / capacity) ** cfg.bpr_beta)
            found = shortest_paths_by_destination(graph, batch, weights)
            for t in batch:
                used = np.unique(np.asarray(found[t.agent_id], dtype=np.int64))
                load[used] += 1.0
                active.append((t.depart, used))
            out.update(found)
        return out


def _expire(active: deque, load: np.ndarray, before: float) -> None:
    while active and active[0][0] < before:
        _, used = active.popleft()
        load[used] -= 1.0


def shortest_paths_by_destination(
    graph: "RoadGraph", trips: Iterable[AgentTrip], weights: np.ndarray
) -> dict[str, list[int]]:
    """Shortest path for every trip: one Dijkstra per distinct destination.

    Raises ExpertError naming the agent when its destination is unreachable.
    """
    by_dest: dict[int, list[AgentTrip]] = {}
    for t in trips:
        by_dest.setdefault(t.destination, []).append(t)
    out: dict[str, list[int]] = {}
    for dest, group in by_dest.items():
        to = graph.cost_to(dest, weights)
        for t in group:
            path = [dest] if t.origin == dest else path_from_costs(graph, t.origin, dest, to, weights)
            if path is None:
                raise ExpertError(
                    f"agent {t.agent_id!r}: destination edge {graph.edge_ids[dest]!r} is "
                    f"unreachable from origin edge {graph.edge_ids[t.origin]!r}"
                )
            out[t.agent_id] = path
    return out


# ------------------------------------------------------------------ subsets
def edge_intervals(
    route: Sequence[int], depart: float, times: np.ndarray
) -> list[tuple[int, float, float]]:
    """(edge, entry time, exit time) along a route, using per-edge travel times."""
    out = []
    t = float(depart)
    for e in route:
        dt = float(times[e])
        out.append((int(e), t, t + dt))
        t += dt
    return out


def interaction_subsets(
    routes: Mapping[str, Sequence[int]],
    depart_times: Mapping[str, float],
    graph: "RoadGraph",
    max_size: int,
    travel_times: np.ndarray | None = None,
    slack_s: float = 0.0,
) -> list[tuple[str, ...]]:
    """Group agents whose routes share an edge at overlapping times.

    Edge entry times are estimated from ``travel_times`` (free-flow when None).
    Agents are nodes; two interact when they occupy a common edge during
    overlapping intervals (widened by ``slack_s``). Connected components of that
    graph are split, in departure order, into chunks of at most ``max_size``.
    Subsets are returned ordered by their earliest departure.
    """
    if max_size < 1:
        raise ConfigError("interaction_subsets: max_size must be >= 1")
    times = check_travel_times(graph, travel_times)
    agents = sorted(routes, key=lambda a: (depart_times[a], a))
    parent = {a: a for a in agents}
    per_edge: dict[int, list[tuple[float, float, str]]] = {}
    for a in agents:
        for e, t_in, t_out in edge_intervals(routes[a], depart_times[a], times):
            per_edge.setdefault(e, []).append((t_in - slack_s, t_out + slack_s, a))
    for intervals in per_edge.values():
        _union_overlapping(intervals, parent)
    groups: dict[str, list[str]] = {}
    for a in agents:  # departure order is kept inside each group
        groups.setdefault(_find(parent, a), []).append(a)
    chunks = [
        tuple(g[i : i + max_size]) for g in groups.values() for i in range(0, len(g), max_size)
    ]
    return sorted(chunks, key=lambda c: (depart_times[c[0]], c[0]))


def _union_overlapping(intervals: list[tuple[float, float, str]], parent: dict[str, str]) -> None:
    """Sweep intervals on one edge: each run of overlapping intervals is one component."""
    intervals.sort()
    head, reach = None, -np.inf
    for t_in, t_out, a in intervals:
        if head is not None and t_in <= reach:
            _union(parent, head, a)
            reach = max(reach, t_out)
        else:
            head, reach = a, t_out


def _find(parent: dict[str, str], a: str) -> str:
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:
        parent[a], a = root, parent[a]
    return root


def _union(parent: dict[str, str], a: str, b: str) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
