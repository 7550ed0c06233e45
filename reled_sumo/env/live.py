"""Live travel times to every agent destination, for the ``live_via_time`` observation feature.

Every ``period_s`` simulated seconds the env reads SUMO's current travel time of every
car edge (one batched read), clips it to ``[free flow, CLIP x free flow]`` (a queue
standing at a red light reads as near-infinite), smooths it with an exponential moving
average (weight ``ALPHA`` on the new reading), and runs ONE batched Dijkstra from all
agent destinations over those times (:meth:`RoadGraph.cost_to_many`, the code the routing
expert uses too). ``via[row, e]`` is then "traverse ``e``, then the fastest way to
destination ``row``" in seconds. Between refreshes the table is reused: the cost is
per refresh, never per agent or per decision.
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
        self.via = t.VT  # free flow until the first reading
        self._next = -np.inf
        self.refreshes = 0

    def current(self, sim_time: float, read_edge_times) -> np.ndarray:
        """``via[rows, E]``, refreshed first if ``period_s`` has passed (``read_edge_times() -> [E]``)."""
        if sim_time >= self._next:
            self._next = sim_time + self.period_s
            self.update(np.asarray(read_edge_times(), dtype=np.float64))
        return self.via

    def update(self, raw: np.ndarray) -> None:
        t = self.tables
        raw = np.where(np.isfinite(raw), raw, t.ff)
        now = np.clip(raw, t.ff, CLIP * t.ff)
        self.edge_time = (1 - ALPHA) * self.edge_time + ALPHA * now if self.refreshes else now
        to_dest = t.graph.cost_to_many(t.dest_edge, self.edge_time)
        self.via = self.edge_time[None, :] + to_dest
        self.refreshes += 1
