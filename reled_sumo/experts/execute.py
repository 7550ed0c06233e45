"""Execute expert routes in the env and record them as demonstrations (env format).

Routes run as a policy through the same episode collector that rollouts and evaluation
use (:func:`reled_sumo.env.episode.run_episode`), so demonstrations, rollouts and
evaluation outcomes share one attribution of reward and travel time.

At each decision point the agent takes the action whose candidate edge is the next
edge of its expert route (action k <-> ``graph.succ[edge, k]``, see docs/env.md). If the
vehicle is off its route (e.g. after a teleport), it takes the valid candidate with the
lowest free-flow cost to its destination and the deviation is counted.

The result is one frozen :class:`~reled_sumo.demos.trajectory.Trajectory` per agent:
observations, masks, actions, and the reward delivered for each decision (at the
agent's next decision or when it is done), plus positions for DTW.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from reled_sumo.demos.trajectory import Trajectory
from reled_sumo.env.acting import ActFn, zero_stats
from reled_sumo.env.episode import EpisodeStats, StepBatch, run_episode
from reled_sumo.env.meter import EdgeTimeMeter
from reled_sumo.scenario.graph import RoadGraph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutionResult:
    trajectories: dict[str, Trajectory]
    edge_travel_times: np.ndarray  # [E] time-mean measured travel time (s) over the run
    deviations: int
    sim_seconds: float
    stats: EpisodeStats  # the episode's per-agent outcome (the collector's)


class RouteFollower:
    """A :class:`~reled_sumo.env.episode.BatchPolicy` that drives every agent along its route."""

    def __init__(self, graph: RoadGraph, routes: list[list[int]], dests: list[int]):
        self.graph, self.routes, self.dests = graph, routes, dests
        self.deviations = 0
        self.edges: list[list[int]] = [[] for _ in routes]  # edges of each agent's decisions

    def act_batch(self, batch: StepBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        actions = np.empty(batch.n_deciders, dtype=np.int64)
        for j, (i, edge) in enumerate(zip(batch.agent.tolist(), batch.edge.tolist())):
            actions[j], dev = _choose(self.graph, edge, self.routes[i], self.dests[i], batch.mask[j])
            self.deviations += dev
            self.edges[i].append(edge)
        return zero_stats(actions)


def _choose(graph: RoadGraph, edge: int, route: list[int], dest: int, mask: np.ndarray) -> tuple[int, bool]:
    """Action that follows ``route`` from ``edge``; (action, deviated)."""
    cand = graph.succ[edge]
    try:
        pos = route.index(edge)
        nxt = route[pos + 1]
        hits = np.flatnonzero((cand == nxt) & mask)
        if hits.size:
            return int(hits[0]), False
    except (ValueError, IndexError):
        pass
    cost = np.where(mask & (cand >= 0), graph.cost_via(dest)[np.maximum(cand, 0)], np.inf)
    return int(np.argmin(cost)), True


class _DemoSink:
    """Collects the collector's complete transitions per agent (``MultiAgentRolloutBuffer.add``'s interface)."""

    def __init__(self, n_agents: int):
        self.rows: list[list[tuple]] = [[] for _ in range(n_agents)]

    def add(self, obs, actions, masks, rewards, values, log_probs, agent_index, episode_start, terminated,
            truncated, final_values=None, positions=None) -> None:
        for j, i in enumerate(np.asarray(agent_index).tolist()):
            self.rows[i].append((obs[j], int(actions[j]), masks[j], float(rewards[j]), tuple(positions[j])))


def execute_routes(env, graph: RoadGraph, routes: dict[str, list[int]], seed: int) -> ExecutionResult:
    """Run one episode in ``env`` with every agent following its route (edge indices)."""
    names = list(env.possible_agents)
    dest_of = {a.id: graph.index[a.destination] for a in env.scenario.agents}
    follower = RouteFollower(graph, [list(routes.get(a, [])) for a in names], [dest_of[a] for a in names])
    sink, meter = _DemoSink(len(names)), EdgeTimeMeter(env)
    stats = run_episode(env, follower, buffer=sink, seed=seed, after_step=meter.read)
    trajectories = {
        a: _freeze(a, sink.rows[i], stats, i, graph.route_ids(routes.get(a, [])) or _visited(graph, follower.edges[i]))
        for i, a in enumerate(names)}
    return ExecutionResult(trajectories, meter.mean(graph.freeflow_time), follower.deviations,
                           float(stats.sim_seconds), stats)


def _visited(graph: RoadGraph, edges: list[int]) -> list[str]:
    return [graph.edge_ids[e] for e in dict.fromkeys(edges)]


def _freeze(agent: str, rows: list[tuple], stats: EpisodeStats, i: int, edges: list[str]) -> Trajectory:
    n = len(rows)
    positions = [r[4] for r in rows]
    final = stats.paths[i][n:]  # the collector appends the final position after the decision positions
    positions = (positions + (final or [positions[-1] if positions else (0.0, 0.0)]))[: n + 1]
    return Trajectory(
        agent_id=agent,
        obs=np.asarray([r[0] for r in rows], dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 1), np.float32),
        actions=np.asarray([r[1] for r in rows], dtype=np.int64),
        masks=np.asarray([r[2] for r in rows], dtype=bool).reshape(n, -1) if n else np.zeros((0, 1), bool),
        rewards=np.asarray([r[3] for r in rows], dtype=np.float32),
        positions=np.asarray(positions, dtype=np.float64).reshape(-1, 2),
        edges=tuple(edges), travel_time=float(stats.travel_time[i]), arrived=bool(stats.arrived[i]),
        final_reward=float(stats.unattributed[i]),
    )


class RouteRecorder:
    """A :class:`~reled_sumo.env.episode.BatchPolicy` that plays ``act`` and records, per agent,
    every decision as (current edge, chosen successor)."""

    def __init__(self, graph: RoadGraph, act: ActFn, n_agents: int):
        self.graph, self.act = graph, act
        self.decisions: list[list[tuple[int, int]]] = [[] for _ in range(n_agents)]

    def act_batch(self, batch: StepBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        actions, values, log_probs = self.act(batch.obs, batch.agent, batch.mask)
        chosen = self.graph.succ[batch.edge, np.asarray(actions, dtype=np.int64)]
        for i, e, c in zip(batch.agent.tolist(), batch.edge.tolist(), chosen.tolist()):
            self.decisions[i].append((e, c))
        return actions, values, log_probs


def record_routes(env, act: ActFn, seed: int) -> dict[str, list[int]]:
    """The route (edge indices, origin to destination) every agent drove under ``act`` in one
    episode on SUMO seed ``seed``: its decisions, joined by the free-flow shortest path between
    them (the edges where it had no choice), completed to its destination the same way."""
    graph, names = env.scenario.graph, list(env.possible_agents)
    recorder = RouteRecorder(graph, act, len(names))
    run_episode(env, recorder, seed=seed)
    od = {a.id: (graph.index[a.origin], graph.index[a.destination]) for a in env.scenario.agents}
    return {a: stitch_route(graph, *od[a], recorder.decisions[i]) for i, a in enumerate(names)}


def stitch_route(graph: RoadGraph, origin: int, dest: int, decisions: list[tuple[int, int]]) -> list[int]:
    """A valid route through ``decisions`` ((edge, chosen successor) pairs, in order), loops erased
    (a route follower looks an edge up once); the free-flow shortest path where a decision cannot be
    reached from the route so far."""
    route = [origin]
    for edge, chosen in [*decisions, (dest, dest)]:
        for target in (edge, chosen):
            if target < 0 or route[-1] == target:
                continue
            link = graph.shortest_path(route[-1], target)
            if link is None:
                return graph.shortest_path(origin, dest) or [origin]
            route.extend(link[1:])
    return _erase_loops(route)


def _erase_loops(route: list[int]) -> list[int]:
    """``route`` with every loop cut out: after an edge comes what followed its last visit."""
    last = {e: k for k, e in enumerate(route)}
    out, k = [], 0
    while k < len(route):
        out.append(route[k])
        k = last[route[k]] + 1
    return out
