"""Edge-exit scheduling of :class:`~reled_sumo.env.routing_env.RoutingParallelEnv`.

SUMO is stepped until an agent must decide, a new agent appears, or the episode ends.
Live agents are not polled every step: each is due again when it can first have left its
edge (edge length left / allowed speed, in whole steps), kept in a heap. Decisions may be
held back by ``decision_delay_s``. This mixin owns ``_advance``, ``_finish`` and
``_release_pending``; the per-agent state lists live on the env (``_init_episode``).
"""
from __future__ import annotations

import heapq

from reled_sumo.sim import variables as tc

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


class EdgeExitScheduler:
    """Mixin: advances SUMO and finds the agents that reached a decision point."""

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
        commit = self._commit
        step = self._step_len
        every = self.poll_every_step
        pending = self._pending
        deciders, appeared = self._deciders, self._appeared
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
            self._live_times.tick(t, self.edge_mean_speeds)
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
                self._poll(due, t)
            if pending and (deciders or appeared or min(pending.values()) <= t):
                self._release_pending(t)
            if deciders or appeared:
                return

    def _poll(self, due: list[int], t: float) -> None:
        """Read the due agents (one batched read), find those on a new edge, schedule the rest.

        Agents on a new edge (or on their destination) get their details in one more batched
        read; they decide, appear, or are only scheduled again, in ``due`` order."""
        sess, heap, names, step = self._sess, self._heap, self.possible_agents, self._step_len
        index, length, cur, dest = self.tables.index, self.tables.length, self._cur, self._dest_l
        lp_l, heappush = self._lp, heapq.heappush
        roads, lps, allowed = sess.vehicle_columns([names[i] for i in due], _POLL_VARS)
        detail: list[tuple[int, int, int, float]] = []
        for i, road, lp, al in zip(due, roads, lps, allowed):
            if road is None:
                self._finish(i, "removed", t)
                continue
            e = index.get(road) if road and road[0] != ":" else None
            if e is None:  # junction-internal lane or teleporting: look again next step
                heappush(heap, (t + step, i))
                continue
            lp_l[i] = lp
            # whole steps the vehicle needs at least to reach the end of this edge
            k = int((length[e] - lp - 0.1) / (al * 1.02 + 0.1) / step)
            if e != cur[i] or e == dest[i]:
                detail.append((i, e, k, lp))
            else:
                heappush(heap, (t + (k if k > 1 else 1) * step, i))
        if detail:
            self._enter(detail, t)

    def _enter(self, detail: list[tuple[int, int, int, float]], t: float) -> None:
        """Agents polled on a new edge (or on their destination): details, then decide / appear."""
        names, step, heappush, heap = self.possible_agents, self._step_len, heapq.heappush, self._heap
        row, dest, cur, commit, ridx_l = self._row_l, self._dest_l, self._cur, self._commit, self._ridx
        is_dec, delay, pending, t_entry = self.tables.is_decision, self.config.decision_delay_s, self._pending, self._t_entry
        spd_l, xy_l, odo_l, wait_l, lpo_l = self._spd, self._xy, self._odo, self._wait, self._lp_odo
        cols = self._sess.vehicle_columns([names[x[0]] for x in detail], _DETAIL_VARS)
        for (i, e, k, lp), spd, xy, ridx, odo, wait in zip(detail, *cols):
            if spd is None:
                self._finish(i, "removed", t)
                continue
            lpo_l[i], ridx_l[i], spd_l[i], xy_l[i], odo_l[i], wait_l[i] = lp, ridx, spd, xy, odo, wait
            if e != cur[i]:
                first = cur[i] < 0
                if first:
                    self._fresh.add(i)
                cur[i] = e
                t_entry[i] = t
                if e != dest[i] and is_dec[row[i], e] and ridx >= commit[i]:
                    if delay > 0 and not first:
                        hold = min(delay, 0.5 * k * step)
                        pending[i] = t + step * int(hold / step + 1e-9)
                    else:
                        self._deciders.append(i)
                elif first:
                    self._appeared.append(i)
            heappush(heap, (t + (k if k > 1 else 1) * step, i))

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
