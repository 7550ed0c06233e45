"""The routing env's per-episode state, in one place: :class:`AgentTable`.

:class:`~reled_sumo.env.routing_env.RoutingParallelEnv` owns one table per episode;
edge-exit scheduling (:mod:`reled_sumo.env.advance`) and step packing
(:mod:`reled_sumo.env.packing`) are plain functions over it. Per-agent columns are plain
Python lists indexed by the agent's position in ``possible_agents`` (the hot loops read and
write single elements, which lists do faster than numpy arrays).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

PENDING, LIVE, DONE = 0, 1, 2


class Decisions(NamedTuple):
    """The deciders of the last step and their candidates, read back by ``step(actions)``."""

    agents: list[int]  # agent indices, in batch order
    cand: list[list[int]]  # [n][K] candidate edge indices, -1 padded
    mask: list[list[int]]  # [n][K] 1: a valid slot
    best: list[int]  # [n] the best valid slot (the fallback for missing / invalid actions)


@dataclass(eq=False, slots=True)
class AgentTable:
    """One episode's agents: static columns (shared with the env), then what changes.

    Times are SUMO seconds. ``cur[i] < 0`` until the agent was first seen on an edge.
    """

    # static, per env (the same lists every episode)
    names: list[str]  # possible_agents
    index: dict[str, int]  # name -> agent index
    row: list[int]  # destination row in RoutingTables
    dest: list[int]  # destination edge index
    # clock
    t: float  # SUMO time after the last step
    t_end: float  # the horizon's end
    step_len: float
    # lifecycle
    status: list[int] = field(init=False)  # PENDING, LIVE or DONE
    n_pending: int = field(init=False)  # agents not departed yet
    live: dict[str, None] = field(default_factory=dict)  # live agents in departure order (an ordered set)
    heap: list[tuple[float, int]] = field(default_factory=list)  # (due time, agent): next poll
    over: bool = False
    # position and route, as last read from SUMO
    cur: list[int] = field(init=False)  # current edge
    visited: list[set[int]] = field(init=False)  # edges each agent was seen on this trip (loop_guard)
    t_entry: list[float] = field(init=False)  # when it was first seen on ``cur``
    lp: list[float] = field(init=False)  # lane position at the last poll
    lp_odo: list[float] = field(init=False)  # lane position when ``odo`` was read
    spd: list[float] = field(init=False)
    xy: list[tuple[float, float]] = field(init=False)
    odo: list[float] = field(init=False)  # distance driven
    wait: list[float] = field(init=False)  # accumulated waiting time
    ridx: list[int] = field(init=False)  # route index at the last edge entry
    own_route: list[bool] = field(init=False)  # the SUMO route is one the env set (vs. SUMO's initial trip route)
    commit: list[int] = field(init=False)  # route index from which the next decision is due
    # rewards and counters
    depart: list[float] = field(init=False)
    last_t: list[float] = field(init=False)  # time of the last reward
    rem_last: list[float] = field(init=False)  # free-flow seconds left at the last reward
    inv_since: list[int] = field(init=False)  # invalid actions since the last reward
    n_inv: list[int] = field(init=False)
    n_dec: list[int] = field(init=False)
    # this step's events (cleared by packing)
    fresh: set[int] = field(default_factory=set)  # first observation pending: the progress baseline
    pending: dict[int, float] = field(default_factory=dict)  # held-back decisions: agent -> due time
    deciders: list[int] = field(default_factory=list)
    appeared: list[int] = field(default_factory=list)
    finished: list[tuple[int, str, float]] = field(default_factory=list)  # (agent, reason, time)
    decisions: Decisions | None = None
    # the last observation / idle info of every live agent (the PettingZoo dicts hold all live agents)
    obs_cache: dict[str, np.ndarray] = field(default_factory=dict)
    info_cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.names)
        self.status = [PENDING] * n
        self.n_pending = n
        self.cur = [-1] * n
        self.visited = [set() for _ in range(n)]
        self.commit = [0] * n
        self.depart = [0.0] * n
        self.last_t = [0.0] * n
        self.rem_last = [0.0] * n
        self.inv_since = [0] * n
        self.n_inv = [0] * n
        self.n_dec = [0] * n
        self.lp = [0.0] * n
        self.spd = [0.0] * n
        self.xy = [(0.0, 0.0)] * n
        self.odo = [0.0] * n
        self.lp_odo = [0.0] * n
        self.wait = [0.0] * n
        self.t_entry = [0.0] * n
        self.ridx = [0] * n
        self.own_route = [False] * n

    def finish(self, i: int, reason: str, t: float) -> None:
        """Agent ``i`` is done (``reason``: arrived, teleported, removed, horizon) at ``t``."""
        self.status[i] = DONE
        del self.live[self.names[i]]
        self.pending.pop(i, None)
        self.finished.append((i, reason, t))
