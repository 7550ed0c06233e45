"""SED: stationarity-aware refinement of expert demonstrations (docs/method.md, "SED loop").

Round 0: the expert plans every agent; the routes run in SUMO; each agent gets its bound
B_i = alpha * volatility_i + beta * divergence_{S(i)}, where the divergence of round 0
compares the expert's routes with free-flow shortest paths (what an uncoordinated agent
would drive). Rounds r >= 1:

1. pick the agents with the highest B_i (``revise_fraction`` of them);
2. give them targeted feedback: congested edges they used (measured travel time >
   ``congestion_ratio`` x free-flow), their volatility, subset members that changed plans;
3. re-plan only those agents (others keep their kept routes), run everything in SUMO;
4. accept an agent's revision only if its return does not drop (beyond
   ``return_tolerance``) and its bound is lower;
5. keep the best demonstration per agent.

The reported bound of a round is the mean B_i of the *kept* demonstrations, so it
never increases. The loop only needs the :class:`~reled_sumo.experts.base.Expert`
protocol: it runs with the routing expert and with the Ollama expert alike.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from reled_sumo.demos.stationarity import BoundConfig, bounds, subset_divergence, volatility_of
from reled_sumo.demos.trajectory import DemoSet, Trajectory
from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import AgentFeedback, Expert, agent_trips
from reled_sumo.experts.execute import ExecutionResult, execute_routes
from reled_sumo.experts.routing import interaction_subsets
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.validation import check_field_types

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SEDConfig:
    rounds: int = 3
    bound: BoundConfig = field(default_factory=BoundConfig)
    revise_fraction: float = 0.25
    max_subset: int = 6
    congestion_ratio: float = 1.5
    return_tolerance: float = 0.0
    seed: int = 0
    seeds: int = 2  # common-random-number SUMO seeds (seed, seed+1, ...) every plan is run on

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.rounds < 1:
            raise ConfigError("SED needs at least one round")
        if self.seeds < 1:
            raise ConfigError(f"sed.seeds must be >= 1, got {self.seeds!r}")
        if not 0.0 < self.revise_fraction <= 1.0:
            raise ConfigError("revise_fraction must lie in (0, 1]")
        if self.max_subset < 1:
            raise ConfigError("max_subset must be >= 1")


@dataclass(frozen=True)
class RoundMetrics:
    round: int
    mean_travel_time: float
    arrival_rate: float
    mean_return: float
    run_return: float  # mean return of this round's plan (kept + revised routes) over the CRN seeds
    mean_bound: float
    revised: int
    accepted: int
    llm_calls: int
    repairs: int
    fallbacks: int
    cache_hits: int
    deviations: int
    seconds: float


@dataclass
class _Kept:
    routes: dict[str, list[int]]
    demos: dict[str, Trajectory]
    bound: dict[str, float]
    returns: dict[str, list[float]]
    travel_times: dict[str, list[float]]
    volatility: dict[str, float]
    divergence: dict[str, float]
    current: dict[str, float]  # mean return of the kept route, from the latest run (same seeds) that drove it
    sources: dict[str, str]  # who wrote each kept route: llm, repaired, fallback or routing


def refine(env, expert: Expert, cfg: SEDConfig, on_round: Callable[[RoundMetrics], None] | None = None,
           initial_travel_times: np.ndarray | None = None) -> tuple[DemoSet, list[RoundMetrics]]:
    """Run the SED loop; return the kept demonstrations and every round's metrics."""
    graph: RoadGraph = env.scenario.graph
    trips = agent_trips(env)
    by_id = {t.agent_id: t for t in trips}
    naive = {t.agent_id: graph.shortest_path(t.origin, t.destination) or [t.origin] for t in trips}
    t0, stats0 = time.perf_counter(), _stats(expert)
    plan = expert.plan(graph, trips, initial_travel_times, {})  # type: ignore[arg-type]  # None: free flow
    routes = {a: list(r.edges) for a, r in plan.items()}
    run = _run(env, graph, routes, cfg)
    b, vol, div = _bounds(run, routes, naive, trips, graph, cfg, {}, {})
    kept = _Kept(routes, dict(run.trajectories), b, {a: [r] for a, r in run.mean_return.items()},
                 {a: list(t) for a, t in run.travel_times.items()}, vol, div, dict(run.mean_return),
                 {a: r.source for a, r in plan.items()})
    history = [_metrics(0, kept, run, len(trips), len(trips), expert, stats0, t0)]
    _emit(history[-1], on_round)
    for r in range(1, cfg.rounds):
        t0, stats0 = time.perf_counter(), _stats(expert)
        chosen = _worst(kept.bound, cfg.revise_fraction)
        feedback = _feedback(chosen, kept, run, graph, cfg, routes_before=routes)
        revised = expert.plan(graph, [by_id[a] for a in chosen], run.edge_travel_times, feedback)
        routes = dict(kept.routes)
        routes.update({a: list(rt.edges) for a, rt in revised.items()})
        run = _run(env, graph, routes, cfg)  # the same seeds as every other round: common random numbers
        measured = _bounds(run, routes, kept.routes, trips, graph, cfg, kept.returns, kept.travel_times)
        accepted = _accept(chosen, kept, run, routes, measured, cfg, {a: rt.source for a, rt in revised.items()})
        for a in run.trajectories:
            if routes.get(a) == kept.routes.get(a):
                kept.current[a] = run.mean_return[a]
            kept.returns.setdefault(a, []).append(run.mean_return[a])
            kept.travel_times.setdefault(a, []).extend(run.travel_times[a])
        history.append(_metrics(r, kept, run, len(chosen), accepted, expert, stats0, t0))
        _emit(history[-1], on_round)
    meta = {"expert": getattr(expert, "name", type(expert).__name__), "rounds": cfg.rounds,
            "config": asdict(cfg), "metrics": [asdict(m) for m in history],
            "bound": {a: kept.bound[a] for a in sorted(kept.bound)},
            "sources": {a: kept.sources.get(a, "unknown") for a in sorted(kept.demos)},
            "written_by": _written_by(kept.sources, kept.demos)}
    return DemoSet(kept.demos, meta), history


def plan_travel_time(env, routes: dict[str, list[int]], cfg: SEDConfig) -> float:
    """Mean travel time (s) of the agents on ``routes`` over the CRN seeds of ``cfg``, counting
    agents that did not arrive with their time in the network up to the horizon: the measure
    that decides whether a refreshed teacher replaces the current one (same seeds for both)."""
    graph = env.scenario.graph
    per_seed = []
    for s in range(cfg.seeds):
        tt = execute_routes(env, graph, routes, cfg.seed + s).stats.travel_time
        per_seed.append(float(np.nanmean(tt)) if np.isfinite(tt).any() else float("nan"))
    return float(np.mean(per_seed))


def demo_routes(demos: DemoSet, graph: RoadGraph) -> dict[str, list[int]]:
    """The planned route (edge indices) of every demonstration."""
    return {a: [graph.index[e] for e in tr.edges if e in graph.index] for a, tr in demos.trajectories.items()}


def _stats(expert: Expert) -> dict[str, int]:
    s = getattr(expert, "stats", None)
    return {k: int(getattr(s, k, 0)) for k in ("llm_calls", "repairs", "fallbacks", "cache_hits")}


def _emit(m: RoundMetrics, cb) -> None:
    log.info("SED round %d: travel time %.1f s, arrival %.2f, mean bound %.4f, accepted %d/%d",
             m.round, m.mean_travel_time, m.arrival_rate, m.mean_bound, m.accepted, m.revised)
    if cb is not None:
        cb(m)


@dataclass(frozen=True)
class _Run:
    """One plan run on every CRN seed: the first seed's trajectories are the demonstrations."""

    trajectories: dict[str, Trajectory]
    edge_travel_times: np.ndarray  # mean over the seeds
    deviations: int
    mean_return: dict[str, float]  # per agent, over the seeds
    travel_times: dict[str, list[float]]  # per agent, one per seed (in the network up to the horizon)


def _run(env, graph: RoadGraph, routes: dict[str, list[int]], cfg: SEDConfig) -> _Run:
    runs: list[ExecutionResult] = [execute_routes(env, graph, routes, cfg.seed + s) for s in range(cfg.seeds)]
    first = runs[0]
    return _Run(first.trajectories, np.mean([r.edge_travel_times for r in runs], axis=0),
                sum(r.deviations for r in runs),
                {a: float(np.mean([r.trajectories[a].ret for r in runs])) for a in first.trajectories},
                {a: [float(r.trajectories[a].travel_time) for r in runs] for a in first.trajectories})


def _bounds(run: _Run, routes_now, routes_before, trips, graph, cfg: SEDConfig, history, tt_history):
    """(B_i, volatility_i, divergence of i's subset) for every agent of this run."""
    ids = lambda rs: {a: graph.route_ids(r) for a, r in rs.items()}  # noqa: E731
    subsets = interaction_subsets(routes_now, {t.agent_id: t.depart for t in trips}, graph, cfg.max_subset,
                                  travel_times=run.edge_travel_times)
    div = subset_divergence(subsets, ids(routes_now), ids(routes_before), cfg.bound.divergence)
    returns = {a: [*history.get(a, []), run.mean_return[a]] for a in run.trajectories}
    tts = {a: [*tt_history.get(a, []), *run.travel_times[a]] for a in run.trajectories}
    vol = volatility_of({a: list(tr.rewards) for a, tr in run.trajectories.items()}, returns, cfg.bound, tts)
    return bounds(vol, div, cfg.bound), vol, div


def _worst(bound: dict[str, float], fraction: float) -> list[str]:
    n = max(1, int(round(fraction * len(bound))))
    return [a for a, _ in sorted(bound.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _feedback(chosen, kept: _Kept, run: _Run, graph: RoadGraph, cfg: SEDConfig,
              routes_before) -> dict[str, AgentFeedback]:
    congested = run.edge_travel_times > cfg.congestion_ratio * graph.freeflow_time
    out = {}
    for a in chosen:
        route = kept.routes[a]
        cong = tuple(graph.edge_ids[e] for e in route if congested[e])
        changed = tuple(sorted(b for b in kept.routes if b != a and kept.routes[b] != routes_before.get(b)
                               and set(kept.routes[b]) & set(route)))
        out[a] = AgentFeedback(agent_id=a, volatility=kept.volatility[a], divergence=kept.divergence[a],
                               congested_edges=cong, changed_neighbours=changed,
                               previous_route=tuple(graph.route_ids(route)),
                               travel_time=float(kept.demos[a].travel_time))
    return out


def _written_by(sources: dict[str, str], demos) -> dict[str, int]:
    """How many kept demonstrations each kind of author wrote (llm, repaired, fallback, routing)."""
    counts: dict[str, int] = {}
    for a in demos:
        counts[sources.get(a, "unknown")] = counts.get(sources.get(a, "unknown"), 0) + 1
    return dict(sorted(counts.items()))


def _accept(chosen, kept: _Kept, run: _Run, routes, measured, cfg: SEDConfig, sources: dict[str, str]) -> int:
    """A revision is kept if, on the same seeds, its mean return is not worse than the kept
    route's and its bound is lower."""
    b_new, vol, div = measured
    accepted = 0
    for a in chosen:
        new = run.trajectories[a]
        if routes[a] == kept.routes[a]:
            continue
        if run.mean_return[a] >= kept.current[a] - cfg.return_tolerance and b_new[a] < kept.bound[a]:
            kept.routes[a], kept.demos[a], kept.bound[a] = routes[a], new, b_new[a]
            kept.volatility[a], kept.divergence[a] = vol[a], div[a]
            kept.sources[a] = sources.get(a, kept.sources.get(a, "unknown"))
            accepted += 1
    return accepted


def _metrics(r, kept: _Kept, run: _Run, revised, accepted, expert, stats0, t0) -> RoundMetrics:
    trs = list(kept.demos.values())
    tt = np.array([t.travel_time for t in trs if t.arrived])
    s = _stats(expert)
    return RoundMetrics(
        round=r, mean_travel_time=float(tt.mean()) if tt.size else float("nan"),
        arrival_rate=float(np.mean([t.arrived for t in trs])), mean_return=float(np.mean([t.ret for t in trs])),
        run_return=float(np.mean(list(run.mean_return.values()))),
        mean_bound=float(np.mean(list(kept.bound.values()))), revised=revised, accepted=accepted,
        llm_calls=s["llm_calls"] - stats0["llm_calls"], repairs=s["repairs"] - stats0["repairs"],
        fallbacks=s["fallbacks"] - stats0["fallbacks"], cache_hits=s["cache_hits"] - stats0["cache_hits"],
        deviations=run.deviations, seconds=time.perf_counter() - t0,
    )
