"""Live travel times to every agent destination, for the ``live_via_time`` observation feature.

Every ``period_s`` simulated seconds the env reads SUMO's current travel time of every
car edge (one batched read), clips it to ``[free flow, CLIP x free flow]`` (a queue
standing at a red light reads as near-infinite), smooths it with an exponential moving
average (weight ``ALPHA`` on the new reading). ``via[row, e]`` is then "traverse ``e``,
then the fastest way to destination ``row``" in seconds on those times.

The rows are filled lazily: a refresh only marks every row stale, and :meth:`current`
runs one batched Dijkstra (:meth:`RoadGraph.cost_to_many`, the code the routing expert
uses too) over the stale rows the caller needs now (the destinations of this step's
deciders). A row is computed at most once per refresh, and only if some agent with
that destination observes in that period, so with many agents (hundreds of
destinations) the cost follows the decisions, not the number of destinations. Each
destination's Dijkstra is independent of the others, so the values are the same as
those of one Dijkstra over all rows at the refresh.
"""
from __future__ import annotations

import numpy as np

CLIP = 20.0
ALPHA = 0.5


class LiveTimes:
    def __init__(self, tables, period_s: float):
        self.tables, self.period_s = tables, float(period_s)
        self.reset()

    def reset(self) -> None:
        t = self.tables
        self.edge_time = t.ff.copy()
        self.via = t.VT.copy()  # free flow until the first reading (own copy: rows are filled in place)
        self._stale = np.zeros(len(t.dest_edge), dtype=bool)
        self._reverse = None
        self._next = -np.inf
        self.refreshes = 0
        self.rows_computed = 0

    def current(self, sim_time: float, read_edge_times, rows=None) -> np.ndarray:
        """``via[rows, E]``, refreshed first if ``period_s`` has passed (``read_edge_times() -> [E]``).

        Only the given destination ``rows`` are guaranteed current (None: all rows)."""
        if sim_time >= self._next:
            self._next = sim_time + self.period_s
            self.update(np.asarray(read_edge_times(), dtype=np.float64))
        stale = self._stale
        need: np.ndarray | None
        if rows is None:
            need = np.flatnonzero(stale)
        else:  # a few rows per step: plain Python until some row is stale
            few = sorted({r for r in rows if stale[r]})
            need = np.array(few, dtype=np.int64) if few else None
        if need is not None and need.size:
            t = self.tables
            if self._reverse is None:  # built once per refresh, shared by the refresh's Dijkstra calls
                self._reverse = t.graph.reverse_graph(self.edge_time)
            to_dest = t.graph.cost_to_many(t.dest_edge[need], self.edge_time, self._reverse)
            self.via[need] = self.edge_time[None, :] + to_dest
            stale[need] = False
            self.rows_computed += int(need.size)
        return self.via

    def update(self, raw: np.ndarray) -> None:
        t = self.tables
        raw = np.where(np.isfinite(raw), raw, t.ff)
        now = np.clip(raw, t.ff, CLIP * t.ff)
        self.edge_time = (1 - ALPHA) * self.edge_time + ALPHA * now if self.refreshes else now
        self._stale[:] = True
        self._reverse = None
        self.refreshes += 1
