"""The agents-only equilibrium: the bound for what the controlled agents can reach alone, and a
teacher (:class:`EquilibriumExpert`) that demonstrates it.

The background keeps its own routes (unlike ``due``, which re-routes every vehicle and is a
different traffic system). The controlled agents iterate to a best response on measured
edge times (method of successive averages over agents):

1. start on free-flow shortest paths (``start="shortest"``, the ``agents-eq`` reference), or on
   the routes the ``live`` policy drove on seed ``seed`` (``start="live"``: the learners' prior,
   so the kept plan is at most the prior's routes on the measuring seeds);
2. run the plan in the env on ``seeds`` SUMO seeds and measure edge times (vehicle-time
   weighted, :class:`~reled_sumo.env.meter.EdgeTimeMeter`);
3. every agent's best response is its shortest path on those times; the ``1 / (k + 2)``
   share of agents (at least one) with the largest gain (current route's measured cost minus
   the best response's) switch;
4. repeat ``iterations`` times; keep the plan with the lowest measured mean travel time.

The result is cached per scenario hash, controlled agents, horizon and settings in the
scenario's cache folder (``agents-eq-<key>.json``). The ``agents-eq`` evaluation reference
and the ``agents-eq`` expert share that cache.

As a teacher, the equilibrium answers the whole agent set with its routes (the first SED
round, and every refresh); SED's later rounds ask it to revise a few agents given the last
run's measured edge times, and it answers with their best responses: shortest paths on those
times (the equilibrium's own switching step, for the agents SED picked).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError, ExpertError
from reled_sumo.experts.base import (
    AgentFeedback, AgentTrip, ExpertRoute, ExpertStats, agent_trips, check_travel_times, check_trips,
)
from reled_sumo.env.acting import batch_policy, with_zero_stats
from reled_sumo.env.policies import get_policy
from reled_sumo.experts.execute import execute_routes, record_routes
from reled_sumo.experts.routing import shortest_paths_by_destination
from reled_sumo.sim.reference_runs import CACHE_DIR

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

log = logging.getLogger(__name__)


START_PLANS = ("shortest", "live")


def cache_path(env, iterations: int, seeds: int, start: str = "shortest") -> Path:
    sc = env.scenario
    parts: list[Any] = [sc.scenario_hash, list(env.possible_agents), env.horizon, iterations, seeds]
    if start != "shortest":  # the reference's key stays as it was
        parts += [start, _live_settings(env)]
    key = json.dumps(parts)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(sc.path) / CACHE_DIR / f"agents-eq-{digest}.json"


def agents_equilibrium(env, iterations: int = 6, seeds: int = 2, seed: int = 0,
                       use_cache: bool = True, start: str = "shortest") -> dict[str, list[int]]:
    """Routes (edge indices) of the agents-only equilibrium of ``env``'s controlled agents."""
    if start not in START_PLANS:
        raise ConfigError(f"agents-eq start must be one of {', '.join(START_PLANS)}, got {start!r}")
    graph = env.scenario.graph
    path = cache_path(env, iterations, seeds, start)
    if use_cache and path.is_file():
        return {a: [graph.index[e] for e in r] for a, r in json.loads(path.read_text()).items()}
    trips = agent_trips(env)
    if start == "live":
        routes = record_routes(env, with_zero_stats(batch_policy(get_policy("live"))), seed)
    else:
        routes = {t.agent_id: graph.shortest_path(t.origin, t.destination) or [t.origin] for t in trips}
    best_routes, best_tt = dict(routes), np.inf
    for k in range(iterations + 1):
        tt, measured = _measure(env, graph, routes, seeds, seed)
        log.info("agents-only equilibrium, iteration %d: mean travel time %.1f s", k, tt)
        if tt < best_tt:
            best_routes, best_tt = dict(routes), tt
        if k == iterations:
            break
        routes = _switch(graph, trips, routes, measured, share=1.0 / (k + 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({a: graph.route_ids(r) for a, r in best_routes.items()}))
    return best_routes


def _live_settings(env) -> list[Any]:
    """What the ``live`` start plan depends on beyond the scenario and the agents."""
    c = env.config
    return [c.live_estimate, c.live_period_s, c.live_window_s, c.live_sample_s]


def _measure(env, graph, routes, seeds: int, seed: int) -> tuple[float, np.ndarray]:
    runs = [execute_routes(env, graph, routes, seed + s) for s in range(seeds)]
    tt = float(np.mean([np.nanmean(r.stats.travel_time) for r in runs]))
    return tt, np.mean([r.edge_travel_times for r in runs], axis=0)


def _switch(graph, trips, routes, measured: np.ndarray, share: float) -> dict[str, list[int]]:
    best = {t.agent_id: graph.shortest_path(t.origin, t.destination, measured) for t in trips}
    gain = {a: float(measured[routes[a]].sum() - measured[b].sum()) for a, b in best.items() if b}
    movers = [a for a, g in sorted(gain.items(), key=lambda kv: (-kv[1], kv[0])) if g > 1e-6]
    n = max(1, int(round(share * len(trips)))) if movers else 0
    out = dict(routes)
    for a in movers[:n]:
        out[a] = best[a]
    return out


@dataclass(frozen=True)
class EquilibriumConfig:
    """How the agents-only equilibrium is computed (the ``agents-eq`` reference's defaults)."""

    iterations: int = 6
    seeds: int = 2
    use_cache: bool = True
    start: str = "shortest"  # or "live": start from the routes the live prior drives

    def __post_init__(self) -> None:
        for name in ("iterations", "seeds"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ConfigError(f"agents-eq {name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.use_cache, bool):
            raise ConfigError(f"agents-eq use_cache must be true or false, got {self.use_cache!r}")
        if self.start not in START_PLANS:
            raise ConfigError(f"agents-eq start must be one of {', '.join(START_PLANS)}, got {self.start!r}")


class EquilibriumExpert:
    """The agents-only equilibrium as a teacher; it needs the env whose agents it routes."""

    name = "agents-eq"

    def __init__(self, env: Any, config: EquilibriumConfig | None = None) -> None:
        self.env, self.config = env, config or EquilibriumConfig()
        self.stats = ExpertStats()
        self._routes: dict[str, list[int]] | None = None

    def plan(self, graph: "RoadGraph", trips: Sequence[AgentTrip], travel_times: np.ndarray | None,
             feedback: Mapping[str, AgentFeedback] | None = None) -> dict[str, ExpertRoute]:
        """The equilibrium's routes for a plan without feedback; best responses on
        ``travel_times`` for the agents SED asks to revise (with feedback)."""
        t0 = time.perf_counter()
        check_trips(graph, trips)
        if feedback:
            paths = shortest_paths_by_destination(graph, trips, check_travel_times(graph, travel_times))
        else:
            eq = self.routes()
            missing = [t.agent_id for t in trips if t.agent_id not in eq]
            if missing:
                raise ExpertError(f"agents-eq: agent(s) {', '.join(missing[:5])} are not controlled by the env "
                                  "the equilibrium was computed for")
            paths = {t.agent_id: eq[t.agent_id] for t in trips}
        self.stats.seconds += time.perf_counter() - t0
        return {t.agent_id: ExpertRoute(t.agent_id, tuple(paths[t.agent_id]), "equilibrium") for t in trips}

    def routes(self) -> dict[str, list[int]]:
        """The equilibrium (computed on the first call, or read from the scenario's cache)."""
        if self._routes is None:
            c = self.config
            self._routes = agents_equilibrium(self.env, c.iterations, c.seeds, use_cache=c.use_cache, start=c.start)
        return self._routes
