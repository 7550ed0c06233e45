"""Multi-agent rollout collection from the PettingZoo env into the HPO buffer.

``env.agents`` lists the agents in the network; those with ``infos[a]["needs_decision"]``
are at a decision point. All deciders are acted for in ONE batched policy forward pass. An agent's transition is
complete when its reward is delivered: at its next decision (not done), or when it
terminates (arrival) or is truncated (horizon / teleport). Truncated transitions are
bootstrapped with V(final observation), computed in one batched pass per step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from reled_sumo.optim.buffer import MultiAgentRolloutBuffer

# act(obs[B,D], agent_index[B], mask[B,K]) -> (actions[B], values[B], log_probs[B])
ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
ValueFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class EpisodeStats:
    """What one episode produced, per agent (index = position in possible_agents)."""

    n_agents: int
    returns: np.ndarray = field(init=False)
    travel_time: np.ndarray = field(init=False)
    arrived: np.ndarray = field(init=False)
    decisions: int = 0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    paths: list[list[tuple[float, float]]] = field(init=False)

    def __post_init__(self) -> None:
        self.returns = np.zeros(self.n_agents)
        self.travel_time = np.full(self.n_agents, np.nan)
        self.arrived = np.zeros(self.n_agents, dtype=bool)
        self.paths = [[] for _ in range(self.n_agents)]

    @property
    def arrival_rate(self) -> float:
        return float(self.arrived.mean()) if self.n_agents else 0.0

    @property
    def mean_travel_time(self) -> float:
        tt = self.travel_time[np.isfinite(self.travel_time)]
        return float(tt.mean()) if tt.size else float("nan")

    def summary(self) -> dict[str, float]:
        tt = self.travel_time[np.isfinite(self.travel_time)]
        return {
            "mean_travel_time": self.mean_travel_time,
            "p95_travel_time": float(np.percentile(tt, 95)) if tt.size else float("nan"),
            "arrival_rate": self.arrival_rate,
            "mean_return": float(self.returns.mean()),
            "decisions": float(self.decisions),
            "decisions_per_s": self.decisions / max(self.wall_seconds, 1e-9),
        }


@dataclass
class _Pending:
    obs: np.ndarray
    action: int
    mask: np.ndarray
    value: float
    log_prob: float
    position: tuple[float, float]
    episode_start: bool


def _batch(agents, obs, infos, index):
    idx = np.fromiter((index[a] for a in agents), dtype=np.int64, count=len(agents))
    o = np.stack([obs[a] for a in agents]).astype(np.float32)
    m = np.stack([np.asarray(infos[a]["action_mask"], dtype=bool) for a in agents])
    return idx, o, m


def run_episode(env, act: ActFn, value_fn: ValueFn | None = None,
                buffer: MultiAgentRolloutBuffer | None = None, seed: int | None = None) -> EpisodeStats:
    """Play one episode with ``act``; if ``buffer`` is given, store complete transitions."""
    index = {a: i for i, a in enumerate(env.possible_agents)}
    stats = EpisodeStats(len(env.possible_agents))
    t0 = time.perf_counter()
    obs, infos = env.reset(seed=seed)
    pending: dict[str, _Pending] = {}
    started: set[str] = set()
    while env.agents:
        agents = deciders(env, infos)
        if not agents:  # nobody at a decision point: let the env advance
            obs, rewards, terms, truncs, infos = env.step({})
            _complete(pending, rewards, terms, truncs, obs, infos, index, stats, buffer, value_fn)
            continue
        idx, o, m = _batch(agents, obs, infos, index)
        actions, values, logps = act(o, idx, m)
        for j, a in enumerate(agents):
            pos = tuple(infos[a].get("position", (np.nan, np.nan)))
            pending[a] = _Pending(o[j], int(actions[j]), m[j], float(values[j]), float(logps[j]), pos,
                                  a not in started)
            started.add(a)
            stats.paths[index[a]].append(pos)
        stats.decisions += len(agents)
        obs, rewards, terms, truncs, infos = env.step({a: int(actions[j]) for j, a in enumerate(agents)})
        _complete(pending, rewards, terms, truncs, obs, infos, index, stats, buffer, value_fn)
    stats.wall_seconds = time.perf_counter() - t0
    stats.sim_seconds = float(getattr(env, "sim_time", 0.0))
    return stats


def deciders(env, infos) -> list[str]:
    return [a for a in env.agents if infos[a].get("needs_decision", True)]


def _complete(pending, rewards, terms, truncs, obs, infos, index, stats, buffer, value_fn) -> None:
    """Close the pending transition of every agent whose reward was just delivered: it is at
    its next decision, or it is done."""
    done_now = [a for a in rewards if terms.get(a) or truncs.get(a)]
    delivered = [a for a in rewards if a in done_now or infos.get(a, {}).get("needs_decision", False)]
    for a, r in rewards.items():
        stats.returns[index[a]] += float(r)
    for a in done_now:
        info = infos.get(a, {})
        stats.arrived[index[a]] = bool(terms.get(a))
        stats.travel_time[index[a]] = float(info.get("travel_time", np.nan))
        if "position" in info:
            stats.paths[index[a]].append(tuple(info["position"]))
    if buffer is None:
        for a in delivered:
            pending.pop(a, None)
        return
    ready = [a for a in delivered if a in pending]
    if not ready:
        return
    trunc = np.array([bool(truncs.get(a)) and not bool(terms.get(a)) for a in ready])
    final_values = np.zeros(len(ready), dtype=np.float32)
    if trunc.any() and value_fn is not None:
        tr = [a for a, t in zip(ready, trunc) if t]
        fv = value_fn(np.stack([obs[a] for a in tr]).astype(np.float32),
                      np.array([index[a] for a in tr], dtype=np.int64))
        final_values[trunc] = fv
    ps = [pending.pop(a) for a in ready]
    buffer.add(
        obs=np.stack([p.obs for p in ps]), actions=np.array([p.action for p in ps]),
        masks=np.stack([p.mask for p in ps]), rewards=np.array([rewards[a] for a in ready], dtype=np.float32),
        values=np.array([p.value for p in ps]), log_probs=np.array([p.log_prob for p in ps]),
        agent_index=np.array([index[a] for a in ready]), episode_start=np.array([p.episode_start for p in ps]),
        terminated=np.array([bool(terms.get(a)) for a in ready]), truncated=trunc,
        final_values=final_values, positions=np.array([p.position for p in ps], dtype=np.float32),
    )
