"""Edge-exit scheduling: plain functions over the episode's :class:`~reled_sumo.env.agents.AgentTable`.

SUMO is stepped until an agent must decide, a new agent appears, or the episode ends.
Live agents are not polled every step: each is due again when it can first have left its
edge (edge length left / allowed speed, in whole steps), kept in a heap. Decisions may be
held back by ``decision_delay_s``. :func:`advance` is the entry point.
"""
from __future__ import annotations

import heapq
from typing import Callable, Sequence

from reled_sumo.env.agents import LIVE, PENDING, AgentTable
from reled_sumo.env.tables import RoutingTables
from reled_sumo.sim import variables as tc
from reled_sumo.sim.session import SumoSession

ROAD = tc.VAR_ROAD_ID
LANEPOS = tc.VAR_LANEPOSITION
SPEED = tc.VAR_SPEED
ROUTE_INDEX = tc.VAR_ROUTE_INDEX
POS = tc.VAR_POSITION
DIST = tc.VAR_DISTANCE
WAIT = tc.VAR_ACCUMULATED_WAITING_TIME
ALLOWED = tc.VAR_ALLOWED_SPEED
POLL_VARS = (ROAD, LANEPOS, ALLOWED)
DETAIL_VARS = (SPEED, POS, ROUTE_INDEX, DIST, WAIT)


def advance(a: AgentTable, sess: SumoSession, tables: RoutingTables, delay_s: float,
            poll_every_step: bool = False, after_step: Callable[[float], None] | None = None) -> None:
    """Step SUMO until an agent must decide, a new agent appears, or the episode ends
    (``a.over``). ``poll_every_step`` (a test hook) polls every live agent every step instead
    of predicting edge exits. ``after_step(t)`` runs after every simulation step (the live
    edge-time estimate's speed readings)."""
    heap, pending, deciders, appeared = a.heap, a.pending, a.deciders, a.appeared
    while True:
        t = a.t
        if t >= a.t_end - 1e-9:
            for v in list(a.live):
                a.finish(a.index[v], "horizon", t)
            a.over = True
            return
        if not a.live:
            if a.n_pending == 0 or sess.min_expected_vehicles() == 0:
                a.over = True
                return
        ev = sess.step()
        a.t = t = ev.time
        if after_step is not None:
            after_step(t)
        _apply_events(a, sess, ev.arrived, ev.teleported, ev.departed)
        if poll_every_step:
            due: list[int] | None = [a.index[v] for v in a.live]
            heap.clear()
        else:
            due = _due(a, t)
        if due:
            _poll(a, sess, tables, delay_s, due, t)
        if pending and (deciders or appeared or min(pending.values()) <= t):
            _release_pending(a, sess, tables, t)
        if deciders or appeared:
            return


def _apply_events(a: AgentTable, sess: SumoSession, arrived: Sequence[str], teleported: Sequence[str],
                  departed: Sequence[str]) -> None:
    """Agents that arrived or teleported in the step are done; departed ones go live."""
    idx, status, t, step = a.index, a.status, a.t, a.step_len
    if arrived:
        for v in arrived:
            i = idx.get(v)
            if i is not None and status[i] == LIVE:
                a.finish(i, "arrived", t - step)  # SUMO's arrival time
    if teleported:
        for v in teleported:
            i = idx.get(v)
            if i is not None and status[i] == LIVE:
                a.finish(i, "teleported", t - step)
    if departed:
        new = [v for v in departed if v in idx]
        if new:
            sess.subscribe_vehicles(new)
            heap, heappush = a.heap, heapq.heappush
            for v in new:
                i = idx[v]
                if status[i] != PENDING:
                    continue
                status[i] = LIVE
                a.n_pending -= 1
                a.live[v] = None
                # SUMO inserts during the step that ends at t
                a.depart[i] = a.last_t[i] = t - step
                a.commit[i] = 0
                heappush(heap, (t, i))


def _due(a: AgentTable, t: float) -> list[int] | None:
    """The live agents whose predicted edge exit is due at ``t`` (None: none)."""
    heap = a.heap
    if not (heap and heap[0][0] <= t):
        return None
    status, heappop = a.status, heapq.heappop
    due = []
    while heap and heap[0][0] <= t:
        i = heappop(heap)[1]
        if status[i] == LIVE:
            due.append(i)
    return due


def _poll(a: AgentTable, sess: SumoSession, tables: RoutingTables, delay_s: float, due: list[int],
          t: float) -> None:
    """Read the due agents (one batched read), find those on a new edge, schedule the rest.

    Agents on a new edge (or on their destination) get their details in one more batched
    read; they decide, appear, or are only scheduled again, in ``due`` order."""
    heap, names, step = a.heap, a.names, a.step_len
    index, length, cur, dest = tables.index, tables.length, a.cur, a.dest
    lp_l, heappush = a.lp, heapq.heappush
    roads, lps, allowed = sess.vehicle_columns([names[i] for i in due], POLL_VARS)
    detail: list[tuple[int, int, int, float]] = []
    for i, road, lp, al in zip(due, roads, lps, allowed):
        if road is None:
            a.finish(i, "removed", t)
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
        _enter(a, sess, tables, delay_s, detail, t)


def _enter(a: AgentTable, sess: SumoSession, tables: RoutingTables, delay_s: float,
           detail: list[tuple[int, int, int, float]], t: float) -> None:
    """Agents polled on a new edge (or on their destination): details, then decide / appear."""
    names, step, heappush, heap = a.names, a.step_len, heapq.heappush, a.heap
    row, dest, cur, commit, ridx_l = a.row, a.dest, a.cur, a.commit, a.ridx
    is_dec, pending, t_entry = tables.is_decision, a.pending, a.t_entry
    spd_l, xy_l, odo_l, wait_l, lpo_l = a.spd, a.xy, a.odo, a.wait, a.lp_odo
    cols = sess.vehicle_columns([names[x[0]] for x in detail], DETAIL_VARS)
    for (i, e, k, lp), spd, xy, ridx, odo, wait in zip(detail, *cols):
        if spd is None:
            a.finish(i, "removed", t)
            continue
        lpo_l[i], ridx_l[i], spd_l[i], xy_l[i], odo_l[i], wait_l[i] = lp, ridx, spd, xy, odo, wait
        if e != cur[i]:
            first = cur[i] < 0
            if first:
                a.fresh.add(i)
            cur[i] = e
            a.visited[i].add(e)
            t_entry[i] = t
            if e != dest[i] and is_dec[row[i], e] and ridx >= commit[i]:
                if delay_s > 0 and not first:
                    hold = min(delay_s, 0.5 * k * step)
                    pending[i] = t + step * int(hold / step + 1e-9)
                else:
                    a.deciders.append(i)
            elif first:
                a.appeared.append(i)
        heappush(heap, (t + (k if k > 1 else 1) * step, i))


def _release_pending(a: AgentTable, sess: SumoSession, tables: RoutingTables, t: float) -> None:
    """Held-back decisions join this step's batch, with fresh vehicle data."""
    held = [i for i in a.pending if a.t_entry[i] < t]
    a.deciders.extend(i for i in a.pending if a.t_entry[i] >= t)
    a.pending.clear()
    if not held:
        return
    names = a.names
    data = sess.vehicle_data([names[i] for i in held], POLL_VARS + DETAIL_VARS)
    for i in held:
        d = data.get(names[i])
        if not d or tables.index.get(d[ROAD], -1) != a.cur[i]:
            continue  # it left the edge already: no decision here (not expected to happen)
        a.lp[i] = a.lp_odo[i] = d[LANEPOS]
        a.spd[i] = d[SPEED]
        a.xy[i] = d[POS]
        a.odo[i] = d[DIST]
        a.wait[i] = d[WAIT]
        a.deciders.append(i)
