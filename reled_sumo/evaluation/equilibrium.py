"""The agents-only equilibrium: the bound for what the controlled agents can reach alone.

The background keeps its own routes (unlike ``due``, which re-routes every vehicle and is a
different traffic system). The controlled agents iterate to a best response on measured
edge times (method of successive averages over agents):

1. start on free-flow shortest paths;
2. run the plan in the env on ``seeds`` SUMO seeds and measure edge times (vehicle-time
   weighted, :class:`~reled_sumo.env.meter.EdgeTimeMeter`);
3. every agent's best response is its shortest path on those times; the ``1 / (k + 2)``
   share of agents (at least one) with the largest gain (current route's measured cost minus
   the best response's) switch;
4. repeat ``iterations`` times; keep the plan with the lowest measured mean travel time.

The result is cached per scenario hash, controlled agents, horizon and settings in the
scenario's cache folder (``agents-eq-<key>.json``).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from reled_sumo.experts.base import agent_trips
from reled_sumo.experts.execute import execute_routes
from reled_sumo.sim.reference_runs import CACHE_DIR

log = logging.getLogger(__name__)


def cache_path(env, iterations: int, seeds: int) -> Path:
    sc = env.scenario
    key = json.dumps([sc.scenario_hash, list(env.possible_agents), env.horizon, iterations, seeds])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(sc.path) / CACHE_DIR / f"agents-eq-{digest}.json"


def agents_equilibrium(env, iterations: int = 6, seeds: int = 2, seed: int = 0,
                       use_cache: bool = True) -> dict[str, list[int]]:
    """Routes (edge indices) of the agents-only equilibrium of ``env``'s controlled agents."""
    graph = env.scenario.graph
    path = cache_path(env, iterations, seeds)
    if use_cache and path.is_file():
        return {a: [graph.index[e] for e in r] for a, r in json.loads(path.read_text()).items()}
    trips = agent_trips(env)
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
