"""The step's return dicts of :class:`~reled_sumo.env.routing_env.RoutingParallelEnv`:
observations (one batched build for the deciders and new agents), infos, and rewards
(one batched call of the reward function for the deciders and the finished agents)."""
from __future__ import annotations

import numpy as np

from reled_sumo.env.advance import _DETAIL_VARS, _DIST, _LANEPOS, _POLL_VARS, _POS, _ROAD, _SPEED, _WAIT
from reled_sumo.env.rewards import RewardInputs


class StepPacker:
    """Mixin: packs observations, infos, rewards and done flags after :meth:`_advance`."""

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
        horizon = [i for i, reason, _ in finished if reason == "horizon" and cur[i] >= 0]
        if batch_idx or horizon:
            row = self._row_l
            live = self._live_times.current(t, self.edge_travel_times, [row[i] for i in batch_idx + horizon])
        if horizon:
            self._final_observations(horizon, t, live)
        if batch_idx:
            lp, spd = self._lp, self._spd
            b = self._builder.build(
                [self._row_l[i] for i in batch_idx],
                [cur[i] for i in batch_idx],
                [(1.0, lp[i], spd[i], t - depart[i], xy[i][0], xy[i][1]) for i in batch_idx],
                self._sess.edge_data,
                live,
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
                # only the horizon truncates: a teleported / removed agent is out of control for good
                term_upd[a] = reason != "horizon"
                trunc_upd[a] = reason == "horizon"
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

    def _final_observations(self, idx: list[int], t: float, live: np.ndarray) -> None:
        """Fresh observations of agents cut off by the horizon (their truncation is bootstrapped
        with V(final observation), which must describe where they are now, not where they last
        decided). One batched read of their vehicle data and one batched build."""
        names, cur = self.possible_agents, self._cur
        data = self._sess.vehicle_data([names[i] for i in idx], _POLL_VARS + _DETAIL_VARS)
        index = self.tables.index
        for i in idx:
            d = data.get(names[i])
            if not d:
                continue
            e = index.get(d[_ROAD], -1)
            if e >= 0 and e != cur[i]:
                cur[i] = e
                self._lp_odo[i] = d[_LANEPOS]
            self._lp[i], self._spd[i], self._xy[i] = d[_LANEPOS], d[_SPEED], d[_POS]
            self._odo[i], self._wait[i] = d[_DIST], d[_WAIT]
        b = self._builder.build(
            [self._row_l[i] for i in idx], [cur[i] for i in idx],
            [(1.0, self._lp[i], self._spd[i], t - self._depart[i], self._xy[i][0], self._xy[i][1]) for i in idx],
            self._sess.edge_data, live,
        )
        for j, i in enumerate(idx):
            self._obs_cache[names[i]] = b.obs[j]

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
