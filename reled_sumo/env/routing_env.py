"""The multi-agent routing environment (PettingZoo ParallelEnv). See docs/env.md.

Agents are the scenario's agent vehicles. An agent *decides* when it enters a new
edge that is not its destination and has more than one successor from which its
destination can be reached; it chooses the next edge among ``graph.succ[edge]``.
The env applies the choice with ``setRoute([current, chosen] + shortest path
chosen -> destination)``, so the vehicle always holds a complete route and drives
normally between decisions. One :meth:`step` advances SUMO until an agent must
decide, a new agent enters the network, or the episode ends.

``agents`` lists the agents in the network (departed, not yet done); only those with
``infos[a]["needs_decision"]`` are at a decision point, and actions of the others
are ignored (PettingZoo's parallel API requires live agents to stay in ``agents``).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from reled_sumo.env.advance import advance
from reled_sumo.env.agents import AgentTable, Decisions
from reled_sumo.env.config import EnvConfig, select_agents
from reled_sumo.env.live import LiveTimes
from reled_sumo.env.observation import C_LIVE_EXTRA_TIME, N_CAND, N_OWN, OBS_HIGH, OBS_LOW, ObservationBuilder, obs_size
from reled_sumo.env.packing import Packing, StepDicts, collect
from reled_sumo.env.rewards import get_reward
from reled_sumo.env.tables import RoutingTables
from reled_sumo.errors import ConfigError, SimulationError
from reled_sumo.scenario.manifest import Scenario
from reled_sumo.sim.config import SessionConfig
from reled_sumo.sim.session import SumoSession, restart_session

_MISSING = -(2**62)
_INVALID = -(2**61)


def _as_action(a: Any) -> int:
    if a is None:
        return _MISSING
    try:
        arr = np.asarray(a)
        if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
            return _INVALID
        v = arr.reshape(()).item()
        if isinstance(v, float) and not v.is_integer():
            return _INVALID
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return _INVALID


class RoutingParallelEnv(ParallelEnv):
    """Agent vehicles choose their next edge at every branching edge. See module doc."""

    metadata = {"name": "reled_routing_v0", "render_modes": ["human"], "is_parallelizable": True}

    #: test hook: poll every live agent every step instead of predicting edge exits
    poll_every_step: bool = False

    def __init__(self, scenario: Scenario, config: EnvConfig | None = None):
        self.scenario = scenario
        self.config = config = config or EnvConfig()
        self.render_mode = config.render_mode
        specs = select_agents(scenario.agents, config)
        if not specs:
            raise ConfigError(f"scenario {scenario.name} has no agents"
                              + (" in the selected departure window / share" if scenario.agents else ""))
        self._specs = specs
        self.possible_agents: list[str] = [a.id for a in specs]
        self._idx = {a: i for i, a in enumerate(self.possible_agents)}
        self.tables = t = RoutingTables.for_scenario(scenario, [a.destination for a in specs])
        missing = [a.origin for a in specs if a.origin not in t.index]
        if missing:
            raise ConfigError(f"agent origin edge(s) not in the car network: {missing[:5]}")
        self.K = t.K
        self._live_times = LiveTimes(t, config.live_period_s, config.live_estimate, config.live_window_s,
                                     config.live_sample_s)
        self._row_l = [t.dest_row[a.destination] for a in specs]
        self._dest_l = [t.index[a.destination] for a in specs]
        self.horizon = float(config.horizon if config.horizon is not None else scenario.duration)
        self._begin = scenario.begin
        dim = obs_size(self.K)
        self._obs_spaces = {
            a: spaces.Box(OBS_LOW, OBS_HIGH, shape=(dim,), dtype=np.float32) for a in self.possible_agents
        }
        self._act_spaces = {a: spaces.Discrete(self.K) for a in self.possible_agents}
        base = config.seed if config.seed is not None else scenario.seed
        self._pending_seed: int | None = int(base)
        self._seed_rng = np.random.default_rng(int(base))
        self.episode_seed: int | None = None
        self._sess: SumoSession | None = None
        zero_mask = np.zeros(self.K, dtype=np.int8)
        zero_mask.setflags(write=False)
        self._packing = Packing(t, ObservationBuilder.shared(t, config.obs_norm), self._live_times,
                                get_reward(config.reward), config, dim, zero_mask)
        self.agents: list[str] = []
        self._a: AgentTable | None = None  # this episode's agents (reset() makes a new table)
        self._tt_cache_time = float("nan")
        self._tt_cache = np.zeros(0)

    # --------------------------------------------------------------- spaces
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    @property
    def candidate_layout(self) -> tuple[int, int]:
        """``(n_own, n_cand)``: observations are ``[own | candidate_0 | ... | candidate_{K-1}]``."""
        return (N_OWN, N_CAND)

    @property
    def prior_feature(self) -> tuple[int, float]:
        """(candidate feature, seconds per unit) a policy prior reads: the live extra time of a
        candidate over the best valid one (see :class:`~reled_sumo.optim.policy.PolicyConfig`)."""
        return (C_LIVE_EXTRA_TIME, float(self.config.obs_norm.time_s))

    @functools.cached_property
    def obs_dim(self) -> int:
        return obs_size(self.K)

    # ------------------------------------------------------------ lifecycle
    def _session_config(self, seed: int) -> SessionConfig:
        c = self.config
        mem = max(100, int(np.ceil(self.horizon)) + 1)
        return SessionConfig(
            backend=c.backend,
            gui=c.gui,
            seed=seed,
            step_length=c.step_length,
            end=self._begin + self.horizon + c.step_length,
            extra_args=("--waiting-time-memory", str(mem), *c.sumo_args),
            gui_delay_ms=c.gui_delay_ms,
            sparse_speeds=c.sparse_speeds,
        )

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None):
        if seed is not None:
            if not (isinstance(seed, (int, np.integer)) and 0 <= int(seed) < 2**31):
                raise ConfigError(f"seed must be an integer in [0, 2**31), got {seed!r}")
            sumo_seed = int(seed)
            self._seed_rng = np.random.default_rng(sumo_seed)
            self._pending_seed = None
        elif self._pending_seed is not None:
            sumo_seed, self._pending_seed = self._pending_seed, None
        else:
            sumo_seed = int(self._seed_rng.integers(0, 2**31 - 1))
        self.episode_seed = sumo_seed
        sess, self._sess = self._sess, None  # SUMO reloaded in place where it can be (sim.restart_session)
        self._sess = restart_session(sess, self.scenario.sumocfg, self._session_config(sumo_seed))
        self._live_times.reset()
        self._tt_cache_time = float("nan")
        t0 = float(self._sess.time)
        self._a = AgentTable(self.possible_agents, self._idx, self._row_l, self._dest_l, t=t0,
                             t_end=t0 + self.horizon, step_len=float(self.config.step_length))
        self._advance()
        obs, _, _, _, infos = self._collect(rewards=False)  # reset() returns no rewards: they keep accruing
        return obs, infos

    def _live_tick(self, t: float) -> None:
        self._live_times.tick(t, self.edge_mean_speeds)

    def _advance(self) -> None:
        assert self._a is not None and self._sess is not None
        advance(self._a, self._sess, self.tables, self.config.decision_delay_s, self.poll_every_step,
                self._live_tick)

    def _collect(self, rewards: bool = True) -> StepDicts:
        assert self._a is not None and self._sess is not None
        out = collect(self._a, self._packing, self._sess, self.edge_travel_times, rewards)
        self.agents = list(self._a.live)
        return out

    def close(self) -> None:
        self._close_session()
        self.agents = []
        if self._a is not None:
            self._a.over = True

    def _close_session(self) -> None:
        if self._sess is not None:
            sess, self._sess = self._sess, None
            sess.close()

    def render(self) -> None:
        """The GUI (render_mode="human") draws itself; nothing to do here."""
        return None

    @property
    def session(self) -> SumoSession | None:
        """The running SUMO session (for tests and diagnostics)."""
        return self._sess

    def edge_travel_times(self) -> np.ndarray:
        """``[E]`` SUMO's current travel time (s) of every car edge (graph order): length /
        last-step mean speed, free flow when empty; NaN before reset / after close.

        Read on demand (one call per edge, cached per simulation step): ~0.2 ms with
        libsumo, ~15 ms with TraCI on the 489-edge Kotka net.
        """
        sess = self._sess
        if sess is None or not sess.is_open:
            return np.full(self.tables.E, np.nan)
        t = self.sim_time
        if self._tt_cache_time != t:
            self._tt_cache = sess.edge_travel_times(self.tables.edge_ids)
            self._tt_cache_time = t
        return self._tt_cache.copy()

    def edge_mean_speeds(self) -> np.ndarray:
        """``[E]`` last-step mean speed (m/s) of every car edge (graph order), the speed limit on
        empty ones; NaN before reset / after close."""
        sess = self._sess
        if sess is None or not sess.is_open:
            return np.full(self.tables.E, np.nan)
        return sess.edge_mean_speeds(self.tables.edge_ids)

    def edge_loads(self, occupied_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``([E] mean speed m/s, [E] vehicles)`` of every car edge in the last step (one batched
        read); NaN before reset / after close. ``occupied_only``: the mean speed only where
        there are vehicles (NaN elsewhere; about half the SUMO calls, for :class:`EdgeTimeMeter`)."""
        sess = self._sess
        if sess is None or not sess.is_open:
            nan = np.full(self.tables.E, np.nan)
            return nan, nan.copy()
        if occupied_only:
            return sess.edge_loads(self.tables.edge_ids)
        data = sess.edge_data(self.tables.edge_ids)
        return data[:, 0].astype(np.float64), data[:, 1].astype(np.float64)

    @property
    def sim_time(self) -> float:
        """SUMO's time (s) after the last reset()/step() (NaN before the first reset)."""
        return self._a.t if self._a is not None else float("nan")

    # ----------------------------------------------------------------- step
    def step(self, actions: Mapping[str, Any]) -> StepDicts:
        if self._sess is None:
            raise SimulationError("call reset() before step()")
        a = self._a
        if a is None or a.over:
            return {}, {}, {}, {}, {}
        dec, a.decisions = a.decisions, None
        if dec is not None:
            apply_actions(a, dec, actions, self.tables, self._sess, self.config.decision_lookahead)
        self._advance()
        return self._collect()


def apply_actions(a: AgentTable, dec: Decisions, actions: Mapping[str, Any], tables: RoutingTables,
                  sess: SumoSession, lookahead: int) -> None:
    """Send the deciders' chosen next edges to SUMO (a missing or invalid action: the best valid
    candidate, and an invalid one counts against the agent's next reward)."""
    K = tables.K
    ids, path, set_route, next_hop = tables.edge_ids, tables.path, sess.set_route, tables.next_hop
    names, cur, row, own, ridx = a.names, a.cur, a.row, a.own_route, a.ridx
    commit, n_dec, inv_since, n_inv = a.commit, a.n_dec, a.inv_since, a.n_inv
    cand, mask, best = dec.cand, dec.mask, dec.best
    get = actions.get
    for j, i in enumerate(dec.agents):
        act = get(names[i])
        if act is None:
            k = best[j]
        else:
            if type(act) is not int:
                act = _as_action(act)
            if 0 <= act < K and mask[j][act]:
                k = act
            else:  # never sent to SUMO: the best valid candidate instead, and a penalty
                k = best[j]
                inv_since[i] += 1
                n_inv[i] += 1
        c = cand[j][k]
        e = cur[i]
        # the vehicle already holds [e] + shortest path(c) when it follows our last route
        # and c is the next edge of the shortest path from e: nothing to send then
        if own[i] and c == next_hop[row[i], e]:
            commit[i] = ridx[i] + lookahead  # route unchanged: its index goes on
        else:
            set_route(names[i], (ids[e],) + path(row[i], c))
            own[i] = True
            commit[i] = lookahead  # a new route starts at index 0 on the current edge
        n_dec[i] += 1
