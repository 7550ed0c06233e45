"""Execute expert routes in the env and record them as demonstrations (env format).

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
from dataclasses import dataclass, field

import numpy as np

from reled_sumo.demos.trajectory import Trajectory
from reled_sumo.scenario.graph import RoadGraph

log = logging.getLogger(__name__)


@dataclass
class _Track:
    obs: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    unattributed: float = 0.0
    travel_time: float = float("nan")
    arrived: bool = False


@dataclass(frozen=True)
class ExecutionResult:
    trajectories: dict[str, Trajectory]
    edge_travel_times: np.ndarray  # [E] time-mean measured travel time (s) over the run
    deviations: int
    sim_seconds: float


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


def execute_routes(env, graph: RoadGraph, routes: dict[str, list[int]], seed: int) -> ExecutionResult:
    """Run one episode in ``env`` with every agent following its route (edge indices)."""
    dests = {a.id: graph.index[a.destination] for a in env.scenario.agents if a.id in set(env.possible_agents)}
    tracks = {a: _Track() for a in env.possible_agents}
    obs, infos = env.reset(seed=seed)
    tt_sum = np.zeros(graph.num_edges)
    tt_n = np.zeros(graph.num_edges)
    deviations = 0
    while env.agents:
        actions = {}
        for a in env.agents:
            info = infos[a]
            if not info.get("needs_decision"):
                continue
            edge = graph.index[info["edge"]]
            mask = np.asarray(info["action_mask"], dtype=bool)
            k, dev = _choose(graph, edge, routes.get(a, []), dests[a], mask)
            deviations += dev
            tr = tracks[a]
            tr.obs.append(obs[a])
            tr.masks.append(mask)
            tr.actions.append(k)
            tr.positions.append(info["position"])
            tr.edges.append(info["edge"])
            actions[a] = k
        obs, rewards, terms, truncs, infos = env.step(actions)
        _record(tracks, rewards, terms, truncs, infos)
        busy = env.edge_travel_times()
        seen = np.isfinite(busy)
        tt_sum[seen] += busy[seen]
        tt_n[seen] += 1
    measured = np.where(tt_n > 0, tt_sum / np.maximum(tt_n, 1), graph.freeflow_time)
    trajectories = {a: _freeze(a, t, graph.route_ids(routes.get(a, []))) for a, t in tracks.items()}
    return ExecutionResult(trajectories, measured, deviations, float(env.sim_time))


def _record(tracks, rewards, terms, truncs, infos) -> None:
    for a, r in rewards.items():
        tr = tracks[a]
        info = infos.get(a, {})
        done = bool(terms.get(a) or truncs.get(a))
        # the reward closes the last decision's span when the agent decides again or is done
        if (done or info.get("needs_decision")) and len(tr.rewards) < len(tr.actions):
            tr.rewards.append(float(r))
        else:
            tr.unattributed += float(r)
        if done:
            tr.arrived = bool(terms.get(a))
            tr.travel_time = float(info.get("travel_time", np.nan))
            tr.positions.append(info.get("position", (np.nan, np.nan)))
            if info.get("edge"):
                tr.edges.append(info["edge"])


def _freeze(agent: str, t: _Track, route: list[str]) -> Trajectory:
    n = len(t.actions)
    rewards = t.rewards + [0.0] * (n - len(t.rewards))  # an open span at the horizon earns nothing more
    positions = t.positions if len(t.positions) == n + 1 else (t.positions + [t.positions[-1] if t.positions else (0.0, 0.0)])[: n + 1]
    edges = tuple(route) if route else tuple(dict.fromkeys(t.edges))  # the planned route it followed
    return Trajectory(
        agent_id=agent,
        obs=np.asarray(t.obs, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 1), np.float32),
        actions=np.asarray(t.actions, dtype=np.int64),
        masks=np.asarray(t.masks, dtype=bool).reshape(n, -1) if n else np.zeros((0, 1), bool),
        rewards=np.asarray(rewards, dtype=np.float32),
        positions=np.asarray(positions, dtype=np.float64).reshape(-1, 2),
        edges=edges, travel_time=t.travel_time, arrived=t.arrived, final_reward=t.unattributed,
    )
