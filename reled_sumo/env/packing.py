"""The step's return dicts: plain functions over the episode's :class:`~reled_sumo.env.agents.AgentTable`.

:func:`collect` packs observations (one batched build for the deciders and new agents),
infos, and rewards (one batched call of the reward function for the deciders and the
finished agents) into PettingZoo's five dicts, and clears the step's events.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from reled_sumo.env.advance import DETAIL_VARS, DIST, LANEPOS, POLL_VARS, POS, ROAD, SPEED, WAIT
from reled_sumo.env.agents import AgentTable, Decisions
from reled_sumo.env.config import EnvConfig
from reled_sumo.env.live import LiveTimes
from reled_sumo.env.observation import C_LIVE_VIA_TIME, N_CAND, N_OWN, Batch, ObservationBuilder
from reled_sumo.env.rewards import RewardFn, RewardInputs
from reled_sumo.env.tables import RoutingTables
from reled_sumo.sim.session import SumoSession

StepDicts = tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]


class Packing(NamedTuple):
    """What packing reads besides the table: the env's fixed parts (one per env)."""

    tables: RoutingTables
    builder: ObservationBuilder
    live_times: LiveTimes
    reward_fn: RewardFn
    config: EnvConfig
    obs_dim: int
    zero_mask: np.ndarray  # the action mask of a done agent (read-only)


def collect(a: AgentTable, p: Packing, sess: SumoSession, read_edge_times: Callable[[], np.ndarray],
            rewards: bool = True) -> StepDicts:
    """The step's return dicts: every live agent plus those that finished this step.

    ``rewards=False`` (reset) delivers no rewards: they keep accruing."""
    t, finished = a.t, a.finished
    nd = len(a.deciders)
    batch_idx = a.deciders + a.appeared if a.appeared else a.deciders
    a.decisions = None
    fresh_infos: dict[str, dict[str, Any]] = {}
    rem_dec: list[float] = []
    horizon = [i for i, reason, _ in finished if reason == "horizon" and a.cur[i] >= 0]
    if batch_idx or horizon:
        row = a.row
        live = p.live_times.current(t, read_edge_times, [row[i] for i in batch_idx + horizon])
        if horizon:
            _final_observations(a, p, sess, horizon, live)
        if batch_idx:
            rem_dec = _observe(a, p, sess, batch_idx, nd, live, fresh_infos)
    rew_upd: dict[str, float] = {}
    term_upd: dict[str, bool] = {}
    trunc_upd: dict[str, bool] = {}
    if rewards and (nd or finished):
        r = _rewards(a, p, rem_dec)
        _deliver(a, r, rem_dec, rew_upd)
        _finish_infos(a, p, r[nd:], rew_upd, term_upd, trunc_upd, fresh_infos)
    return _pack(a, fresh_infos, rew_upd, term_upd, trunc_upd)


def _guard_loops(a: AgentTable, b: Batch, deciders: list[int]) -> None:
    """``loop_guard``: mask each decider's candidates onto an edge it was already seen on this trip,
    unless that masks them all; a masked best slot moves to the valid one with the lowest live time."""
    for j, i in enumerate(deciders):
        seen, row, cand = a.visited[i], b.mask[j], b.cand[j]
        valid = np.flatnonzero(row)
        drop = [k for k in valid.tolist() if cand[k] in seen]
        if not drop or len(drop) == len(valid):
            continue
        row[drop] = 0
        if b.best_k[j] in drop:
            keep = np.flatnonzero(row)
            b.best_k[j] = int(keep[np.argmin(b.obs[j, N_OWN + keep * N_CAND + C_LIVE_VIA_TIME])])


def _observe(a: AgentTable, p: Packing, sess: SumoSession, batch_idx: list[int], nd: int, live: np.ndarray,
             fresh_infos: dict[str, dict[str, Any]]) -> list[float]:
    """Observations and infos of the deciders (the first ``nd`` of ``batch_idx``) and the new
    agents; returns the deciders' free-flow seconds left."""
    t, names, cur, xy, depart, lp, spd = a.t, a.names, a.cur, a.xy, a.depart, a.lp, a.spd
    b = p.builder.build(
        [a.row[i] for i in batch_idx],
        [cur[i] for i in batch_idx],
        [(1.0, lp[i], spd[i], t - depart[i], xy[i][0], xy[i][1]) for i in batch_idx],
        sess.edge_data,
        live,
    )
    rem = b.remaining
    if nd and p.config.loop_guard:
        _guard_loops(a, b, batch_idx[:nd])
    if nd:
        a.decisions = Decisions(a.deciders, b.cand, b.mask.tolist(), b.best_k)
    fresh = a.fresh
    if fresh:  # first observation of an agent: the baseline of progress-based rewards
        rem_last = a.rem_last
        for j, i in enumerate(batch_idx):
            if i in fresh:
                rem_last[i] = rem[j]
        fresh.clear()
    obs_cache, info_cache, edge_ids = a.obs_cache, a.info_cache, p.tables.edge_ids
    odo, wait, n_dec, n_inv = a.odo, a.wait, a.n_dec, a.n_inv
    obs_rows = list(b.obs)
    mask_rows = list(b.mask)
    for j, i in enumerate(batch_idx):
        name = names[i]
        obs_cache[name] = obs_rows[j]
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
        fresh_infos[name] = info
        if j < nd:
            idle = info.copy()
            idle["needs_decision"] = False
            info_cache[name] = idle
        else:
            info_cache[name] = info
    return rem[:nd]


def _final_observations(a: AgentTable, p: Packing, sess: SumoSession, idx: list[int], live: np.ndarray) -> None:
    """Fresh observations of agents cut off by the horizon (their truncation is bootstrapped
    with V(final observation), which must describe where they are now, not where they last
    decided). One batched read of their vehicle data and one batched build."""
    names, cur, t = a.names, a.cur, a.t
    data = sess.vehicle_data([names[i] for i in idx], POLL_VARS + DETAIL_VARS)
    index = p.tables.index
    for i in idx:
        d = data.get(names[i])
        if not d:
            continue
        e = index.get(d[ROAD], -1)
        if e >= 0 and e != cur[i]:
            cur[i] = e
            a.visited[i].add(e)
            a.lp_odo[i] = d[LANEPOS]
        a.lp[i], a.spd[i], a.xy[i] = d[LANEPOS], d[SPEED], d[POS]
        a.odo[i], a.wait[i] = d[DIST], d[WAIT]
    b = p.builder.build(
        [a.row[i] for i in idx], [cur[i] for i in idx],
        [(1.0, a.lp[i], a.spd[i], t - a.depart[i], a.xy[i][0], a.xy[i][1]) for i in idx],
        sess.edge_data, live,
    )
    for j, i in enumerate(idx):
        a.obs_cache[names[i]] = b.obs[j]


def _remaining_estimate(a: AgentTable, tables: RoutingTables, i: int) -> float:
    """Free-flow seconds to the destination from the agent's last observed position."""
    e = a.cur[i]
    if e < 0:
        return a.rem_last[i]
    t = tables
    return float(max(t.length[e] - a.lp[i], 0.0) / max(t.speed[e], 0.1) + t.T[a.row[i], e])


def _rewards(a: AgentTable, p: Packing, rem_dec: list[float]) -> list[float]:
    """One batched reward call: the deciders (in order), then the finished agents."""
    nd, finished = len(a.deciders), a.finished
    who = a.deciders + [f[0] for f in finished]
    t_now = [a.t] * nd + [f[2] for f in finished]
    rem_now = rem_dec + [0.0 if f[1] == "arrived" else _remaining_estimate(a, p.tables, f[0]) for f in finished]
    last_t, rem_last, inv = a.last_t, a.rem_last, a.inv_since
    inp = RewardInputs(
        dt=np.array(t_now) - np.array([last_t[i] for i in who]),
        remaining_before=np.array([rem_last[i] for i in who]),
        remaining_now=np.array(rem_now, dtype=np.float64),
        arrived=np.array([False] * nd + [f[1] == "arrived" for f in finished], dtype=bool),
        teleported=np.array([False] * nd + [f[1] == "teleported" for f in finished], dtype=bool),
        invalid_actions=np.array([inv[i] for i in who], dtype=np.float64),
    )
    return np.asarray(p.reward_fn(inp, p.config), dtype=np.float64).reshape(-1).tolist()


def _deliver(a: AgentTable, r: list[float], rem_dec: list[float], rew_upd: dict[str, float]) -> None:
    """The deciders' rewards; their next reward accrues from now."""
    names, t, last_t, rem_last, inv_since = a.names, a.t, a.last_t, a.rem_last, a.inv_since
    for j, i in enumerate(a.deciders):
        rew_upd[names[i]] = r[j]
        last_t[i] = t
        rem_last[i] = rem_dec[j]
        inv_since[i] = 0


def _finish_infos(a: AgentTable, p: Packing, r: list[float], rew_upd: dict[str, float], term_upd: dict[str, bool],
                  trunc_upd: dict[str, bool], fresh_infos: dict[str, dict[str, Any]]) -> None:
    """Rewards, done flags and last infos of the agents that finished this step (``r``: theirs)."""
    tables, names, cur, odo, xy = p.tables, a.names, a.cur, a.odo, a.xy
    edge_ids = tables.edge_ids
    for j, (i, reason, tf) in enumerate(a.finished):
        name = names[i]
        e = cur[i]
        route_length = odo[i]
        if reason == "arrived" and e >= 0:  # the part driven since the last observation
            route_length += max(tables.length[e] - a.lp_odo[i], 0.0)
            if e != a.dest[i]:
                route_length += tables.D[a.row[i], e]
        rew_upd[name] = r[j]
        # only the horizon truncates: a teleported / removed agent is out of control for good
        term_upd[name] = reason != "horizon"
        trunc_upd[name] = reason == "horizon"
        fresh_infos[name] = {
            "needs_decision": False,
            "action_mask": p.zero_mask,
            "edge": edge_ids[e] if e >= 0 else "",
            "position": tuple(xy[i]),
            "travel_time": tf - a.depart[i],
            "route_length": float(route_length),
            "waiting_time": a.wait[i],
            "n_decisions": a.n_dec[i],
            "n_invalid_actions": a.n_inv[i],
            "time": tf,
            "arrived": reason == "arrived",
            "done_reason": reason,
        }
        if name not in a.obs_cache:  # pragma: no cover - finished before it was ever observed
            a.obs_cache[name] = np.zeros(p.obs_dim, dtype=np.float32)


def _pack(a: AgentTable, fresh_infos: dict[str, dict[str, Any]], rew_upd: dict[str, float],
          term_upd: dict[str, bool], trunc_upd: dict[str, bool]) -> StepDicts:
    """PettingZoo's five dicts over every observed agent; the finished ones leave the caches."""
    obs_cache, info_cache, finished = a.obs_cache, a.info_cache, a.finished
    obs = obs_cache.copy()
    rew = dict.fromkeys(obs, 0.0)
    terminations = dict.fromkeys(obs, False)
    truncations = terminations.copy()
    if rew_upd:
        rew.update(rew_upd)
    if finished:
        terminations.update(term_upd)
        truncations.update(trunc_upd)
    infos = info_cache.copy()
    infos.update(fresh_infos)
    names = a.names
    for i, _, _ in finished:
        name = names[i]
        del obs_cache[name]
        info_cache.pop(name, None)
    a.deciders, a.appeared, a.finished = [], [], []
    if not a.live:
        a.over = True
    return obs, rew, terminations, truncations, infos
