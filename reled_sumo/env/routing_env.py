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
import heapq
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from reled_sumo.sim import variables as tc

from reled_sumo.env.config import EnvConfig
from reled_sumo.env.observation import N_CAND, N_OWN, OBS_HIGH, OBS_LOW, ObservationBuilder, obs_size
from reled_sumo.env.rewards import RewardInputs, get_reward
from reled_sumo.env.tables import RoutingTables
from reled_sumo.errors import ConfigError, SimulationError
from reled_sumo.sim.config import SessionConfig
from reled_sumo.sim.session import SumoSession

PENDING, LIVE, DONE = 0, 1, 2
_ROAD = tc.VAR_ROAD_ID
_LANEPOS = tc.VAR_LANEPOSITION
_SPEED = tc.VAR_SPEED
_ROUTE_INDEX = tc.VAR_ROUTE_INDEX
_POS = tc.VAR_POSITION
_DIST = tc.VAR_DISTANCE
_WAIT = tc.VAR_ACCUMULATED_WAITING_TIME
_ALLOWED = tc.VAR_ALLOWED_SPEED
_POLL_VARS = (_ROAD, _LANEPOS, _ALLOWED)
_DETAIL_VARS = (_SPEED, _POS, _ROUTE_INDEX, _DIST, _WAIT)
_MISSING = -(2**62)
_INVALID = -(2**61)


def _sumocfg_begin(sumocfg: Path) -> float:
    try:
        root = ET.parse(sumocfg).getroot()
    except (ET.ParseError, OSError):
        return 0.0
    el = root.find("./time/begin")
    try:
        return float(el.get("value")) if el is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


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

    def __init__(self, scenario, config: EnvConfig | None = None):
        self.scenario = scenario
        self.config = config = config or EnvConfig()
        self.render_mode = config.render_mode
        specs = tuple(scenario.agents)
        if config.max_agents is not None:
            specs = specs[: config.max_agents]
        if not specs:
            raise ConfigError(f"scenario {scenario.name} has no agents")
        self._specs = specs
        self.possible_agents: list[str] = [a.id for a in specs]
        self._idx = {a: i for i, a in enumerate(self.possible_agents)}
        self.tables = t = RoutingTables.for_scenario(scenario, [a.destination for a in specs])
        missing = [a.origin for a in specs if a.origin not in t.index]
        if missing:
            raise ConfigError(f"agent origin edge(s) not in the car network: {missing[:5]}")
        self.K = t.K
        self._builder = ObservationBuilder(t, config.obs_norm)
        self._row = np.array([t.dest_row[a.destination] for a in specs], dtype=np.int64)
        self._row_l = self._row.tolist()
        self._dest_l = [t.index[a.destination] for a in specs]
        self._reward_fn = get_reward(config.reward)
        self.horizon = float(config.horizon if config.horizon is not None else scenario.duration)
        self._begin = _sumocfg_begin(Path(scenario.sumocfg))
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
        self._zero_mask = np.zeros(self.K, dtype=np.int8)
        self._zero_mask.setflags(write=False)
        self.agents: list[str] = []
        self._over = True
        self._dec = None
        self._t = float("nan")
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
        self._close_session()
        self._sess = SumoSession(self.scenario.sumocfg, self._session_config(sumo_seed))
        self._sess.start()
        self._init_episode()
        self._advance()
        obs, _, _, _, infos = self._collect(rewards=False)  # reset() returns no rewards: they keep accruing
        return obs, infos

    def _init_episode(self) -> None:
        n = len(self._specs)
        self._t = float(self._sess.time)
        self._tt_cache_time = float("nan")
        self._t_end = self._t + self.horizon
        self._step_len = float(self.config.step_length)
        self._status = [PENDING] * n
        self._n_pending = n
        self._live: dict[str, None] = {}
        self._heap: list[tuple[float, int]] = []
        self._cur = [-1] * n
        self._commit = [0] * n
        self._depart = [0.0] * n
        self._last_t = [0.0] * n
        self._rem_last = [0.0] * n
        self._inv_since = [0] * n
        self._n_inv = [0] * n
        self._n_dec = [0] * n
        self._lp = [0.0] * n
        self._spd = [0.0] * n
        self._xy = [(0.0, 0.0)] * n
        self._odo = [0.0] * n
        self._lp_odo = [0.0] * n
        self._wait = [0.0] * n
        self._t_entry = [0.0] * n
        self._ridx = [0] * n  # route index at the last edge entry
        self._own_route = [False] * n  # the SUMO route is one the env set (vs. SUMO's initial trip route)
        self._fresh: set[int] = set()
        self._pending: dict[int, float] = {}  # held-back decisions: agent -> due time
        self._deciders: list[int] = []
        self._appeared: list[int] = []
        self._finished: list[tuple[int, str, float]] = []
        self._obs_cache: dict[str, np.ndarray] = {}
        self._info_cache: dict[str, dict] = {}
        self._dec = None
        self._over = False
        self.agents = []

    def close(self) -> None:
        self._close_session()
        self.agents = []
        self._over = True

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
        if self._tt_cache_time != self._t:
            self._tt_cache = sess.edge_travel_times(self.tables.edge_ids)
            self._tt_cache_time = self._t
        return self._tt_cache.copy()

    @property
    def sim_time(self) -> float:
        """SUMO's time (s) after the last reset()/step()."""
        return self._t

    # ----------------------------------------------------------------- step
    def step(self, actions: Mapping[str, Any]):
        if self._sess is None:
            raise SimulationError("call reset() before step()")
        if self._over:
            return {}, {}, {}, {}, {}
        dec, self._dec = self._dec, None
        if dec is not None:
            idx, cand, mask, best = dec
            K = self.K
            ids, path, set_route = self.tables.edge_ids, self.tables.path, self._sess.set_route
            names, cur, row = self.possible_agents, self._cur, self._row_l
            commit, n_dec, inv_since, n_inv = self._commit, self._n_dec, self._inv_since, self._n_inv
            lookahead = self.config.decision_lookahead
            own, next_hop, ridx = self._own_route, self.tables.next_hop, self._ridx
            get = actions.get
            for j, i in enumerate(idx):
                a = get(names[i])
                if a is None:
                    k = best[j]
                else:
                    if type(a) is not int:
                        a = _as_action(a)
                    if 0 <= a < K and mask[j][a]:
                        k = a
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
        self._advance()
        return self._collect()

    # -------------------------------------------------------------- advance
    def _finish(self, i: int, reason: str, t: float) -> None:
        self._status[i] = DONE
        del self._live[self.possible_agents[i]]
        self._pending.pop(i, None)
        self._finished.append((i, reason, t))

    def _advance(self) -> None:
        """Step SUMO until an agent must decide, a new agent appears, or the episode ends."""
        sess = self._sess
        heap = self._heap
        idx = self._idx
        status = self._status
        names = self.possible_agents
        index = self.tables.index
        length = self.tables.length
        row, dest, cur, commit = self._row_l, self._dest_l, self._cur, self._commit
        is_dec = self.tables.is_decision
        step = self._step_len
        every = self.poll_every_step
        delay = self.config.decision_delay_s
        pending = self._pending
        t_entry = self._t_entry
        lp_l, spd_l, xy_l, odo_l, wait_l, lpo_l = self._lp, self._spd, self._xy, self._odo, self._wait, self._lp_odo
        deciders, appeared = self._deciders, self._appeared
        ridx_l = self._ridx
        heappush, heappop = heapq.heappush, heapq.heappop
        while True:
            t = self._t
            if t >= self._t_end - 1e-9:
                for a in list(self._live):
                    self._finish(idx[a], "horizon", t)
                self._over = True
                return
            if not self._live:
                if self._n_pending == 0 or sess.min_expected_vehicles() == 0:
                    self._over = True
                    return
            ev = sess.step()
            self._t = t = ev.time
            if ev.arrived:
                for v in ev.arrived:
                    i = idx.get(v)
                    if i is not None and status[i] == LIVE:
                        self._finish(i, "arrived", t - step)  # SUMO's arrival time
            if ev.teleported:
                for v in ev.teleported:
                    i = idx.get(v)
                    if i is not None and status[i] == LIVE:
                        self._finish(i, "teleported", t - step)
            if ev.departed:
                new = [v for v in ev.departed if v in idx]
                if new:
                    sess.subscribe_vehicles(new)
                    for v in new:
                        i = idx[v]
                        if status[i] != PENDING:
                            continue
                        status[i] = LIVE
                        self._n_pending -= 1
                        self._live[v] = None
                        # SUMO inserts during the step that ends at t
                        self._depart[i] = self._last_t[i] = t - step
                        commit[i] = 0
                        heappush(heap, (t, i))
            if every:
                due = [idx[v] for v in self._live]
                heap.clear()
            elif heap and heap[0][0] <= t:
                due = []
                while heap and heap[0][0] <= t:
                    i = heappop(heap)[1]
                    if status[i] == LIVE:
                        due.append(i)
            else:
                due = None
            if due:
                data = sess.vehicle_data([names[i] for i in due], _POLL_VARS)
                for i in due:
                    d = data.get(names[i])
                    if not d:
                        self._finish(i, "removed", t)
                        continue
                    road = d[_ROAD]
                    e = index.get(road) if road and road[0] != ":" else None
                    if e is None:  # junction-internal lane or teleporting: look again next step
                        heappush(heap, (t + step, i))
                        continue
                    lp = d[_LANEPOS]
                    lp_l[i] = lp
                    # whole steps the vehicle needs at least to reach the end of this edge
                    k = int((length[e] - lp - 0.1) / (d[_ALLOWED] * 1.02 + 0.1) / step)
                    new_edge = e != cur[i]
                    if new_edge or e == dest[i]:
                        if _SPEED not in d:  # direct mode: the details only when needed
                            d = sess.vehicle_data((names[i],), _DETAIL_VARS).get(names[i])
                            if not d:
                                self._finish(i, "removed", t)
                                continue
                        lpo_l[i] = lp
                        ridx_l[i] = d[_ROUTE_INDEX]
                        spd_l[i] = d[_SPEED]
                        xy_l[i] = d[_POS]
                        odo_l[i] = d[_DIST]
                        wait_l[i] = d[_WAIT]
                    if new_edge:
                        first = cur[i] < 0
                        if first:
                            self._fresh.add(i)
                        cur[i] = e
                        t_entry[i] = t
                        if e != dest[i] and is_dec[row[i], e] and ridx_l[i] >= commit[i]:
                            if delay > 0 and not first:
                                hold = min(delay, 0.5 * k * step)
                                pending[i] = t + step * int(hold / step + 1e-9)
                            else:
                                deciders.append(i)
                        elif first:
                            appeared.append(i)
                    heappush(heap, (t + (k if k > 1 else 1) * step, i))
            if pending and (deciders or appeared or min(pending.values()) <= t):
                self._release_pending(t)
            if deciders or appeared:
                return

    def _release_pending(self, t: float) -> None:
        """Held-back decisions join this step's batch, with fresh vehicle data."""
        held = [i for i in self._pending if self._t_entry[i] < t]
        self._deciders.extend(i for i in self._pending if self._t_entry[i] >= t)
        self._pending.clear()
        if not held:
            return
        names = self.possible_agents
        data = self._sess.vehicle_data([names[i] for i in held], _POLL_VARS + _DETAIL_VARS)
        for i in held:
            d = data.get(names[i])
            if not d or self.tables.index.get(d[_ROAD], -1) != self._cur[i]:
                continue  # it left the edge already: no decision here (not expected to happen)
            self._lp[i] = self._lp_odo[i] = d[_LANEPOS]
            self._spd[i] = d[_SPEED]
            self._xy[i] = d[_POS]
            self._odo[i] = d[_DIST]
            self._wait[i] = d[_WAIT]
            self._deciders.append(i)

    # -------------------------------------------------------------- collect
    def _collect(self, rewards: bool = True):
        """The step's return dicts: every live agent plus those that finished this step."""
        t = self._t
        names = self.possible_agents
        deciders, appeared, finished = self._deciders, self._appeared, self._finished
        obs_cache, info_cache = self._obs_cache, self._info_cache
        tables = self.tables
        edge_ids = tables.edge_ids
        cur, xy, depart, odo, wait = self._cur, self._xy, self._depart, self._odo, self._wait
        n_dec, n_inv, last_t, rem_last, inv_since = (
            self._n_dec, self._n_inv, self._last_t, self._rem_last, self._inv_since)
        fresh_infos: dict[str, dict] = {}
        nd = len(deciders)
        batch_idx = deciders + appeared if appeared else deciders
        rem_dec: list[float] = []
        self._dec = None
        if batch_idx:
            lp, spd = self._lp, self._spd
            b = self._builder.build(
                [self._row_l[i] for i in batch_idx],
                [cur[i] for i in batch_idx],
                [(1.0, lp[i], spd[i], t - depart[i], xy[i][0], xy[i][1]) for i in batch_idx],
                self._sess.edge_data,
            )
            rem = b.remaining
            rem_dec = rem[:nd]
            if nd:
                self._dec = (deciders, b.cand, b.mask.tolist(), b.best_k)
            fresh = self._fresh
            if fresh:  # first observation of an agent: the baseline of progress-based rewards
                for j, i in enumerate(batch_idx):
                    if i in fresh:
                        rem_last[i] = rem[j]
                fresh.clear()
            obs_rows = list(b.obs)
            mask_rows = list(b.mask)
            for j, i in enumerate(batch_idx):
                a = names[i]
                obs_cache[a] = obs_rows[j]
                info = {
                    "needs_decision": j < nd,
                    "action_mask": mask_rows[j],
                    "edge": edge_ids[cur[i]],
                    "position": tuple(xy[i]),
                    "travel_time": t - depart[i],
                    "route_length": odo[i],
                    "waiting_time": wait[i],
                    "n_decisions": n_dec[i],
                    "n_invalid_actions": n_inv[i],
                    "time": t,
                }
                fresh_infos[a] = info
                if j < nd:
                    idle = info.copy()
                    idle["needs_decision"] = False
                    info_cache[a] = idle
                else:
                    info_cache[a] = info

        # rewards: deciders and finished agents, one batched call of the reward function
        rewards_upd: dict[str, float] = {}
        term_upd: dict[str, bool] = {}
        trunc_upd: dict[str, bool] = {}
        if rewards and (nd or finished):
            who = deciders + [f[0] for f in finished]
            t_now = [t] * nd + [f[2] for f in finished]
            arrived = [False] * nd + [f[1] == "arrived" for f in finished]
            telep = [False] * nd + [f[1] == "teleported" for f in finished]
            rem_now = rem_dec + [0.0 if f[1] == "arrived" else self._remaining_estimate(f[0]) for f in finished]
            r = self._rewards(who, t_now, rem_now, arrived, telep)
            for j, i in enumerate(deciders):
                rewards_upd[names[i]] = r[j]
                last_t[i] = t
                rem_last[i] = rem_dec[j]
                inv_since[i] = 0
            for j, (i, reason, tf) in enumerate(finished, start=nd):
                a = names[i]
                e = cur[i]
                route_length = odo[i]
                if reason == "arrived" and e >= 0:  # the part driven since the last observation
                    route_length += max(tables.length[e] - self._lp_odo[i], 0.0)
                    if e != self._dest_l[i]:
                        route_length += tables.D[self._row_l[i], e]
                rewards_upd[a] = r[j]
                term_upd[a] = reason == "arrived"
                trunc_upd[a] = reason != "arrived"
                fresh_infos[a] = {
                    "needs_decision": False,
                    "action_mask": self._zero_mask,
                    "edge": edge_ids[e] if e >= 0 else "",
                    "position": tuple(xy[i]),
                    "travel_time": tf - depart[i],
                    "route_length": float(route_length),
                    "waiting_time": wait[i],
                    "n_decisions": n_dec[i],
                    "n_invalid_actions": n_inv[i],
                    "time": tf,
                    "arrived": reason == "arrived",
                    "done_reason": reason,
                }
                if a not in obs_cache:  # pragma: no cover - finished before it was ever observed
                    obs_cache[a] = np.zeros(self.obs_dim, dtype=np.float32)

        obs = obs_cache.copy()
        rew = dict.fromkeys(obs, 0.0)
        terminations = dict.fromkeys(obs, False)
        truncations = terminations.copy()
        if rewards_upd:
            rew.update(rewards_upd)
        if finished:
            terminations.update(term_upd)
            truncations.update(trunc_upd)
        infos = info_cache.copy()
        infos.update(fresh_infos)
        for i, _, _ in finished:
            a = names[i]
            del obs_cache[a]
            info_cache.pop(a, None)
        self._deciders, self._appeared, self._finished = [], [], []
        self.agents = list(self._live)
        if not self.agents:
            self._over = True
        return obs, rew, terminations, truncations, infos

    def _remaining_estimate(self, i: int) -> float:
        """Free-flow seconds to the destination from the agent's last observed position."""
        e = self._cur[i]
        if e < 0:
            return self._rem_last[i]
        t = self.tables
        return float(max(t.length[e] - self._lp[i], 0.0) / max(t.speed[e], 0.1) + t.T[self._row_l[i], e])

    def _rewards(self, who: list[int], t_now: list[float], rem_now: list[float], arrived, teleported) -> list[float]:
        last_t, rem_last, inv = self._last_t, self._rem_last, self._inv_since
        inp = RewardInputs(
            dt=np.array(t_now) - np.array([last_t[i] for i in who]),
            remaining_before=np.array([rem_last[i] for i in who]),
            remaining_now=np.array(rem_now, dtype=np.float64),
            arrived=np.array(arrived, dtype=bool),
            teleported=np.array(teleported, dtype=bool),
            invalid_actions=np.array([inv[i] for i in who], dtype=np.float64),
        )
        return np.asarray(self._reward_fn(inp, self.config), dtype=np.float64).reshape(-1).tolist()
